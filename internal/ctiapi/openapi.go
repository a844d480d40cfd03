package ctiapi

import (
	"encoding/json"
	"math"
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
			sch := obj{"type": "string", "minLength": 1}
			if p, ok := pathPatterns[m[1]]; ok {
				sch["pattern"] = p
			}
			p := obj{"name": m[1], "in": "path", "required": true, "schema": sch}
			if ex, ok := pathExamples[m[1]]; ok {
				p["example"] = ex
			}
			params = append(params, p)
		}
		if rt.params != nil {
			sch := schemaOf(reflect.TypeOf(rt.params), true)
			props := sch["properties"].(obj)
			for _, name := range sortedKeys(props) {
				params = append(params, obj{"name": name, "in": "query", "required": false, "schema": props[name]})
			}
		}
		if rt.status == http.StatusSwitchingProtocols {
			// The WebSocket handshake's headers (RFC 6455).
			for _, h := range []struct{ name, pattern, example string }{
				{"Connection", "[Uu][Pp][Gg][Rr][Aa][Dd][Ee]", "Upgrade"},
				{"Upgrade", "^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$", "websocket"},
				{"Sec-WebSocket-Version", "^13$", "13"},
				{"Sec-WebSocket-Key", "^[A-Za-z0-9+/]{22}==$", "dGhlIHNhbXBsZSBub25jZQ=="},
			} {
				params = append(params, obj{"name": h.name, "in": "header", "required": true, "example": h.example,
					"schema": obj{"type": "string", "pattern": h.pattern}})
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
			// A body without required fields may be left out (it is then
			// the empty object); one with required fields may not.
			bs := schemaOf(reflect.TypeOf(rt.body), true)
			_, hasRequired := bs["required"]
			op["requestBody"] = obj{"required": hasRequired, "content": obj{"application/json": obj{"schema": bs}}}
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
			r429 := errResp("over the token's rate limit (rate_limited), too many failed authentications from this address (rate_limited), or a per-tenant bound of event streams or tickets (limit_reached)")
			r429["headers"] = obj{"Retry-After": obj{"description": "seconds to wait before trying again", "schema": obj{"type": "integer", "minimum": 1}}}
			resp["429"] = r429
		}
		if rt.status == http.StatusSwitchingProtocols {
			resp["426"] = obj{"description": "not a WebSocket handshake (upgrade required; the WebSocket library's plain-text reason)",
				"content": obj{"text/plain": obj{"schema": obj{"type": "string"}}}}
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
			"schemas": obj{"KV": kvComponent(), "Error": obj{
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

// pathExamples give a fuzzer path parameters that reach the handlers
// (the demo tenant's).
var pathExamples = map[string]string{
	"tenant":  "demo",
	"dn":      "1001",
	"agentId": "agent1",
	"connId":  "0000000000000001",
}

func kvSchema() map[string]any {
	return map[string]any{"$ref": "#/components/schemas/KV"}
}

// int64Schema is a 64-bit signed integer.
func int64Schema() map[string]any {
	return map[string]any{"type": "integer", "minimum": int64(math.MinInt64), "maximum": int64(math.MaxInt64)}
}

// kvComponent is the KV schema: non-empty keys; string, integer or
// nested KV values; order kept.
func kvComponent() map[string]any {
	return map[string]any{
		"type":          "object",
		"description":   "key-value list: non-empty keys; string, integer or nested key-value list values; order kept",
		"propertyNames": map[string]any{"minLength": 1},
		"additionalProperties": map[string]any{"anyOf": []any{
			map[string]any{"type": "string"},
			int64Schema(),
			map[string]any{"$ref": "#/components/schemas/KV"},
		}},
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
		if closed {
			return map[string]any{"type": "string", "minLength": 1} // requests: an empty string is refused
		}
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return int64Schema()
	case reflect.Int32:
		return map[string]any{"type": "integer", "minimum": math.MinInt32, "maximum": math.MaxInt32}
	case reflect.Int8, reflect.Int16, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
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
		if x, ok := reflect.New(t).Interface().(interface{ schemaRules() map[string]any }); ok {
			for k, v := range x.schemaRules() {
				s[k] = v
			}
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
		if f.Tag.Get("required") == "true" {
			*required = append(*required, name)
			if closed && (f.Type == kvType || f.Type == eventKVType) {
				// A required key-value list must not be empty.
				s = map[string]any{"allOf": []any{s, map[string]any{"minProperties": 1}}}
			}
		}
		props[name] = s
	}
}
