package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The client's address behind the forward proxy. A node that forwards a
// request to the tenant's owner sets X-Forwarded-For to the address of the
// client it took the request from (not any X-Forwarded-For the client
// sent) and HeaderForwarded to its node id. The owner serves the request
// as if the client had connected to it directly (Request.RemoteAddr is the
// client's address, port 0), so what the API keys by address (the
// failed-authentication limit, its refusal log lines) sees the client, not
// the forwarding node, which would otherwise be blocked for every client
// it forwards; but only if it believes the headers, else they are ignored.
//
// With a cluster secret (Front.Secret, the same on every node), the
// forwarding node signs the two headers and the owner believes them only
// with a valid signature: HeaderForwardedSig is "<unix seconds>.<mac>", mac
// the unpadded base64url HMAC-SHA256 under the secret of
// "switchboard-forwarded-v1\n<node id>\n<client address>\n<unix seconds>",
// accepted within forwardedSkew of the owner's clock. Where the request
// came from does not matter then. Without a secret, the owner believes
// them only from a cluster node's address: the request's peer address
// must be the host of a node's advertised HTTP address (in the owners
// table, an announcement, or this node's own). On one machine every
// node's host is the loopback address, so any local client can forge
// them; the app warns at start.

// HeaderForwardedSig carries the forwarding node's signature of
// HeaderForwarded and X-Forwarded-For under the cluster secret.
const HeaderForwardedSig = "X-Switchboard-Forwarded-Sig"

// forwardedSkew bounds the difference between the signing node's clock and
// the owner's, and how long a captured signature can be replayed (for the
// same node and client address only).
const forwardedSkew = 5 * time.Minute

// MinSecretLen is the shortest cluster secret accepted.
const MinSecretLen = 16

// forwardedMAC is the signature of a forwarded request's headers.
func forwardedMAC(secret, node, client string, unix int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "switchboard-forwarded-v1\n%s\n%s\n%d", node, client, unix)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signForwarded returns HeaderForwardedSig for node forwarding client's
// request at now.
func signForwarded(secret, node, client string, now time.Time) string {
	u := now.Unix()
	return strconv.FormatInt(u, 10) + "." + forwardedMAC(secret, node, client, u)
}

// verifyForwarded checks HeaderForwardedSig sig for node and client at now.
func verifyForwarded(secret, sig, node, client string, now time.Time) bool {
	ts, mac, ok := strings.Cut(sig, ".")
	if !ok {
		return false
	}
	u, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(u, 0)); d > forwardedSkew || d < -forwardedSkew {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(forwardedMAC(secret, node, client, u)))
}

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
	// The forwarding node appended the address it saw last.
	last := xff[len(xff)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	last = strings.TrimSpace(last)
	if f.Secret != "" {
		if !verifyForwarded(f.Secret, r.Header.Get(HeaderForwardedSig), r.Header.Get(HeaderForwarded), last, time.Now()) {
			return r
		}
	} else {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !f.peers.isNode(r.Context(), f.Node, peer.Addr().Unmap()) {
			return r
		}
	}
	client, err := netip.ParseAddr(last)
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
	now := time.Now()
	for _, o := range n.members {
		if !n.down(o, now) {
			add(o)
		}
	}
	return out
}
