package sipfront

import (
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The hardening of issue 16 (auth_test.go, over UDP) kept over the stream
// transports added later: TCP, TLS and WebSocket.

// dialStreamAt dials a streamPhone over transport to f: TCP, TLS (f served
// with TLS, trusting dir's certificate) or WS (f's WebSocket handler on a
// test HTTP server), at the address streamAt gives.
func dialStreamAt(t *testing.T, f *fixture, transport, dir string) *streamPhone {
	t.Helper()
	addr, conf, _ := streamAt(t, f.sip, transport, dir)
	return dialStream(t, transport, addr, conf)
}

// message reads the next message whole (framed by its Content-Length,
// RFC 3261 18.3), CRLF keepalives skipped.
func (p *streamPhone) message(deadline time.Time) ([]byte, error) {
	p.conn.SetReadDeadline(deadline)
	tp := textproto.NewReader(p.r)
	var head strings.Builder
	length := 0
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return nil, err
		}
		if line == "" {
			if head.Len() == 0 {
				continue
			}
			break
		}
		head.WriteString(line + "\r\n")
		if name, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(strings.TrimSpace(name), "Content-Length") || strings.TrimSpace(name) == "l") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(p.r, body); err != nil {
		return nil, err
	}
	return append([]byte(head.String()+"\r\n"), body...), nil
}

// send writes a request like udpPhone.send does and returns its Call-ID.
func (p *streamPhone) send(method, ruri, from, fromHost, to string, extra ...string) string {
	p.t.Helper()
	p.n++
	return p.sendBranch(fmt.Sprintf("z9hG4bK-stream-%d", p.n), method, ruri, from, fromHost, to, extra...)
}

// sendBranch is send with the given Via branch and the current Call-ID
// and CSeq (p.n): sent twice, the same request again.
func (p *streamPhone) sendBranch(branch, method, ruri, from, fromHost, to string, extra ...string) string {
	p.t.Helper()
	transport, local := strings.ToLower(p.network), p.conn.LocalAddr().String()
	msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=%s;rport\r\nFrom: <sip:%s@%s>;tag=f%d\r\nTo: <sip:%s@%s>\r\nCall-ID: stream-%d-%s@test\r\nCSeq: %d %s\r\nContact: <sip:%s@%s;transport=%s>\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n",
		method, ruri, p.network, local, branch, from, fromHost, p.n, to, fromHost, p.n, local, p.n, method, from, local, transport, strings.Join(extra, ""))
	p.raw(msg)
	return fmt.Sprintf("stream-%d-%s@test", p.n, local)
}

func (p *streamPhone) raw(msg string) {
	p.t.Helper()
	if _, err := io.WriteString(p.conn, msg); err != nil {
		p.t.Fatal(err)
	}
}

// finals reads the final responses for callID during d.
func (p *streamPhone) finals(callID string, d time.Duration) []*sip.Response {
	return p.collect(callID, time.Now().Add(d), false)
}

// first is the first final response to callID within 5 s, or nil.
func (p *streamPhone) first(callID string) *sip.Response {
	if res := p.collect(callID, time.Now().Add(5*time.Second), true); len(res) > 0 {
		return res[0]
	}
	return nil
}

func (p *streamPhone) collect(callID string, deadline time.Time, one bool) []*sip.Response {
	var out []*sip.Response
	for {
		b, err := p.message(deadline)
		if err != nil {
			return out
		}
		m, err := sip.ParseMessage(b)
		if err != nil {
			p.t.Errorf("unparsable message over %s: %v\n%s", p.network, err, b)
			continue
		}
		if res, ok := m.(*sip.Response); ok && !res.IsProvisional() && res.CallID() != nil && res.CallID().Value() == callID {
			out = append(out, res)
			if one {
				return out
			}
		}
	}
}

// overStreams runs test for TCP, TLS and WS, each on a new fixture
// serving TLS too.
func overStreams(t *testing.T, mod func(*Config), test func(t *testing.T, f *fixture, dial func() *streamPhone)) {
	for _, tr := range []string{"TCP", "TLS", "WS"} {
		t.Run(tr, func(t *testing.T) {
			dir := t.TempDir()
			tlsOn := withTLS(t, dir)
			f := newFixture(t, func(c *Config) {
				tlsOn(c)
				if mod != nil {
					mod(c)
				}
			})
			test(t, f, func() *streamPhone { return dialStreamAt(t, f, tr, dir) })
		})
	}
}

// TestStreamSpoofedInvite: 1001 registers over a connection; an INVITE
// from 1001 without credentials, on that very connection (the phone's
// flow) or on another from the same address, is challenged with one 407
// and makes no call. The INVITE sent again with the same branch gets a
// fresh challenge (another nonce), not the first one again: no
// transaction kept it (the challenge is stateless).
func TestStreamSpoofedInvite(t *testing.T) {
	overStreams(t, nil, func(t *testing.T, f *fixture, dial func() *streamPhone) {
		p := dial()
		chal := p.first(p.send("REGISTER", "sip:demo", "1001", "demo", "1001", "Expires: 300\r\n"))
		if chal == nil || chal.StatusCode != 401 {
			t.Fatalf("REGISTER: %v, want 401", chal)
		}
		res := p.first(p.send("REGISTER", "sip:demo", "1001", "demo", "1001", "Expires: 300\r\n",
			answer(t, "REGISTER", "sip:demo", chal, "1001", testPassword, 1)))
		if res == nil || res.StatusCode != 200 {
			t.Fatalf("REGISTER with credentials: %v, want 200", res)
		}
		f.events(1) // 1001 in service
		for i, q := range []*streamPhone{p, dial()} {
			q.n++
			branch := fmt.Sprintf("z9hG4bK-spoof-%d", q.n)
			// The same INVITE again once its challenge came: its
			// transaction has ended, so it is answered anew. The read
			// deadline of the last step closes a WebSocket: it comes last.
			id := q.sendBranch(branch, "INVITE", "sip:1002@demo", "1001", "demo", "1002")
			first := q.first(id)
			if first == nil || first.StatusCode != 407 {
				t.Fatalf("phone %d: INVITE without credentials: %v, want 407", i, first)
			}
			q.sendBranch(branch, "INVITE", "sip:1002@demo", "1001", "demo", "1002")
			again := q.first(id)
			if again == nil || again.StatusCode != 407 {
				t.Fatalf("phone %d: the same INVITE again: %v, want 407", i, again)
			}
			if n1, n2 := first.GetHeader("Proxy-Authenticate").Value(), again.GetHeader("Proxy-Authenticate").Value(); n1 == n2 {
				t.Fatalf("phone %d: the same INVITE again got the same challenge (a kept transaction answered): %s", i, n1)
			}
			if more := q.finals(id, 1500*time.Millisecond); len(more) != 0 {
				t.Fatalf("phone %d: %d more answers to two INVITEs, want none: %v", i, len(more), more)
			}
		}
		time.Sleep(200 * time.Millisecond)
		if evs := f.sink.take(); len(evs) != 0 {
			t.Fatalf("INVITEs without credentials made events:\n%s", format(evs))
		}
		f.noLeftovers()
		f.sip.Unbind("1001")
	})
}

// TestStreamUniformChallenge: REGISTER and INVITE over TCP, TLS and WS
// get the same challenge for a phone, an unknown DN, a queue and an
// unknown tenant, and wrong credentials the same 403 (svwar over a
// stream learns nothing either).
func TestStreamUniformChallenge(t *testing.T) {
	overStreams(t, nil, func(t *testing.T, f *fixture, dial func() *streamPhone) {
		uniformChallenge(t, dial())
	})
}

// TestStreamSIPVersion: SIP/7.3 over a stream gets 505 in SIP/2.0 too,
// for a method with a handler (OPTIONS) and one without (MESSAGE).
func TestStreamSIPVersion(t *testing.T) {
	overStreams(t, nil, func(t *testing.T, f *fixture, dial func() *streamPhone) {
		p := dial()
		for i, method := range []string{"OPTIONS", "MESSAGE"} {
			id := fmt.Sprintf("version-%d@test", i)
			p.raw(fmt.Sprintf("%s sip:demo SIP/7.3\r\nVia: SIP/7.3/%s %s;branch=z9hG4bK-v%d\r\nFrom: <sip:1003@demo>;tag=v\r\nTo: <sip:1003@demo>\r\nCall-ID: %s\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
				method, p.network, p.conn.LocalAddr(), i, id, method))
			res := p.first(id)
			if res == nil || res.StatusCode != 505 || res.SipVersion != "SIP/2.0" {
				t.Fatalf("SIP/7.3 %s: %v, want SIP/2.0 505", method, res)
			}
		}
	})
}

// TestStreamGuessingBlocked: the guessing block holds over a stream: after
// AuthBlockAfter wrong passwords the address gets no answer at all, also
// on a new connection and with the right password.
func TestStreamGuessingBlocked(t *testing.T) {
	overStreams(t, func(c *Config) { c.AuthBlockAfter = 5; c.AuthSlowAfter = 100 }, func(t *testing.T, f *fixture, dial func() *streamPhone) {
		guessWrong(t, dial(), 5)
		q := dial()
		if res := q.finals(q.send("REGISTER", "sip:demo", "1003", "demo", "1003"), time.Second); len(res) != 0 {
			t.Fatalf("a blocked address got %d answers on a new connection", len(res))
		}
	})
}
