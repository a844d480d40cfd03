//go:build linux && !386

package sipfront

import (
	"net"
	"strconv"
	"testing"
)

// TestRawUDPZone: an IPv6 source's scope id becomes its interface's name,
// as net names it, or its number when no interface has it.
func TestRawUDPZone(t *testing.T) {
	r := &rawUDP{zones: map[uint32]string{}}
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		t.Fatalf("no interfaces (not even loopback): %v", err)
	}
	for _, ifi := range ifs {
		if z := r.zone(uint32(ifi.Index)); z != ifi.Name {
			t.Errorf("zone of index %d: %q, want %q", ifi.Index, z, ifi.Name)
		}
	}
	unused := uint32(1 << 30)
	if z := r.zone(unused); z != strconv.Itoa(int(unused)) {
		t.Errorf("zone of an index no interface has: %q", z)
	}
}
