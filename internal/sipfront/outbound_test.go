package sipfront

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// streamPhone writes SIP by hand on one TCP, TLS or WebSocket connection
// (a WebSocket message per Write).
type streamPhone struct {
	t       *testing.T
	network string // TCP, TLS or WS
	conn    net.Conn
	r       *bufio.Reader
	n       int
}

func dialStream(t *testing.T, network, addr string, conf *tls.Config) *streamPhone {
	t.Helper()
	var c net.Conn
	var err error
	switch network {
	case "TLS":
		c, err = tls.Dial("tcp", addr, conf)
	case "WS":
		var ws *websocket.Conn
		ws, _, err = websocket.Dial(context.Background(), "ws://"+addr+"/sip", &websocket.DialOptions{Subprotocols: []string{"sip"}})
		if err == nil {
			c = websocket.NetConn(context.Background(), ws, websocket.MessageText)
		}
	default:
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &streamPhone{t: t, network: network, conn: c, r: bufio.NewReader(c)}
}

// register sends a REGISTER for dn with contact (a Contact header's
// value) and answers the challenge: the final response.
func (p *streamPhone) register(network, dn, contact string, viaParams ...string) *sip.Response {
	p.t.Helper()
	const ruri = "sip:demo"
	send := func(extra string) *sip.Response {
		p.n++
		msg := fmt.Sprintf("REGISTER %s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-ob-%d;rport"+strings.Join(viaParams, "")+"\r\nFrom: <sip:%s@demo>;tag=ob%d\r\nTo: <sip:%s@demo>\r\nCall-ID: ob-%s@test\r\nCSeq: %d REGISTER\r\nContact: %s\r\nExpires: 3600\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n",
			ruri, network, p.conn.LocalAddr(), p.n, dn, p.n, dn, p.conn.LocalAddr(), p.n, contact, extra)
		if _, err := io.WriteString(p.conn, msg); err != nil {
			p.t.Fatal(err)
		}
		return p.response()
	}
	res := send("")
	if res.StatusCode != 401 {
		p.t.Fatalf("REGISTER: %d, want 401", res.StatusCode)
	}
	return send(answer(p.t, "REGISTER", ruri, res, dn, testPassword, 1))
}

// response reads the next response (headers only: ours have no body).
func (p *streamPhone) response() *sip.Response {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // CI at load 76 once waited over 10 s
	var b strings.Builder
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			p.t.Fatalf("reading a response: %v (so far %q)", err, b.String())
		}
		if b.Len() == 0 && strings.TrimSpace(line) == "" {
			continue // a keepalive's CRLF
		}
		b.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	m, err := sip.ParseMessage([]byte(b.String()))
	if err != nil {
		p.t.Fatalf("%v: %q", err, b.String())
	}
	res, ok := m.(*sip.Response)
	if !ok {
		p.t.Fatalf("not a response: %q", b.String())
	}
	return res
}

// TestOutboundFlows, over TCP, TLS and WebSocket: a double CRLF on the connection is
// answered with a single CRLF (RFC 5626 section 3.5.1), before and after a
// REGISTER. 1001 registers with a reg-id and a +sip.instance (outbound):
// its 200 says Require: outbound, and when its connection closes its
// binding ends (EventDNOutOfService). 1002 registers without, asking for
// the keepalive interval (RFC 6223 keep in its Via): no Require, keep=
// KeepInterval in the 200's Via, and its binding outlives its connection.
func TestOutboundFlows(t *testing.T) {
	for _, network := range []string{"TCP", "TLS", "WS"} {
		t.Run(network, func(t *testing.T) {
			dir := t.TempDir()
			f := newFixture(t, withTLS(t, dir))
			addr, conf, _ := streamAt(t, f.sip, network, dir)
			tr := strings.ToLower(network)
			a, b := dialStream(t, network, addr, conf), dialStream(t, network, addr, conf)
			a.ping()
			res := a.register(network, "1001", `<sip:1001@127.0.0.1:5999;transport=`+tr+`>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000000000001>";reg-id=1`)
			if res.StatusCode != 200 || res.GetHeader("Require") == nil || res.GetHeader("Require").Value() != "outbound" {
				t.Fatalf("outbound REGISTER: %d, Require %v; want 200 with Require: outbound", res.StatusCode, res.GetHeader("Require"))
			}
			a.ping()
			res = b.register(network, "1002", `<sip:1002@127.0.0.1:5998;transport=`+tr+`>`, ";keep")
			if res.StatusCode != 200 || res.GetHeader("Require") != nil {
				t.Fatalf("REGISTER: %d, Require %v; want 200 without Require", res.StatusCode, res.GetHeader("Require"))
			}
			if keep, _ := res.Via().Params.Get("keep"); keep != strconv.Itoa(KeepInterval) {
				t.Fatalf("REGISTER asking keep: the 200's Via has keep=%q, want %d (RFC 6223)", keep, KeepInterval)
			}
			b.ping()
			a.conn.Close()
			b.conn.Close()
			want := expected(t, f.tenant,
				engine.SetService{DN: "1001", InService: true},
				engine.SetService{DN: "1002", InService: true},
				engine.SetService{DN: "1001", InService: false},
			)
			sameFlow(t, f.events(len(want)), want)
			time.Sleep(200 * time.Millisecond) // 1002's binding would end by now
			if got := f.sink.take(); len(got) != 0 {
				t.Fatalf("after the connections closed, more events:\n%s", format(got))
			}
			if n := len(f.sip.single.contactsOf("1002")); n != 1 {
				t.Fatalf("1002 has %d bindings after its connection closed, want 1", n)
			}
		})
	}
}

// ping sends a double CRLF and wants a single CRLF back.
func (p *streamPhone) ping() {
	p.t.Helper()
	if _, err := io.WriteString(p.conn, "\r\n\r\n"); err != nil {
		p.t.Fatal(err)
	}
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	pong := make([]byte, 2)
	if _, err := io.ReadFull(p.r, pong); err != nil || string(pong) != "\r\n" {
		p.t.Fatalf("pong %s, %v; want a CRLF", strconv.Quote(string(pong)), err)
	}
	if n := p.r.Buffered(); n != 0 {
		p.t.Fatalf("%d more bytes after the pong", n)
	}
}
