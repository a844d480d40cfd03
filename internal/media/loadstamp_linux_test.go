package media

import (
	"net"
	"testing"
	"time"
)

// TestKernelStamps: a datagram read from a socket with stampOn carries
// the kernel's arrival time, between the send and the read; without
// stampOn there is none.
func TestKernelStamps(t *testing.T) {
	for _, on := range []bool{true, false} {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if on && !stampOn(c) {
			t.Fatal("SO_TIMESTAMPNS refused")
		}
		before := time.Now()
		if _, err := c.WriteToUDPAddrPort([]byte("x"), c.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		buf, oob := make([]byte, 16), make([]byte, 128)
		_, oobn, _, _, err := c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		at, ok := stampOf(oob[:oobn])
		if ok != on {
			t.Fatalf("stampOn %v: stamp found %v", on, ok)
		}
		// The stamp is the arrival, not the read 20 ms later.
		if on && (at.Before(before.Add(-time.Millisecond)) || !at.Before(after.Add(-10*time.Millisecond))) {
			t.Fatalf("stamp %v not between the send %v and the read %v less the 20 ms wait", at, before, after)
		}
	}
}
