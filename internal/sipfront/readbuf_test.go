package sipfront

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestLargeUDPDatagram: a REGISTER of 40,000 bytes, over sipgo's 32 KiB
// read buffer, is read whole over UDP (fullDatagrams) and challenged.
func TestLargeUDPDatagram(t *testing.T) {
	if sip.TransportBufferReadSize >= 40000 {
		t.Fatalf("sipgo's read buffer is %d bytes: this test needs a datagram longer", sip.TransportBufferReadSize)
	}
	f := newFixture(t, nil)
	p := newUDPPhone(t, f.sip.Addr())
	pad := "X-Pad: " + strings.Repeat("a", 40000) + "\r\n"
	res := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003", pad))
	if res == nil || res.StatusCode != 401 {
		t.Fatalf("40 KB REGISTER over UDP: %v, want 401", res)
	}
}

func TestSetReadBuffer(t *testing.T) {
	for _, n := range []int{1, 1023, 65536} {
		if err := SetReadBuffer(n); err == nil {
			t.Errorf("SetReadBuffer(%d): no error", n)
		}
	}
	if err := SetReadBuffer(0); err != nil {
		t.Errorf("SetReadBuffer(0): %v", err)
	}
}

// TestFullDatagramsSource: the source fullDatagrams hands sipgo is the
// address net.UDPConn.ReadFrom gives (same text, same IP bytes), one value
// per source, found again by the absorber (udpAddrOf).
func TestFullDatagramsSource(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	plain, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	full := newFullDatagrams(srv)
	cli, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	buf := make([]byte, 64)
	var first net.Addr
	for i := 0; i < 2; i++ {
		cli.WriteTo([]byte("hello"), srv.LocalAddr())
		cli.WriteTo([]byte("hello"), plain.LocalAddr())
		full.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, got, err := full.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("ReadFrom: %q, %v", buf[:n], err)
		}
		plain.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, want, err := plain.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		ua, ok := udpAddrOf(got)
		wa := want.(*net.UDPAddr)
		if !ok || got.String() != want.String() || got.Network() != "udp" || !bytes.Equal(ua.IP, wa.IP) ||
			ua.Port != wa.Port || ua.Zone != wa.Zone {
			t.Fatalf("source %#v (%s), want %#v (%s)", got, got, want, want)
		}
		if i == 1 && got != first {
			t.Fatalf("second datagram of a source: another address value")
		}
		first = got
	}
	if _, ok := udpAddrOf(&net.TCPAddr{}); ok {
		t.Fatal("udpAddrOf took a TCP address")
	}
}

// TestFullDatagramsSourcesBounded: past maxSources sources the map
// starts again.
func TestFullDatagramsSourcesBounded(t *testing.T) {
	c := &fullDatagrams{srcs: map[netip.AddrPort]*udpSource{}}
	for i := 0; i < maxSources+10; i++ {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 5060)
		if s := c.source(ap); s.String() != ap.String() {
			t.Fatalf("source %s, want %s", s, ap)
		}
	}
	if len(c.srcs) > maxSources {
		t.Fatalf("%d sources kept, want at most %d", len(c.srcs), maxSources)
	}
}
