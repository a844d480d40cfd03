package cluster

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestForwardedClient: a request a node forwards to the tenant's owner is
// served there with the client's address (from X-Forwarded-For, port 0),
// not the forwarding node's, whatever X-Forwarded-For the client sent;
// the same headers sent by a client that is not a cluster node are
// ignored. The clients connect from 127.0.0.2 and 127.0.0.3, the nodes
// listen on 127.0.0.1.
func TestForwardedClient(t *testing.T) {
	_, cfg := embedded(t, 2)
	ids := tenantIDs(8)
	var nodes []*Node
	byNode := map[*Node]*apiServer{}
	for _, id := range []string{"a", "b"} {
		s := startAPINode(t, cfg, id, "127.0.0.1", ids, nil)
		nodes = append(nodes, s.node)
		byNode[s.node] = s
	}
	by := waitOwned(t, cfg.Shards, nodes...)
	get := func(cl *http.Client, to *Node, tid string, hdr map[string]string) string {
		t.Helper()
		return getVia(t, cl, byNode[to], tid, hdr)
	}
	tid := ids[0]
	owner := by[ShardOf(tid, cfg.Shards)]
	other := nodes[0]
	if other == owner {
		other = nodes[1]
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		cl := from(ip)
		if got, want := get(cl, other, tid, nil), owner.ID()+" "+ip+":0"; got != want {
			t.Fatalf("forwarded from %s: the owner saw %q, want %q", ip, got, want)
		}
		// The client's own X-Forwarded-For is not passed on.
		if got, want := get(cl, other, tid, map[string]string{"X-Forwarded-For": "10.9.9.9"}), owner.ID()+" "+ip+":0"; got != want {
			t.Fatalf("forwarded from %s claiming 10.9.9.9: the owner saw %q, want %q", ip, got, want)
		}
	}
	// Straight to the owner from a client claiming to be forwarded.
	got := get(from("127.0.0.2"), owner, tid, map[string]string{HeaderForwarded: other.ID(), "X-Forwarded-For": "10.9.9.9"})
	if host, _, _ := net.SplitHostPort(got[len(owner.ID())+1:]); host != "127.0.0.2" {
		t.Fatalf("a client claiming to be forwarded was served as %q, want its own address 127.0.0.2", got)
	}
}

// TestForwardedByShardlessNode: a node that owns no shard is not in the
// owners table, but it announced itself when it joined: the owner
// believes the client address it forwards, and its SIP address is a
// peer's (whose forwarded SIP requests' origin the owner believes). The owner listens on
// 127.0.0.5, the forwarding node on 127.0.0.1 (the address it connects
// from), so the owner's own address does not vouch for it.
func TestForwardedByShardlessNode(t *testing.T) {
	_, cfg := embedded(t, 1)
	ids := []string{demoTenant}
	a := startAPINode(t, cfg, "a", "127.0.0.5", ids, nil)
	waitOwned(t, 1, a.node)
	b := startAPINode(t, cfg, "b", "127.0.0.1", ids, nil)
	want := "a 127.0.0.2:0"
	deadline := time.Now().Add(20 * time.Second)
	for {
		if len(b.node.Owned()) != 0 {
			t.Fatal("b owns a shard: nothing to check")
		}
		got := getVia(t, from("127.0.0.2"), b, demoTenant, nil)
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("forwarded by a node without shards: the owner saw %q, want %q", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !a.node.SIPPeer(b.node.cfg.SIP) {
		t.Fatalf("b's SIP address %s is not a peer of the owner's", b.node.cfg.SIP)
	}
	var ms []string
	for _, m := range a.node.Members() {
		ms = append(ms, m.Node+"="+m.HTTP)
	}
	if got, want := strings.Join(ms, " "), "a="+a.node.cfg.HTTP+" b="+b.node.cfg.HTTP; got != want {
		t.Fatalf("members %q, want %q", got, want)
	}
	b.node.Close()
	for deadline := time.Now().Add(20 * time.Second); len(a.node.Members()) != 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("b stopped, still a member: %+v", a.node.Members())
		}
	}
}

// apiServer is a cluster node behind an HTTP server, whose tenants'
// handler answers the node's id and the request's RemoteAddr.
type apiServer struct {
	front atomic.Pointer[Front]
	srv   *httptest.Server
	node  *Node
}

// startAPINode starts node id listening on ip (closed at the test's end);
// edit, if set, edits its Front.
func startAPINode(t *testing.T, cfg *Config, id, ip string, tenants []string, edit func(*Front)) *apiServer {
	t.Helper()
	s := &apiServer{}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.front.Load().ServeHTTP(w, r) }))
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	nc := nodeConfig(cfg, id, tenants)
	nc.HTTP = ln.Addr().String()
	nc.SIP = "sip-" + id + ":5060"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	n, err := StartNode(ctx, nc)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	s.node = n
	f := &Front{Node: n, Base: http.NotFoundHandler(), Local: func(string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, n.ID()+" "+r.RemoteAddr) })
	}}
	if edit != nil {
		edit(f)
	}
	s.front.Store(f)
	return s
}

// from returns an HTTP client connecting from ip.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
}

// getVia GETs tenant tid's agents through s with the headers hdr and
// returns the body of the 200.
func getVia(t *testing.T, cl *http.Client, s *apiServer, tid string, hdr map[string]string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/v1/tenants/"+tid+"/agents", nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s on %s: %d %s", tid, s.node.ID(), resp.StatusCode, b)
	}
	return string(b)
}

// TestForwardedSecret: with a cluster secret, the owner believes the
// client address of a request forwarded by another node (signed), and
// ignores the forwarding headers a local client sends from the nodes' own
// loopback address, which a node without the secret believes.
func TestForwardedSecret(t *testing.T) {
	_, cfg := embedded(t, 1)
	ids := []string{demoTenant}
	const secret = "0123456789abcdef0123456789abcdef"
	withSecret := func(f *Front) { f.Secret = secret }
	a := startAPINode(t, cfg, "a", "127.0.0.1", ids, withSecret)
	waitOwned(t, 1, a.node)
	b := startAPINode(t, cfg, "b", "127.0.0.1", ids, withSecret)
	if got, want := getVia(t, from("127.0.0.2"), b, demoTenant, nil), "a 127.0.0.2:0"; got != want {
		t.Fatalf("forwarded with the secret: the owner saw %q, want %q", got, want)
	}
	host := func(got string) string {
		h, _, _ := net.SplitHostPort(strings.TrimPrefix(got, "a "))
		return h
	}
	now := time.Now()
	for _, c := range []struct {
		what string
		sig  string
	}{
		{"no signature", ""},
		{"another secret's signature", signForwarded("another secret, long enough", "b", "10.9.9.9", now)},
		{"a signature of another client address", signForwarded(secret, "b", "10.9.9.8", now)},
		{"a signature of another node", signForwarded(secret, "c", "10.9.9.9", now)},
		{"an old signature", signForwarded(secret, "b", "10.9.9.9", now.Add(-forwardedSkew-time.Minute))},
	} {
		got := getVia(t, from("127.0.0.1"), a, demoTenant, map[string]string{
			HeaderForwarded: "b", "X-Forwarded-For": "10.9.9.9", HeaderForwardedSig: c.sig})
		if host(got) != "127.0.0.1" {
			t.Fatalf("a local client forging the headers with %s was served as %q, want its own address", c.what, got)
		}
	}
	// A valid signature (as b makes it) is believed from anywhere.
	got := getVia(t, from("127.0.0.3"), a, demoTenant, map[string]string{
		HeaderForwarded: "b", "X-Forwarded-For": "10.9.9.9", HeaderForwardedSig: signForwarded(secret, "b", "10.9.9.9", now)})
	if host(got) != "10.9.9.9" {
		t.Fatalf("a request signed with the secret was served as %q, want 10.9.9.9", got)
	}
	// Without the secret, the same forgery from the nodes' address works:
	// what the secret is for.
	a.front.Store(&Front{Node: a.node, Base: a.front.Load().Base, Local: a.front.Load().Local})
	got = getVia(t, from("127.0.0.1"), a, demoTenant, map[string]string{HeaderForwarded: "b", "X-Forwarded-For": "10.9.9.9"})
	if host(got) != "10.9.9.9" {
		t.Fatalf("without a secret, forwarding headers from a node's address: served as %q, want 10.9.9.9", got)
	}
}
