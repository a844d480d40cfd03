package cluster

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// The client's address behind the forward proxy. A node that forwards a
// request to the tenant's owner sets X-Forwarded-For to the address of the
// client it took the request from (not any X-Forwarded-For the client
// sent) and HeaderForwarded to its node id. The owner believes them only
// from a cluster node: the request's peer address must be the host of a
// node's advertised HTTP address in the owners table (or this node's
// own). It then serves the request as if the client had connected to it
// directly (Request.RemoteAddr is the client's address, port 0), so what
// the API keys by address (the failed-authentication limit, its refusal
// log lines) sees the client, not the forwarding node, which would
// otherwise be blocked for every client it forwards. From anyone else the
// two headers are ignored.

// clientOf returns r as the owner serves it: with the client's address if
// a cluster node forwarded it.
func (f *Front) clientOf(r *http.Request) *http.Request {
	if r.Header.Get(HeaderForwarded) == "" {
		return r
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return r
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !f.peers.isNode(r.Context(), f.Node, peer.Addr().Unmap()) {
		return r
	}
	// The forwarding node appended the address it saw last.
	last := xff[len(xff)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	client, err := netip.ParseAddr(strings.TrimSpace(last))
	if err != nil {
		return r
	}
	r2 := r.WithContext(r.Context())
	r2.RemoteAddr = netip.AddrPortFrom(client.Unmap(), 0).String()
	return r2
}

// nodePeers caches the addresses of the cluster's nodes' advertised HTTP
// hosts (resolved if they are names).
type nodePeers struct {
	mu    sync.Mutex
	hosts map[string]resolved
}

type resolved struct {
	addrs []netip.Addr
	at    time.Time
}

// peersTTL is how long a resolved host name is kept.
const peersTTL = time.Minute

func (p *nodePeers) isNode(ctx context.Context, n *Node, a netip.Addr) bool {
	for _, hp := range n.nodeHTTPs() {
		host, _, err := net.SplitHostPort(hp)
		if err != nil {
			continue
		}
		for _, b := range p.resolve(ctx, host) {
			if b == a {
				return true
			}
		}
	}
	return false
}

func (p *nodePeers) resolve(ctx context.Context, host string) []netip.Addr {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}
	}
	p.mu.Lock()
	r, ok := p.hosts[host]
	p.mu.Unlock()
	if ok && time.Since(r.at) < peersTTL {
		return r.addrs
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil && ok {
		return r.addrs // keep the last answer while the resolver fails
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	p.mu.Lock()
	if p.hosts == nil {
		p.hosts = map[string]resolved{}
	}
	p.hosts[host] = resolved{addrs: addrs, at: time.Now()}
	p.mu.Unlock()
	return addrs
}

// nodeHTTPs returns the advertised HTTP addresses of this node, of the
// nodes in the owners table and of the nodes that announced themselves
// (node.go, announce).
func (n *Node) nodeHTTPs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []string{n.cfg.HTTP}
	seen := map[string]bool{n.cfg.HTTP: true}
	add := func(o Owner) {
		if o.HTTP != "" && !seen[o.HTTP] {
			seen[o.HTTP] = true
			out = append(out, o.HTTP)
		}
	}
	for _, o := range n.table {
		add(o)
	}
	for _, o := range n.members {
		add(o)
	}
	return out
}
