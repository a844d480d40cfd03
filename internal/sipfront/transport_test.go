package sipfront

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// writeCert writes a new self-signed certificate for 127.0.0.1 named cn
// (as cert.pem and key.pem in dir, replacing them) and returns it.
func writeCert(t testing.TB, dir, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("key.pem", "EC PRIVATE KEY", kder)
	write("cert.pem", "CERTIFICATE", der)
	c, _ := x509.ParseCertificate(der)
	return c
}

// withTLS serves TLS on a free port with a new certificate in dir.
func withTLS(t testing.TB, dir string) func(*Config) {
	writeCert(t, dir, "first")
	return func(c *Config) {
		c.TLS = TLSConfig{Listen: "127.0.0.1:0", CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	}
}

// tlsTunnel listens on TCP and carries each connection over TLS to
// server (trusting only cert): a TLS phone for a sipp without TLS.
func tlsTunnel(t testing.TB, server string, cert *x509.Certificate) string {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := tls.Dial("tcp", server, &tls.Config{RootCAs: roots})
			if err != nil {
				t.Errorf("TLS tunnel: %v", err)
				c.Close()
				continue
			}
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	return ln.Addr().String()
}

// phones is how a test's sipp phones reach the fixture, over one
// transport: UDP; TCP (sipp -t t1, registering with ;transport=TCP in
// the Contact so that switchboard reaches a called phone at its TCP
// port); or TLS for the calling phone (this sipp has no TLS: its TCP goes
// through a tlsTunnel to the fixture's TLS listener), the called phones
// over TCP (sipp cannot serve TLS for switchboard to connect to).
type phones struct {
	f      *fixture
	caller string   // where a calling phone sends
	args   []string // sipp's transport options
	reg    string   // the registration scenario
}

// overTransports runs test as a subtest per transport (UDP, TCP, TLS), each
// with a new fixture (newFixtureTenant with mod and tmod, and TLS served).
func overTransports(t *testing.T, mod func(*Config), tmod func(*config.Tenant), test func(t *testing.T, p *phones)) {
	for _, tr := range []string{"UDP", "TCP", "TLS"} {
		t.Run(tr, func(t *testing.T) {
			dir := t.TempDir()
			tlsOn := withTLS(t, dir)
			f := newFixtureTenant(t, func(c *Config) {
				tlsOn(c)
				if mod != nil {
					mod(c)
				}
			}, tmod)
			p := &phones{f: f, caller: f.sip.Addr(), args: []string{"-t", "t1"}, reg: "register_transport.xml"}
			switch tr {
			case "UDP":
				p.args, p.reg = nil, "register.xml"
			case "TLS":
				p.caller = tlsTunnel(t, f.sip.TLSAddr(), readCert(t, dir))
			}
			test(t, p)
		})
	}
}

// register registers a called phone's dn from 127.0.0.1:port.
func (p *phones) register(dn string, port int) {
	p.f.t.Helper()
	p.registerAt(p.f.sip.Addr(), dn, port)
}

// registerCaller registers the calling phone's dn from 127.0.0.1:port
// (over TLS in the TLS subtest).
func (p *phones) registerCaller(dn string, port int) {
	p.f.t.Helper()
	p.registerAt(p.caller, dn, port)
}

func (p *phones) registerAt(server, dn string, port int) {
	p.f.t.Helper()
	args := append([]string{"-au", dn, "-ap", testPassword, "-key", "user", dn, "-key", "expires", "3600"}, p.args...)
	startSippAt(p.f.t, server, p.reg, port, args...).wait(p.f.t)
}

// callee starts a called phone's sipp.
func (p *phones) callee(scenario string, port int, args ...string) *sipp {
	p.f.t.Helper()
	return startSippAt(p.f.t, p.f.sip.Addr(), scenario, port, append(args, p.args...)...)
}

// call starts the calling phone's sipp.
func (p *phones) call(scenario string, port int, args ...string) *sipp {
	p.f.t.Helper()
	return startSippAt(p.f.t, p.caller, scenario, port, append(args, p.args...)...)
}

// readCert reads dir/cert.pem (writeCert's).
func readCert(t testing.TB, dir string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("cert.pem: no PEM block")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// goPhone is a SIP phone on sipgo over a stream transport (TCP, TLS or
// WS) that registers with a Contact no one can reach (host
// "phone.invalid"): calls reach it only over the connection it opened.
type goPhone struct {
	t        testing.TB
	user     string
	network  string
	server   string // where its requests go
	ua       *sipgo.UserAgent
	cli      *sipgo.Client
	dua      *sipgo.DialogUA
	calls    chan *sipgo.DialogServerSession // INVITEs received, answered 200
	acks     chan struct{}
	byes     chan struct{}
	notifies chan *sip.Request // NOTIFYs received, answered 200
}

func newGoPhone(t testing.TB, network, server, user string, tlsConf *tls.Config, wsPath string) *goPhone {
	t.Helper()
	opts := []sipgo.UserAgentOption{sipgo.WithUserAgent("go-phone-" + user), sipgo.WithUserAgentHostname("phone.invalid")}
	if tlsConf != nil {
		opts = append(opts, sipgo.WithUserAgenTLSConfig(tlsConf))
	}
	if wsPath != "" {
		opts = append(opts, sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerTransports(sip.TransportsConfig{
			WS: &sip.TransportWS{DialURI: func(host string) string { return "ws://" + host + wsPath }},
		})))
	}
	ua, err := sipgo.NewUA(opts...)
	if err != nil {
		t.Fatal(err)
	}
	p := &goPhone{t: t, user: user, network: network, server: server, ua: ua,
		calls: make(chan *sipgo.DialogServerSession, 4), acks: make(chan struct{}, 4), byes: make(chan struct{}, 4),
		notifies: make(chan *sip.Request, 16)}
	if p.cli, err = sipgo.NewClient(ua, sipgo.WithClientHostname("phone.invalid")); err != nil {
		t.Fatal(err)
	}
	contact := sip.Uri{Scheme: "sip", User: user, Host: "phone.invalid", UriParams: sip.NewParams()}
	contact.UriParams.Add("transport", strings.ToLower(network))
	// A browser (RFC 7118) sends everything over its WebSocket, whatever
	// our Contact says; the others follow our Contact.
	p.dua = &sipgo.DialogUA{Client: p.cli, ContactHDR: sip.ContactHeader{Address: contact}, RewriteContact: network == "WS"}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	var in *sipgo.DialogServerSession
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		d, err := p.dua.ReadInvite(req, tx)
		if err != nil {
			t.Errorf("%s: INVITE: %v", user, err)
			return
		}
		in = d
		d.Respond(180, "Ringing", nil)
		if err := d.RespondSDP(req.Body()); err != nil {
			t.Errorf("%s: 200: %v", user, err)
		}
		p.calls <- d
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		if in != nil {
			in.ReadAck(req, tx)
		}
		p.acks <- struct{}{}
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if in != nil {
			in.ReadBye(req, tx)
		} else {
			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		}
		p.byes <- struct{}{}
	})
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		p.notifies <- req
	})
	t.Cleanup(func() { ua.Close() })
	return p
}

// subscribe subscribes to the phone's own message-summary (digest) for a
// minute.
func (p *goPhone) subscribe() {
	p.t.Helper()
	aor := sip.Uri{Scheme: "sip", User: p.user, Host: "demo"}
	req := sip.NewRequest(sip.SUBSCRIBE, aor)
	from := &sip.FromHeader{Address: aor}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&p.dua.ContactHDR)
	req.AppendHeader(sip.NewHeader("Event", "message-summary"))
	req.AppendHeader(sip.NewHeader("Expires", "60"))
	req.SetDestination(p.server)
	req.SetTransport(p.network)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.cli.Do(ctx, req)
	if err == nil && res.StatusCode == 407 {
		res, err = p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.user, Password: testPassword})
	}
	if err != nil || res.StatusCode != 200 {
		p.t.Fatalf("%s: SUBSCRIBE over %s: %v %v", p.user, p.network, res, err)
	}
}

// register registers the phone (digest) for an hour.
func (p *goPhone) register() {
	p.t.Helper()
	newReq := func() *sip.Request {
		req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "demo"})
		to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: "demo"}}
		from := &sip.FromHeader{Address: to.Address}
		from.Params.Add("tag", sip.GenerateTagN(8))
		req.AppendHeader(to)
		req.AppendHeader(from)
		req.AppendHeader(&p.dua.ContactHDR)
		req.AppendHeader(sip.NewHeader("Expires", "3600"))
		req.SetDestination(p.server)
		req.SetTransport(p.network)
		return req
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res *sip.Response
	var err error
	// A 503 with Retry-After (a cluster node whose tenant is starting)
	// is tried again after it, as phones do (RFC 3261 21.5.4).
	for try := 0; ; try++ {
		req := newReq()
		res, err = p.cli.Do(ctx, req)
		if err == nil && res.StatusCode == 401 {
			res, err = p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.user, Password: testPassword})
		}
		if err != nil || res.StatusCode != 503 || res.GetHeader("Retry-After") == nil || try == 5 {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		p.t.Fatalf("%s: REGISTER over %s: %v", p.user, p.network, err)
	}
	if res.StatusCode != 200 {
		p.t.Fatalf("%s: REGISTER over %s: %s", p.user, p.network, res.StartLine())
	}
}

// call calls dn and waits for the answer, then ACKs it.
func (p *goPhone) call(dn string) *sipgo.DialogClientSession {
	p.t.Helper()
	return p.callAcking(dn, nil)
}

// callAcking is call with beforeAck, if not nil, run between the answer
// and its ACK.
func (p *goPhone) callAcking(dn string, beforeAck func(*sipgo.DialogClientSession)) *sipgo.DialogClientSession {
	p.t.Helper()
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: dn, Host: "demo"})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: "demo"}}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: dn, Host: "demo"}})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte(goPhoneSDP))
	req.SetDestination(p.server)
	req.SetTransport(p.network)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := p.dua.WriteInvite(ctx, req)
	if err == nil {
		err = d.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.user, Password: testPassword})
	}
	if err != nil {
		p.t.Fatalf("%s: INVITE %s over %s: %v", p.user, dn, p.network, err)
	}
	if beforeAck != nil {
		beforeAck(d)
	}
	if err := d.Ack(ctx); err != nil {
		p.t.Fatalf("%s: ACK: %v", p.user, err)
	}
	return d
}

const goPhoneSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
	}
	var zero T
	return zero
}

// streamCall: 1002 and 1001 register over network (their Contacts
// unreachable), 1001 calls 1002, 1002 answers, 1001 hangs up: the
// INVITE, ACK and BYE to 1002 can only have come over the connection
// 1002 registered on. The events are the golden flow 5.1.
func streamCall(t *testing.T, f *fixture, network, server string, tlsConf *tls.Config, wsPath string) {
	b := newGoPhone(t, network, server, "1002", tlsConf, wsPath)
	a := newGoPhone(t, network, server, "1001", tlsConf, wsPath)
	b.register()
	a.register()
	d := a.call("1002")
	wait(t, b.calls, "INVITE at 1002")
	wait(t, b.acks, "ACK at 1002")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Bye(ctx); err != nil {
		t.Fatalf("1001: BYE: %v", err)
	}
	wait(t, b.byes, "BYE at 1002")
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

func TestCallOverTCP(t *testing.T) {
	f := newFixture(t, nil)
	if f.sip.TCPAddr() != f.sip.Addr() {
		t.Fatalf("TCP on %s, UDP on %s: want the same address", f.sip.TCPAddr(), f.sip.Addr())
	}
	streamCall(t, f, "TCP", f.sip.TCPAddr(), nil, "")
}

func TestCallOverTLS(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, withTLS(t, dir))
	streamCall(t, f, "TLS", f.sip.TLSAddr(), trusting(t, dir), "")
}

// TestCallOverWebSocket is a browser softphone's call (RFC 7118): SIP over
// a WebSocket upgraded on an HTTP server's /sip.
func TestCallOverWebSocket(t *testing.T) {
	f := newFixture(t, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /sip", f.sip.WebSocket())
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	streamCall(t, f, "WS", strings.TrimPrefix(hs.URL, "http://"), nil, "/sip")

	// Not an upgrade, or not the sip subprotocol: 400.
	res, err := http.Get(hs.URL + "/sip")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Errorf("GET /sip without upgrade: %d, want 400", res.StatusCode)
	}
}

// streamAt is where a phone over network (TCP, TLS, WS) reaches s: its
// TCP address, its TLS address (conf trusting dir's cert.pem), or an HTTP
// server mounting its WebSocket at wsPath.
func streamAt(t testing.TB, s *Server, network, dir string) (addr string, conf *tls.Config, wsPath string) {
	t.Helper()
	switch network {
	case "TLS":
		return s.TLSAddr(), trusting(t, dir), ""
	case "WS":
		mux := http.NewServeMux()
		mux.Handle("GET /sip", s.WebSocket())
		hs := httptest.NewServer(mux)
		t.Cleanup(hs.Close)
		return strings.TrimPrefix(hs.URL, "http://"), nil, "/sip"
	}
	return s.TCPAddr(), nil, ""
}

// trusting is a TLS client configuration trusting dir's cert.pem.
func trusting(t testing.TB, dir string) *tls.Config {
	pool := x509.NewCertPool()
	b, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("cert.pem: %v", err)
	}
	return &tls.Config{RootCAs: pool}
}

// TestReloadTLS: after the certificate files change, ReloadTLS serves new
// connections with the new certificate while a connection made before
// keeps working (it registers after the reload); unreadable files keep
// the certificate in use.
func TestReloadTLS(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, withTLS(t, dir))
	peer := func() *x509.Certificate {
		c, err := tls.Dial("tcp", f.sip.TLSAddr(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	if cn := peer().Subject.CommonName; cn != "first" {
		t.Fatalf("certificate %q, want first", cn)
	}
	old := newGoPhone(t, "TLS", f.sip.TLSAddr(), "1001", trusting(t, dir), "")
	old.register() // opens the connection with the first certificate

	second := writeCert(t, dir, "second")
	if cn := peer().Subject.CommonName; cn != "first" {
		t.Fatalf("before the reload: certificate %q, want first", cn)
	}
	if err := f.sip.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if got := peer(); got.Subject.CommonName != "second" || got.SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("after the reload: certificate %q, want second", got.Subject.CommonName)
	}
	old.register() // the connection of before the reload still serves

	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.sip.ReloadTLS(); err == nil {
		t.Fatal("ReloadTLS of a broken key: no error")
	}
	if cn := peer().Subject.CommonName; cn != "second" {
		t.Fatalf("after a failed reload: certificate %q, want second", cn)
	}
	f.events(1) // 1001 in service
}

// TestFlowFollowsReRegistration: 1002 registers over one TCP connection,
// then again over another (the phone reconnected, behind NAT a new
// port): a call to 1002 arrives over the second one. Each contact keeps
// one flow.
func TestFlowFollowsReRegistration(t *testing.T) {
	f := newFixture(t, nil)
	old := newGoPhone(t, "TCP", f.sip.TCPAddr(), "1002", nil, "")
	old.register()
	b := newGoPhone(t, "TCP", f.sip.TCPAddr(), "1002", nil, "")
	b.register()
	a := newGoPhone(t, "TCP", f.sip.TCPAddr(), "1001", nil, "")
	a.register()
	d := a.call("1002")
	wait(t, b.calls, "INVITE over the second connection")
	select {
	case <-old.calls:
		t.Fatal("the INVITE went over the first connection")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, b.byes, "BYE at 1002")
	n := 0
	f.sip.tr.flows.Range(func(any, any) bool { n++; return true })
	if n != 2 {
		t.Errorf("%d flows for 2 contacts", n)
	}
}

// TestCallOverUDPBehindNAT: phones over UDP whose Contacts cannot be
// reached (a NAT's inside): the INVITE to 1002 goes to the address its
// REGISTER came from, and the dialog's requests to where its messages
// came from (rport, RFC 3581).
func TestCallOverUDPBehindNAT(t *testing.T) {
	f := newFixture(t, nil)
	streamCall(t, f, "UDP", f.sip.Addr(), nil, "")
}

// TestNoResponseQuotaOverTCP: the quota of answers to unauthenticated
// requests per source address (against reflection, UDP's forged sources)
// does not hold back challenges over TCP: with room for one, three phones
// of one address register over TCP.
func TestNoResponseQuotaOverTCP(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.UnauthRate, c.UnauthBurst = 0.001, 1 })
	for _, dn := range []string{"1001", "1002", "1003"} {
		newGoPhone(t, "TCP", f.sip.TCPAddr(), dn, nil, "").register()
	}
	f.events(3)
}

// TestMaxConns: with room for two TCP/TLS connections, a third is closed
// as soon as accepted; once one of the two closes, a new one is served.
func TestMaxConns(t *testing.T) {
	dir := t.TempDir()
	tlsOn := withTLS(t, dir)
	f := newFixture(t, func(c *Config) { tlsOn(c); c.MaxConns = 2 })
	a := newGoPhone(t, "TCP", f.sip.TCPAddr(), "1001", nil, "")
	a.register()
	b := newGoPhone(t, "TLS", f.sip.TLSAddr(), "1002", trusting(t, dir), "")
	b.register()
	c, err := net.Dial("tcp", f.sip.TCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("third connection: read %d, %v; want it closed (EOF)", n, err)
	}
	a.ua.Close() // closes 1001's connection
	deadline := time.Now().Add(10 * time.Second)
	for f.sip.tr.open.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections counted open, want 1", f.sip.tr.open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	newGoPhone(t, "TCP", f.sip.TCPAddr(), "1003", nil, "").register()
	f.events(3)
}
