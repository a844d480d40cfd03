package cluster

import (
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// HeaderForwarded marks a request one node forwarded to another (its value
// is the forwarding node's id). A node never forwards such a request
// again: if it does not serve the tenant either, the two disagree about
// the owner for a moment, and the request waits or gets 503.
const HeaderForwarded = "X-Switchboard-Forwarded"

// Front is the CTI API of a cluster node: a request for a tenant this node
// serves goes to that tenant's local handler; one for a tenant another node
// serves is forwarded to it (a reverse proxy, so clients need one address
// for the whole cluster); one for a tenant whose shard is being handed over
// waits for the new owner, at most Wait, then gets 503 with Retry-After.
// GET /v1/cluster shows the shards and their owners to whoever holds
// OpsToken.
type Front struct {
	Node *Node
	// Local returns the handler of a tenant served here (nil if none).
	Local func(tenant string) http.Handler
	// Base serves the paths that name no tenant (the OpenAPI document,
	// the wallboard, health, metrics).
	Base http.Handler
	// Stream, if set, serves the event stream (with an Authorization
	// header) of a tenant served elsewhere, from the output topics (Feed),
	// instead of forwarding it to the owner.
	Stream http.Handler
	// OpsToken is the bearer token of GET /v1/cluster; empty disables it.
	OpsToken string
	// Wait bounds how long a request waits for a shard's owner (default 5 s).
	Wait time.Duration
	// Answer bounds how long the owner may take to answer a forwarded
	// request once it serves it (default 5 s). The forwarding proxy
	// waits Wait + Answer for the reply's headers: longer than the
	// owner's own handover wait, so an owner that is itself waiting for
	// the shard answers (its 503 with Retry-After, or the reply once it
	// serves) before the forwarder gives up on it.
	Answer time.Duration

	mu      sync.Mutex
	proxies map[string]*httputil.ReverseProxy
	peers   nodePeers
}

// ClusterStatus is the body of GET /v1/cluster.
type ClusterStatus struct {
	Cluster string        `json:"cluster"`
	Node    string        `json:"node"` // the node that answered
	Shards  []ShardStatus `json:"shards"`
	Nodes   []string      `json:"nodes"` // nodes owning shards, from the owners topic
}

func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/cluster" {
		f.status(w, r)
		return
	}
	id, ok := tenantOf(r.URL.Path)
	if !ok {
		f.Base.ServeHTTP(w, r)
		return
	}
	if f.Stream != nil && isEventStream(r, id) {
		if local, _, _ := f.Node.Route(id); local == nil {
			f.Stream.ServeHTTP(w, r)
			return
		}
	}
	deadline := time.Now().Add(f.wait())
	for {
		local, owner, ok := f.Node.Route(id)
		if local != nil {
			if h := f.Local(id); h != nil {
				if !f.leased(w, r) {
					return
				}
				h.ServeHTTP(w, f.clientOf(r))
				return
			}
		} else if ok && owner.HTTP != "" && r.Header.Get(HeaderForwarded) == "" {
			f.proxy(owner.HTTP).ServeHTTP(w, r)
			return
		}
		if time.Now().After(deadline) {
			unavailable(w, "the tenant's shard is being handed over to another node; retry")
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (f *Front) wait() time.Duration {
	if f.Wait <= 0 {
		return 5 * time.Second
	}
	return f.Wait
}

// proxyTimeout is how long the forwarding proxy waits for the owner's
// reply headers: the owner's handover wait plus its time to answer.
func (f *Front) proxyTimeout() time.Duration {
	answer := f.Answer
	if answer <= 0 {
		answer = 5 * time.Second
	}
	return f.wait() + answer
}

// leased answers a read (GET, HEAD) of a tenant served here with 503 if
// the node's read lease has run out: it may have lost the tenant's shard
// without knowing it yet, and its memory may be stale (see lease).
func (f *Front) leased(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	if ok, _ := f.Node.ReadLease(); ok {
		return true
	}
	unavailable(w, "this node has not been confirmed in the cluster lately and may have lost the tenant; retry")
	return false
}

func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	writeErr(w, http.StatusServiceUnavailable, "unavailable", msg)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// tenantOf returns the tenant of a /v1/tenants/{tenant}/... path.
func tenantOf(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/v1/tenants/")
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, "/")
	if id == "" {
		return "", false
	}
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	return id, true
}

func (f *Front) proxy(addr string) *httputil.ReverseProxy {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.proxies[addr]; ok {
		return p
	}
	if f.proxies == nil {
		f.proxies = map[string]*httputil.ReverseProxy{}
	}
	target := &url.URL{Scheme: "http", Host: addr}
	self := f.Node.ID()
	p := &httputil.ReverseProxy{
		// An owner that is frozen (paused, partitioned) accepts
		// connections but never answers: bound the wait for its reply so
		// requests are not held until the client gives up. The bound is
		// longer than the owner's own handover wait (proxyTimeout).
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			ResponseHeaderTimeout: f.proxyTimeout(),
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
		},
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			// X-Forwarded-For: the client's address as this node saw
			// it, for the owner (forwarded.go).
			pr.SetXForwarded()
			pr.Out.Header.Set(HeaderForwarded, self)
		},
		// The owner did not answer (it died, or the connection broke):
		// whether the request was applied is unknown, so it is never
		// reported as done.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			unavailable(w, "the tenant's node did not answer; retry")
		},
		FlushInterval: -1, // the event stream
	}
	f.proxies[addr] = p
	return p
}

func (f *Front) status(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeErr(w, http.StatusMethodNotAllowed, "method_not_allowed", "GET only")
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if f.OpsToken == "" || !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(f.OpsToken)) != 1 {
		writeErr(w, http.StatusUnauthorized, "unauthorized", "GET /v1/cluster needs the operators' token")
		return
	}
	st := ClusterStatus{Cluster: f.Node.cfg.Cluster, Node: f.Node.ID(), Shards: f.Node.Status()}
	seen := map[string]bool{}
	for _, s := range st.Shards {
		if s.Owner != "" && !seen[s.Owner] {
			seen[s.Owner] = true
			st.Nodes = append(st.Nodes, s.Owner)
		}
	}
	b, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}
