package ctiapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/metrics"
)

type openapiDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

func fetchDoc(t *testing.T, f *fixture) openapiDoc {
	t.Helper()
	r := f.do(t, "", "GET", "/v1/openapi.json", "")
	if r.status != 200 {
		t.Fatalf("openapi.json: %d", r.status)
	}
	var doc openapiDoc
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	return doc
}

func docRoutes(doc openapiDoc) []string {
	var out []string
	for p, ops := range doc.Paths {
		for m := range ops {
			out = append(out, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIMatchesServedRoutes: every route registered with the mux,
// and every endpoint Handler answers before it (/readyz, /metrics), is in
// the served document and every operation of the document is served.
func TestOpenAPIMatchesServedRoutes(t *testing.T) {
	f := newFixture(t, nil)
	doc := fetchDoc(t, f)
	var served []string
	for _, r := range f.srv.Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	ops := f.srv.Handler(Ops{Metrics: metrics.NewSet()})
	for _, r := range opsRoutes() {
		served = append(served, r.method+" "+r.path)
		rec := httptest.NewRecorder()
		ops.ServeHTTP(rec, httptest.NewRequest(r.method, r.path, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("%s %s through Handler: %d %s", r.method, r.path, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); r.produces != "" && !strings.HasPrefix(ct, strings.Split(r.produces, ";")[0]) {
			t.Errorf("%s %s: Content-Type %q, documented %q", r.method, r.path, ct, r.produces)
		}
	}
	sort.Strings(served)
	documented := docRoutes(doc)
	if strings.Join(served, "\n") != strings.Join(documented, "\n") {
		t.Fatalf("served routes\n%s\ndocumented\n%s", strings.Join(served, "\n"), strings.Join(documented, "\n"))
	}
	// Probe each documented operation through the real mux: it must reach
	// a handler (not the catch-all, not the mux's 405).
	fill := strings.NewReplacer("{tenant}", "demo", "{dn}", "1001", "{agentId}", "agent1", "{connId}", "0123456789abcdef")
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		if path == "/readyz" || path == "/metrics" {
			continue // probed through Handler above
		}
		r := f.do(t, demoToken, method, fill.Replace(path), "")
		if r.status == http.StatusMethodNotAllowed || r.errCode() == CodeNoRoute {
			t.Errorf("%s is documented but not served: %d %s", op, r.status, r.body)
		}
	}
}

// TestOpenAPICoversSpec: the agents-and-DNs, calls and network tables of
// spec/CTI-API.md, as written there, are in the document with the same
// methods.
func TestOpenAPICoversSpec(t *testing.T) {
	spec := []string{
		"POST /login", "POST /logout", "POST /ready", "POST /not-ready", "POST /dnd",
		"POST /forward", "DELETE /forward", "POST /monitor", "DELETE /monitor", "POST /hook",
		"POST /service", "POST /message-waiting", "GET /",
	}
	f := newFixture(t, nil)
	doc := fetchDoc(t, f)
	have := map[string]bool{}
	for _, r := range docRoutes(doc) {
		have[r] = true
	}
	for _, s := range spec {
		m, p, _ := strings.Cut(s, " ")
		full := m + " /v1/tenants/{tenant}/dns/{dn}" + strings.TrimSuffix(p, "/")
		if !have[full] {
			t.Errorf("spec endpoint %s (%s) is not documented", s, full)
		}
	}
	// The calls and network-side tables, as written there.
	calls := []string{
		"POST /calls", "POST /calls/{connId}/answer", "POST /calls/{connId}/release",
		"POST /calls/{connId}/hold", "POST /calls/{connId}/retrieve", "POST /calls/{connId}/redirect",
		"POST /calls/{connId}/single-step-transfer", "POST /calls/{connId}/initiate-transfer",
		"POST /calls/{connId}/complete-transfer", "POST /calls/{connId}/initiate-conference",
		"POST /calls/{connId}/complete-conference", "POST /calls/{connId}/single-step-conference",
		"POST /calls/{connId}/delete-from-conference", "POST /calls/{connId}/alternate",
		"POST /calls/{connId}/reconnect", "POST /calls/{connId}/mute", "POST /calls/{connId}/listen",
		"POST /calls/{connId}/user-data", "POST /calls/{connId}/route", "POST /calls/{connId}/treatment",
		"GET /calls", "GET /calls/{connId}",
		"POST /network/calls", "POST /network/calls/{connId}/answer", "POST /network/calls/{connId}/busy",
		"POST /network/calls/{connId}/release",
	}
	for _, s := range calls {
		m, p, _ := strings.Cut(s, " ")
		if full := m + " /v1/tenants/{tenant}" + p; !have[full] {
			t.Errorf("spec endpoint %s is not documented", full)
		}
	}
	for _, s := range []string{"GET /v1/tenants/{tenant}/agents", "GET /v1/tenants/{tenant}/agents/{agentId}",
		"GET /v1/tenants/{tenant}/events", "GET /v1/openapi.json"} {
		if !have[s] {
			t.Errorf("%s is not documented", s)
		}
	}
}

// TestOpenAPIRequestSchemas: each documented request body lists exactly the
// fields the endpoint accepts: a documented field is not refused as
// unknown, and an undocumented one is.
func TestOpenAPIRequestSchemas(t *testing.T) {
	f := newFixture(t, nil)
	doc := fetchDoc(t, f)
	fill := strings.NewReplacer("{tenant}", "demo", "{dn}", "1009", "{agentId}", "agent9", "{connId}", "0123456789abcdef")
	for p, ops := range doc.Paths {
		for m, raw := range ops {
			var op struct {
				RequestBody *struct {
					Content map[string]struct {
						Schema struct {
							Properties           map[string]json.RawMessage `json:"properties"`
							AdditionalProperties *bool                      `json:"additionalProperties"`
						} `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
			}
			json.Unmarshal(raw, &op)
			if op.RequestBody == nil {
				continue
			}
			sch := op.RequestBody.Content["application/json"].Schema
			if sch.AdditionalProperties == nil || *sch.AdditionalProperties {
				t.Errorf("%s %s: request schema is not closed", m, p)
			}
			for _, common := range []string{"referenceId", "reasons", "extensions"} {
				if _, ok := sch.Properties[common]; !ok {
					t.Errorf("%s %s: %s not documented", m, p, common)
				}
			}
			path := fill.Replace(p)
			for name := range sch.Properties {
				// A lone documented field may be refused for its value, or
				// because others are missing, but never as unknown.
				r := f.do(t, demoToken, strings.ToUpper(m), path, `{"`+name+`":null}`)
				if r.errCode() == CodeUnknownField {
					t.Errorf("%s %s: documented field %q refused as unknown", m, p, name)
				}
			}
			r := f.do(t, demoToken, strings.ToUpper(m), path, `{"undocumentedField":1}`)
			if r.errCode() != CodeUnknownField {
				t.Errorf("%s %s: undocumented field answered %d %s", m, p, r.status, r.body)
			}
		}
	}
}

// TestOpenAPICallShapes: the requests that create a call are documented
// with 201 and the new call's ids; {connId} and consultConnId carry the
// ConnID pattern the server enforces.
func TestOpenAPICallShapes(t *testing.T) {
	f := newFixture(t, nil)
	doc := fetchDoc(t, f)
	type op struct {
		Parameters []struct {
			Name   string `json:"name"`
			Schema struct {
				Pattern string `json:"pattern"`
			} `json:"schema"`
		} `json:"parameters"`
		RequestBody struct {
			Content map[string]struct {
				Schema struct {
					Properties map[string]struct {
						Pattern string `json:"pattern"`
					} `json:"properties"`
				} `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]struct {
			Content map[string]struct {
				Schema struct {
					Properties map[string]json.RawMessage `json:"properties"`
				} `json:"schema"`
			} `json:"content"`
		} `json:"responses"`
	}
	get := func(path, method string) op {
		var o op
		if err := json.Unmarshal(doc.Paths[path][method], &o); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return o
	}
	for _, p := range []string{"/v1/tenants/{tenant}/calls", "/v1/tenants/{tenant}/network/calls",
		"/v1/tenants/{tenant}/calls/{connId}/initiate-transfer", "/v1/tenants/{tenant}/calls/{connId}/initiate-conference"} {
		o := get(p, "post")
		created, ok := o.Responses["201"]
		if !ok {
			t.Errorf("POST %s: no 201 response", p)
			continue
		}
		props := created.Content["application/json"].Schema.Properties
		if _, ok := props["connId"]; !ok {
			t.Errorf("POST %s: 201 body lacks connId", p)
		}
		if _, ok := props["callThreadId"]; !ok {
			t.Errorf("POST %s: 201 body lacks callThreadId", p)
		}
		if _, ok := o.Responses["200"]; ok {
			t.Errorf("POST %s: documents 200 as well", p)
		}
	}
	o := get("/v1/tenants/{tenant}/calls/{connId}/complete-transfer", "post")
	found := false
	for _, prm := range o.Parameters {
		if prm.Name == "connId" {
			found = prm.Schema.Pattern == connIDPattern
		}
	}
	if !found {
		t.Errorf("complete-transfer: connId parameter without the pattern %s", connIDPattern)
	}
	if p := o.RequestBody.Content["application/json"].Schema.Properties["consultConnId"].Pattern; p != connIDPattern {
		t.Errorf("consultConnId pattern %q, want %q", p, connIDPattern)
	}
}
