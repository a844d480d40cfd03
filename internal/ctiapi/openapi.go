package ctiapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/event"
)

func serviceRoutes(s *Server) []route {
	return []route{
		{method: "GET", path: "/healthz", summary: "The process is alive", reply: Health{},
			handle: func(w http.ResponseWriter, r *http.Request, _ *Tenant) error {
				writeJSON(w, http.StatusOK, Health{Status: "ok"})
				return nil
			}},
		{method: "GET", path: "/v1/openapi.json", summary: "This document: the OpenAPI 3 description of exactly what is served",
			handle: func(w http.ResponseWriter, r *http.Request, _ *Tenant) error {
				w.Header().Set("Content-Type", "application/json")
				w.Write(s.openapi)
				return nil
			}},
	}
}

// Health is the body of GET /healthz.
type Health struct {
	Status string `json:"status"`
}

var pathParam = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// buildOpenAPI writes the OpenAPI 3.1 document of the route table.
func buildOpenAPI(routes []route) ([]byte, error) {
	type obj = map[string]any
	errResp := func(desc string) obj {
		return obj{"description": desc, "content": obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/Error"}}}}
	}
	paths := obj{}
	for _, rt := range routes {
		op := obj{
			"summary":     rt.summary,
			"operationId": operationID(rt),
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			sch := obj{"type": "string"}
			if p, ok := pathPatterns[m[1]]; ok {
				sch["pattern"] = p
			}
			params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": sch})
		}
		if rt.params != nil {
			sch := schemaOf(reflect.TypeOf(rt.params), false)
			props := sch["properties"].(obj)
			for _, name := range sortedKeys(props) {
				params = append(params, obj{"name": name, "in": "query", "required": false, "schema": props[name]})
			}
		}
		if params != nil {
			op["parameters"] = params
		}
		status := rt.status
		if status == 0 {
			status = http.StatusOK
		}
		ok := obj{"description": http.StatusText(status)}
		if rt.reply != nil {
			ok["content"] = obj{"application/json": obj{"schema": schemaOf(reflect.TypeOf(rt.reply), false)}}
		}
		if rt.produces != "" {
			ok["content"] = obj{rt.produces: obj{"schema": obj{"type": "string"}}}
		}
		resp := obj{strconv.Itoa(status): ok}
		if rt.otherStatus != 0 {
			resp[strconv.Itoa(rt.otherStatus)] = obj{"description": rt.otherStatusDesc,
				"content": obj{"application/json": obj{"schema": schemaOf(reflect.TypeOf(rt.reply), false)}}}
		}
		if rt.body != nil {
			op["requestBody"] = obj{"required": false, "content": obj{"application/json": obj{"schema": schemaOf(reflect.TypeOf(rt.body), true)}}}
			resp["400"] = errResp("malformed or invalid body (malformed, unknown_field, wrong_type, missing_field, bad_enum, invalid)")
			resp["409"] = errResp("the request does not fit the current state (conflict)")
			resp["413"] = errResp("body over 64 KiB (too_large)")
		}
		if rt.params != nil {
			resp["400"] = errResp("bad query parameter")
		}
		if rt.auth {
			op["security"] = []any{obj{"bearer": []any{}}}
			resp["401"] = errResp("no valid bearer token (unauthorized)")
			resp["403"] = errResp("the token belongs to another tenant (forbidden)")
			resp["404"] = errResp("unknown DN, agent or call (not_found)")
			resp["503"] = errResp("shutting down, or the events could not be recorded (unavailable)")
		}
		op["responses"] = resp
		item, _ := paths[rt.path].(obj)
		if item == nil {
			item = obj{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":       "switchboard CTI API",
			"version":     "1",
			"description": "One endpoint per T-Library request. A request is answered only after its events are recorded; the events go to Kafka (voice-agentstate, voice-callthread) and to the WebSocket event stream.",
		},
		"paths": paths,
		"components": obj{
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer"}},
			"schemas": obj{"Error": obj{
				"type": "object", "required": []string{"error"},
				"properties": obj{"error": obj{
					"type": "object", "required": []string{"code", "message"},
					"properties": obj{"code": obj{"type": "string"}, "message": obj{"type": "string"}},
				}},
			}},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func operationID(rt route) string {
	p := pathParam.ReplaceAllString(strings.TrimPrefix(rt.path, "/v1/tenants/{tenant}"), "")
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.method))
	up := true
	for _, c := range p {
		if c == '/' || c == '-' || c == '.' {
			up = true
			continue
		}
		if up {
			b.WriteString(strings.ToUpper(string(c)))
			up = false
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

var (
	kvType      = reflect.TypeOf(KV{})
	eventKVType = reflect.TypeOf(event.KV{})
	timeType    = reflect.TypeOf(time.Time{})
)

func kvSchema() map[string]any {
	return map[string]any{
		"type":                 "object",
		"description":          "key-value list: string, integer or nested-object values, order kept",
		"additionalProperties": map[string]any{"type": []string{"string", "integer", "object"}},
	}
}

// schemaOf is the JSON schema of a Go type as encoding/json writes it and as
// the API reads it; closed (additionalProperties false) for request bodies.
func schemaOf(t reflect.Type, closed bool) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == kvType || t == eventKVType {
		return kvSchema()
	}
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), closed)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), closed)}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		addStruct(t, props, &required, closed)
		s := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			s["required"] = required
		}
		if closed {
			s["additionalProperties"] = false
		}
		return s
	}
	return map[string]any{}
}

func addStruct(t reflect.Type, props map[string]any, required *[]string, closed bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addStruct(ft, props, required, closed)
				continue
			}
		}
		if !f.IsExported() || f.Tag.Get("json") == "-" {
			continue
		}
		name := jsonName(f)
		s := schemaOf(f.Type, closed)
		if e := f.Tag.Get("enum"); e != "" {
			s["enum"] = strings.Split(e, ",")
		}
		if d := f.Tag.Get("default"); d != "" {
			s["default"] = d
		}
		if d := f.Tag.Get("doc"); d != "" {
			s["description"] = d
		}
		if p := f.Tag.Get("pattern"); p != "" {
			s["pattern"] = p
		}
		if m := f.Tag.Get("minimum"); m != "" {
			n, _ := strconv.Atoi(m)
			s["minimum"] = n
		}
		props[name] = s
		if f.Tag.Get("required") == "true" {
			*required = append(*required, name)
		}
	}
}
