package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// TestOpenAPIDocumentsStats: the statistics routes mounted on the CTI API
// (MountAPI, as serve does) are exactly the /stats operations of its
// served OpenAPI document, each documented operation reaches its handler,
// and each JSON reply (of a simulated day's figures) fits its documented
// schema: no field the document does not name, every value of the
// documented type.
func TestOpenAPIDocumentsStats(t *testing.T) {
	const token = "stats-openapi-token"
	ct := config.Demo(token, "sip-pw").Tenants[0]
	eng, err := engine.New(&ct, engine.Options{Server: "test-1"})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := tenant.Start(tenant.Config{Engine: eng, Sink: discardSink{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	api, err := ctiapi.New(ctiapi.Config{Tenants: map[string]ctiapi.Tenant{ct.ID: {Runtime: rt, Tokens: ct.Tokens}}})
	if err != nil {
		t.Fatal(err)
	}

	recs, _ := runSim(t, simDay(11, true))
	evs := decodeAll(t, recs)
	end := endOf(evs).Add(-20 * time.Minute) // mid-day: calls in progress, agents logged in
	svc := NewService(Config{Now: func() time.Time { return end }})
	for i := range evs {
		if evs[i].Time.UnixMicro() < end.UnixMicro() {
			evs[i].CustomerID = ct.ID
			svc.agg.Add(&evs[i])
		}
	}
	if err := svc.MountAPI(api); err != nil {
		t.Fatal(err)
	}
	h := api.Handler(ctiapi.Ops{Metrics: metrics.NewSet()})
	do := func(method, path, tok string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		h.ServeHTTP(rec, req)
		return rec
	}

	r := do("GET", "/v1/openapi.json", "")
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema map[string]any `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
			Parameters []struct {
				Name string `json:"name"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(r.Body.Bytes(), &doc); err != nil || r.Code != 200 {
		t.Fatalf("openapi.json: %d %v", r.Code, err)
	}
	var documented, mounted, listed []string
	for p, ops := range doc.Paths {
		for m := range ops {
			if strings.Contains(p, "/stats") {
				documented = append(documented, strings.ToUpper(m)+" "+p)
			}
		}
	}
	for _, e := range svc.Endpoints(api.Guard()) {
		mounted = append(mounted, e.Route.Method+" "+e.Route.Path)
	}
	for _, rt := range api.Routes() {
		if strings.Contains(rt.Path, "/stats") {
			listed = append(listed, rt.Method+" "+rt.Path)
		}
	}
	slices.Sort(documented)
	slices.Sort(mounted)
	slices.Sort(listed)
	if len(mounted) != 5 || !slices.Equal(documented, mounted) || !slices.Equal(listed, mounted) {
		t.Fatalf("stats routes mounted\n%s\ndocumented\n%s\nlisted by Routes\n%s",
			strings.Join(mounted, "\n"), strings.Join(documented, "\n"), strings.Join(listed, "\n"))
	}

	fill := strings.NewReplacer("{tenant}", ct.ID)
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		d := doc.Paths[path][strings.ToLower(method)]
		if r := do(method, fill.Replace(path), ""); r.Code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", op, r.Code)
		}
		if _, ok := d.Responses["401"]; !ok {
			t.Errorf("%s: 401 not documented", op)
		}
		r := do(method, fill.Replace(path), token)
		if strings.HasSuffix(path, "/ws") {
			// not an upgrade request: refused by the WebSocket handler,
			// not by the mux
			if _, ok := d.Responses["101"]; !ok || r.Code == http.StatusNotFound || r.Code == http.StatusMethodNotAllowed {
				t.Errorf("%s: %d; documented %v", op, r.Code, d.Responses)
			}
			if !slices.ContainsFunc(d.Parameters, func(p struct {
				Name string `json:"name"`
			}) bool {
				return p.Name == "ticket"
			}) {
				t.Errorf("%s: parameters %+v, no ticket", op, d.Parameters)
			}
			continue
		}
		if r.Code != 200 {
			t.Fatalf("%s: %d %s", op, r.Code, r.Body)
		}
		schema := d.Responses["200"].Content["application/json"].Schema
		if schema == nil {
			t.Fatalf("%s: no JSON schema for 200", op)
		}
		var body any
		if err := json.Unmarshal(r.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		for _, p := range conform(schema, body, "") {
			t.Errorf("%s: %s", op, p)
		}
	}
	// The replies were not empty: the schemas were checked against
	// queues and agents with figures.
	var u Update
	json.Unmarshal(do("GET", fill.Replace("/v1/tenants/{tenant}/stats"), token).Body.Bytes(), &u)
	if len(u.Queues) == 0 || len(u.Agents) == 0 || u.Tenant.Today.Offered == 0 || len(u.Queues[0].Calls) == 0 {
		t.Errorf("the replies checked were empty: %d queues, %d agents, %d offered", len(u.Queues), len(u.Agents), u.Tenant.Today.Offered)
	}
}

// discardSink records every publish at once.
type discardSink struct{}

func (discardSink) Publish(_ []event.Event, done func(error)) { done(nil) }

// conform lists where v does not fit the JSON schema s (the subset
// ctiapi's document uses: type, properties, items, additionalProperties).
func conform(s map[string]any, v any, at string) []string {
	var out []string
	typ, _ := s["type"].(string)
	switch x := v.(type) {
	case map[string]any:
		if typ != "object" {
			return []string{fmt.Sprintf("%s: an object, documented %q", at, typ)}
		}
		props, _ := s["properties"].(map[string]any)
		extra, _ := s["additionalProperties"].(map[string]any)
		for k, e := range x {
			sub, ok := props[k].(map[string]any)
			if !ok {
				sub = extra
			}
			if sub == nil {
				out = append(out, fmt.Sprintf("%s.%s is not documented", at, k))
				continue
			}
			out = append(out, conform(sub, e, at+"."+k)...)
		}
	case []any:
		if typ != "array" {
			return []string{fmt.Sprintf("%s: an array, documented %q", at, typ)}
		}
		items, _ := s["items"].(map[string]any)
		for i, e := range x {
			out = append(out, conform(items, e, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case string:
		if typ != "string" {
			out = append(out, fmt.Sprintf("%s: a string, documented %q", at, typ))
		}
	case float64:
		if typ != "number" && !(typ == "integer" && x == float64(int64(x))) {
			out = append(out, fmt.Sprintf("%s: %v, documented %q", at, x, typ))
		}
	case bool:
		if typ != "boolean" {
			out = append(out, fmt.Sprintf("%s: a boolean, documented %q", at, typ))
		}
	case nil:
		out = append(out, fmt.Sprintf("%s: null", at))
	}
	return out
}
