package ctiapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

const (
	demoToken  = "demo-token"
	otherToken = "other-token"
)

// captureSink records every event and acknowledges at once.
type captureSink struct {
	mu      sync.Mutex
	evs     []event.Event
	discard bool // keep nothing (benchmarks)
}

func (s *captureSink) Publish(evs []event.Event, done func(error)) {
	s.mu.Lock()
	if !s.discard {
		s.evs = append(s.evs, evs...)
	}
	s.mu.Unlock()
	done(nil)
}

// take returns the events recorded since the last take.
func (s *captureSink) take() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.evs
	s.evs = nil
	return out
}

type fixture struct {
	srv  *Server
	http *httptest.Server
	sink *captureSink
}

// newFixture serves two tenants: the demo tenant (token demoToken) and a
// copy of it named "other" (token otherToken).
func newFixture(t testing.TB, mod func(*Config)) *fixture {
	t.Helper()
	demo := config.Demo(demoToken, "sip-pw").Tenants[0]
	other := config.Demo(otherToken, "sip-pw").Tenants[0]
	other.ID = "other"
	sink := &captureSink{}
	if _, ok := t.(*testing.B); ok {
		sink.discard = true
	}
	cfg := Config{Tenants: map[string]Tenant{}}
	for _, ct := range []config.Tenant{demo, other} {
		eng, err := engine.New(&ct, engine.Options{Server: "test-1"})
		if err != nil {
			t.Fatal(err)
		}
		var s tenant.Sink = sink
		if ct.ID == "other" {
			s = &captureSink{}
		}
		rt, err := tenant.Start(tenant.Config{Engine: eng, Sink: s})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close(context.Background()) })
		cfg.Tenants[ct.ID] = Tenant{Runtime: rt, Tokens: ct.Tokens}
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &fixture{srv: srv, http: hs, sink: sink}
}

type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) errCode() string {
	var b struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(r.body, &b)
	return b.Error.Code
}

func (f *fixture) do(t *testing.T, token, method, path, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, b, res.Header}
}

// evSummary renders the fields a test cares about.
func evSummary(ev event.Event) string {
	s := fmt.Sprintf("%s %s", ev.ID, ev.ThisDN)
	if ev.AgentID != "" {
		s += " agent=" + ev.AgentID
	}
	if ev.OtherDN != "" {
		s += " other=" + ev.OtherDN
	}
	if ev.ThisQueue != "" {
		s += " queue=" + ev.ThisQueue
	}
	if ev.AgentWorkMode != 0 {
		s += " mode=" + ev.AgentWorkMode.String()
	}
	if ev.MonitorNextCallType != 0 {
		s += " type=" + ev.MonitorNextCallType.String()
	}
	if ev.ReferenceID != 0 {
		s += fmt.Sprintf(" ref=%d", ev.ReferenceID)
	}
	if len(ev.Reasons) > 0 {
		s += " reasons=" + string(must(ev.Reasons.MarshalJSON()))
	}
	if len(ev.Extensions) > 0 {
		s += " ext=" + string(must(ev.Extensions.MarshalJSON()))
	}
	return s
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestAgentEndpoints drives every agents-and-DNs endpoint in order and
// checks the reply and the exact events it caused.
func TestAgentEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	const base = "/v1/tenants/demo/dns/"
	steps := []struct {
		name, method, path, body string
		want                     []string // event summaries
	}{
		{"login", "POST", "1001/login", `{"agentId":"agent1","queues":["7000","7001"],"referenceId":11}`, []string{
			"EventAgentLogin 1001 agent=agent1 queue=7000 ref=11",
			"EventAgentLogin 1001 agent=agent1 queue=7001 ref=11",
		}},
		{"ready", "POST", "1001/ready", `{"workMode":"AutoIn","referenceId":12}`, []string{
			"EventAgentReady 1001 agent=agent1 mode=AutoIn ref=12",
		}},
		{"ready default", "POST", "1001/ready", ``, []string{
			"EventAgentReady 1001 agent=agent1 mode=ManualIn",
		}},
		{"not ready with reasons", "POST", "1001/not-ready",
			`{"reasons":{"ReasonCode":"Lunch","Level":2,"Detail":{"Why":"hungry"}},"extensions":{"Desk":"B"},"referenceId":13}`, []string{
				`EventAgentNotReady 1001 agent=agent1 mode=AuxWork ref=13 reasons={"ReasonCode":"Lunch","Level":2,"Detail":{"Why":"hungry"}} ext={"Desk":"B"}`,
			}},
		{"not ready walk away", "POST", "1001/not-ready", `{"workMode":"WalkAway"}`, []string{
			"EventAgentNotReady 1001 agent=agent1 mode=WalkAway",
		}},
		// EVENTS.md schema 2: a repeated login, ReturnBack, LegalGuard.
		{"login again", "POST", "1001/login", `{"agentId":"agent1","queues":["7000"]}`, []string{
			"EventAgentLogin 1001 agent=agent1 queue=7000",
		}},
		{"ready return back", "POST", "1001/ready", `{"workMode":"ReturnBack"}`, []string{
			"EventAgentReady 1001 agent=agent1 mode=ReturnBack",
		}},
		{"not ready legal guard", "POST", "1001/not-ready", `{"workMode":"LegalGuard"}`, []string{
			"EventAgentNotReady 1001 agent=agent1 mode=LegalGuard",
		}},
		{"dnd on", "POST", "1001/dnd", `{"on":true}`, []string{"EventDNDOn 1001 agent=agent1"}},
		{"dnd off", "POST", "1001/dnd", `{"on":false}`, []string{"EventDNDOff 1001 agent=agent1"}},
		{"dnd without agent", "POST", "1002/dnd", `{"on":true}`, []string{"EventDNDOn 1002"}},
		{"forward", "POST", "1002/forward", `{"to":"1003","mode":"OnBusy","referenceId":5}`, []string{
			`EventForwardSet 1002 other=1003 ref=5 ext={"ForwardMode":"OnBusy"}`,
		}},
		{"forward cancel", "DELETE", "1002/forward", ``, []string{"EventForwardCancel 1002"}},
		{"monitor", "POST", "1100/monitor", `{"target":"1001","type":"AllCalls"}`, []string{
			"EventMonitoringNextCall 1001 agent=agent1 other=1100 type=MonitorAllCalls",
			"EventMonitoringNextCall 1100 other=1001 type=MonitorAllCalls",
		}},
		{"monitor again", "POST", "1100/monitor", `{"target":"1001","type":"OneCall"}`, []string{
			"EventMonitoringCancelled 1001 agent=agent1 other=1100",
			"EventMonitoringCancelled 1100 other=1001",
			"EventMonitoringNextCall 1001 agent=agent1 other=1100 type=MonitorOneCall",
			"EventMonitoringNextCall 1100 other=1001 type=MonitorOneCall",
		}},
		{"monitor cancel", "DELETE", "1100/monitor", `{"referenceId":7}`, []string{
			"EventMonitoringCancelled 1001 agent=agent1 other=1100 ref=7",
			"EventMonitoringCancelled 1100 other=1001 ref=7",
		}},
		{"off hook", "POST", "1003/hook", `{"state":"off"}`, []string{"EventOffHook 1003"}},
		{"on hook", "POST", "1003/hook", `{"state":"on"}`, []string{"EventOnHook 1003"}},
		{"message waiting", "POST", "1004/message-waiting", `{"on":true,"newMessages":2,"oldMessages":1}`, []string{
			`EventMessageWaitingOn 1004 ext={"NewMessages":2,"OldMessages":1}`,
		}},
		{"message waiting off", "POST", "1004/message-waiting", `{"on":false}`, nil},
		{"logout one queue", "POST", "1001/logout", `{"queues":["7001"]}`, []string{
			"EventQueueLogout 1001 agent=agent1 queue=7001",
		}},
		{"out of service", "POST", "1001/service", `{"inService":false,"reasons":{"Why":"maintenance"}}`, nil},
		{"back in service", "POST", "1001/service", `{"inService":true}`, []string{"EventDNBackInService 1001"}},
	}
	for _, s := range steps {
		r := f.do(t, demoToken, s.method, base+s.path, s.body)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d %s", s.name, r.status, r.body)
		}
		evs := f.sink.take()
		var ok OK
		if err := json.Unmarshal(r.body, &ok); err != nil || !ok.OK || ok.Events != len(evs) {
			t.Errorf("%s: body %s, want ok with %d events", s.name, r.body, len(evs))
		}
		if s.want == nil {
			continue // checked below, where the exact events are spelled out
		}
		var got []string
		for _, ev := range evs {
			got = append(got, evSummary(ev))
			if err := ev.Validate(); err != nil {
				t.Errorf("%s: %v", s.name, err)
			}
		}
		if strings.Join(got, "\n") != strings.Join(s.want, "\n") {
			t.Errorf("%s: events\n%s\nwant\n%s", s.name, strings.Join(got, "\n"), strings.Join(s.want, "\n"))
		}
	}
}

func TestOutOfServiceLogsOut(t *testing.T) {
	f := newFixture(t, nil)
	if r := f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1005/login", `{"agentId":"agent5","queues":["7000"]}`); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	f.sink.take()
	r := f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1005/service", `{"inService":false,"reasons":{"Why":"maintenance"},"referenceId":9}`)
	if r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	var got []string
	for _, ev := range f.sink.take() {
		got = append(got, evSummary(ev))
	}
	want := []string{
		`EventDNOutOfService 1005 agent=agent5 ref=9 reasons={"Why":"maintenance"}`,
		`EventAgentLogout 1005 agent=agent5 queue=7000 ref=9 reasons={"Why":"maintenance"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestGetEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1001/login", `{"agentId":"agent1","queues":["7000"]}`)
	f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1001/ready", `{}`)
	f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1001/forward", `{"to":"1002"}`)

	r := f.do(t, demoToken, "GET", "/v1/tenants/demo/dns/1001", "")
	var dn engine.DNView
	if err := json.Unmarshal(r.body, &dn); r.status != 200 || err != nil {
		t.Fatalf("GET dn: %d %s", r.status, r.body)
	}
	if dn.Number != "1001" || dn.AgentID != "agent1" || dn.AgentState != "Ready" || dn.Forward == nil ||
		dn.Forward.To != "1002" || dn.Forward.Mode != "Unconditional" || fmt.Sprint(dn.Queues) != "[7000]" {
		t.Fatalf("GET dn: %+v", dn)
	}

	r = f.do(t, demoToken, "GET", "/v1/tenants/demo/agents", "")
	var list AgentList
	if err := json.Unmarshal(r.body, &list); r.status != 200 || err != nil {
		t.Fatalf("GET agents: %d %s", r.status, r.body)
	}
	if len(list.Agents) != 21 {
		t.Fatalf("GET agents: %d agents, want 21", len(list.Agents))
	}

	r = f.do(t, demoToken, "GET", "/v1/tenants/demo/agents/agent1", "")
	var ag engine.AgentView
	if err := json.Unmarshal(r.body, &ag); r.status != 200 || err != nil {
		t.Fatalf("GET agent: %d %s", r.status, r.body)
	}
	if ag.AgentID != "agent1" || ag.DN != "1001" || ag.State != "Ready" || ag.WorkMode != "ManualIn" {
		t.Fatalf("GET agent: %+v", ag)
	}
	r = f.do(t, demoToken, "GET", "/v1/tenants/demo/agents/agent2", "")
	if err := json.Unmarshal(r.body, &ag); r.status != 200 || err != nil || ag.State != "LoggedOut" {
		t.Fatalf("GET logged-out agent: %d %s", r.status, r.body)
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t, nil)
	if r := f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1001/login", `{"agentId":"agent1"}`); r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	f.sink.take()
	big := `{"agentId":"agent2","reasons":{"x":"` + strings.Repeat("a", MaxBody) + `"}}`
	cases := []struct {
		name, token, method, path, body string
		status                          int
		code                            string
	}{
		{"no token", "", "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true}`, 401, CodeUnauthorized},
		{"bad token", "nope", "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true}`, 401, CodeUnauthorized},
		{"no token on GET", "", "GET", "/v1/tenants/demo/agents", ``, 401, CodeUnauthorized},
		{"no token on events", "", "GET", "/v1/tenants/demo/events", ``, 401, CodeUnauthorized},
		{"other tenant's token", otherToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true}`, 403, CodeForbidden},
		{"other tenant's token on GET", otherToken, "GET", "/v1/tenants/demo/dns/1002", ``, 403, CodeForbidden},
		{"other tenant's events", otherToken, "GET", "/v1/tenants/demo/events", ``, 403, CodeForbidden},
		{"unknown tenant", demoToken, "GET", "/v1/tenants/nobody/agents", ``, 403, CodeForbidden},
		{"malformed", demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":`, 400, CodeMalformed},
		{"not an object", demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `[true]`, 400, CodeMalformed},
		{"trailing data", demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true} {}`, 400, CodeMalformed},
		{"unknown field", demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true,"off":false}`, 400, CodeUnknownField},
		{"unknown field on delete", demoToken, "DELETE", "/v1/tenants/demo/dns/1002/forward", `{"to":"1003"}`, 400, CodeUnknownField},
		{"wrong type", demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":"yes"}`, 400, CodeWrongType},
		{"wrong type referenceId", demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true,"referenceId":"7"}`, 400, CodeWrongType},
		{"wrong type queues", demoToken, "POST", "/v1/tenants/demo/dns/1002/login", `{"agentId":"agent2","queues":"7000"}`, 400, CodeWrongType},
		{"float in reasons", demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true,"reasons":{"a":1.5}}`, 400, CodeWrongType},
		{"bool in extensions", demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true,"extensions":{"a":true}}`, 400, CodeWrongType},
		{"reasons not an object", demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true,"reasons":"Lunch"}`, 400, CodeWrongType},
		{"negative referenceId", demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true,"referenceId":-1}`, 400, CodeInvalid},
		{"missing field", demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{}`, 400, CodeMissingField},
		{"missing agentId", demoToken, "POST", "/v1/tenants/demo/dns/1002/login", `{"queues":["7000"]}`, 400, CodeMissingField},
		{"bad enum workMode", demoToken, "POST", "/v1/tenants/demo/dns/1001/ready", `{"workMode":"AuxWork"}`, 400, CodeBadEnum},
		{"bad enum not-ready", demoToken, "POST", "/v1/tenants/demo/dns/1001/not-ready", `{"workMode":"Lunch"}`, 400, CodeBadEnum},
		{"bad enum forward mode", demoToken, "POST", "/v1/tenants/demo/dns/1002/forward", `{"to":"1003","mode":"Always"}`, 400, CodeBadEnum},
		{"bad enum hook", demoToken, "POST", "/v1/tenants/demo/dns/1002/hook", `{"state":"up"}`, 400, CodeBadEnum},
		{"bad enum monitor", demoToken, "POST", "/v1/tenants/demo/dns/1100/monitor", `{"target":"1001","type":"Sometimes"}`, 400, CodeBadEnum},
		{"negative messages", demoToken, "POST", "/v1/tenants/demo/dns/1002/message-waiting", `{"on":true,"newMessages":-1}`, 400, CodeInvalid},
		{"bad topic", demoToken, "GET", "/v1/tenants/demo/events?topic=voice-other", ``, 400, CodeBadEnum},
		{"unknown query parameter", demoToken, "GET", "/v1/tenants/demo/events?agent=agent1", ``, 400, CodeUnknownField},
		{"too large", demoToken, "POST", "/v1/tenants/demo/dns/1002/login", big, 413, CodeTooLarge},
		{"unknown DN", demoToken, "POST", "/v1/tenants/demo/dns/9999/dnd", `{"on":true}`, 404, CodeNotFound},
		{"unknown DN on GET", demoToken, "GET", "/v1/tenants/demo/dns/9999", ``, 404, CodeNotFound},
		{"unknown agent", demoToken, "GET", "/v1/tenants/demo/agents/agent99", ``, 404, CodeNotFound},
		{"unknown agent on login", demoToken, "POST", "/v1/tenants/demo/dns/1002/login", `{"agentId":"agent99"}`, 404, CodeNotFound},
		{"no route", demoToken, "GET", "/v1/nothing", ``, 404, CodeNoRoute},
		{"method not allowed", demoToken, "PUT", "/v1/tenants/demo/dns/1001/login", `{}`, 405, CodeMethodNotAllowed},
		{"not logged in", demoToken, "POST", "/v1/tenants/demo/dns/1002/ready", `{}`, 409, CodeConflict},
		{"second agent on DN", demoToken, "POST", "/v1/tenants/demo/dns/1001/login", `{"agentId":"agent2"}`, 409, CodeConflict},
		{"cancel monitoring never set", demoToken, "DELETE", "/v1/tenants/demo/dns/1100/monitor", ``, 409, CodeConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.do(t, c.token, c.method, c.path, c.body)
			if r.status != c.status || r.errCode() != c.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var b struct {
				Error struct{ Code, Message string }
			}
			json.Unmarshal(r.body, &b)
			if b.Error.Message == "" {
				t.Errorf("no message in %s", r.body)
			}
			if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if evs := f.sink.take(); len(evs) != 0 {
				t.Errorf("a refused request produced %d events", len(evs))
			}
		})
	}
}

// TestTooLargeChunked: a body over the limit without a Content-Length is
// cut by the reader and refused with 413.
func TestTooLargeChunked(t *testing.T) {
	f := newFixture(t, nil)
	body := io.MultiReader(strings.NewReader(`{"agentId":"agent2","reasons":{"x":"`),
		strings.NewReader(strings.Repeat("a", MaxBody)), strings.NewReader(`"}}`))
	req, _ := http.NewRequest("POST", f.http.URL+"/v1/tenants/demo/dns/1002/login", body)
	req.Header.Set("Authorization", "Bearer "+demoToken)
	if req.ContentLength != 0 {
		t.Fatal("the request has a length; the test needs a chunked body")
	}
	res, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if r := (response{res.StatusCode, b, res.Header}); r.status != 413 || r.errCode() != CodeTooLarge {
		t.Fatalf("got %d %s, want 413 too_large", r.status, b)
	}
	if evs := f.sink.take(); len(evs) != 0 {
		t.Fatalf("%d events", len(evs))
	}
}

func TestUnavailableAfterClose(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.cfg.Tenants["demo"].Runtime.Close(context.Background())
	r := f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1001/dnd", `{"on":true}`)
	if r.status != 503 || r.errCode() != CodeUnavailable {
		t.Fatalf("got %d %s, want 503 unavailable", r.status, r.body)
	}
}

func TestRequestID(t *testing.T) {
	var buf syncBuffer
	f := newFixture(t, func(c *Config) {
		c.Logger = slogJSON(&buf)
	})
	r := f.do(t, "", "GET", "/v1/tenants/demo/agents", "")
	id := r.header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id")
	}
	if !strings.Contains(buf.String(), `"request_id":"`+id+`"`) {
		t.Fatalf("log lacks request_id %s: %s", id, buf.String())
	}
	req, _ := http.NewRequest("GET", f.http.URL+"/healthz", nil)
	req.Header.Set("X-Request-Id", "caller-chosen-1")
	res, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("X-Request-Id"); got != "caller-chosen-1" {
		t.Fatalf("X-Request-Id %q, want the caller's", got)
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t, nil)
	r := f.do(t, "", "GET", "/healthz", "")
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"ok"`)) {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
}

// TestTimedWrapUp: a timed after-call work ends by a runtime timer, whose
// events come out like any other.
func TestTimedWrapUp(t *testing.T) {
	f := newFixture(t, nil)
	// Subscribed before the login: a reply may reach its caller before
	// the subscribers have its step's events, so a subscription made after
	// the login's reply could still get EventAgentLogin.
	sub := f.srv.cfg.Tenants["demo"].Runtime.Subscribe(tenant.Filter{DN: "1001"}, 16)
	defer sub.Close()
	f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1001/login", `{"agentId":"agent1","queues":["7000"]}`)
	r := f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1001/not-ready", `{"workMode":"AfterCallWork","extensions":{"WrapUpTime":1}}`)
	if r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case ev := <-sub.C:
			if ev.ID == event.EventAgentLogin {
				continue
			}
			got = append(got, fmt.Sprintf("%s %s", ev.ID, ev.AgentWorkMode))
		case <-timeout:
			t.Fatalf("got %v, want NotReady then Ready from the timer", got)
		}
	}
	if got[0] != "EventAgentNotReady AfterCallWork" || !strings.HasPrefix(got[1], "EventAgentReady") {
		t.Fatalf("events %v", got)
	}
}
