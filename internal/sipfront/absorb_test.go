package sipfront

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// A request retransmitted to a finished non-INVITE transaction gets the
// recorded response again, byte for byte (the same To tag: the handler
// did not run again), from the absorber, not from a transaction of
// sipgo's; a new branch is a new request; records end after Timer J
// (absorbTime), and then the sweeper stops.
func TestAbsorbRetransmissions(t *testing.T) {
	// The server reads absorbTime when it starts; the cleanup restoring
	// it runs after the server's.
	t.Cleanup(func(d time.Duration) func() { return func() { absorbTime = d } }(absorbTime))
	absorbTime = 2 * time.Second
	f := newFixture(t, nil)
	to, _ := net.ResolveUDPAddr("udp", f.sip.Addr())
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	options := func(branch string) []byte {
		return []byte(fmt.Sprintf("OPTIONS sip:demo@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;rport;branch=%s\r\nFrom: <sip:1001@demo>;tag=f1\r\nTo: <sip:demo@demo>\r\nCall-ID: absorb-%s@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			f.sip.Addr(), c.LocalAddr(), branch, branch))
	}
	exchange := func(msg []byte) []byte {
		t.Helper()
		if _, err := c.WriteToUDP(msg, to); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatal("no response:", err)
		}
		return buf[:n]
	}
	first := exchange(options("z9hG4bK-a1"))
	if !bytes.HasPrefix(first, []byte("SIP/2.0 200 ")) {
		t.Fatalf("first answer %q", first)
	}
	// The record is made once the handler's Respond has returned, which
	// may be after the answer arrived here.
	for wait := time.Now().Add(5 * time.Second); f.sip.absorb.n.Load() != 1 && time.Now().Before(wait); {
		time.Sleep(time.Millisecond)
	}
	if n := f.sip.absorb.n.Load(); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
	if again := exchange(options("z9hG4bK-a1")); !bytes.Equal(again, first) {
		t.Fatalf("retransmission answered\n%s\nnot as at first\n%s", again, first)
	}
	if other := exchange(options("z9hG4bK-a2")); bytes.Equal(other, first) {
		t.Fatal("a new branch got the recorded answer")
	}
	deadline := time.Now().Add(15 * time.Second)
	for f.sip.absorb.n.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	f.sip.absorb.mu.Lock()
	n, timer := len(f.sip.absorb.recs), f.sip.absorb.timer
	f.sip.absorb.mu.Unlock()
	if n != 0 || timer != nil {
		t.Fatalf("after Timer J: %d records, timer %v", n, timer)
	}
	// After Timer J the request is a new one again.
	if late := exchange(options("z9hG4bK-a1")); bytes.Equal(late, first) {
		t.Fatal("the record outlived Timer J")
	}
}

func TestRequestKey(t *testing.T) {
	for _, tc := range []struct{ msg, method, branch string }{
		{"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:5;branch=z9hG4bK-x;rport\r\nCSeq: 2 BYE\r\n\r\n", "BYE", "z9hG4bK-x"},
		{"REGISTER sip:b SIP/2.0\r\nFrom: <sip:a@b>\r\nv: SIP/2.0/UDP h ; BRANCH = z9hG4bKy , SIP/2.0/UDP p;branch=z9hG4bK-2\r\n\r\n", "REGISTER", "z9hG4bKy"},
		{"BYE sip:a@b SIP/2.0\nvia:SIP/2.0/UDP h;received=1.1.1.1;branch=z9hG4bK3\n\n", "BYE", "z9hG4bK3"},
		{"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=old-style\r\n\r\n", "", ""},
		{"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", "", ""},
		{"BYE sip:a@b SIP/2.0\r\nCSeq: 1 BYE\r\n\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-body\r\n", "", ""},
		{"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-r\r\n\r\n", "", ""},
		{"", "", ""},
		{"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;rport;;branch=z9hG4bKlast\r\n\r\n", "BYE", "z9hG4bKlast"},
		{"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;\r\n\r\n", "", ""},
		{"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch\r\n\r\n", "", ""},
	} {
		m, b, ok := requestKey([]byte(tc.msg))
		if string(m) != tc.method || string(b) != tc.branch || ok != (tc.method != "") {
			t.Errorf("%q: %q %q %v, want %q %q", tc.msg, m, b, ok, tc.method, tc.branch)
		}
	}
	// It runs on every datagram while records are held: nothing allocated.
	msg := []byte("BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:5;rport;received=1.2.3.4;branch=z9hG4bK-x\r\nCSeq: 2 BYE\r\n\r\n")
	if n := testing.AllocsPerRun(100, func() { requestKey(msg) }); n != 0 {
		t.Errorf("requestKey: %v allocations, want 0", n)
	}
}

// A phone's INVITE we answered 2xx, retransmitted from its address, gets
// the 2xx again until its ACK, and is dropped unanswered after; from
// another address, or another branch, it passes, and so does a request of
// another method with its branch (a CANCEL: handleCancel answers it).
func TestAbsorbAcceptedInvite(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	a := newAbsorber(pc)
	defer a.stop()
	phoneConn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer phoneConn.Close()
	phone := netip.MustParseAddrPort(phoneConn.LocalAddr().String())
	invite := "INVITE sip:2001@demo SIP/2.0\r\nVia: SIP/2.0/UDP " + phone.String() + ";branch=z9hG4bK-inv\r\nFrom: <sip:1001@demo>;tag=a\r\nTo: <sip:2001@demo>\r\nCall-ID: c1@test\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:5071>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	ok := []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP " + phone.String() + ";branch=z9hG4bK-inv\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
	if !a.accepted("z9hG4bK-inv", phone, ok) {
		t.Fatal("record not made")
	}
	props := func(from netip.AddrPort) sip.TransportReadProps {
		return sip.TransportReadProps{Transport: "UDP", RemoteAddr: net.UDPAddrFromAddrPort(from)}
	}
	if out, _ := a.filter(props(phone), []byte(invite)); out != nil {
		t.Fatal("the answered INVITE's retransmission passed")
	}
	buf := make([]byte, 2048)
	phoneConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := phoneConn.ReadFrom(buf); err != nil || !bytes.Equal(buf[:n], ok) {
		t.Fatalf("retransmission before the ACK answered %q, %v; want the 2xx", buf[:n], err)
	}
	if !a.answered("z9hG4bK-inv", "INVITE", phone) || a.answered("z9hG4bK-inv", "INVITE", netip.MustParseAddrPort("127.0.0.1:1")) {
		t.Fatal("answered: wrong match")
	}
	a.acked("z9hG4bK-inv")
	if out, _ := a.filter(props(phone), []byte(invite)); out != nil {
		t.Fatal("the acknowledged INVITE's retransmission passed")
	}
	phoneConn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := phoneConn.ReadFrom(buf); err == nil {
		t.Fatalf("retransmission after the ACK answered %q", buf[:n])
	}
	if out, _ := a.filter(props(netip.MustParseAddrPort("127.0.0.1:5072")), []byte(invite)); out == nil {
		t.Fatal("the same branch from another address was dropped")
	}
	other := strings.Replace(invite, "z9hG4bK-inv", "z9hG4bK-new", 1)
	if out, _ := a.filter(props(phone), []byte(other)); out == nil {
		t.Fatal("a new INVITE was dropped")
	}
	cancel := strings.Replace(strings.Replace(invite, "INVITE", "CANCEL", -1), "CANCEL sip", "CANCEL sip", 1)
	if out, _ := a.filter(props(phone), []byte(cancel)); out == nil {
		t.Fatal("a CANCEL with the INVITE's branch was dropped")
	}
}

// TestResponseKey: a response's branch and whether its CSeq names INVITE
// (two fields, as bytes.Fields splits them), read without allocating.
func TestResponseKey(t *testing.T) {
	for _, tc := range []struct {
		cseq   string
		invite bool
	}{
		{"1 INVITE", true}, {"  2\tINVITE  ", true}, {"3  \t INVITE", true}, {"1 BYE", false}, {"INVITE", false},
		{"1 INVITE x", false}, {"1 invite", false}, {"", false}, {"1 INVITEX", false}, {"1\u00a0INVITE", true},
	} {
		msg := []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-r\r\nCSeq: " + tc.cseq + "\r\n\r\n")
		b, invite, ok := responseKey(msg)
		f := bytes.Fields([]byte(tc.cseq))
		if want := len(f) == 2 && string(f[1]) == "INVITE"; want != tc.invite {
			t.Fatalf("case %q: bytes.Fields says %v", tc.cseq, want)
		}
		if string(b) != "z9hG4bK-r" || !ok || invite != tc.invite {
			t.Errorf("CSeq %q: %q %v %v, want z9hG4bK-r %v true", tc.cseq, b, invite, ok, tc.invite)
		}
	}
	msg := []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;rport=5;branch=z9hG4bK-r\r\nFrom: <sip:a@b>;tag=1\r\nCSeq: 1 INVITE\r\n\r\n")
	if n := testing.AllocsPerRun(100, func() { responseKey(msg) }); n != 0 {
		t.Errorf("responseKey: %v allocations, want 0", n)
	}
}
