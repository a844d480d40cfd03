package sipfront

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// memBindings is the cluster's bindings topic in memory.
type memBindings struct {
	mu sync.Mutex
	m  map[string]map[string][]byte
}

func (b *memBindings) Put(tenant, dn string, v []byte, done func(error)) {
	b.mu.Lock()
	if b.m == nil {
		b.m = map[string]map[string][]byte{}
	}
	if b.m[tenant] == nil {
		b.m[tenant] = map[string][]byte{}
	}
	if v == nil {
		delete(b.m[tenant], dn)
	} else {
		b.m[tenant][dn] = v
	}
	b.mu.Unlock()
	done(nil)
}

func (b *memBindings) Load(_ context.Context, tenant string) (map[string][]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range b.m[tenant] {
		out[k] = v
	}
	return out, nil
}

func (b *memBindings) get(t testing.TB, tenant, dn string) (storedBinding, bool) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var v []byte
	for k, x := range b.m[tenant] {
		if strings.HasPrefix(k, dn+"\x00") {
			v = x
		}
	}
	if v == nil {
		return storedBinding{}, false
	}
	var sb storedBinding
	if err := json.Unmarshal(v, &sb); err != nil {
		t.Fatal(err)
	}
	return sb, true
}

// clusterPair is two cluster nodes' SIP fronts: owner serves the demo
// tenant (the fixture's runtime), fwd serves nothing and forwards to
// owner. trust says whether each believes the other is a peer.
type clusterPair struct {
	f       *fixture
	fwd     *Server
	binds   *memBindings
	dialogs *memBindings // the owner's answered dialogs
	// third is the address of another node fwd believes (a next owner).
	third atomic.Value
}

func newClusterPair(t *testing.T, trust bool) *clusterPair {
	t.Helper()
	return newClusterPairMod(t, trust, nil, nil, nil)
}

// newClusterPairMod is newClusterPair with changes to the tenant and to
// the owner's and the forwarder's configurations (any may be nil).
func newClusterPairMod(t testing.TB, trust bool, tmod func(*config.Tenant), ownerMod, fwdMod func(*Config)) *clusterPair {
	t.Helper()
	p := &clusterPair{binds: &memBindings{}, dialogs: &memBindings{}}
	p.third.Store("")
	// The other's address, set once it is bound (read by the servers'
	// goroutines).
	var fwdAddr atomic.Value
	fwdAddr.Store("")
	var ownerAddr string
	p.f = newFixtureTenant(t, func(c *Config) {
		c.Cluster = &Cluster{
			Owner:    func(string) (string, bool, bool) { return "", true, true },
			Peer:     func(a string) bool { return trust && a == fwdAddr.Load().(string) },
			Bindings: p.binds,
			Dialogs:  p.dialogs,
		}
		if ownerMod != nil {
			ownerMod(c)
		}
	}, tmod)
	ownerAddr = p.f.sip.Addr()
	p.f.sip.Attach(p.f.tenant.ID, p.f.rt)
	for deadline := time.Now().Add(10 * time.Second); p.f.sip.served()[p.f.tenant.ID] == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the owner did not attach the tenant")
		}
	}
	fcfg := Config{Listen: "127.0.0.1:0", Tenants: []Tenant{{Config: p.f.tenant}}, Logger: testLogger(t),
		Cluster: &Cluster{
			Owner:    func(string) (string, bool, bool) { return ownerAddr, false, true },
			Peer:     func(a string) bool { return trust && (a == ownerAddr || a == p.third.Load().(string)) },
			Bindings: p.binds,
		}}
	if fwdMod != nil {
		fwdMod(&fcfg)
	}
	fwd, err := Start(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fwd.Close() })
	p.fwd = fwd
	fwdAddr.Store(fwd.Addr())
	return p
}

// TestClusterForwardCall is TestBasicCall through a node that does not
// serve the tenant: both phones register through it and 1001 calls 1002
// through it; it forwards every request to the owner statelessly and the
// responses back. The flow is the same, and the owner's bindings (kept in
// the cluster) have the phones' own addresses as their source.
func TestClusterForwardCall(t *testing.T) {
	p := newClusterPair(t, true)
	f := p.f
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	registerAt(t, p.fwd.Addr(), "1002", pb, 3600)
	registerAt(t, p.fwd.Addr(), "1001", pa, 3600)
	for dn, port := range map[string]int{"1001": pa, "1002": pb} {
		sb, ok := p.binds.get(t, f.tenant.ID, dn)
		if !ok || sb.Source != fmt.Sprintf("127.0.0.1:%d", port) {
			t.Fatalf("binding of %s in the cluster: %+v (found %v), want source 127.0.0.1:%d", dn, sb, ok, port)
		}
	}
	f.basicCall(p.fwd.Addr(), pa, pb)
}

// TestClusterForwardTrunk: the carrier's call reaches the owner through
// a forwarding node and is still the trunk's (matched by the address the
// forwarder received it from): flow 5.2.
func TestClusterForwardTrunk(t *testing.T) {
	p := newClusterPair(t, true)
	pb := freeUDPPort(t)
	registerAt(t, p.fwd.Addr(), "1002", pb, 3600)
	p.f.inboundFromTrunk(p.fwd.Addr(), pb)
}

// TestClusterForwardUntrusted: a request forwarded from an address that
// is not a peer's is served, but where it came from is the forwarder's
// address, not what the Via claims.
func TestClusterForwardUntrusted(t *testing.T) {
	p := newClusterPair(t, false)
	pa := freeUDPPort(t)
	registerAt(t, p.fwd.Addr(), "1001", pa, 3600)
	sb, ok := p.binds.get(t, p.f.tenant.ID, "1001")
	if !ok || sb.Source != p.fwd.Addr() {
		t.Fatalf("binding through an untrusted forwarder: %+v (found %v), want source %s", sb, ok, p.fwd.Addr())
	}
}

// TestClusterForwardHops: a request with Max-Forwards 0 gets 483 from the
// forwarding node; one that Max-Forwards allows is forwarded with it
// decremented and our Via on top, and the response comes back without
// that Via; a response the forwarder did not forward is not relayed.
func TestClusterForwardHops(t *testing.T) {
	p := newClusterPair(t, true)
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to, _ := net.ResolveUDPAddr("udp", p.fwd.Addr())
	options := func(mf int, branch string) string {
		return fmt.Sprintf("OPTIONS sip:demo SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s\r\nMax-Forwards: %d\r\n"+
			"From: <sip:1001@demo>;tag=a\r\nTo: <sip:demo>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			c.LocalAddr(), branch, mf, branch)
	}
	read := func() string {
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no response: %v", err)
		}
		return string(buf[:n])
	}
	c.WriteTo([]byte(options(0, "hops0")), to)
	if res := read(); !strings.HasPrefix(res, "SIP/2.0 483 ") {
		t.Fatalf("Max-Forwards 0: %q", res)
	}
	// A response with the forwarder's Via that it did not forward (the
	// branch is not its hash) is not relayed: the next message the client
	// gets is the answer to its OPTIONS sent after it.
	forged := fmt.Sprintf("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP %s;branch=%sforged\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKx\r\n"+
		"From: <sip:1001@demo>;tag=a\r\nTo: <sip:demo>;tag=b\r\nCall-ID: forged\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		p.fwd.Addr(), branchPrefix, c.LocalAddr())
	c.WriteTo([]byte(forged), to)
	c.WriteTo([]byte(options(5, "hops5")), to)
	res := read()
	if !strings.HasPrefix(res, "SIP/2.0 200 ") || !strings.Contains(res, "hops5") || strings.Contains(res, branchPrefix) || strings.Count(res, "Via:") != 1 {
		t.Fatalf("OPTIONS through the forwarder: %q", res)
	}
}

// TestClusterForwardStreams is TestCallOverTCP, TLS and WebSocket through
// a node that does not serve the tenant: both phones register and 1001
// calls 1002 over connections to the forwarder. The owner serves no TCP
// and the phones' Contacts are unreachable, so every request and response
// (the INVITE to 1002, the ACKs, the BYE both ways of the owner) can only
// have gone through the forwarder's Path and Record-Routes and the
// phones' connections to it.
func TestClusterForwardStreams(t *testing.T) {
	for _, tr := range []string{"TCP", "TLS", "WS"} {
		t.Run(tr, func(t *testing.T) {
			dir := t.TempDir()
			var fwdMod func(*Config)
			if tr == "TLS" {
				fwdMod = withTLS(t, dir)
			}
			p := newClusterPairMod(t, true, nil, func(c *Config) { c.TCP = "-" }, fwdMod)
			server, tlsConf, wsPath := streamAt(t, p.fwd, tr, dir)
			streamCall(t, p.f, tr, server, tlsConf, wsPath)
			// A subscription through the forwarder: the owner's NOTIFYs
			// follow the SUBSCRIBE's Record-Routes back to the phone's
			// connection (its Contact is unreachable).
			sub := newGoPhone(t, tr, server, "1003", tlsConf, wsPath)
			sub.subscribe()
			if n := wait(t, sub.notifies, "NOTIFY at 1003"); n.GetHeader("Event") == nil || n.GetHeader("Event").Value() != "message-summary" {
				t.Fatalf("NOTIFY at 1003: %v", n)
			}
			// The owner reaches 1002 through the forwarder's Path, kept
			// with the flow (a phone's connection is not the owner's).
			v, ok := p.f.sip.tr.flows.Load("sip:1002@phone.invalid;transport=" + strings.ToLower(tr))
			if !ok || v.(flow).source != p.fwd.Addr() || !strings.Contains(v.(flow).route, flowPrefix) {
				t.Fatalf("owner's flow of 1002: %+v (found %v), want through %s", v, ok, p.fwd.Addr())
			}
			// The Path is kept in the cluster with the binding, and a
			// node taking the tenant over reaches 1002 through it too.
			if sb, _ := p.binds.get(t, p.f.tenant.ID, "1002"); sb.Path != v.(flow).route {
				t.Fatalf("binding of 1002 in the cluster has Path %q, want %q", sb.Path, v.(flow).route)
			}
			next, err := Start(Config{Listen: "127.0.0.1:0", Tenants: []Tenant{{Config: p.f.tenant}}, Logger: testLogger(t),
				Cluster: &Cluster{Owner: func(string) (string, bool, bool) { return "", true, true }, Peer: func(string) bool { return false },
					Bindings: p.binds}})
			if err != nil {
				t.Fatal(err)
			}
			defer next.Close()
			next.Attach(p.f.tenant.ID, p.f.rt)
			for deadline := time.Now().Add(10 * time.Second); next.served()[p.f.tenant.ID] == nil; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the next owner did not attach the tenant")
				}
			}
			if w, ok := next.tr.flows.Load("sip:1002@phone.invalid;transport=" + strings.ToLower(tr)); !ok || w.(flow) != v.(flow) {
				t.Fatalf("next owner's flow of 1002: %+v (found %v), want %+v", w, ok, v)
			}
		})
	}
}

// TestClusterForwardTrunkByCredentials: a carrier whose trunk takes calls
// by credentials (inbound: credentials) calls through a node that does
// not serve the trunk's tenant, with URIs naming no tenant (the cluster
// has two, so nothing else tells). That node challenges the first INVITE
// itself; the answer names the trunk's sip-user and is forwarded to the
// owner, which finds the other node's nonce stale and challenges again;
// the answer to its own challenge is the trunk's call (404: 8888 is no
// DN, as in TestTrunkInboundByCredentials). A node that did not forward
// by credentials would challenge for ever (it serves no tenant).
func TestClusterForwardTrunkByCredentials(t *testing.T) {
	other := func(c *Config) {
		o := testTenant("127.0.0.1:9") // its trunk takes calls by address
		o.ID = "other"
		c.Tenants = append(c.Tenants, Tenant{Config: o})
	}
	p := newClusterPairMod(t, true, func(ct *config.Tenant) {
		for i := range ct.DNs {
			if tr := ct.DNs[i].Trunk; tr != nil {
				tr.SIPUser, tr.SIPPassword, tr.Inbound = "carrier", "trunk-secret", "credentials"
			}
		}
	}, other, other)
	carrier := newUDPPhoneAt(t, p.fwd.Addr(), "127.0.0.1:"+strconv.Itoa(freeUDPPort(t)))
	const ruri = "sip:8888@carrier.example"
	chal := carrier.first(carrier.send("INVITE", ruri, "+33140000000", "carrier.example", "8888"))
	if chal == nil || chal.StatusCode != 407 {
		t.Fatalf("without credentials: %v, want 407", chal)
	}
	res := carrier.first(carrier.send("INVITE", ruri, "+33140000000", "carrier.example", "8888", answer(t, "INVITE", ruri, chal, "carrier", "trunk-secret", 1)))
	if res == nil || res.StatusCode != 407 || !strings.Contains(strings.ToLower(res.GetHeader("Proxy-Authenticate").Value()), "stale=true") {
		t.Fatalf("answering the forwarder's challenge: %v, want 407 with stale=true from the owner", res)
	}
	res = carrier.first(carrier.send("INVITE", ruri, "+33140000000", "carrier.example", "8888", answer(t, "INVITE", ruri, res, "carrier", "trunk-secret", 1)))
	if res == nil || res.StatusCode != 404 {
		t.Fatalf("answering the owner's challenge: %v, want 404 (a trunk call to a number that is no DN)", res)
	}
}

// fakeCarrier answers every SIP request over UDP with 200 and records
// each as "METHOD expires from" (expires "" without an Expires header).
type fakeCarrier struct {
	conn net.PacketConn
	reqs chan string
}

func newFakeCarrier(t testing.TB) *fakeCarrier {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeCarrier{conn: conn, reqs: make(chan string, 1000)}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			msg, err := sip.ParseMessage(bytes.Clone(buf[:n]))
			req, ok := msg.(*sip.Request)
			if err != nil || !ok {
				continue
			}
			exp := ""
			if h := req.GetHeader("Expires"); h != nil {
				exp = h.Value()
			}
			c.reqs <- string(req.Method) + " " + exp + " " + from.String()
			conn.WriteTo([]byte(sip.NewResponseFromRequest(req, 200, "OK", nil).String()), from)
		}
	}()
	return c
}

// await reads requests until want comes (within 30 s), returning those
// before it.
func (c *fakeCarrier) await(t testing.TB, want string) []string {
	t.Helper()
	var before []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.next(time.Until(deadline))
		if r == want {
			return before
		}
		if r == "" {
			t.Fatalf("the carrier did not get %q; got %q", want, before)
		}
		before = append(before, r)
	}
}

// next is the next request the carrier got within d ("" for none).
func (c *fakeCarrier) next(d time.Duration) string {
	select {
	case r := <-c.reqs:
		return r
	case <-time.After(d):
		return ""
	}
}

// TestClusterTrunkFollowsOwnership: on a cluster node, a trunk's
// registration to its carrier and its OPTIONS keepalive run only while
// the node serves the trunk's tenant: nothing before Attach, REGISTER
// and OPTIONS after it, an un-REGISTER (Expires 0) at Detach and nothing
// after it.
func TestClusterTrunkFollowsOwnership(t *testing.T) {
	carrier := newFakeCarrier(t)
	f := newFixtureTenant(t, func(c *Config) {
		c.Cluster = &Cluster{Owner: func(string) (string, bool, bool) { return "", true, true }, Peer: func(string) bool { return false },
			Bindings: &memBindings{}}
	}, func(ct *config.Tenant) {
		withCarrier(true, time.Hour)(ct)
		for i := range ct.DNs {
			if tr := ct.DNs[i].Trunk; tr != nil {
				tr.Address, tr.Keepalive = carrier.conn.LocalAddr().String(), config.Keepalive{Duration: config.D(100 * time.Millisecond)}
			}
		}
	})
	if r := carrier.next(500 * time.Millisecond); r != "" {
		t.Fatalf("before Attach the carrier got %q, want nothing", r)
	}
	f.sip.Attach(f.tenant.ID, f.rt)
	from := f.sip.Addr()
	carrier.await(t, "REGISTER 3600 "+from)
	carrier.await(t, "OPTIONS  "+from)
	f.sip.Detach(f.tenant.ID)
	carrier.await(t, "REGISTER 0 "+from)
	// An OPTIONS already on its way may arrive; then nothing.
	carrier.next(200 * time.Millisecond)
	if r := carrier.next(500 * time.Millisecond); r != "" {
		t.Fatalf("after Detach the carrier got %q, want nothing", r)
	}
}

// TestClusterStreamOrphanBye: phones on TCP connections to the forwarder
// are in a call the owner answered and placed; a next owner attaching
// the tenant (as after the owner died) sends each a BYE for the dialog
// left, through the forwarder's Record-Routes kept with the dialog: their
// Contacts are unreachable, only the forwarder has their connections.
func TestClusterStreamOrphanBye(t *testing.T) {
	p := newClusterPairMod(t, true, nil, func(c *Config) { c.TCP = "-" }, nil)
	server := p.fwd.TCPAddr()
	b := newGoPhone(t, "TCP", server, "1002", nil, "")
	a := newGoPhone(t, "TCP", server, "1001", nil, "")
	b.register()
	a.register()
	a.call("1002")
	wait(t, b.calls, "INVITE at 1002")
	wait(t, b.acks, "ACK at 1002")
	// Both legs' dialogs kept (the caller's once its ACK came).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if vals, _ := p.dialogs.Load(context.Background(), p.f.tenant.ID); len(vals) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call's two dialogs were not kept")
		}
	}
	next, err := Start(Config{Listen: "127.0.0.1:0", TCP: "-", Tenants: []Tenant{{Config: p.f.tenant}}, Logger: testLogger(t),
		Cluster: &Cluster{Owner: func(string) (string, bool, bool) { return "", true, true }, Peer: func(string) bool { return false },
			Bindings: p.binds, Dialogs: p.dialogs}})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	p.third.Store(next.Addr())
	next.Attach(p.f.tenant.ID, p.f.rt)
	wait(t, a.byes, "BYE at 1001")
	wait(t, b.byes, "BYE at 1002")
}

// BenchmarkStreamCallThroughNode: a call over TCP (INVITE, 180, 200, ACK
// to the callee over its connection, BYE both ways) made directly at the
// node serving the tenant, and through a cluster node that proxies it
// (cluster_stream.go), in the same run: the proxy's cost per call.
func BenchmarkStreamCallThroughNode(b *testing.B) {
	for _, via := range []string{"direct", "proxied"} {
		b.Run(via, func(b *testing.B) {
			p := newClusterPairMod(b, true, nil, nil, nil)
			server := p.f.sip.TCPAddr()
			if via == "proxied" {
				server = p.fwd.TCPAddr()
			}
			callee := newGoPhone(b, "TCP", server, "1002", nil, "")
			caller := newGoPhone(b, "TCP", server, "1001", nil, "")
			callee.register()
			caller.register()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d := caller.call("1002")
				wait(b, callee.calls, "INVITE at 1002")
				wait(b, callee.acks, "ACK at 1002")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := d.Bye(ctx); err != nil {
					b.Fatal(err)
				}
				cancel()
				wait(b, callee.byes, "BYE at 1002")
			}
		})
	}
}

// TestClusterStreamNoResponseQuota is TestNoResponseQuotaOverTCP through
// a forwarding node: the owner gets the phone's requests over UDP, but
// they came over a connection (the forwarder writes answers only on
// one), so the owner's quota of unauthenticated answers, against
// reflection over UDP, does not apply: every challenge comes back.
func TestClusterStreamNoResponseQuota(t *testing.T) {
	p := newClusterPairMod(t, true, nil, func(c *Config) { c.UnauthRate, c.UnauthBurst = 0.001, 2 }, nil)
	ph := newGoPhone(t, "TCP", p.fwd.TCPAddr(), "1001", nil, "")
	for i := 0; i < 6; i++ {
		req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "demo"})
		to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "demo"}}
		from := &sip.FromHeader{Address: to.Address}
		from.Params.Add("tag", sip.GenerateTagN(8))
		req.AppendHeader(to)
		req.AppendHeader(from)
		req.AppendHeader(&ph.dua.ContactHDR)
		req.SetDestination(ph.server)
		req.SetTransport("TCP")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := ph.cli.Do(ctx, req)
		cancel()
		if err != nil || res.StatusCode != 401 {
			t.Fatalf("REGISTER %d without credentials through the forwarder: %v %v, want 401", i+1, res, err)
		}
	}
}

// TestClusterForwardCallReleasedByOwner: a UDP phone, 1001, calls 1002
// through a node that does not serve the tenant (its INVITE is
// forwarded statelessly, without a Record-Route), and the call is then
// released on the owner's side: by the callee's BYE, or through the API.
// The owner's BYE must reach 1001 itself (its INVITE's Contact, where the
// forwarder's Via received/rport also says it is), not the forwarder,
// which has no dialog to route it by: sipp's uac_wait_bye fails unless
// the BYE arrives. 1001 registers through the forwarder or at the owner
// directly; either way its call goes through the forwarder. Released
// through the API at once, the call often ends before 1001's ACK came
// back through the forwarder (TestClusterReleasedBeforeAck has that
// order every time): the BYE waits for the ACK, which the owner takes.
func TestClusterForwardCallReleasedByOwner(t *testing.T) {
	for _, tc := range []struct {
		name     string
		direct   bool // 1001 registers at the owner
		api      bool // released through the API, not by 1002's BYE
		released string
	}{
		{"callee-hangs-up", false, false, "1002"},
		{"callee-hangs-up-registered-at-owner", true, false, "1002"},
		{"api-release", false, true, "1002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newClusterPair(t, true)
			f := p.f
			pa, pb := freeUDPPort(t), freeUDPPort(t)
			registerAt(t, p.fwd.Addr(), "1002", pb, 3600)
			reg := p.fwd.Addr()
			if tc.direct {
				reg = f.sip.Addr()
			}
			registerAt(t, reg, "1001", pa, 3600)
			callee := "uas_bye.xml"
			args := []string{"-key", "service", "1002"}
			if tc.api {
				callee, args = "uas.xml", []string{"-key", "user", "1002"}
			}
			uas := f.startSipp(callee, pb, args...)
			uac := startSippAt(t, p.fwd.Addr(), "uac_wait_bye.xml", pa, "-key", "user", "1001", "-s", "1002")
			if tc.api {
				conn := f.waitEstablished()
				if _, err := f.rt.Do(t.Context(), engine.Release{ConnID: conn, DN: "1002"}); err != nil {
					t.Fatal(err)
				}
			}
			uac.wait(t)
			uas.wait(t)
			f.basicFlowReleasedBy(tc.released)
		})
	}
}

// TestClusterReleasedBeforeAck: the call is released through the API
// after the caller has its 200 and before its ACK, in that order every
// time: the phone sends the ACK only once the owner has let go of its
// leg (out of the Call-ID index). The owner must take that ACK (ack.go),
// and not send its BYE before it (RFC 3261 section 15), and then at
// once: the test waits 10 s, where the BYE of an ACK not taken left only
// when the 200 was given up, after AckTimeout (64*T1, 32 s). The caller
// calls through the forwarding node or at the owner, over UDP (registered
// at either) and over the streams; no dialog is left in the cluster. A
// caller whose ACK is lost gets its BYE all the same once the owner gives
// its 200 up (RFC 3261 13.3.1.4; AckTimeout, 1 s here), not before.
func TestClusterReleasedBeforeAck(t *testing.T) {
	const ackTimeout = time.Second
	for _, tc := range []struct {
		name, network string
		via           bool // the call goes through the forwarder
		regOwner      bool // the caller registers at the owner
		lost          bool // its ACK is sent only once it has the BYE
	}{
		{"UDP-through-forwarder", "UDP", true, false, false},
		{"UDP-registered-at-owner-through-forwarder", "UDP", true, true, false},
		{"UDP-at-owner", "UDP", false, true, false},
		{"TCP-through-forwarder", "TCP", true, false, false},
		{"TCP-at-owner", "TCP", false, true, false},
		{"TLS-through-forwarder", "TLS", true, false, false},
		{"WS-through-forwarder", "WS", true, false, false},
		{"UDP-through-forwarder-ACK-lost", "UDP", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var fwdMod func(*Config)
			if tc.network == "TLS" {
				fwdMod = withTLS(t, dir)
			}
			// Through the forwarder, a phone on a stream cannot reach the
			// owner but by it.
			ownerMod := func(c *Config) {
				if tc.via {
					c.TCP = "-"
				}
				if tc.lost {
					c.AckTimeout = ackTimeout
				}
			}
			p := newClusterPairMod(t, true, nil, ownerMod, fwdMod)
			f := p.f
			at := func(s *Server) (string, *tls.Config, string) {
				if tc.network == "UDP" {
					return s.Addr(), nil, ""
				}
				return streamAt(t, s, tc.network, dir)
			}
			server, tlsConf, wsPath := at(p.fwd)
			if !tc.via {
				server, tlsConf, wsPath = at(f.sip)
			}
			b := newGoPhone(t, tc.network, server, "1002", tlsConf, wsPath)
			b.register()
			a := newGoPhone(t, tc.network, server, "1001", tlsConf, wsPath)
			if tc.regOwner && tc.via {
				a.server = f.sip.Addr()
				a.register()
				a.server = server
			} else {
				a.register()
			}
			a.callAcking("1002", func(d *sipgo.DialogClientSession) {
				wait(t, b.calls, "INVITE at 1002")
				released := time.Now()
				if _, err := f.rt.Do(t.Context(), engine.Release{ConnID: f.waitEstablished(), DN: "1002"}); err != nil {
					t.Fatal(err)
				}
				callID := d.InviteRequest.CallID().Value()
				for deadline := time.Now().Add(10 * time.Second); f.sip.legByCallID(callID) != nil; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the owner kept the caller's leg after the release")
					}
				}
				select {
				case <-a.byes:
					t.Fatal("BYE at 1001 before its ACK")
				case <-time.After(100 * time.Millisecond):
				}
				if tc.lost {
					wait(t, a.byes, "BYE at 1001 without its ACK")
					// The 200 left a little before the release; the BYE
					// leaves when the owner gives it up.
					if since := time.Since(released); since < ackTimeout-100*time.Millisecond || since > ackTimeout+500*time.Millisecond {
						t.Fatalf("BYE at 1001 %v after the release, its 200 unacknowledged: want AckTimeout (%v)", since, ackTimeout)
					}
				}
			})
			if !tc.lost {
				wait(t, a.byes, "BYE at 1001")
			}
			wait(t, b.byes, "BYE at 1002")
			f.basicFlowReleasedBy("1002")
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				vals, _ := p.dialogs.Load(context.Background(), f.tenant.ID)
				if len(vals) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("dialogs left in the cluster: %d", len(vals))
				}
			}
		})
	}
}
