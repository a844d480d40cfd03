//go:build !linux || 386

package sipfront

import (
	"net"
	"net/netip"
)

// rawUDP is Linux's (rawudp_linux.go); elsewhere the socket is read and
// written through net.
type rawUDP struct{}

func newRawUDP(*net.UDPConn) *rawUDP { return nil }

func (*rawUDP) read([]byte) (int, netip.AddrPort, error) { panic("sipfront: no raw UDP path") }

func (*rawUDP) write([]byte, *net.UDPAddr) (int, bool, error) { return 0, false, nil }
