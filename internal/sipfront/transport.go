package sipfront

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// TLSConfig serves SIP over TLS (Config.TLS).
type TLSConfig struct {
	// Listen is the TLS address (host:port); empty serves no TLS.
	Listen string
	// CertFile and KeyFile are the PEM certificate (chain) and key.
	// Server.ReloadTLS reads them again (serve calls it on SIGHUP).
	CertFile, KeyFile string
}

// transports is the state of the stream transports (TCP, TLS and SIP over
// WebSocket, RFC 7118) beside the UDP socket, and the flows phones
// registered over.
type transports struct {
	tcp, tls net.Listener
	open     atomic.Int64 // TCP and TLS connections open (Config.MaxConns)
	cert     atomic.Pointer[tls.Certificate]
	ws       *connListener
	// duas are the dialog user agents by transport (UDP, TCP, TLS, WS):
	// each puts a Contact of its own transport in requests and answers,
	// and sends in-dialog requests over the flow the dialog came on.
	duas map[string]*sipgo.DialogUA
	// flows are the connections (or, over UDP, the source addresses)
	// phones registered from, by the contact URI they registered.
	flows sync.Map // string -> flow
}

// flow is where a registered contact is reached: the transport and the
// source address (host:port) of its REGISTER; ob is set for a binding
// that ends with its connection (RFC 5626 outbound, outbound.go). In a
// cluster, a phone whose connection is on another node is reached through
// that node: route is the Path its REGISTER came with, and source that
// node's address (cluster_stream.go).
type flow struct {
	transport, source string
	route             string
	ob                *obFlow
}

// bindUDPAndTCP binds the UDP socket (Config.Listen) and the TCP listener:
// on the same address unless Config.TCP names another ("-": none). With
// port 0, a free port for both (retried while TCP finds it taken).
func bindUDPAndTCP(cfg Config) (net.PacketConn, net.Listener, error) {
	for try := 0; ; try++ {
		conn, err := net.ListenPacket("udp", cfg.Listen)
		if err != nil {
			return nil, nil, fmt.Errorf("sipfront: listen: %w", err)
		}
		if cfg.TCP == "-" {
			return conn, nil, nil
		}
		addr := cfg.TCP
		if addr == "" {
			addr = conn.LocalAddr().String()
		}
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return conn, ln, nil
		}
		conn.Close()
		if _, p, _ := net.SplitHostPort(cfg.Listen); cfg.TCP != "" || p != "0" || try == 20 {
			return nil, nil, fmt.Errorf("sipfront: listen TCP: %w", err)
		}
	}
}

// listenStreams bounds the TCP listener's connections, binds TLS
// (Config.TLS) and builds the dialog user agents of every transport; host
// and port are the UDP socket's.
func (s *Server) listenStreams(host string, port int) error {
	cfg := s.cfg
	if s.tr.tcp != nil {
		s.tr.tcp = s.limited(s.tr.tcp, "TCP")
	}
	if cfg.TLS.Listen != "" {
		if err := s.ReloadTLS(); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.TLS.Listen)
		if err != nil {
			return fmt.Errorf("sipfront: listen TLS: %w", err)
		}
		s.tr.tls = tls.NewListener(s.limited(ln, "TLS"), &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Read at each handshake: a reload serves new connections
			// with the new certificate, established ones keep theirs.
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.tr.cert.Load(), nil },
		})
	}
	s.tr.ws = newConnListener(s.conn.LocalAddr())

	// Requests over a stream go out on the phone's connection: a client
	// without a forced local address (s.cli sends from the UDP socket).
	stream, err := sipgo.NewClient(s.ua, sipgo.WithClientLogger(debugOnly(s.log)), sipgo.WithClientHostname(host))
	if err != nil {
		return fmt.Errorf("sipfront: %w", err)
	}
	// Its CANCELs carry their Reason too (fork.go), as the UDP client's.
	stream.TxRequester = s.cli.TxRequester
	s.dua.RewriteContact = true
	s.tr.duas = map[string]*sipgo.DialogUA{"UDP": s.dua}
	contact := func(p int, tr string) sip.ContactHeader {
		u := sip.Uri{Scheme: "sip", User: "switchboard", Host: host, Port: p, UriParams: sip.NewParams()}
		u.UriParams.Add("transport", tr)
		return sip.ContactHeader{Address: u}
	}
	s.tr.duas["TCP"] = &sipgo.DialogUA{Client: stream, RewriteContact: true, ContactHDR: contact(port, "tcp")}
	tlsPort := port
	if s.tr.tls != nil {
		_, p, _ := net.SplitHostPort(s.tr.tls.Addr().String())
		tlsPort, _ = strconv.Atoi(p)
	}
	s.tr.duas["TLS"] = &sipgo.DialogUA{Client: stream, RewriteContact: true, ContactHDR: contact(tlsPort, "tls")}
	// A browser never listens: its Contact host is made up (RFC 7118
	// section 5.2) and everything goes over its WebSocket.
	s.tr.duas["WS"] = &sipgo.DialogUA{Client: stream, RewriteContact: true, ContactHDR: contact(0, "ws")}
	return nil
}

// serveStreams serves the stream listeners until Close.
func (s *Server) serveStreams() {
	serve := func(name string, f func(net.Listener) error, ln net.Listener) {
		if ln == nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := f(ln); err != nil && s.ctx.Err() == nil {
				s.log.Error("SIP listener stopped", "transport", name, "err", err)
			}
		}()
	}
	serve("tcp", s.srv.ServeTCP, s.tr.tcp)
	serve("tls", s.srv.ServeTLS, s.tr.tls)
	serve("ws", s.srv.ServeWS, s.tr.ws)
}

// closeStreams closes the stream listeners (their connections close with
// the user agent).
func (s *Server) closeStreams() {
	for _, ln := range []net.Listener{s.tr.tcp, s.tr.tls} {
		if ln != nil {
			ln.Close()
		}
	}
	if s.tr.ws != nil {
		s.tr.ws.Close()
	}
}

// ReloadTLS reads Config.TLS's certificate and key again: new TLS
// connections get them, established ones are left as they are. On an
// error the certificate in use stays.
func (s *Server) ReloadTLS() error {
	if s.cfg.TLS.Listen == "" {
		return nil
	}
	c, err := tls.LoadX509KeyPair(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
	if err != nil {
		return fmt.Errorf("sipfront: TLS certificate: %w", err)
	}
	s.tr.cert.Store(&c)
	return nil
}

// TCPAddr is the bound TCP address ("" without TCP).
func (s *Server) TCPAddr() string { return addrOf(s.tr.tcp) }

// TLSAddr is the bound TLS address ("" without TLS).
func (s *Server) TLSAddr() string { return addrOf(s.tr.tls) }

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// duaFor is the dialog user agent of transport tr (UDP for an unknown one).
func (s *Server) duaFor(tr string) *sipgo.DialogUA {
	if d := s.tr.duas[sip.NetworkToUpper(tr)]; d != nil {
		return d
	}
	return s.dua
}

// uriTransport is the transport u names (its transport parameter, as
// duaFor takes it; "UDP" without one). A trunk's address may name one
// (127.0.0.1:5060;transport=tcp): its REGISTERs and OPTIONS go over it,
// from the stream client (s.cli sends from the UDP socket's address).
func uriTransport(u sip.Uri) string {
	if v, ok := u.UriParams.Get("transport"); ok && v != "" {
		return sip.NetworkToUpper(v)
	}
	return "UDP"
}

// legContact is our Contact for requests in leg l's dialog: of its
// transport.
func (s *Server) legContact(l *leg) *sip.ContactHeader {
	tr := l.transport()
	if tr == "" {
		tr = "UDP"
	}
	return &s.duaFor(tr).ContactHDR
}

// rememberFlow records where contact, a new or refreshed binding,
// registered from (req, the REGISTER): its transport and source address,
// honouring rport (RFC 3581) over UDP. A binding's flow goes with it
// (contacts.go: forgetFlow).
func (s *Server) rememberFlow(contact sip.Uri, req *sip.Request) {
	f := flow{transport: sip.NetworkToUpper(req.Transport()), source: s.origin(req)}
	if p, ok := s.pathOf(req); ok {
		f = p
	}
	s.tr.flows.Store(contact.String(), f)
}

// forgetFlow drops contact's flow (its binding ended).
func (s *Server) forgetFlow(contact sip.Uri) { s.tr.flows.Delete(contact.String()) }

// flowOf is where to send a request for target, a registered contact: the
// flow it registered over while that connection lasts (RFC 5626-style:
// a phone behind NAT is reached through the connection it opened), over
// UDP the address its REGISTER came from; else target itself with the
// transport its URI names (RFC 3261).
func (s *Server) flowOf(target sip.Uri) (flow, bool) {
	v, ok := s.tr.flows.Load(target.String())
	if !ok {
		return flow{}, false
	}
	f := v.(flow)
	if f.transport == "UDP" || s.streamOpen(f) {
		return f, true
	}
	return flow{}, false
}

// streamOpen reports whether f is over a stream transport (TCP, TLS,
// WebSocket) whose connection is still open.
func (s *Server) streamOpen(f flow) bool {
	if f.transport == "UDP" || f.transport == "" {
		return false
	}
	c, err := s.srv.TransportLayer().GetConnection(f.transport, f.source)
	if err != nil {
		return false
	}
	c.TryClose() // GetConnection took a reference
	return true
}

// inviteVia sends an INVITE to target with body and headers over the flow
// target registered on (flowOf), else as its URI says.
func (s *Server) inviteVia(ctx context.Context, target sip.Uri, body []byte, hdrs ...sip.Header) (*sipgo.DialogClientSession, error) {
	req := sip.NewRequest(sip.INVITE, target)
	if body != nil {
		req.SetBody(body)
	}
	tr := uriTransport(target)
	if f, ok := s.flowOf(target); ok {
		tr = f.transport
		req.SetDestination(f.source)
		if f.route != "" {
			req.AppendHeader(sip.NewHeader("Route", f.route))
		}
	}
	req.SetTransport(tr)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	return s.duaFor(tr).WriteInvite(ctx, req)
}

// WebSocket is the SIP over WebSocket endpoint (RFC 7118) to mount on an
// HTTP server (serve: GET /sip on the CTI API's listener; wss when that
// listener is behind TLS). A request that is not a WebSocket upgrade
// offering the "sip" subprotocol gets 400.
func (s *Server) WebSocket() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !headerHas(r.Header, "Upgrade", "websocket") || !headerHas(r.Header, "Sec-WebSocket-Protocol", "sip") {
			http.Error(w, "SIP over WebSocket: a WebSocket upgrade with subprotocol sip is required (RFC 7118)", http.StatusBadRequest)
			return
		}
		// sipgo's WebSocket transport answers the upgrade itself on the
		// raw connection: hand it the connection with the request in
		// front, as read off the wire.
		var head bytes.Buffer
		if err := r.Write(&head); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		pc := &prefixConn{Conn: conn, r: io.MultiReader(&head, buffered(brw.Reader), conn), closed: s.closedFlow("WS", conn)}
		if !s.tr.ws.push(pc) {
			conn.Close()
		}
	})
}

// headerHas reports whether header name has token among its
// comma-separated values (case-insensitive).
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), token) {
				return true
			}
		}
	}
	return false
}

// buffered is what br has read ahead of the caller.
func buffered(br *bufio.Reader) io.Reader {
	b, _ := br.Peek(br.Buffered())
	return bytes.NewReader(b)
}

// prefixConn is a connection whose first bytes come from r.
type prefixConn struct {
	net.Conn
	r      io.Reader
	closed func()
	once   sync.Once
}

func (c *prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func (c *prefixConn) Close() error {
	c.once.Do(c.closed)
	return c.Conn.Close()
}

// limited bounds the TCP and TLS connections open at once to
// Config.MaxConns: one more is closed as soon as accepted (counted as
// SIPRefused "connections"), so that connections cannot take every file
// descriptor of the process.
// tr names the transport (TCP, TLS) for the flows over its connections.
func (s *Server) limited(ln net.Listener, tr string) net.Listener {
	return &limitListener{Listener: ln, s: s, tr: tr}
}

type limitListener struct {
	net.Listener
	s  *Server
	tr string
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.s.tr.open.Add(1) <= int64(l.s.cfg.MaxConns) {
			return &countedConn{Conn: c, open: &l.s.tr.open, closed: l.s.closedFlow(l.tr, c)}, nil
		}
		l.s.tr.open.Add(-1)
		c.Close()
		l.s.cfg.Metrics.SIPRefused("connections")
		l.s.refusals.Warn("SIP connection refused: too many open", "addr", c.RemoteAddr().String(), "max", l.s.cfg.MaxConns)
	}
}

// countedConn takes itself off the open count when closed, and ends the
// flow over it (closed).
type countedConn struct {
	net.Conn
	open   *atomic.Int64
	closed func()
	once   sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1); c.closed() })
	return c.Conn.Close()
}

// connListener is a net.Listener of connections pushed to it (the
// WebSocket upgrades the HTTP server hands over).
type connListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to Accept; false once the listener is closed.
func (l *connListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
