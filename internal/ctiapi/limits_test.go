package ctiapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/metrics/metricstest"
)

// serveLimited serves h on a LimitedListener of 127.0.0.1 with l's
// timeouts, as serve does.
func serveLimited(t testing.TB, h http.Handler, l ConnLimits, m *metrics.Set) (*LimitedListener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ll := LimitListener(ln, l, m, nil)
	srv := l.HTTPServer(h, nil)
	go srv.Serve(ll)
	t.Cleanup(func() { srv.Close() })
	return ll, ln.Addr().String()
}

// rawRequest writes req on a new connection and returns the status line
// of the answer, or the read error.
func rawRequest(t *testing.T, c net.Conn, req string) (string, error) {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return bufio.NewReader(c).ReadString('\n')
}

// TestUnauthorizedBeforeBody: a request without a token that announces a
// body and sends none gets its 401 at once (and the connection is closed),
// instead of the server waiting for the body.
func TestUnauthorizedBeforeBody(t *testing.T) {
	f := newFixture(t, nil)
	_, addr := serveLimited(t, f.srv.Handler(Ops{}), ConnLimits{ReadTimeout: time.Hour}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, err := rawRequest(t, c, "POST /v1/tenants/demo/calls HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 401") {
		t.Fatalf("answer %q (%v), want 401 before the body", line, err)
	}
}

// TestConnectionsPerAddress: an address holding its bound of connections
// (keep-alive, idle) gets its next one closed at accept; the others'
// connections and a freed slot work; the refusal is counted.
func TestConnectionsPerAddress(t *testing.T) {
	f := newFixture(t, nil)
	m := metrics.NewSet()
	ll, addr := serveLimited(t, f.srv.Handler(Ops{Metrics: m}), ConnLimits{MaxConnsPerAddr: 3, MaxConns: 100}, m)
	var held []net.Conn
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if line, err := rawRequest(t, c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("connection %d: %q %v", i, line, err)
		}
		held = append(held, c)
	}
	if n := ll.Open(); n != 3 {
		t.Errorf("Open() = %d, want 3", n)
	}
	over, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	if line, err := rawRequest(t, over, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err == nil {
		t.Fatalf("a fourth connection from the same address was answered: %q", line)
	}
	// Another client address (127.0.0.2 is loopback too) is not affected.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	other, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if line, err := rawRequest(t, other, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("another address: %q %v", line, err)
	}
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for ll.Open() > 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	again, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if line, err := rawRequest(t, again, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("after one was closed: %q %v", line, err)
	}
	e := scrapeMetricsOf(t, m)
	if v, _ := e.Value(metrics.NameHTTPRefused, map[string]string{"reason": "conn_limit_addr"}); v != 1 {
		t.Errorf("%s{reason=conn_limit_addr} = %v, want 1", metrics.NameHTTPRefused, v)
	}
}

// TestIdleConnectionClosed: a keep-alive connection that sends nothing
// more is closed after the idle timeout, and one that sends half a request
// after the header timeout.
func TestIdleConnectionClosed(t *testing.T) {
	f := newFixture(t, nil)
	ll, addr := serveLimited(t, f.srv.Handler(Ops{}), ConnLimits{IdleTimeout: 200 * time.Millisecond, ReadHeaderTimeout: 200 * time.Millisecond}, nil)
	idle, _ := net.Dial("tcp", addr)
	defer idle.Close()
	if _, err := rawRequest(t, idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	half, _ := net.Dial("tcp", addr)
	defer half.Close()
	io.WriteString(half, "GET /healthz HTTP/1.1\r\nHost:")
	deadline := time.Now().Add(20 * time.Second)
	for ll.Open() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := ll.Open(); n != 0 {
		t.Fatalf("%d connections still open after their timeouts", n)
	}
}

// TestAuthFailuresPerAddress: an address that used up its failed
// authentications gets 429 with Retry-After on every request, a valid
// token included, until the bucket refills; another address is not
// affected; each failure is counted.
func TestAuthFailuresPerAddress(t *testing.T) {
	f := newFixture(t, nil)
	m := metrics.NewSet()
	now := time.Unix(1000, 0)
	h := f.srv.Handler(Ops{Metrics: m, AuthFailures: RateLimit{Rate: 0.5, Burst: 5}, Now: func() time.Time { return now }})
	get := func(addr, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/v1/tenants/demo/agents", nil)
		r.RemoteAddr = addr
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 5 {
		if w := get("192.0.2.1:1000", "guess"); w.Code != 401 {
			t.Fatalf("guess %d: %d, want 401", i, w.Code)
		}
	}
	w := get("192.0.2.1:1001", demoToken)
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("after 5 failures, a valid token from the address: %d Retry-After %q, want 429 and 2", w.Code, w.Header().Get("Retry-After"))
	}
	if w := get("192.0.2.2:1000", demoToken); w.Code != 200 {
		t.Errorf("another address: %d, want 200", w.Code)
	}
	if w := get("[2001:db8::1]:1000", "guess"); w.Code != 401 {
		t.Errorf("an IPv6 client: %d, want 401", w.Code)
	}
	now = now.Add(2 * time.Second)
	if w := get("192.0.2.1:1002", demoToken); w.Code != 200 {
		t.Errorf("after the refill: %d, want 200", w.Code)
	}
	e := scrapeMetricsOf(t, m)
	if v, _ := e.Value(metrics.NameHTTPAuthFailures, nil); v != 6 {
		t.Errorf("%s = %v, want 6", metrics.NameHTTPAuthFailures, v)
	}
	if v, _ := e.Value(metrics.NameHTTPRefused, map[string]string{"reason": "auth_blocked"}); v != 1 {
		t.Errorf("%s{auth_blocked} = %v, want 1", metrics.NameHTTPRefused, v)
	}
}

// TestStreamsPerTenant: a tenant has at most MaxStreams event streams; the
// next is refused with 429 limit_reached, and another tenant can still
// open one.
func TestStreamsPerTenant(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxStreams = 2 })
	dial(t, f, demoToken, "")
	dial(t, f, demoToken, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(f.http.URL, "http") + "/v1/tenants/demo/events"
	_, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + demoToken}}})
	if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third stream: %v %v, want 429", res, err)
	}
	url = "ws" + strings.TrimPrefix(f.http.URL, "http") + "/v1/tenants/other/events"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + otherToken}}})
	if err != nil {
		t.Fatalf("another tenant's stream: %v", err)
	}
	c.CloseNow()
}

// TestRouteMessagesRateLimited: route messages on the event stream take
// from the token's rate limit like POSTs: beyond it they are answered with
// rate_limited and not executed.
func TestRouteMessagesRateLimited(t *testing.T) {
	now := time.Unix(1000, 0)
	f := opsFixture(t, nil, nil, Ops{Default: RateLimit{Rate: 1, Burst: 3}, Now: func() time.Time { return now }})
	c := dial(t, f, demoToken, "") // the upgrade takes one
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var codes []string
	for range 4 {
		msg := `{"route":{"connId":"0000000000000001","routingPoint":"5000","to":"1001"}}`
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m routeResultMsg
		if err := json.Unmarshal(b, &m); err != nil || m.RouteResult.Error == nil {
			t.Fatalf("result %s (%v), want an error", b, err)
		}
		codes = append(codes, m.RouteResult.Error.Code)
	}
	want := []string{CodeNotFound, CodeNotFound, CodeRateLimited, CodeRateLimited}
	if strings.Join(codes, ",") != strings.Join(want, ",") {
		t.Errorf("route results %v, want %v (burst 3, one taken by the upgrade)", codes, want)
	}
}

func scrapeMetricsOf(t *testing.T, m *metrics.Set) metricstest.Exposition {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	e, err := metricstest.Parse(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRefusalLogsSampled: a token guesser's 100 refused requests give a
// few log lines per kind (sampled: a burst of 5, then 2 a second), a
// later one carrying the count dropped, while the metrics count all 100.
func TestRefusalLogsSampled(t *testing.T) {
	var logs syncBuffer
	m := metrics.NewSet()
	f := opsFixture(t, func(c *Config) { c.Logger = slogJSON(&logs) }, nil,
		Ops{Metrics: m, AuthFailures: RateLimit{Rate: 1, Burst: 1000}})
	guess := func(i int) {
		if r := f.do(t, fmt.Sprintf("guess-%d", i), "GET", "/v1/tenants/demo/agents", ""); r.status != 401 {
			t.Fatalf("guess %d: %d, want 401", i, r.status)
		}
	}
	start := time.Now()
	for i := range 100 {
		guess(i)
	}
	elapsed := time.Since(start)
	time.Sleep(time.Second) // the buckets refill: the next line says how many were dropped
	guess(100)

	lines := map[string]int{}
	dropped := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Msg     string `json:"msg"`
			Status  int    `json:"status"`
			Dropped uint64 `json:"dropped"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines[rec.Msg]++
		dropped[rec.Msg] = dropped[rec.Msg] || rec.Dropped > 0
	}
	most := 5 + 2*int(elapsed.Seconds()+2)
	for _, msg := range []string{"http request", "authentication failed"} {
		if n := lines[msg]; n == 0 || n > most {
			t.Errorf("%d %q lines for 101 refused requests in %v, want 1 to %d", n, msg, elapsed, most)
		}
		if !dropped[msg] {
			t.Errorf("no %q line carries the count dropped", msg)
		}
	}
	if v, _ := scrapeMetricsOf(t, m).Value(metrics.NameHTTPAuthFailures, nil); v != 101 {
		t.Errorf("%s = %v, want 101", metrics.NameHTTPAuthFailures, v)
	}
}
