package cluster

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
	type server struct {
		front atomic.Pointer[Front]
		srv   *httptest.Server
		node  *Node
	}
	var nodes []*Node
	byNode := map[*Node]*server{}
	for _, id := range []string{"a", "b"} {
		s := &server{}
		s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.front.Load().ServeHTTP(w, r) }))
		defer s.srv.Close()
		nc := nodeConfig(cfg, id, ids)
		nc.HTTP = s.srv.Listener.Addr().String()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		n, err := StartNode(ctx, nc)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		s.node = n
		s.front.Store(&Front{Node: n, Base: http.NotFoundHandler(), Local: func(string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, n.ID()+" "+r.RemoteAddr) })
		}})
		nodes = append(nodes, n)
		byNode[n] = s
	}
	by := waitOwned(t, cfg.Shards, nodes...)
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
	}
	get := func(cl *http.Client, to *Node, tid string, hdr map[string]string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, byNode[to].srv.URL+"/v1/tenants/"+tid+"/agents", nil)
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
			t.Fatalf("GET %s on %s: %d %s", tid, to.ID(), resp.StatusCode, b)
		}
		return string(b)
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
