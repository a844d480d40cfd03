package sipfront

import (
	"bytes"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// SIP over TCP, TLS and WebSocket in a cluster.
//
// A phone on a stream transport holds a connection to the node it
// reached (the edge), which may not own its tenant. Requests and
// responses cannot leave that connection for another node, so the edge
// proxies statelessly (RFC 3261 16.11), as it does over UDP, and stays on
// the path:
//
//   - A request from the phone for a tenant another node owns goes to
//     the owner over UDP, with the edge's Via on top (its responses come
//     back through the edge, which writes them on the phone's connection:
//     deliver). A REGISTER gets a Path (RFC 3327) and a dialog-creating
//     request (INVITE, SUBSCRIBE) two Record-Routes (RFC 5658: one facing
//     the owner, over UDP, one facing the phone, on its transport). Their
//     URIs carry a flow token (RFC 5626 section 5.2) naming the phone's
//     connection.
//   - The owner reaches the phone through that Path (a registered
//     contact: flowOf in transport.go) or route set (a dialog): a request
//     from a peer whose Route names this node goes, its Routes popped, to
//     the connection its flow token names (toFlow), or is answered 430
//     Flow Failed once that connection is gone. The phone's responses
//     come back on the connection with the edge's Via on top and go to the
//     owner.
//
// Messages over a stream are read by the transport's read filter before
// sipgo parses them: whole messages (by Content-Length) are cut out of
// each connection's bytes; those the edge forwards never reach sipgo.

// flowPrefix starts the user part of our Path and Record-Route URIs: a
// flow token follows.
const flowPrefix = "sbflow-"

// streamFlow is a phone's connection on this node: its transport (TCP,
// TLS, WS), its remote address (the sipgo connection pool's key) and its
// local address (the listener the phone connected to).
type streamFlow struct{ transport, remote, local string }

func (f streamFlow) token() string {
	return flowPrefix + hex.EncodeToString([]byte(f.transport+"|"+f.remote+"|"+f.local))
}

func parseFlowToken(user string) (streamFlow, bool) {
	if !strings.HasPrefix(user, flowPrefix) {
		return streamFlow{}, false
	}
	b, err := hex.DecodeString(user[len(flowPrefix):])
	if err != nil {
		return streamFlow{}, false
	}
	p := strings.Split(string(b), "|")
	if len(p) != 3 {
		return streamFlow{}, false
	}
	return streamFlow{transport: p[0], remote: p[1], local: p[2]}, true
}

// ownerFacing is our URI on the path between the owner and phone flow f:
// this node's UDP address; phoneFacing the one on the phone's side: the
// address it connected to, on its transport.
func (c *clusterFront) ownerFacing(f streamFlow) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: f.token(), Host: c.via.Host, Port: c.via.Port, UriParams: sip.NewParams()}
	u.UriParams.Add("lr", "")
	return u
}

func (c *clusterFront) phoneFacing(f streamFlow) sip.Uri {
	host, portS, _ := net.SplitHostPort(f.local)
	port, _ := strconv.Atoi(portS)
	u := sip.Uri{Scheme: "sip", User: f.token(), Host: host, Port: port, UriParams: sip.NewParams()}
	u.UriParams.Add("transport", strings.ToLower(f.transport))
	u.UriParams.Add("lr", "")
	return u
}

// ours reports whether u is one of our Path or Record-Route URIs, and the
// flow it names.
func (c *clusterFront) ours(u sip.Uri) (streamFlow, bool) {
	f, ok := parseFlowToken(u.User)
	if !ok {
		return f, false
	}
	if (u.Host == c.via.Host && u.Port == c.via.Port) || u.HostPort() == f.local {
		return f, true
	}
	return f, false
}

// popRoutes takes our URIs off the top of req's Route (RFC 3261 16.4),
// and returns the flow the last one names.
func (c *clusterFront) popRoutes(req *sip.Request) (streamFlow, bool) {
	var f streamFlow
	popped := false
	for {
		hs := req.GetHeaders("Route")
		if len(hs) == 0 {
			return f, popped
		}
		first, rest := splitFirst(hs[0].Value())
		var u sip.Uri
		params := sip.NewParams()
		if _, err := sip.ParseAddressValue(first, &u, &params); err != nil {
			return f, popped
		}
		g, ok := c.ours(u)
		if !ok {
			return f, popped
		}
		f, popped = g, true
		req.RemoveHeader("Route") // the first header
		if rest != "" {
			req.PrependHeader(sip.NewHeader("Route", rest))
		}
	}
}

// splitFirst splits a header value holding a comma-separated list of
// addresses into the first and the rest (commas inside <> or quotes do
// not count).
func splitFirst(v string) (first, rest string) {
	angle, quoted := false, false
	for i, r := range v {
		switch {
		case r == '"':
			quoted = !quoted
		case quoted:
		case r == '<':
			angle = true
		case r == '>':
			angle = false
		case r == ',' && !angle:
			return strings.TrimSpace(v[:i]), strings.TrimSpace(v[i+1:])
		}
	}
	return strings.TrimSpace(v), ""
}

// recordFlow puts, on a request from a phone's connection that this node
// forwards to the owner, what brings the owner's requests back here: a
// Path on a REGISTER, Record-Routes on a request that starts a dialog.
func (c *clusterFront) recordFlow(req *sip.Request, in arrival) {
	f := streamFlow{transport: in.transport, remote: in.src, local: in.local}
	switch req.Method {
	case sip.REGISTER:
		u := c.ownerFacing(f)
		u.UriParams.Add("ob", "")
		req.PrependHeader(sip.NewHeader("Path", "<"+u.String()+">"))
	case sip.INVITE, sip.SUBSCRIBE:
		// The top one faces where the request goes.
		c.recordRoute(req, c.phoneFacing(f))
		c.recordRoute(req, c.ownerFacing(f))
	}
}

func (c *clusterFront) recordRoute(req *sip.Request, u sip.Uri) {
	req.PrependHeader(&sip.RecordRouteHeader{Address: u})
}

// toFlow sends a request a peer routed through this node (its Routes
// popped) on the phone's connection f, with our Via, so that the phone's
// responses come back here; a request that starts a dialog gets our
// Record-Routes, so that the phone's requests in it do too. Once the
// connection is gone the peer gets 430 Flow Failed (RFC 5626).
func (c *clusterFront) toFlow(req *sip.Request, in arrival, f streamFlow) {
	top := req.Via()
	if top == nil || !c.hop(req, in) {
		return
	}
	if req.Method == sip.INVITE || req.Method == sip.SUBSCRIBE {
		c.recordRoute(req, c.ownerFacing(f))
		c.recordRoute(req, c.phoneFacing(f))
	}
	via := c.via
	via.Transport = f.transport
	via.Params = sip.NewParams()
	via.Params.Add("branch", c.branch(top, callIDOf(req)))
	req.PrependHeader(&via)
	if err := c.writeStream(f.transport, f.remote, req); err != nil {
		c.s.log.Debug("SIP request for a phone's connection not sent", "transport", f.transport, "to", f.remote, "err", err)
		req.RemoveHeader("Via") // ours: the answer goes to the peer's
		if !req.IsAck() {
			c.reply(req, in, 430, "Flow Failed")
		}
	}
}

// deliver sends a response this node relays to where Via via says: over
// UDP, or on the phone's connection (its received and rport, set when
// the request was forwarded).
func (c *clusterFront) deliver(res *sip.Response, via *sip.ViaHeader) {
	if tr := sip.NetworkToUpper(via.Transport); tr != "UDP" && tr != "" {
		if err := c.writeStream(tr, viaAddr(via), res); err != nil {
			c.s.log.Debug("SIP response for a phone's connection not sent", "transport", tr, "to", viaAddr(via), "err", err)
		}
		return
	}
	c.send(res, viaAddr(via))
}

// writeStream writes msg on the open connection of transport tr from
// remote address addr.
func (c *clusterFront) writeStream(tr, addr string, msg sip.Message) error {
	conn, err := c.s.srv.TransportLayer().GetConnection(tr, addr)
	if err != nil {
		return err
	}
	defer conn.TryClose()
	return conn.WriteMsg(msg)
}

// maxStreamPending bounds the bytes of a stream held while a message is
// incomplete; beyond it they go to sipgo as they are (its parser limits
// and rejects them).
const maxStreamPending = 1 << 16

// streams holds, per stream connection, the bytes of a message not yet
// whole.
type streams struct {
	mu      sync.Mutex
	pending map[string][]byte // by transport|remote
}

// filterStream is the read filter of a stream connection in a cluster:
// the bytes read are cut into whole messages, and those intercept takes
// are taken out; the rest (and keep-alives) are sipgo's, in order.
func (c *clusterFront) filterStream(p sip.TransportReadProps, data []byte) []byte {
	in := arrival{transport: sip.NetworkToUpper(p.Transport), src: p.RemoteAddr.String(), local: p.LocalAddr.String()}
	key := in.transport + "|" + in.src
	c.streams.mu.Lock()
	buf := append(c.streams.pending[key], data...)
	delete(c.streams.pending, key)
	c.streams.mu.Unlock()
	var out []byte
	for len(buf) > 0 {
		if n := leadingCRLF(buf); n > 0 {
			out = append(out, buf[:n]...)
			buf = buf[n:]
			continue
		}
		n, ok := messageLen(buf)
		if !ok {
			break
		}
		if !c.intercept(buf[:n], in) {
			out = append(out, buf[:n]...)
		}
		buf = buf[n:]
	}
	if len(buf) > maxStreamPending {
		out, buf = append(out, buf...), nil
	}
	if len(buf) > 0 {
		c.streams.mu.Lock()
		c.streams.pending[key] = bytes.Clone(buf)
		c.streams.mu.Unlock()
	}
	return out
}

// dropStream forgets a closed connection's pending bytes.
func (c *clusterFront) dropStream(tr, remote string) {
	c.streams.mu.Lock()
	delete(c.streams.pending, tr+"|"+remote)
	c.streams.mu.Unlock()
}

func leadingCRLF(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	return n
}

// messageLen is the length of the whole SIP message b starts with: its
// headers up to the empty line, then Content-Length bytes (0 without
// one); ok is false while b holds less.
func messageLen(b []byte) (int, bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return 0, false
	}
	length := 0
	for _, line := range bytes.Split(b[:end], []byte("\r\n"))[1:] {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		if bytes.EqualFold(name, []byte("Content-Length")) || bytes.EqualFold(name, []byte("l")) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(value)))
		}
	}
	total := end + 4 + max(length, 0)
	if len(b) < total {
		return 0, false
	}
	return total, true
}
