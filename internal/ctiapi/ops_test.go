package ctiapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/common/expfmt"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/metrics/metricstest"
)

// opsFixture is the API fixture served through Server.Handler(o).
func opsFixture(t *testing.T, mod func(*Config), setup func(*Server), o Ops) *fixture {
	t.Helper()
	f := newFixture(t, mod)
	if setup != nil {
		setup(f.srv)
	}
	hs := httptest.NewServer(f.srv.Handler(o))
	t.Cleanup(hs.Close)
	f.http = hs
	return f
}

func scrapeMetrics(t *testing.T, f *fixture) metricstest.Exposition {
	t.Helper()
	r := f.do(t, "", "GET", "/metrics", "")
	if r.status != 200 || expfmt.ResponseFormat(r.header).FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("/metrics: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	e, err := metricstest.Parse(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, r.body)
	}
	return e
}

// Requests show up in the latency histograms under their route pattern,
// method and status class; /metrics parses as the text format.
func TestMetricsEndpoint(t *testing.T) {
	set := metrics.NewSet()
	f := opsFixture(t, nil, nil, Ops{Metrics: set})
	login := map[string]string{"method": "POST", "route": "/v1/tenants/{tenant}/dns/{dn}/login", "code": "2xx"}
	refused := map[string]string{"method": "POST", "route": "/v1/tenants/{tenant}/dns/{dn}/login", "code": "4xx"}
	before := scrapeMetrics(t, f)
	if _, ok := before.Value(metrics.NameAPILatency+"_count", login); ok {
		t.Fatal("a login series before any login")
	}
	for i, dn := range []string{"1001", "1002", "1003"} {
		body := `{"agentId":"agent` + string(rune('1'+i)) + `"}`
		if r := f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/"+dn+"/login", body); r.status != 200 {
			t.Fatalf("login %s: %d %s", dn, r.status, r.body)
		}
	}
	f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1001/login", `{"agentId":"agent9"}`) // already logged in
	f.do(t, "", "POST", "/v1/tenants/demo/dns/1004/login", `{"agentId":"agent4"}`)        // 401
	f.do(t, demoToken, "GET", "/no/such/path/123", "")
	after := scrapeMetrics(t, f)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{metrics.NameAPILatency + "_count", login, 3},
		{metrics.NameAPILatency + "_count", refused, 2},
		{metrics.NameAPILatency + "_count", map[string]string{"route": "unmatched", "code": "4xx"}, 1},
		{metrics.NameAPILatency + "_count", map[string]string{"route": "/metrics", "code": "2xx"}, 1}, // the first scrape
	} {
		if got, ok := after.Value(tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	for _, s := range after.Find(metrics.NameAPILatency+"_count", nil) {
		if strings.Contains(s.Labels["route"], "1001") || strings.Contains(s.Labels["route"], "/no/") {
			t.Errorf("raw path in a route label: %v", s.Labels)
		}
	}
}

// /readyz is 200 when Ready says so and 503 with the reason otherwise;
// /healthz stays 200.
func TestReadyz(t *testing.T) {
	var mu sync.Mutex
	var notReady error
	f := opsFixture(t, nil, nil, Ops{Ready: func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return notReady
	}})
	if r := f.do(t, "", "GET", "/readyz", ""); r.status != 200 || !bytes.Contains(r.body, []byte(`"ready"`)) {
		t.Fatalf("ready: %d %s", r.status, r.body)
	}
	mu.Lock()
	notReady = errors.New("journal closed")
	mu.Unlock()
	r := f.do(t, "", "GET", "/readyz", "")
	var body Readiness
	json.Unmarshal(r.body, &body)
	if r.status != 503 || body.Status != "unavailable" || body.Reason != "journal closed" {
		t.Fatalf("not ready: %d %s", r.status, r.body)
	}
	if r := f.do(t, "", "GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz while not ready: %d", r.status)
	}
	if r := f.do(t, "", "POST", "/readyz", ""); r.status != 405 || r.errCode() != CodeMethodNotAllowed {
		t.Fatalf("POST /readyz: %d %s", r.status, r.body)
	}
}

// A token over its bucket gets 429 with Retry-After, counted per tenant;
// another token is not affected; time refills the bucket; per-tenant limits
// override the default.
func TestRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	set := metrics.NewSet()
	f := opsFixture(t, nil, nil, Ops{
		Metrics:    set,
		Default:    RateLimit{Rate: 0.5, Burst: 2},
		RateLimits: map[string]RateLimit{"other": {Rate: 100, Burst: 100}},
		Now:        clock,
	})
	get := func(token, tenant string) response {
		return f.do(t, token, "GET", "/v1/tenants/"+tenant+"/agents", "")
	}
	for i := 0; i < 2; i++ {
		if r := get(demoToken, "demo"); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	r := get(demoToken, "demo")
	if r.status != 429 || r.errCode() != CodeRateLimited || r.header.Get("Retry-After") != "2" || r.header.Get("X-Request-Id") == "" {
		t.Fatalf("over the limit: %d %s Retry-After=%q", r.status, r.body, r.header.Get("Retry-After"))
	}
	for i := 0; i < 10; i++ {
		if r := get(otherToken, "other"); r.status != 200 {
			t.Fatalf("other tenant's token, request %d: %d %s", i, r.status, r.body)
		}
	}
	advance(time.Second)
	if r := get(demoToken, "demo"); r.status != 429 {
		t.Fatalf("after 1s (half a token): %d", r.status)
	}
	advance(time.Second)
	if r := get(demoToken, "demo"); r.status != 200 {
		t.Fatalf("after 2s: %d %s", r.status, r.body)
	}
	// Bad tokens are not limited (nothing to key them on) but stay 401.
	for i := 0; i < 5; i++ {
		if r := get("not-a-token", "demo"); r.status != 401 {
			t.Fatalf("bad token: %d", r.status)
		}
	}
	e := scrapeMetrics(t, f)
	if got, _ := e.Value(metrics.NameAPIRateLimited, map[string]string{"tenant": "demo"}); got != 2 {
		t.Errorf("rate limited demo = %v, want 2", got)
	}
	if _, ok := e.Value(metrics.NameAPIRateLimited, map[string]string{"tenant": "other"}); ok {
		t.Errorf("other tenant counted as limited")
	}
}

// Tokens known only by their hash authenticate like plain ones; a hash
// cannot be given to two tenants; the text form round-trips.
func TestTokenHashes(t *testing.T) {
	const hashed = "a-token-kept-as-a-hash"
	h, err := ParseTokenHash(HashToken(hashed).String())
	if err != nil || h != HashToken(hashed) {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "sha256:", "md5:" + strings.Repeat("0", 32), "sha256:" + strings.Repeat("A", 64), "sha256:" + strings.Repeat("g", 64), HashToken("x").String() + "0"} {
		if _, err := ParseTokenHash(bad); !errors.Is(err, ErrTokenHash) {
			t.Errorf("ParseTokenHash(%q): %v", bad, err)
		}
	}
	f := opsFixture(t, nil, func(s *Server) {
		if err := s.AddTokenHashes("other", HashToken(hashed)); err != nil {
			t.Fatal(err)
		}
		if err := s.AddTokenHashes("demo", HashToken(otherToken)); err == nil {
			t.Error("another tenant's token accepted as a hash")
		}
		if err := s.AddTokenHashes("nobody", HashToken("x")); err == nil {
			t.Error("unknown tenant accepted")
		}
	}, Ops{})
	if r := f.do(t, hashed, "GET", "/v1/tenants/other/agents", ""); r.status != 200 {
		t.Fatalf("hashed token: %d %s", r.status, r.body)
	}
	if r := f.do(t, hashed, "GET", "/v1/tenants/demo/agents", ""); r.status != 403 {
		t.Fatalf("hashed token on the other tenant: %d %s", r.status, r.body)
	}
	if r := f.do(t, HashToken(hashed).String(), "GET", "/v1/tenants/other/agents", ""); r.status != 401 {
		t.Fatalf("the hash itself as a token: %d", r.status)
	}
}

var pathParamRe = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// Tenant isolation: on every authenticated route of the table, the other
// tenant's token (plain or hashed) gets 403 and changes nothing.
func TestTenantIsolation(t *testing.T) {
	const hashedOther = "other-hashed-token"
	f := opsFixture(t, nil, func(s *Server) {
		if err := s.AddTokenHashes("other", HashToken(hashedOther)); err != nil {
			t.Fatal(err)
		}
	}, Ops{Metrics: metrics.NewSet(), Default: RateLimit{Rate: 1000}})
	// A live call of demo, so ConnID routes name a real call.
	r := f.do(t, demoToken, "POST", "/v1/tenants/demo/calls", `{"from":"1001","to":"1002"}`)
	if r.status != 201 {
		t.Fatalf("make call: %d %s", r.status, r.body)
	}
	var made struct{ ConnID string }
	json.Unmarshal(r.body, &made)
	f.sink.take()
	values := map[string]string{"tenant": "demo", "dn": "1001", "agentId": "agent1", "connId": made.ConnID, "number": "7000", "queue": "7000", "id": "agent1"}
	n := 0
	for _, rt := range f.srv.routes {
		if !rt.auth {
			continue
		}
		path := pathParamRe.ReplaceAllStringFunc(rt.path, func(m string) string {
			name := m[1 : len(m)-1]
			if v, ok := values[name]; ok {
				return v
			}
			return "x" + name
		})
		for _, tok := range []string{otherToken, hashedOther} {
			n++
			body := "{}"
			if rt.method == "GET" || rt.method == "DELETE" {
				body = ""
			}
			r := f.do(t, tok, rt.method, path, body)
			if r.status != 403 || r.errCode() != CodeForbidden {
				t.Errorf("%s %s with the other tenant's token: %d %s", rt.method, path, r.status, r.body)
			}
		}
	}
	if n < 40 {
		t.Errorf("only %d authenticated routes tried", n/2)
	}
	if evs := f.sink.take(); len(evs) != 0 {
		t.Errorf("refused requests made %d events", len(evs))
	}
}

// A WebSocket subscription of one tenant never sees another tenant's
// events, and a token cannot open another tenant's stream.
func TestTenantIsolationEventStream(t *testing.T) {
	f := opsFixture(t, nil, nil, Ops{})
	dialTenant := func(tenant, token string) (*websocket.Conn, *http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		url := "ws" + strings.TrimPrefix(f.http.URL, "http") + "/v1/tenants/" + tenant + "/events"
		return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	}
	if c, res, err := dialTenant("demo", otherToken); err == nil {
		c.CloseNow()
		t.Fatal("other tenant's token opened demo's stream")
	} else if res == nil || res.StatusCode != 403 {
		t.Fatalf("other tenant's token: %v %v", res, err)
	}
	// Nor can a ticket bought with the other tenant's token.
	tr := f.do(t, otherToken, "POST", "/v1/tenants/other/events/ticket", "")
	var tk Ticket
	if err := json.Unmarshal(tr.body, &tk); err != nil || tr.status != 200 {
		t.Fatalf("ticket: %d %s", tr.status, tr.body)
	}
	if r := f.do(t, "", "GET", "/v1/tenants/demo/events?ticket="+tk.Ticket, ""); r.status != 403 {
		t.Fatalf("other tenant's ticket on demo's stream: %d %s", r.status, r.body)
	}
	other, _, err := dialTenant("other", otherToken)
	if err != nil {
		t.Fatal(err)
	}
	defer other.CloseNow()
	demo, _, err := dialTenant("demo", demoToken)
	if err != nil {
		t.Fatal(err)
	}
	defer demo.CloseNow()
	// Lots of demo traffic, then one event of other's as a marker.
	for _, req := range [][2]string{
		{"/v1/tenants/demo/dns/1001/login", `{"agentId":"agent1"}`},
		{"/v1/tenants/demo/dns/1001/ready", `{}`},
		{"/v1/tenants/demo/calls", `{"from":"1002","to":"1003"}`},
		{"/v1/tenants/demo/dns/1004/dnd", `{"on":true}`},
		{"/v1/tenants/other/dns/1005/dnd", `{"on":true}`},
	} {
		if r := f.do(t, map[bool]string{true: otherToken, false: demoToken}[strings.Contains(req[0], "/other/")], "POST", req[0], req[1]); r.status >= 300 {
			t.Fatalf("%s: %d %s", req[0], r.status, r.body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := other.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	if err := event.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.CustomerID != "other" || ev.ThisDN != "1005" || ev.ID != event.EventDNDOn {
		t.Fatalf("other's first event: %s", b)
	}
	// demo's stream saw demo's events only.
	for i := 0; i < 5; i++ {
		_, b, err := demo.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := event.Unmarshal(b, &ev); err != nil || ev.CustomerID != "demo" {
			t.Fatalf("demo's stream, message %d: %s (%v)", i, b, err)
		}
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer rcancel()
	if _, b, err := other.Read(rctx); err == nil {
		t.Fatalf("other's stream got a second event: %s", b)
	}
}

// Log lines logged with a request's context carry its request_id, also
// from a logger that was not built for the request.
func TestContextLogHandler(t *testing.T) {
	var buf syncBuffer
	log := slog.New(ContextLogHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := context.WithValue(context.Background(), logKey{}, reqLog{log, "req-42"})
	log.InfoContext(ctx, "one")
	log.With("component", "x").InfoContext(ctx, "two")
	log.Info("three") // no request
	log.InfoContext(ctx, "four", "request_id", "explicit")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	for i, want := range []string{`"request_id":"req-42"`, `"request_id":"req-42"`, ``, `"request_id":"explicit"`} {
		if want == "" {
			if strings.Contains(lines[i], "request_id") {
				t.Errorf("line %d: %s", i, lines[i])
			}
			continue
		}
		if !strings.Contains(lines[i], want) || strings.Count(lines[i], "request_id") != 1 {
			t.Errorf("line %d: %s, want %s once", i, lines[i], want)
		}
	}
}

// Every API request's log line (through Handler) carries the request id
// returned in X-Request-Id.
func TestHandlerLogsRequestID(t *testing.T) {
	var buf syncBuffer
	f := opsFixture(t, func(c *Config) { c.Logger = slogJSON(&buf) }, nil, Ops{Default: RateLimit{Rate: 0.001, Burst: 1}})
	ids := map[string]bool{}
	for i := 0; i < 3; i++ {
		r := f.do(t, demoToken, "GET", "/v1/tenants/demo/agents", "")
		ids[r.header.Get("X-Request-Id")] = true
	}
	if len(ids) != 3 {
		t.Fatalf("ids %v", ids)
	}
	for id := range ids {
		if !strings.Contains(buf.String(), `"request_id":"`+id+`"`) {
			t.Errorf("no log line with %s:\n%s", id, buf.String())
		}
	}
}

// FuzzHandler sends random methods, paths, bodies and Authorization
// headers through the whole handler (API, /metrics, /healthz, /readyz,
// /v1/openapi.json, the wallboard): never a panic, never a 5xx but 503,
// an error body with every API error.
func FuzzHandler(f *testing.F) {
	for _, s := range [][4]string{
		{"GET", "/metrics", "", ""},
		{"GET", "/healthz", "", ""},
		{"GET", "/readyz", "", "demo"},
		{"HEAD", "/readyz", "", ""},
		{"GET", "/v1/openapi.json", "", ""},
		{"POST", "/v1/tenants/demo/calls", `{"from":"1001","to":"1002"}`, "demo"},
		{"POST", "/v1/tenants/other/calls", `{"from":"1001","to":"1002"}`, "demo"},
		{"DELETE", "/v1/tenants/demo/dns/1001/monitor", ``, "other"},
		{"GET", "/v1/tenants/demo/agents/agent1", "", "bad"},
		{"PUT", "/metrics", "x", ""},
		{"GET", "/wallboard/", "", ""},
		{"POST", "/v1/tenants/demo/events/ticket", "", "demo"},
		{"GET", "/v1/tenants/demo/events", "", "demo"},
		{"GET", "/v1/tenants/demo/events?ticket=abc", "", ""},
		{"GET", "/v1/tenants/%2e%2e/dns/1001", "", "demo"},
		{"OPTIONS", "/v1/tenants/demo/calls/0123456789abcdef/answer", `{"dn":"1002"}`, "demo"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	fx := newFixture(f, nil)
	h := fx.srv.Handler(Ops{Metrics: metrics.NewSet(), Ready: func(context.Context) error { return errors.New("not ready") },
		Default: RateLimit{Rate: 1e6}})
	f.Fuzz(func(t *testing.T, method, path, body, auth string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://x"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		switch auth {
		case "demo":
			req.Header.Set("Authorization", "Bearer "+demoToken)
		case "other":
			req.Header.Set("Authorization", "Bearer "+otherToken)
		case "":
		default:
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != 503 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		// 426 comes from the WebSocket library (a stream request without
		// the upgrade headers), with its own plain-text body.
		if rec.Code >= 400 && rec.Code != http.StatusUpgradeRequired && strings.HasPrefix(req.URL.Path, "/v1/") && !strings.Contains(rec.Body.String(), `"code":`) {
			t.Fatalf("%s %s: %d without the error body: %s", method, path, rec.Code, rec.Body)
		}
		io.Copy(io.Discard, rec.Body)
	})
}
