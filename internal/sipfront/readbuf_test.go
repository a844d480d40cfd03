package sipfront

import (
	"strings"
	"testing"

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
