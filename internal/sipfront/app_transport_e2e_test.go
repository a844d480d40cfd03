package sipfront_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
)

// TestServeSIPTransports runs the whole server with UDP, TCP (on --sip's
// address) and TLS (--sip-tls, a self-signed certificate made here), and
// makes the basic call with sipp over each: both phones over UDP, both
// over TCP (sipp -t t1), then the caller over TLS (this sipp has no TLS:
// its TCP goes through a TLS tunnel made here) to the callee over TCP.
// Every event read back from Kafka goes through check-events and is
// compared with the engine's golden flows. Then the certificate files
// change and a SIGHUP makes serve read them again.
func TestServeSIPTransports(t *testing.T) {
	dir := t.TempDir()
	first := sipfront.WriteCert(t, dir, "first")
	cfg := e2eConfig(t, 3)
	cfg.SIPTLS = app.SIPTLS{Listen: "127.0.0.1:" + strconv.Itoa(freeTCPPort(t)),
		Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	addrs, stop := serveData(t, cfg)
	defer stop()

	tunnel := sipfront.TLSTunnel(t, cfg.SIPTLS.Listen, first)
	for _, c := range []struct {
		name            string
		caller, callee  string // where the phones send
		tcaller, tcalle string // sipp -t
	}{
		{"UDP", cfg.SIP, cfg.SIP, "u1", "u1"},
		{"TCP", cfg.SIP, cfg.SIP, "t1", "t1"},
		{"TLS caller", tunnel, cfg.SIP, "t1", "t1"},
	} {
		pa, pb := sipfront.FreeUDPPort(t), sipfront.FreeUDPPort(t)
		reg := func(server, dn string, port int, tr string) {
			sipfront.StartSippAt(t, server, "register_transport.xml", port, "-t", tr,
				"-au", dn, "-ap", sipfront.TestPassword, "-key", "user", dn, "-key", "expires", "3600")()
		}
		reg(c.callee, "1002", pb, c.tcalle)
		reg(c.caller, "1001", pa, c.tcaller)
		uas := sipfront.StartSippAt(t, c.callee, "uas.xml", pb, "-t", c.tcalle)
		sipfront.StartSippAt(t, c.caller, "uac.xml", pa, "-t", c.tcaller, "-key", "user", "1001", "-s", "1002")()
		uas()
		t.Logf("%s: call made", c.name)
	}

	tenant := &config.Demo("token", sipfront.TestPassword).Tenants[0]
	want := sipfront.Expected(t, tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$2", DN: "1002"},
		engine.Release{ConnID: "$2", DN: "1001"},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$3", DN: "1002"},
		engine.Release{ConnID: "$3", DN: "1001"},
	)
	sameKafkaFlow(t, addrs.Kafka, want)

	// SIP over WebSocket on the CTI API's listener: a REGISTER gets its
	// challenge back over the socket.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, "ws://"+addrs.HTTP+"/sip", &websocket.DialOptions{Subprotocols: []string{"sip"}})
	if err != nil {
		t.Fatalf("WebSocket /sip: %v", err)
	}
	defer ws.CloseNow()
	if p := res.Header.Get("Sec-WebSocket-Protocol"); p != "sip" {
		t.Errorf("WebSocket subprotocol %q, want sip", p)
	}
	reg := "REGISTER sip:demo SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws1\r\n" +
		"From: <sip:1003@demo>;tag=ws1\r\nTo: <sip:1003@demo>\r\nCall-ID: ws-1\r\nCSeq: 1 REGISTER\r\n" +
		"Contact: <sip:x@df7jal23ls0d.invalid;transport=ws>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if err := ws.Write(ctx, websocket.MessageText, []byte(reg)); err != nil {
		t.Fatal(err)
	}
	_, got, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("WebSocket /sip: no answer to REGISTER: %v", err)
	}
	if !bytes.HasPrefix(got, []byte("SIP/2.0 401 ")) || !bytes.Contains(got, []byte("WWW-Authenticate: Digest")) {
		t.Fatalf("WebSocket /sip: answer to REGISTER:\n%s", got)
	}

	// SIGHUP: new TLS connections get the new certificate.
	sipfront.WriteCert(t, dir, "second")
	if cn := peerCN(t, cfg.SIPTLS.Listen); cn != "first" {
		t.Fatalf("before SIGHUP: certificate %q, want first", cn)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for peerCN(t, cfg.SIPTLS.Listen) != "second" {
		if time.Now().After(deadline) {
			t.Fatal("after SIGHUP: still the first certificate")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// peerCN is the common name of the certificate server's TLS presents.
func peerCN(t testing.TB, server string) string {
	t.Helper()
	c, err := tls.Dial("tcp", server, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}
