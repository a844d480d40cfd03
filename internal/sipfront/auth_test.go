package sipfront

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/switchboard-cc/switchboard/internal/config"
)

// newUDPPhoneAt is newUDPPhone bound to ip:port (port 0: any).
func newUDPPhoneAt(t *testing.T, server, hostport string) *udpPhone {
	return newUDPPhoneTB(t, server, hostport)
}

func newUDPPhoneTB(t testing.TB, server, hostport string) *udpPhone {
	to, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	local, err := net.ResolveUDPAddr("udp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", local)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPhone{t: t, conn: c, to: to}
}

// send writes a request like request does and returns its Call-ID,
// without waiting.
func (p *udpPhone) send(method, ruri, from, fromHost, to string, extra ...string) string {
	p.t.Helper()
	p.n++
	msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-auth-%d\r\nFrom: <sip:%s@%s>;tag=f%d\r\nTo: <sip:%s@%s>\r\nCall-ID: auth-%d-%s@test\r\nCSeq: %d %s\r\nContact: <sip:%s@%s>\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n",
		method, ruri, p.addr(), p.n, from, fromHost, p.n, to, fromHost, p.n, p.addr(), p.n, method, from, p.addr(), strings.Join(extra, ""))
	if _, err := p.conn.WriteToUDP([]byte(msg), p.to); err != nil {
		p.t.Fatal(err)
	}
	return fmt.Sprintf("auth-%d-%s@test", p.n, p.addr())
}

// finals reads the final responses for callID during d.
func (p *udpPhone) finals(callID string, d time.Duration) []*sip.Response {
	var out []*sip.Response
	buf := make([]byte, 65535)
	end := time.Now().Add(d)
	for {
		p.conn.SetReadDeadline(end)
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return out
		}
		m, err := sip.ParseMessage(buf[:n])
		if err != nil {
			continue
		}
		if res, ok := m.(*sip.Response); ok && !res.IsProvisional() && res.CallID() != nil && res.CallID().Value() == callID {
			out = append(out, res)
		}
	}
}

// first is the first final response to callID within 5 s, or nil.
func (p *udpPhone) first(callID string) *sip.Response {
	buf := make([]byte, 65535)
	end := time.Now().Add(5 * time.Second)
	for {
		p.conn.SetReadDeadline(end)
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		m, err := sip.ParseMessage(buf[:n])
		if err != nil {
			continue
		}
		if res, ok := m.(*sip.Response); ok && !res.IsProvisional() && res.CallID() != nil && res.CallID().Value() == callID {
			return res
		}
	}
}

// challengeShape is a challenge's headers with the nonce taken out.
func challengeShape(t *testing.T, res *sip.Response) string {
	t.Helper()
	var parts []string
	for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
		for _, h := range res.GetHeaders(name) {
			c, err := digest.ParseChallenge(h.Value())
			if err != nil {
				t.Fatal(err)
			}
			c.Nonce = ""
			parts = append(parts, name+": "+c.String())
		}
	}
	return fmt.Sprintf("%d %s", res.StatusCode, strings.Join(parts, " | "))
}

// TestUniformChallenge: REGISTER and INVITE get the same challenge for a
// phone, an unknown DN, a queue and an unknown tenant, and wrong
// credentials the same 403: an enumerator learns nothing.
func TestUniformChallenge(t *testing.T) {
	f := newFixture(t, nil)
	uniformChallenge(t, newUDPPhone(t, f.sip.Addr()))
}

// requester is a test phone over one transport (udpPhone, streamPhone).
type requester interface {
	send(method, ruri, from, fromHost, to string, extra ...string) string
	first(callID string) *sip.Response
}

// uniformChallenge is TestUniformChallenge's check over p.
func uniformChallenge(t *testing.T, p requester) {
	t.Helper()
	for _, method := range []string{"REGISTER", "INVITE"} {
		var shapes, wrong []string
		for _, u := range []struct{ user, host string }{{"1003", "demo"}, {"9999", "demo"}, {"7000", "demo"}, {"1003", "nosuchtenant"}} {
			ruri := "sip:" + u.host
			if method == "INVITE" {
				ruri = "sip:1002@" + u.host
			}
			id := p.send(method, ruri, u.user, u.host, u.user)
			res := p.first(id)
			if res == nil {
				t.Fatalf("%s %s@%s: no answer", method, u.user, u.host)
			}
			shapes = append(shapes, challengeShape(t, res))
			id = p.send(method, ruri, u.user, u.host, u.user, answer(t, method, ruri, res, u.user, "wrong", 1))
			if res := p.first(id); res == nil {
				t.Fatalf("%s %s@%s with a wrong password: no answer", method, u.user, u.host)
			} else {
				wrong = append(wrong, fmt.Sprint(res.StatusCode, " ", res.Reason))
			}
		}
		for i := range shapes {
			if shapes[i] != shapes[0] {
				t.Errorf("%s challenges differ:\n%s", method, strings.Join(shapes, "\n"))
				break
			}
		}
		if strings.Join(wrong, ",") != strings.Repeat("403 Forbidden,", 3)+"403 Forbidden" {
			t.Errorf("%s wrong-password answers differ: %v", method, wrong)
		}
	}
}

// TestDigestReplay: a REGISTER's credentials work once; the same (nonce,
// nc) again, from the same socket with a new Call-ID or from another
// socket, gets a new challenge (stale) and no binding; the same nonce
// with the next nc works.
func TestDigestReplay(t *testing.T) {
	f := newFixture(t, nil)
	p := newUDPPhone(t, f.sip.Addr())
	id := p.send("REGISTER", "sip:demo", "1003", "demo", "1003", "Expires: 60\r\n")
	chal := p.first(id)
	cred := answer(t, "REGISTER", "sip:demo", chal, "1003", testPassword, 1)
	if res := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003", "Expires: 60\r\n", cred)); res == nil || res.StatusCode != 200 {
		t.Fatalf("first use: %v, want 200", res)
	}
	if res := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003", "Expires: 60\r\n", cred)); res == nil || res.StatusCode != 401 ||
		!strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("replay from the same socket: %v, want 401 stale", res)
	}
	other := newUDPPhone(t, f.sip.Addr())
	if res := other.first(other.send("REGISTER", "sip:demo", "1003", "demo", "1003", "Expires: 60\r\n", cred)); res == nil || res.StatusCode != 401 {
		t.Fatalf("replay from another socket: %v, want 401", res)
	}
	next := answer(t, "REGISTER", "sip:demo", chal, "1003", testPassword, 2)
	if res := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003", "Expires: 60\r\n", next)); res == nil || res.StatusCode != 200 {
		t.Fatalf("next nonce count: %v, want 200", res)
	}
	f.sip.Unbind("1003")
}

// TestGuessingBlocked: after AuthBlockAfter wrong passwords an address
// gets no answers at all, even with the right password; another address
// still gets its challenge.
func TestGuessingBlocked(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AuthBlockAfter = 5; c.AuthSlowAfter = 100 })
	p := newUDPPhone(t, f.sip.Addr())
	guessWrong(t, p, 5)
	if res := p.finals(p.send("REGISTER", "sip:demo", "1003", "demo", "1003"), time.Second); len(res) != 0 {
		t.Fatalf("a blocked address got %d answers", len(res))
	}
	q := newUDPPhoneAt(t, f.sip.Addr(), "127.0.0.2:0")
	if res := q.first(q.send("REGISTER", "sip:demo", "1004", "demo", "1004")); res == nil || res.StatusCode != 401 {
		t.Fatalf("another address: %v, want 401", res)
	}
}

// guessWrong makes n REGISTERs of 1003 through p with wrong passwords,
// each challenged (401) and refused (403).
func guessWrong(t *testing.T, p requester, n int) {
	t.Helper()
	for i := range n {
		chal := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003"))
		if chal == nil || chal.StatusCode != 401 {
			t.Fatalf("guess %d: challenge %v", i, chal)
		}
		res := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003", answer(t, "REGISTER", "sip:demo", chal, "1003", fmt.Sprint("guess", i), 1)))
		if res == nil || res.StatusCode != 403 {
			t.Fatalf("guess %d: %v, want 403", i, res)
		}
	}
}

// TestChallengeSentOnce: the challenge of an unauthenticated INVITE is
// sent once, not retransmitted (no transaction keeps it), and answers to
// one address stop at its quota.
func TestChallengeSentOnce(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.UnauthRate = 0.001; c.UnauthBurst = 3 })
	p := newUDPPhone(t, f.sip.Addr())
	// Timer G would retransmit a 407 after 0.5 s and 1.5 s.
	if res := p.finals(p.send("INVITE", "sip:1002@demo", "1003", "demo", "1002"), 2*time.Second); len(res) != 1 || res[0].StatusCode != 407 {
		t.Fatalf("%d answers to one INVITE, want one 407", len(res))
	}
	for i := range 2 {
		if res := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003")); res == nil {
			t.Fatalf("request %d within the quota: no answer", i+2)
		}
	}
	if res := p.finals(p.send("REGISTER", "sip:demo", "1003", "demo", "1003"), 500*time.Millisecond); len(res) != 0 {
		t.Fatalf("over the quota: %d answers, want none", len(res))
	}
}

// TestSIPVersion: a request of another SIP version gets 505 in SIP/2.0,
// also of a method without a handler (MESSAGE); such a method in SIP/2.0
// gets 405 with Allow.
func TestSIPVersion(t *testing.T) {
	f := newFixture(t, nil)
	p := newUDPPhone(t, f.sip.Addr())
	for i, method := range []string{"OPTIONS", "MESSAGE"} {
		id := fmt.Sprintf("version-%d@test", i)
		msg := fmt.Sprintf("%s sip:%s SIP/7.3\r\nVia: SIP/7.3/UDP %s;branch=z9hG4bK-v%d\r\nFrom: <sip:1003@demo>;tag=v\r\nTo: <sip:1003@demo>\r\nCall-ID: %s\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			method, f.sip.Addr(), p.addr(), i, id, method)
		p.conn.WriteToUDP([]byte(msg), p.to)
		res := p.first(id)
		if res == nil || res.StatusCode != 505 || res.SipVersion != "SIP/2.0" {
			t.Fatalf("SIP/7.3 %s: %v, want SIP/2.0 505", method, res)
		}
	}
	res := p.first(p.send("MESSAGE", "sip:1002@demo", "1003", "demo", "1002"))
	if res == nil || res.StatusCode != 405 || res.GetHeader("Allow") == nil {
		t.Fatalf("MESSAGE: %v, want 405 with Allow", res)
	}
}

// TestSpoofedTrunkInvite: an INVITE from a trunk's address to a number
// that is not one of the tenant's DNs (an external number: toll fraud
// through the switch) is refused and makes no call.
func TestSpoofedTrunkInvite(t *testing.T) {
	f := newFixture(t, nil)
	tr := newUDPPhoneAt(t, f.sip.Addr(), f.trunk)
	res := tr.first(tr.send("INVITE", "sip:0044207946000@demo", "1003", "demo", "0044207946000"))
	if res == nil || res.StatusCode < 400 {
		t.Fatalf("trunk INVITE to an external number: %v, want refused", res)
	}
	f.noLeftovers()
}

// TestGensForget: an entry lives at least one window after it was last
// touched and is gone two windows after.
func TestGensForget(t *testing.T) {
	var g gens[string, int]
	t0 := time.Unix(1000, 0)
	w := time.Minute
	g.set("a", 1, t0, w)
	if v, ok := g.get("a", t0.Add(w+time.Second), w); !ok || v != 1 {
		t.Fatalf("after one window: %v %v", v, ok)
	}
	// Touched at t0+w+1s: still there a window later.
	if _, ok := g.get("a", t0.Add(2*w+2*time.Second), w); !ok {
		t.Fatal("forgotten one window after its last touch")
	}
	if _, ok := g.get("a", t0.Add(5*w), w); ok {
		t.Fatal("still there long after")
	}
}

// TestTrunkCredentials: a trunk with a password is matched by its address
// and must authenticate too: without credentials its INVITE is challenged
// (407), with them it reaches the call handling (404 for a number that is
// no DN).
func TestTrunkCredentials(t *testing.T) {
	f := newFixtureTenant(t, nil, func(ct *config.Tenant) {
		for i := range ct.DNs {
			if ct.DNs[i].Trunk != nil {
				ct.DNs[i].Trunk.SIPUser, ct.DNs[i].Trunk.SIPPassword = "carrier", "trunk-secret"
			}
		}
	})
	tr := newUDPPhoneAt(t, f.sip.Addr(), f.trunk)
	chal := tr.first(tr.send("INVITE", "sip:8888@demo", "+33140000000", "demo", "8888"))
	if chal == nil || chal.StatusCode != 407 {
		t.Fatalf("trunk INVITE without credentials: %v, want 407", chal)
	}
	wrong := tr.first(tr.send("INVITE", "sip:8888@demo", "+33140000000", "demo", "8888", answer(t, "INVITE", "sip:8888@demo", chal, "carrier", "nope", 1)))
	if wrong == nil || wrong.StatusCode != 403 {
		t.Fatalf("wrong trunk credentials: %v, want 403", wrong)
	}
	res := tr.first(tr.send("INVITE", "sip:8888@demo", "+33140000000", "demo", "8888", answer(t, "INVITE", "sip:8888@demo", chal, "carrier", "trunk-secret", 2)))
	if res == nil || res.StatusCode != 404 {
		t.Fatalf("trunk INVITE with credentials: %v, want 404 (past authentication)", res)
	}
	f.noLeftovers()
}
