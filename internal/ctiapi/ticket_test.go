package ctiapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func getTicket(t *testing.T, f *fixture, token, tenant string) string {
	t.Helper()
	res := f.do(t, token, "POST", "/v1/tenants/"+tenant+"/events/ticket", "")
	if res.status != http.StatusOK {
		t.Fatalf("ticket: %d %s", res.status, res.body)
	}
	var tk Ticket
	if err := json.Unmarshal(res.body, &tk); err != nil || len(tk.Ticket) != 64 || tk.ExpiresIn <= 0 {
		t.Fatalf("ticket body %s: %+v %v", res.body, tk, err)
	}
	return tk.Ticket
}

// dialTicket opens the event stream with ?ticket= and no Authorization
// header, as a browser does; it returns the HTTP status of a refusal.
func dialTicket(t *testing.T, f *fixture, tenant, ticket string) (*websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(f.http.URL, "http") + "/v1/tenants/" + tenant + "/events?topic=voice-agentstate&ticket=" + ticket
	c, res, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		if res == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, res.StatusCode
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, http.StatusSwitchingProtocols
}

// TestEventTicket: a ticket opens the stream once, for its tenant only;
// a used, unknown, expired or foreign ticket is refused; asking for one
// needs the bearer token.
func TestEventTicket(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TicketTTL = 200 * time.Millisecond })

	if res := f.do(t, "", "POST", "/v1/tenants/demo/events/ticket", ""); res.status != http.StatusUnauthorized {
		t.Errorf("ticket without token: %d, want 401", res.status)
	}
	if res := f.do(t, otherToken, "POST", "/v1/tenants/demo/events/ticket", ""); res.status != http.StatusForbidden {
		t.Errorf("ticket with another tenant's token: %d, want 403", res.status)
	}

	tk := getTicket(t, f, demoToken, "demo")
	c, status := dialTicket(t, f, "demo", tk)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("dial with a fresh ticket: %d", status)
	}
	if res := f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1001/login", `{"agentId":"agent1"}`); res.status != 200 {
		t.Fatalf("login: %d %s", res.status, res.body)
	}
	if got := readN(t, c, 1)[0]; !strings.Contains(string(got), `"EventAgentLogin"`) {
		t.Errorf("first message %s, want EventAgentLogin", got)
	}

	if _, status := dialTicket(t, f, "demo", tk); status != http.StatusUnauthorized {
		t.Errorf("ticket used twice: %d, want 401", status)
	}
	if _, status := dialTicket(t, f, "demo", strings.Repeat("0", 64)); status != http.StatusUnauthorized {
		t.Errorf("unknown ticket: %d, want 401", status)
	}
	if _, status := dialTicket(t, f, "demo", ""); status != http.StatusUnauthorized {
		t.Errorf("empty ticket: %d, want 401", status)
	}
	foreign := getTicket(t, f, otherToken, "other")
	if _, status := dialTicket(t, f, "demo", foreign); status != http.StatusForbidden {
		t.Errorf("another tenant's ticket: %d, want 403", status)
	}

	old := getTicket(t, f, demoToken, "demo")
	time.Sleep(300 * time.Millisecond) // past the 200ms TTL
	if _, status := dialTicket(t, f, "demo", old); status != http.StatusUnauthorized {
		t.Errorf("expired ticket: %d, want 401", status)
	}

	// A bearer token still works, and wins over a bad ticket.
	dial(t, f, demoToken, "?ticket=nonsense")
}

func TestTicketsBounded(t *testing.T) {
	var ts tickets
	now := time.Unix(1000, 0)
	// Each tenant has its own bound, the whole a global one.
	tenants := maxTickets / 64
	for i := range maxTickets {
		if tk, err := ts.issue(fmt.Sprint("t", i%tenants), 0, 64, time.Second, now); tk == "" {
			t.Fatalf("ticket %d refused: %v", i, err)
		}
	}
	if tk, err := ts.issue("other", 0, 64, time.Second, now); tk != "" || err == nil || err.Code != CodeUnavailable {
		t.Errorf("ticket beyond %d: %q %v, want refused as unavailable", maxTickets, tk, err)
	}
	later := now.Add(2 * time.Second)
	tk, _ := ts.issue("demo", 3, 64, time.Second, later)
	if tk == "" {
		t.Fatal("ticket refused after the others expired")
	}
	if len(ts.m) != 1 {
		t.Errorf("%d tickets kept, want the expired ones dropped", len(ts.m))
	}
	if e, ok := ts.redeem(tk, later); !ok || e.tenant != "demo" || e.token != 3 {
		t.Errorf("redeem = %+v %v", e, ok)
	}
}

// TestTicketsPerTenant: one tenant taking all its tickets does not lock
// another out; it gets 429 limit_reached itself.
func TestTicketsPerTenant(t *testing.T) {
	var ts tickets
	now := time.Unix(1000, 0)
	for i := range 5 {
		if tk, err := ts.issue("greedy", 0, 5, time.Second, now); tk == "" {
			t.Fatalf("ticket %d refused: %v", i, err)
		}
	}
	if tk, err := ts.issue("greedy", 0, 5, time.Second, now); tk != "" || err == nil || err.Status() != http.StatusTooManyRequests {
		t.Errorf("greedy's sixth ticket: %q %v, want 429", tk, err)
	}
	if tk, err := ts.issue("polite", 0, 5, time.Second, now); tk == "" {
		t.Errorf("another tenant's ticket refused: %v", err)
	}
}

// TestWallboardMounted: the wallboard page is served without a token (it
// holds no data); /wallboard redirects to it.
func TestWallboardMounted(t *testing.T) {
	f := newFixture(t, nil)
	res := f.do(t, "", "GET", "/wallboard/", "")
	if res.status != http.StatusOK || !strings.Contains(string(res.body), "wallboard.js") {
		t.Errorf("GET /wallboard/: %d %.80s", res.status, res.body)
	}
	if res := f.do(t, "", "GET", "/wallboard", ""); res.status != http.StatusOK || !strings.Contains(string(res.body), "wallboard.js") {
		t.Errorf("GET /wallboard (redirected): %d", res.status)
	}
	if res := f.do(t, "", "POST", "/wallboard/", ""); res.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /wallboard/: %d, want 405", res.status)
	}
}
