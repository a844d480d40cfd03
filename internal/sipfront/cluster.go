package sipfront

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Cluster is what the SIP front of a cluster node needs of the cluster
// (Config.Cluster).
type Cluster struct {
	// Owner says where tenant id is served: here (local), or at the SIP
	// address (host:port) of its owner; ok is false while no node serves
	// it (a handover).
	Owner func(id string) (addr string, local, ok bool)
	// Peer reports whether addr (host:port) is the SIP address of a node
	// of the cluster: only a peer's forwarded requests are believed about
	// where they came from (origin).
	Peer func(addr string) bool
	// Bindings keep every node's registrations (a compacted topic).
	Bindings Bindings
	// Dialogs, if set, keep the dialogs of answered calls (key the
	// Call-ID, same interface): a node taking a tenant over sends BYE to
	// those its previous owner left (cluster_dialogs.go).
	Dialogs Bindings
	// Advertise is the address (host:port) this node puts in the Via of
	// the requests it forwards; default the bound address.
	Advertise string
}

// Bindings keep the cluster's registrations, by tenant and key (for a
// binding its DN and contact); the value is the binding's encoding
// (sipfront's), nil for its end.
type Bindings interface {
	// Put writes a change and calls done once it is kept.
	Put(tenant, key string, value []byte, done func(error))
	// Load returns the tenant's values by key, including every change
	// Put before the call, wherever.
	Load(ctx context.Context, tenant string) (map[string][]byte, error)
}

// bindingLog is where bindings are kept: the files of StateDir
// (bindStore) or the cluster (clusterStore).
type bindingLog interface {
	set(b storedBinding) chan error
	del(tenant, dn, contact string) chan error // contact "": every binding of the DN
	close()
}

// clusterFront is the cluster side of a Server: the configuration of
// every tenant of the cluster (served here or not), and the stateless
// forwarding of requests for tenants other nodes serve.
type clusterFront struct {
	s       *Server
	cfg     *Cluster
	configs map[string]Tenant // every tenant, by id
	only    string            // the cluster's only tenant, if it has one
	// trunks are the tenants of the trunks' addresses: by host:port, and
	// by host for a trunk configured without a port.
	trunks map[string]string
	// creds are the tenants of the trunks that take calls by their
	// credentials alone (inbound: credentials), by sip-user.
	creds  map[string]string
	via    sip.ViaHeader // our Via, without branch
	parser *sip.Parser
	ops    chan func() // Attach and Detach, in order

	mu sync.Mutex
	up map[string]bool // Call-IDs of the dialogs kept in Cluster.Dialogs

	streams streams // stream connections' incomplete messages (cluster_stream.go)
}

// branchPrefix starts the branch of the Via this node adds to a request it
// forwards (RFC 3261 16.11: the magic cookie, then ours).
const branchPrefix = sip.RFC3261BranchMagicCookie + "sbfwd"

func (s *Server) startCluster() {
	cc := s.cfg.Cluster
	if cc == nil {
		return
	}
	c := &clusterFront{s: s, cfg: cc, configs: map[string]Tenant{}, trunks: map[string]string{}, creds: map[string]string{}, parser: sip.NewParser(), up: map[string]bool{},
		ops: make(chan func(), 4096), streams: streams{pending: map[string][]byte{}}}
	for _, tc := range s.cfg.Tenants {
		c.configs[strings.ToLower(tc.Config.ID)] = tc
		c.only = tc.Config.ID
		for _, d := range tc.Config.DNs {
			if d.Trunk != nil && d.Trunk.Address != "" {
				src, _, _ := trunkSource(d.Trunk.Address)
				c.trunks[src] = tc.Config.ID
			}
			if d.Trunk != nil && d.Trunk.InboundMode() == "credentials" {
				user := d.Trunk.SIPUser
				if user == "" {
					user = d.Number // newTenant's default
				}
				c.creds[user] = tc.Config.ID
			}
		}
	}
	if len(c.configs) > 1 {
		c.only = ""
	}
	adv := cc.Advertise
	if adv == "" {
		adv = s.addr
	}
	host, portS, _ := net.SplitHostPort(adv)
	port, _ := strconv.Atoi(portS)
	c.via = sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: host, Port: port}
	s.cl = c
	s.store = &clusterStore{b: cc.Bindings, keys: map[string]map[string]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case op := <-c.ops:
				op()
			case <-s.ctx.Done():
				return
			}
		}
	}()
}

// Attach starts serving tenant id (of Config.Tenants) with runtime rt: its
// bindings are read from the cluster, then its requests are handled here.
// Attach and Detach return at once; they take effect in the order called.
// Both are for a cluster node's server (Config.Cluster); elsewhere they do
// nothing.
func (s *Server) Attach(id string, rt Runtime) {
	if s.cl != nil {
		s.cl.ops <- func() { s.attach(id, rt) }
	}
}

// Detach stops serving tenant id here (its new owner serves it): its event
// subscription and registration timers stop; its bindings stay in the
// cluster.
func (s *Server) Detach(id string) {
	if s.cl != nil {
		s.cl.ops <- func() { s.detach(id) }
	}
}

func (s *Server) attach(id string, rt Runtime) {
	tc, ok := s.cl.configs[strings.ToLower(id)]
	if !ok || s.served()[tc.Config.ID] != nil {
		return
	}
	tc.Runtime = rt
	t := newTenant(s, tc)
	t.start()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	vals, err := s.cl.cfg.Bindings.Load(ctx, t.id)
	cancel()
	if err != nil {
		s.log.Error("SIP bindings of a tenant taken over not read: its phones are reached once they register again", "tenant", t.id, "err", err)
	}
	bs := make([]storedBinding, 0, len(vals))
	for key, v := range vals {
		var b storedBinding
		if json.Unmarshal(v, &b) != nil || b.Tenant != t.id || bindingKey(b.DN, b.Contact) != key {
			s.log.Warn("SIP binding in the cluster not readable; dropped", "tenant", t.id, "key", key)
			continue
		}
		s.store.(*clusterStore).known(b.Tenant, b.DN, b.Contact)
		bs = append(bs, b)
	}
	valid, expired, dropped := s.restoreBindings(bs, func(string) *sipTenant { return t })
	orphans := s.orphans(t.id)
	s.setServed(t.id, t)
	s.endOrphans(t.id, orphans)
	// Its trunks register and send keepalives from here now, until
	// Detach (carrier.go).
	s.carrierTask(func() {
		s.awaitListener()
		s.startTrunks(t)
	})
	s.log.Info("SIP: tenant served here", "tenant", t.id, "bindings", valid, "expired", expired, "dropped", dropped)
}

func (s *Server) detach(id string) {
	t := s.served()[id]
	if t == nil {
		return
	}
	s.setServed(id, nil)
	t.shutdown()
	s.mu.Lock()
	for k, l := range s.legs {
		if l.t == t {
			delete(s.legs, k)
		}
	}
	s.mu.Unlock()
	s.log.Info("SIP: tenant no longer served here", "tenant", id)
}

// setServed puts tenant t in the served map (nil: takes id out), copying
// the map: readers use it without a lock.
func (s *Server) setServed(id string, t *sipTenant) {
	old := s.served()
	m := make(map[string]*sipTenant, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if t == nil {
		delete(m, id)
	} else {
		m[id] = t
	}
	s.tenants.Store(&m)
}

// clusterStore keeps the bindings in the cluster, one record per DN and
// contact. keys are the contacts of each DN (by tenant and DN) it knows
// to be there, to end them all when the DN's last binding ends.
type clusterStore struct {
	b    Bindings
	mu   sync.Mutex
	keys map[string]map[string]bool
}

// bindingKey is a binding's key in Bindings.
func bindingKey(dn, contact string) string { return dn + "\x00" + contact }

func (c *clusterStore) known(tenant, dn, contact string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := tenant + "\x00" + dn
	if c.keys[k] == nil {
		c.keys[k] = map[string]bool{}
	}
	c.keys[k][contact] = true
}

func (c *clusterStore) set(sb storedBinding) chan error {
	ch := make(chan error, 1)
	v, err := json.Marshal(sb)
	if err != nil {
		ch <- err
		return ch
	}
	c.known(sb.Tenant, sb.DN, sb.Contact)
	c.b.Put(sb.Tenant, bindingKey(sb.DN, sb.Contact), v, func(err error) { ch <- err })
	return ch
}

func (c *clusterStore) del(tenant, dn, contact string) chan error {
	c.mu.Lock()
	k := tenant + "\x00" + dn
	var contacts []string
	if contact != "" {
		contacts = []string{contact}
		delete(c.keys[k], contact)
	} else {
		for ct := range c.keys[k] {
			contacts = append(contacts, ct)
		}
		delete(c.keys, k)
	}
	c.mu.Unlock()
	ch := make(chan error, 1)
	if len(contacts) == 0 {
		ch <- nil
		return ch
	}
	var mu sync.Mutex
	left := len(contacts)
	var first error
	for _, ct := range contacts {
		c.b.Put(tenant, bindingKey(dn, ct), nil, func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			if left--; left == 0 {
				ch <- first
			}
		})
	}
	return ch
}

func (*clusterStore) close() {}

// origin is where a request came from: its source address, or, for a
// request a peer node forwarded (our Via on top, from a peer's address),
// the address that peer received it from (the next Via's received and
// rport, which the peer set).
func (s *Server) origin(req *sip.Request) string {
	if !s.forwarded(req) {
		return req.Source()
	}
	next, ok := req.GetHeaders("Via")[1].(*sip.ViaHeader)
	if !ok {
		return req.Source()
	}
	return viaAddr(next)
}

// directDialog makes the dialog of INVITE req, which a peer forwarded
// statelessly (over UDP, so without its Record-Route), send its in-dialog
// requests (BYE, re-INVITE, UPDATE) to the phone's address, origin, the
// forwarder's Via received and rport: a dialog without a route set sends
// them to the INVITE's source (sipgo's session with RewriteContact until
// the ACK, then the dialog record, dialog.go: serverDialog), which is the
// forwarder, and the forwarder,
// having no dialog and no route for them, would hand them back to this
// node (a BYE answered 481 here, never the phone's). It is called once
// the 2xx to req has its destination (the forwarder: responses go back
// along the Vias): from then on req's source is the phone's.
func (s *Server) directDialog(req *sip.Request) {
	if s.forwarded(req) && req.GetHeader("Record-Route") == nil {
		req.SetSource(s.origin(req))
	}
}

// originTransport is the transport req came over: to this node, or, for
// a request a peer node forwarded, to that node (the next Via's).
func (s *Server) originTransport(req *sip.Request) string {
	if s.forwarded(req) {
		if next, ok := req.GetHeaders("Via")[1].(*sip.ViaHeader); ok && next.Transport != "" {
			return next.Transport
		}
	}
	return req.Transport()
}

// forwarded reports whether req was forwarded by a peer node: our Via
// on top, from a peer's address, and another below.
func (s *Server) forwarded(req *sip.Request) bool {
	if s.cl == nil {
		return false
	}
	vias := req.GetHeaders("Via")
	if len(vias) < 2 {
		return false
	}
	top, ok := vias[0].(*sip.ViaHeader)
	return ok && forwardedVia(top) && s.cl.cfg.Peer(req.Source())
}

// pathOf is the flow through a peer of a REGISTER that peer forwarded
// with a Path (its phone's connection is there: cluster_stream.go).
func (s *Server) pathOf(req *sip.Request) (flow, bool) {
	p := req.GetHeader("Path")
	if p == nil || !s.forwarded(req) {
		return flow{}, false
	}
	first, _ := splitFirst(p.Value())
	return flowThrough(first)
}

// flowThrough is the flow through the node that Path entry route names:
// over UDP to its address, with route as the request's Route.
func flowThrough(route string) (flow, bool) {
	if route == "" {
		return flow{}, false
	}
	var u sip.Uri
	params := sip.NewParams()
	if _, err := sip.ParseAddressValue(route, &u, &params); err != nil || u.Host == "" {
		return flow{}, false
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return flow{transport: "UDP", source: net.JoinHostPort(u.Host, strconv.Itoa(port)), route: route}, true
}

// pathFor is the Path of registered contact key's flow ("" for none).
func (s *Server) pathFor(key string) string {
	if v, ok := s.tr.flows.Load(key); ok {
		return v.(flow).route
	}
	return ""
}

func forwardedVia(v *sip.ViaHeader) bool {
	b, _ := v.Params.Get("branch")
	return strings.HasPrefix(b, branchPrefix)
}

// viaAddr is where responses go for Via v (RFC 3261 18.2.2, RFC 3581):
// received, else the sent-by host; rport, else the sent-by port, else
// 5060.
func viaAddr(v *sip.ViaHeader) string {
	host := v.Host
	if r, ok := v.Params.Get("received"); ok && r != "" {
		host = r
	}
	port := v.Port
	if r, ok := v.Params.Get("rport"); ok {
		if p, err := strconv.Atoi(r); err == nil {
			port = p
		}
	}
	if port == 0 {
		port = 5060
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// clusterConn is the socket sipgo reads: in a cluster, requests for
// tenants served elsewhere and the responses to them are forwarded before
// sipgo sees them.
func (s *Server) clusterConn(conn net.PacketConn) net.PacketConn {
	if s.cl == nil {
		return conn
	}
	return &forwardConn{PacketConn: conn, c: s.cl}
}

type forwardConn struct {
	net.PacketConn
	c *clusterFront
}

func (f *forwardConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := f.PacketConn.ReadFrom(b)
		if err != nil || !f.c.intercept(b[:n], arrival{transport: "UDP", src: addr.String()}) {
			return n, addr, err
		}
	}
}

// arrival is how a message reached this node: its transport (UDP, TCP,
// TLS, WS), the address it came from and, over a stream, the local
// address of its connection.
type arrival struct {
	transport, src, local string
}

func (a arrival) stream() bool { return a.transport != "UDP" }

// intercept forwards a request for a tenant another node serves to that
// node, a request a peer routed through this node to the phone's
// connection (cluster_stream.go), and a response to a request this node
// forwarded to the next Via, statelessly (RFC 3261 16.11); it reports
// whether it took the message (forwarded, answered or dropped).
// Everything else is sipgo's.
func (c *clusterFront) intercept(data []byte, in arrival) bool {
	if len(data) <= 4 {
		return false // keep-alive
	}
	msg, err := c.parser.ParseSIP(data)
	if err != nil {
		return false // sipgo logs it
	}
	switch m := msg.(type) {
	case *sip.Response:
		return c.forwardResponse(m)
	case *sip.Request:
		return c.forwardRequest(m, in)
	}
	return false
}

func (c *clusterFront) forwardResponse(res *sip.Response) bool {
	vias := res.GetHeaders("Via")
	if len(vias) < 2 {
		return false
	}
	top, ok1 := vias[0].(*sip.ViaHeader)
	next, ok2 := vias[1].(*sip.ViaHeader)
	if !ok1 || !ok2 || !forwardedVia(top) || top.Host != c.via.Host || top.Port != c.via.Port {
		return false
	}
	// Only a response to a request we forwarded: our branch is a keyed
	// hash of the next Via and the Call-ID (anything else would make us
	// relay what anyone sends wherever its Via says).
	if b, _ := top.Params.Get("branch"); !hmac.Equal([]byte(b), []byte(c.branch(next, callIDOf(res)))) {
		return false
	}
	res.RemoveHeader("Via")
	c.deliver(res, next)
	return true
}

func (c *clusterFront) forwardRequest(req *sip.Request, in arrival) bool {
	// A request with our Record-Route (or Path) in its Route: from a
	// peer, it goes to the phone's connection the flow token names.
	f, routed := c.popRoutes(req)
	if routed && !in.stream() && c.cfg.Peer(in.src) {
		c.toFlow(req, in, f)
		return true
	}
	id := c.tenantOf(req, in.src)
	if id == "" {
		return false
	}
	addr, local, ok := c.cfg.Owner(id)
	if local {
		if c.s.served()[id] != nil {
			return false
		}
		// Served here; until Attach has read its bindings the request
		// is dropped (its retransmission finds the tenant ready; from a
		// phone on a stream, which has none, it is answered 503).
		if c.fromStream(req, in) {
			c.reply(req, in, 503, "Service Unavailable", sip.NewHeader("Retry-After", "1"))
		}
		return true
	}
	top := req.Via()
	if top == nil {
		return false
	}
	if !ok || forwardedVia(top) {
		// No owner now (a handover: the client's retransmission will
		// find the new one), or another node forwarded it here while
		// this node thinks a third serves it: the nodes disagree for a
		// moment; never forward twice. A phone on a stream does not
		// resend: it is answered 503 (through the forwarding node).
		c.s.log.Debug("SIP request for a tenant not served here dropped", "tenant", id, "method", string(req.Method), "owner_known", ok)
		if c.fromStream(req, in) {
			c.reply(req, in, 503, "Service Unavailable", sip.NewHeader("Retry-After", "1"))
		}
		return true
	}
	if !c.hop(req, in) {
		return true
	}
	// Where the request came from, for the owner (origin) and for routing
	// the responses back (RFC 3261 18.2.1, RFC 3581).
	host, port, _ := net.SplitHostPort(in.src)
	top.Params.Add("received", host)
	top.Params.Add("rport", port)
	if in.stream() {
		c.recordFlow(req, in) // cluster_stream.go
	}
	via := c.via
	via.Params = sip.NewParams()
	via.Params.Add("branch", c.branch(top, callIDOf(req)))
	req.PrependHeader(&via)
	c.send(req, addr)
	return true
}

// fromStream reports whether req comes from a phone on a stream (TCP,
// TLS, WebSocket), which does not resend a request left unanswered: over
// a stream here, or forwarded by a peer node from one (the Via below the
// peer's names the phone's transport).
func (c *clusterFront) fromStream(req *sip.Request, in arrival) bool {
	vias := req.GetHeaders("Via")
	if len(vias) == 0 {
		return false
	}
	top, ok := vias[0].(*sip.ViaHeader)
	if !ok {
		return false
	}
	if in.stream() {
		return !forwardedVia(top)
	}
	if len(vias) < 2 || !forwardedVia(top) || !c.cfg.Peer(in.src) {
		return false
	}
	next, ok := vias[1].(*sip.ViaHeader)
	return ok && sip.IsReliable(next.Transport)
}

// hop applies Max-Forwards to a request this node forwards: false (and
// 483 answered) when it is used up.
func (c *clusterFront) hop(req *sip.Request, in arrival) bool {
	if mf := req.MaxForwards(); mf != nil {
		if mf.Val() == 0 {
			if !req.IsAck() {
				c.reply(req, in, 483, "Too Many Hops")
			}
			return false
		}
		mf.Dec()
	} else {
		h := sip.MaxForwardsHeader(70)
		req.AppendHeader(&h)
	}
	return true
}

// reply answers req statelessly where it came from.
func (c *clusterFront) reply(req *sip.Request, in arrival, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if in.stream() {
		if err := c.writeStream(in.transport, in.src, res); err != nil {
			c.s.log.Debug("SIP stateless answer", "to", in.src, "err", err)
		}
		return
	}
	c.send(res, in.src)
}

// branch is the branch of our Via: the same for a request's
// retransmissions, and for its CANCEL and its ACK of a failure (they carry
// the same top Via), as RFC 3261 16.11 asks.
func (c *clusterFront) branch(top *sip.ViaHeader, callID string) string {
	b, _ := top.Params.Get("branch")
	mac := hmac.New(sha256.New, c.s.secret[:])
	mac.Write([]byte(b + "\x00" + top.SentBy() + "\x00" + callID))
	return branchPrefix + hex.EncodeToString(mac.Sum(nil)[:12])
}

func callIDOf(m sip.Message) string {
	if id := m.CallID(); id != nil {
		return id.Value()
	}
	return ""
}

// send sends msg over UDP to addr, from the server's socket.
func (c *clusterFront) send(msg fmt.Stringer, addr string) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err == nil {
		_, err = c.s.conn.WriteTo([]byte(msg.String()), ua)
	}
	if err != nil {
		c.s.log.Debug("SIP forward", "to", addr, "err", err)
	}
}

// tenantOf is the tenant a request belongs to, by sipfront's rules: the
// only tenant; the tenant of a trunk whose address sent it; the host of
// the To URI of a REGISTER; else the host of the From URI, To URI or
// Request-URI that names a tenant. "" when none does (sipgo answers).
func (c *clusterFront) tenantOf(req *sip.Request, src string) string {
	if c.only != "" {
		return c.only
	}
	shost, _, _ := net.SplitHostPort(src)
	if id, ok := c.trunks[src]; ok {
		return id
	}
	if id, ok := c.trunks[shost]; ok {
		return id
	}
	if req.Method != sip.REGISTER {
		// A carrier's call answering our challenge names its trunk's
		// sip-user (calls.go: trunkByCredentials). Its first INVITE,
		// without credentials, is challenged by whichever node it
		// reaches; the owner finds another node's nonce stale and
		// challenges again with its own, which the carrier answers.
		if h := req.GetHeader("Proxy-Authorization"); h != nil {
			if cred, err := digest.ParseCredentials(h.Value()); err == nil {
				if id, ok := c.creds[cred.Username]; ok {
					return id
				}
			}
		}
	}
	var hosts []string
	if req.Method == sip.REGISTER {
		if to := req.To(); to != nil {
			hosts = append(hosts, to.Address.Host)
		}
	} else {
		if f := req.From(); f != nil {
			hosts = append(hosts, f.Address.Host)
		}
		if to := req.To(); to != nil {
			hosts = append(hosts, to.Address.Host)
		}
		hosts = append(hosts, req.Recipient.Host)
	}
	for _, h := range hosts {
		if tc, ok := c.configs[strings.ToLower(h)]; ok {
			return tc.Config.ID
		}
	}
	return ""
}
