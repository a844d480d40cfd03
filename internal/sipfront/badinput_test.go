package sipfront

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// udpPhone is a raw SIP peer on a UDP socket.
type udpPhone struct {
	t    testing.TB
	conn *net.UDPConn
	to   *net.UDPAddr
	n    int
}

func newUDPPhone(t *testing.T, server string) *udpPhone {
	to, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPhone{t: t, conn: c, to: to}
}

func (p *udpPhone) addr() string { return p.conn.LocalAddr().String() }

// request sends a request built from method, request URI, from user, to
// user and extra header lines; it returns the first final response.
func (p *udpPhone) request(method, ruri, from, to string, extra ...string) *sip.Response {
	p.t.Helper()
	p.n++
	totag := ""
	if method == "BYE" || method == "REFER" {
		totag = ";tag=unknown"
	}
	msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-bad-%d\r\nFrom: <sip:%s@demo>;tag=f%d\r\nTo: <sip:%s@demo>%s\r\nCall-ID: bad-%d@test\r\nCSeq: %d %s\r\nContact: <sip:%s@%s>\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n",
		method, ruri, p.addr(), p.n, from, p.n, to, totag, p.n, p.n, method, from, p.addr(), strings.Join(extra, ""))
	if _, err := p.conn.WriteToUDP([]byte(msg), p.to); err != nil {
		p.t.Fatal(err)
	}
	buf := make([]byte, 65535)
	for {
		p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			p.t.Fatalf("%s: no response: %v", method, err)
		}
		m, err := sip.ParseMessage(buf[:n])
		if err != nil {
			p.t.Fatalf("unparsable response: %v", err)
		}
		res, ok := m.(*sip.Response)
		if !ok || res.IsProvisional() || res.CallID() == nil || res.CallID().Value() != fmt.Sprintf("bad-%d@test", p.n) {
			continue // provisional, or a retransmission for an earlier request
		}
		return res
	}
}

// answer is the credentials header answering res's SHA-256 challenge for
// user with pw, nonce count nc.
func answer(t testing.TB, method, uri string, res *sip.Response, user, pw string, nc int) string {
	t.Helper()
	name, cred := "Authorization", "WWW-Authenticate"
	if res.StatusCode == 407 {
		name, cred = "Proxy-Authorization", "Proxy-Authenticate"
	}
	var chal *digest.Challenge
	for _, h := range res.GetHeaders(cred) {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatal(err)
		}
		if c.Algorithm == "SHA-256" {
			chal = c
		}
	}
	if chal == nil {
		t.Fatalf("%d without a SHA-256 %s", res.StatusCode, cred)
	}
	c, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: user, Password: pw, Cnonce: "0a4f113b", Count: nc})
	if err != nil {
		t.Fatal(err)
	}
	return name + ": " + c.String() + "\r\n"
}

// TestBadInput: each bad request gets its SIP status and changes nothing
// (the only event afterwards is a sentinel command's).
func TestBadInput(t *testing.T) {
	f := newFixture(t, nil)
	p := newUDPPhone(t, f.sip.Addr())
	srv := "sip:" + f.sip.Addr()

	// The right credentials for 1003, to reach checks behind authentication.
	auth := func(method, uri string, res *sip.Response, user, pw string) string {
		return answer(t, method, uri, res, user, pw, 1)
	}

	cases := []struct {
		name string
		do   func() *sip.Response
		want int
	}{
		{"REGISTER unknown DN", func() *sip.Response { return p.request("REGISTER", "sip:demo", "9999", "9999", "Expires: 60\r\n") }, 401},
		{"REGISTER queue DN", func() *sip.Response { return p.request("REGISTER", "sip:demo", "7000", "7000", "Expires: 60\r\n") }, 401},
		{"REGISTER without credentials", func() *sip.Response { return p.request("REGISTER", "sip:demo", "1003", "1003", "Expires: 60\r\n") }, 401},
		{"REGISTER wrong password", func() *sip.Response {
			r := p.request("REGISTER", "sip:demo", "1003", "1003", "Expires: 60\r\n")
			return p.request("REGISTER", "sip:demo", "1003", "1003", "Expires: 60\r\n", auth("REGISTER", "sip:demo", r, "1003", "nope"))
		}, 403},
		{"REGISTER credentials of another DN", func() *sip.Response {
			r := p.request("REGISTER", "sip:demo", "1003", "1003", "Expires: 60\r\n")
			return p.request("REGISTER", "sip:demo", "1003", "1003", "Expires: 60\r\n", auth("REGISTER", "sip:demo", r, "1004", testPassword))
		}, 403},
		{"REGISTER stale nonce", func() *sip.Response {
			return p.request("REGISTER", "sip:demo", "1003", "1003", "Expires: 60\r\n",
				`Authorization: Digest username="1003", realm="switchboard", nonce="1.000000000000000000000000", uri="sip:demo", response="0123456789abcdef0123456789abcdef"`+"\r\n")
		}, 401},
		{"INVITE from unknown user", func() *sip.Response { return p.request("INVITE", "sip:1002@demo", "9999", "1002") }, 407},
		{"INVITE unauthenticated", func() *sip.Response { return p.request("INVITE", "sip:1002@demo", "1003", "1002") }, 407},
		{"INVITE to unknown DN", func() *sip.Response {
			r := p.request("INVITE", "sip:8888@demo", "1003", "8888")
			return p.request("INVITE", "sip:8888@demo", "1003", "8888", auth("INVITE", "sip:8888@demo", r, "1003", testPassword))
		}, 404},
		{"BYE outside a dialog", func() *sip.Response { return p.request("BYE", srv, "1003", "1002") }, 481},
		{"REFER outside a dialog", func() *sip.Response {
			return p.request("REFER", srv, "1003", "1002", "Refer-To: <sip:1004@demo>\r\n")
		}, 481},
		{"CANCEL of nothing", func() *sip.Response { return p.request("CANCEL", srv, "1003", "1002") }, 481},
		{"unsupported method", func() *sip.Response { return p.request("MESSAGE", srv, "1003", "1002") }, 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.do().StatusCode; got != c.want {
				t.Fatalf("status %d, want %d", got, c.want)
			}
		})
	}
	// Garbage gets no answer and breaks nothing.
	p.conn.WriteToUDP([]byte("\x00\xffINVITE garbage\r\n\r\n"), p.to)
	if got := p.request("OPTIONS", srv, "1003", "1003").StatusCode; got != 200 {
		t.Fatalf("OPTIONS after garbage: %d", got)
	}

	if _, err := f.rt.Do(t.Context(), engine.SetDND{DN: "1004", On: true}); err != nil {
		t.Fatal(err)
	}
	want := expected(t, f.tenant, engine.SetDND{DN: "1004", On: true})
	sameFlow(t, f.events(len(want)), want)
}
