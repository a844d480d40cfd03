package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/cluster"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

const clusterSIPPassword = "pw-sip"

// clusterSIPConfigFile is clusterConfigFile with SIP passwords on the
// extensions.
func clusterSIPConfigFile(t testing.TB, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("server: sb\ntenants:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - id: t%d\n    tokens: [tok-t%d]\n    dns:\n", i, i)
		for d := 1001; d <= 1004; d++ {
			fmt.Fprintf(&b, "      - number: \"%d\"\n        type: extension\n        sip-password: %s\n", d, clusterSIPPassword)
		}
		b.WriteString("      - number: \"5000\"\n        type: routing-point\n")
		b.WriteString("    agents:\n      - id: agent1\n")
	}
	p := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testPhone is a SIP phone on a UDP socket: just enough UAC and UAS to
// register, call and answer, with retransmissions (a request that meets a
// handover is dropped, as a stateless proxy does, and sent again).
type testPhone struct {
	t      testing.TB
	conn   net.PacketConn
	addr   string
	tenant string
	dn     string
	parser *sip.Parser
	cseq   int
}

func newTestPhone(t testing.TB, tenant, dn string) *testPhone {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &testPhone{t: t, conn: c, addr: c.LocalAddr().String(), tenant: tenant, dn: dn, parser: sip.NewParser()}
}

func randHex() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (p *testPhone) send(to, msg string) {
	p.t.Helper()
	ua, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteTo([]byte(msg), ua); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next SIP message, or nil after wait.
func (p *testPhone) read(wait time.Duration) (sip.Message, net.Addr) {
	p.t.Helper()
	buf := make([]byte, 65535)
	p.conn.SetReadDeadline(time.Now().Add(wait))
	n, from, err := p.conn.ReadFrom(buf)
	if err != nil {
		return nil, nil
	}
	m, err := p.parser.ParseSIP(buf[:n])
	if err != nil {
		p.t.Fatalf("phone %s: unparsable message: %v\n%s", p.dn, err, buf[:n])
	}
	return m, from
}

// request sends the request that build makes (given a fresh branch) to
// addr until a final response with its Call-ID and CSeq comes, and
// returns it.
func (p *testPhone) request(addr, callID string, cseq int, build func(branch string) string) *sip.Response {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	branch := "z9hG4bK" + randHex()
	msg := build(branch)
	for time.Now().Before(deadline) {
		p.send(addr, msg)
		until := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(until) {
			m, _ := p.read(time.Until(until))
			res, ok := m.(*sip.Response)
			if !ok || res.CallID().Value() != callID || int(res.CSeq().SeqNo) != cseq {
				continue
			}
			if res.StatusCode >= 200 {
				return res
			}
			until = time.Now().Add(5 * time.Second) // provisional: the request is in hand
		}
	}
	p.t.Fatalf("phone %s: no final response from %s", p.dn, addr)
	return nil
}

func (p *testPhone) headers(method, ruri, callID, fromTag, toTag string, cseq int, branch string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", p.addr, branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", p.dn, p.tenant, fromTag)
	to := strings.TrimPrefix(ruri, "sip:")
	if toTag != "" {
		fmt.Fprintf(&b, "To: <sip:%s>;tag=%s\r\n", to, toTag)
	} else {
		fmt.Fprintf(&b, "To: <sip:%s>\r\n", to)
	}
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\n", callID, cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", p.dn, p.addr)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	return b.String()
}

func withBody(h, ctype, body string) string {
	if body == "" {
		return h + "Content-Length: 0\r\n\r\n"
	}
	return h + fmt.Sprintf("Content-Type: %s\r\nContent-Length: %d\r\n\r\n%s", ctype, len(body), body)
}

// authorization answers res's challenge for method on uri.
func (p *testPhone) authorization(res *sip.Response, method, uri string) string {
	p.t.Helper()
	name := "WWW-Authenticate"
	out := "Authorization"
	if res.StatusCode == 407 {
		name, out = "Proxy-Authenticate", "Proxy-Authorization"
	}
	h := res.GetHeader(name)
	if h == nil {
		p.t.Fatalf("phone %s: %d without %s", p.dn, res.StatusCode, name)
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		p.t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: p.dn, Password: clusterSIPPassword, Count: 1, Cnonce: randHex()})
	if err != nil {
		p.t.Fatal(err)
	}
	return out + ": " + cred.String()
}

// register registers the phone at the node whose SIP address is addr.
func (p *testPhone) register(addr string) {
	p.t.Helper()
	callID, tag, ruri := "reg-"+randHex(), randHex(), "sip:"+p.tenant
	build := func(cseq int, extra ...string) func(string) string {
		return func(branch string) string {
			h := p.headers("REGISTER", ruri, callID, tag, "", cseq, branch, append([]string{"Expires: 300"}, extra...)...)
			return withBody(strings.Replace(h, "To: <sip:"+p.tenant+">", "To: <sip:"+p.dn+"@"+p.tenant+">", 1), "", "")
		}
	}
	p.cseq++
	res := p.request(addr, callID, p.cseq, build(p.cseq))
	if res.StatusCode == 401 {
		auth := p.authorization(res, "REGISTER", ruri)
		p.cseq++
		res = p.request(addr, callID, p.cseq, build(p.cseq, auth))
	}
	if res.StatusCode != 200 {
		p.t.Fatalf("phone %s: REGISTER through %s: %d %s", p.dn, addr, res.StatusCode, res.Reason)
	}
}

const testSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

// call is one call the phone made: its dialog.
type call struct {
	callID, fromTag, toTag, target string
	cseq                           int
}

// invite calls to at the node at addr (answering the challenge) and
// returns once the call is answered (the final response 200, ACKed at the
// remote target). answer runs once the call is under way (the 100 came),
// to answer it from elsewhere.
func (p *testPhone) invite(addr, to string, answer func()) call {
	p.t.Helper()
	c := call{callID: "inv-" + randHex(), fromTag: randHex()}
	ruri := "sip:" + to + "@" + p.tenant
	build := func(cseq int, extra ...string) func(string) string {
		return func(branch string) string {
			return withBody(p.headers("INVITE", ruri, c.callID, c.fromTag, "", cseq, branch, extra...), "application/sdp", testSDP)
		}
	}
	p.cseq++
	cseq := p.cseq
	var branch string
	res := p.request(addr, c.callID, cseq, func(b string) string { branch = b; return build(cseq)(b) })
	if res.StatusCode != 407 {
		p.t.Fatalf("phone %s: INVITE through %s: %d, want 407", p.dn, addr, res.StatusCode)
	}
	// ACK of the failure, hop by hop: to the node it was sent to, with
	// the INVITE's branch.
	tt := ""
	if tag, ok := res.To().Params.Get("tag"); ok {
		tt = tag
	}
	p.send(addr, withBody(p.headers("ACK", ruri, c.callID, c.fromTag, tt, cseq, branch), "", ""))
	auth := p.authorization(res, "INVITE", ruri)
	p.cseq++
	cseq = p.cseq
	answered := make(chan struct{})
	go func() { defer close(answered); time.Sleep(300 * time.Millisecond); answer() }()
	res = p.request(addr, c.callID, cseq, build(cseq, auth))
	<-answered
	if res.StatusCode != 200 {
		p.t.Fatalf("phone %s: INVITE through %s: %d %s, want 200", p.dn, addr, res.StatusCode, res.Reason)
	}
	c.toTag, _ = res.To().Params.Get("tag")
	ct := res.Contact()
	if ct == nil {
		p.t.Fatal("200 without Contact")
	}
	c.target = ct.Address.HostPort()
	c.cseq = cseq
	p.send(c.target, withBody(p.headers("ACK", ruri, c.callID, c.fromTag, c.toTag, cseq, "z9hG4bK"+randHex()), "", ""))
	return c
}

// bye hangs up call c (at its remote target: the dialog is the owner's).
func (p *testPhone) bye(c call, to string) {
	p.t.Helper()
	p.cseq++
	cseq := p.cseq
	ruri := "sip:" + to + "@" + p.tenant
	res := p.request(c.target, c.callID, cseq, func(b string) string {
		return withBody(p.headers("BYE", ruri, c.callID, c.fromTag, c.toTag, cseq, b), "", "")
	})
	if res.StatusCode != 200 {
		p.t.Fatalf("BYE: %d", res.StatusCode)
	}
}

// ring waits for an INVITE to the phone and answers it 200 (the ACK is
// read and dropped), returning the address it came from.
func (p *testPhone) ring(wait time.Duration) string {
	from, _ := p.ringCall(wait)
	return from
}

// ringCall is ring, also returning the INVITE's Call-ID.
func (p *testPhone) ringCall(wait time.Duration) (string, string) {
	p.t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		m, from := p.read(time.Until(deadline))
		req, ok := m.(*sip.Request)
		if !ok || req.Method != sip.INVITE {
			continue
		}
		res := sip.NewResponseFromRequest(req, 200, "OK", []byte(testSDP))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.dn, Host: "127.0.0.1", Port: p.conn.LocalAddr().(*net.UDPAddr).Port}})
		p.send(from.String(), res.String())
		return from.String(), req.CallID().Value()
	}
	p.t.Fatalf("phone %s: no INVITE within %s", p.dn, wait)
	return "", ""
}

// waitBye waits for a BYE of dialog callID, answers it 200 and returns
// where it came from.
func (p *testPhone) waitBye(callID string, wait time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		m, from := p.read(time.Until(deadline))
		req, ok := m.(*sip.Request)
		if !ok || req.Method != sip.BYE || req.CallID().Value() != callID {
			continue
		}
		p.send(from.String(), sip.NewResponseFromRequest(req, 200, "OK", nil).String())
		return from.String()
	}
	p.t.Fatalf("phone %s: no BYE of %s within %s", p.dn, callID, wait)
	return ""
}

// ownerOf is the node serving tenant (from n's GET /v1/cluster).
func ownerOf(t testing.TB, n *running, tenant string) string {
	t.Helper()
	for _, sh := range clusterStatusOf(t, n).Shards {
		if slices.Contains(sh.Tenants, tenant) {
			return sh.Owner
		}
	}
	t.Fatalf("tenant %s in no shard", tenant)
	return ""
}

var connIDRe = regexp.MustCompile(`"connId":"([^"]+)"`)

// TestClusterSIP: two nodes; a phone of a tenant node A serves registers
// through node B (forwarded to A, which keeps the binding in the cluster's
// bindings topic) and calls through B: the INVITE is forwarded to A
// statelessly, the responses come back through B, the dialog then goes on
// with A; the call's events are in the topics. A second such call released
// on A's side (through the API) gets A's BYE at the phone itself. A WebSocket on B (not the
// owner) carries the tenant's events from the output topics, and a route
// decision sent on it reaches A. After A stops, B serves the tenant
// and knows the binding from the topic: a call to the phone rings it
// from B; a call up on A when it stopped is released by B, which sends its
// phone a BYE for the dialog A left.
func TestClusterSIP(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) { clusterSIP(t, tg.Brokers) })
	}
}

func clusterSIP(t *testing.T, brokers []string) {
	prefix := kafkatest.UniqueTopicPrefix(t)
	file := clusterSIPConfigFile(t, 4)
	n1 := startClusterNode(t, brokers, prefix, file, "n1")
	n2 := startClusterNode(t, brokers, prefix, file, "n2")
	waitCluster(t, []*running{n1, n2}, "n1", "n2")
	byID := map[string]*running{"n1": n1, "n2": n2}
	// A tenant n1 serves, reached through n2.
	var tenant string
	for i := 0; i < 4; i++ {
		if ownerOf(t, n1, fmt.Sprint("t", i)) == "n1" {
			tenant = fmt.Sprint("t", i)
			break
		}
	}
	if tenant == "" {
		t.Fatal("n1 serves no tenant")
	}
	a, b := byID["n1"], byID["n2"]
	ws := dialTenantEvents(t, b.addrs.HTTP, tenant, "tok-"+tenant)

	p1 := newTestPhone(t, tenant, "1001")
	p1.register(b.addrs.SIP)
	p3 := newTestPhone(t, tenant, "1003")
	p3.register(a.addrs.SIP)

	// The call: 1001 calls 1002 (not registered: it rings virtually) through
	// B; 1002 answers through B's API; 1001 hangs up at the dialog's target.
	api := fmt.Sprintf("http://%s/v1/tenants/%s", b.addrs.HTTP, tenant)
	tok := "tok-" + tenant
	// answer answers the tenant's only call (its ConnID in *conn) for
	// 1002 through B's API.
	answer := func(conn *string) func() {
		return func() {
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				code, body := do(t, "GET", api+"/calls", tok, "")
				if m := connIDRe.FindStringSubmatch(body); code == 200 && m != nil {
					*conn = m[1]
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if code, body := do(t, "POST", api+"/calls/"+*conn+"/answer", tok, `{"dn":"1002"}`); code/100 != 2 {
				t.Errorf("answer through B: %d %s", code, body)
			}
		}
	}
	var conn string
	c := p1.invite(b.addrs.SIP, "1002", answer(&conn))
	if c.target != a.addrs.SIP {
		t.Fatalf("the dialog's target is %s, want the owner %s", c.target, a.addrs.SIP)
	}
	p1.bye(c, "1002")

	// Another call of 1001 through B, released on the owner's side (by
	// 1002 through B's API): A's BYE reaches the phone itself, not B,
	// which forwarded the INVITE without a Record-Route and has no route
	// for it (it would hand it back to A).
	var conn2 string
	c2 := p1.invite(b.addrs.SIP, "1002", answer(&conn2))
	if code, body := do(t, "POST", api+"/calls/"+conn2+"/release", tok, `{"dn":"1002"}`); code/100 != 2 {
		t.Fatalf("release of 1001's second call through B: %d %s", code, body)
	}
	if from := p1.waitBye(c2.callID, 10*time.Second); from != a.addrs.SIP {
		t.Fatalf("the BYE of 1001's call released by 1002 came from %s, want the owner %s", from, a.addrs.SIP)
	}

	// The WebSocket on B carried the call's events.
	seen := map[event.Name]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for !seen[event.EventReleased] && time.Now().Before(deadline) {
		e := readWSEvent(t, ws, time.Until(deadline))
		if e.ConnID == conn {
			seen[e.ID] = true
		}
	}
	for _, id := range []event.Name{event.EventDialing, event.EventRinging, event.EventEstablished, event.EventReleased} {
		if !seen[id] {
			t.Fatalf("the WebSocket on the node not serving %s did not carry %s of call %s", tenant, id, conn)
		}
	}

	// A router on B's stream: the call to routing point 5000 asks for a
	// route there, the decision sent on the socket reaches the owner.
	code, body := do(t, "POST", api+"/calls", tok, `{"from":"1002","to":"5000"}`)
	m := connIDRe.FindStringSubmatch(body)
	if code != 201 || m == nil {
		t.Fatalf("call to the routing point: %d %s", code, body)
	}
	routed := m[1]
	waitWSEvent(t, ws, func(e event.Event) bool { return e.ID == event.EventRouteRequest && e.ConnID == routed })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"route":{"connId":"`+routed+`","routingPoint":"5000","to":"1004"},"referenceId":7}`)); err != nil {
		t.Fatal(err)
	}
	result, used := false, false
	for !result || !used {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("route result on B's stream: %v", err)
		}
		switch {
		case strings.Contains(string(msg), `"routeResult"`):
			if !strings.Contains(string(msg), `"ok":true`) {
				t.Fatalf("route decision sent on B's stream: %s", msg)
			}
			result = true
		default:
			var e event.Event
			if event.Unmarshal(msg, &e) == nil && e.ID == event.EventRouteUsed && e.ConnID == routed && e.ReferenceID == 7 {
				used = true
			}
		}
	}
	if code, body := do(t, "POST", api+"/calls/"+routed+"/release", tok, `{"dn":"1002"}`); code/100 != 2 {
		t.Fatalf("release the routed call: %d %s", code, body)
	}

	// A call up on A when A stops: 1002 called the phone 1003, which
	// answered. B, taking the tenant over, releases it (with its events)
	// and sends the phone a BYE for the dialog A left.
	rang := make(chan [2]string, 1)
	go func() {
		from, callID := p3.ringCall(30 * time.Second)
		rang <- [2]string{from, callID}
	}()
	code, body = do(t, "POST", api+"/calls", tok, `{"from":"1002","to":"1003"}`)
	m = connIDRe.FindStringSubmatch(body)
	if code != 201 || m == nil {
		t.Fatalf("call 1002 -> 1003: %d %s", code, body)
	}
	live := m[1]
	lr := <-rang
	if lr[0] != a.addrs.SIP {
		t.Fatalf("phone 1003 rung from %s, want the owner %s", lr[0], a.addrs.SIP)
	}
	waitWSEvent(t, ws, func(e event.Event) bool { return e.ID == event.EventEstablished && e.ConnID == live })

	// The binding registered through B is in the cluster's topic; after A
	// stops, B serves the tenant and rings the phones registered through
	// either node. B's event stream outlives the handover (it never
	// depended on A).
	stopNode(t, a)
	if from := p3.waitBye(lr[1], 30*time.Second); from != b.addrs.SIP {
		t.Fatalf("the BYE of the dialog A left came from %s, want the new owner %s", from, b.addrs.SIP)
	}
	waitCluster(t, []*running{b}, "n2")
	if got := ownerOf(t, b, tenant); got != "n2" {
		t.Fatalf("%s's owner after n1 stopped: %s", tenant, got)
	}
	for from, p := range map[string]*testPhone{"1002": p1, "1004": p3} {
		done := make(chan string, 1)
		go func() { done <- p.ring(30 * time.Second) }()
		code, body := do(t, "POST", api+"/calls", tok, fmt.Sprintf(`{"from":"%s","to":"%s"}`, from, p.dn))
		m := connIDRe.FindStringSubmatch(body)
		if code != 201 || m == nil {
			t.Fatalf("call %s -> %s through B: %d %s", from, p.dn, code, body)
		}
		if got := <-done; got != b.addrs.SIP {
			t.Fatalf("phone %s rung from %s, want the new owner %s", p.dn, got, b.addrs.SIP)
		}
		waitWSEvent(t, ws, func(e event.Event) bool { return e.ID == event.EventRinging && e.ConnID == m[1] && e.ThisDN == p.dn })
	}

	tp := cluster.TopicsOf(&cluster.Config{Cluster: "cl", TopicPrefix: prefix})
	stopNode(t, b)
	recs := readCommitted(t, brokers, tp.CallThread, tp.AgentState)
	got := map[event.Name]int{}
	liveReleased := 0
	for _, r := range recs {
		var e event.Event
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatal(err)
		}
		if e.ConnID == conn {
			got[e.ID]++
		}
		if e.ConnID == live && e.ID == event.EventReleased {
			liveReleased++
		}
	}
	if liveReleased == 0 {
		t.Fatalf("the call up on n1 when it stopped (%s) was not released in the topics", live)
	}
	for _, id := range []event.Name{event.EventDialing, event.EventRinging, event.EventEstablished, event.EventReleased} {
		if got[id] == 0 {
			t.Fatalf("%s of call %s not in the topics (read_committed): %v", id, conn, got)
		}
	}
	kafkatest.CheckEvents(t, recs)
}

func dialTenantEvents(t testing.TB, addr, tenant, token string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/v1/tenants/"+tenant+"/events", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		t.Fatalf("event stream of %s at %s: %v", tenant, addr, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// waitWSEvent reads the stream until an event that ok accepts.
func waitWSEvent(t testing.TB, ws *websocket.Conn, ok func(event.Event) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if e := readWSEvent(t, ws, time.Until(deadline)); ok(e) {
			return
		}
	}
	t.Fatal("the event awaited did not come on the stream")
}

func readWSEvent(t testing.TB, ws *websocket.Conn, wait time.Duration) event.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, msg, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("event stream: %v", err)
	}
	var ev event.Event
	if err := event.Unmarshal(msg, &ev); err != nil {
		t.Fatalf("event stream: %v: %s", err, msg)
	}
	return ev
}
