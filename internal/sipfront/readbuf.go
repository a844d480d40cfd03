package sipfront

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"

	"github.com/emiago/sipgo/sip"
)

// Read buffers.
//
// sipgo reads the UDP socket and every TCP, TLS and WebSocket connection
// into a buffer of sip.TransportBufferReadSize bytes (32 KiB unless
// SetReadBuffer changes it): one variable for the whole process, read as
// each reader starts. A TCP or TLS connection holds its buffer for its
// life, and that is most of what a phone registered over TCP costs
// (BenchmarkTCPRegistrations: about 42 KB a registration with 32 KiB, 13
// KB with 4 KiB). TCP and TLS frame messages across reads, so any size
// serves them. A WebSocket message longer than the buffer is cut (a parse
// error: sipgo closes the connection), so the buffer is the largest SIP
// message a browser may send. The UDP socket reads through fullDatagrams:
// whole datagrams (up to 64 KiB) whatever the buffer.

// SetReadBuffer sets sipgo's read buffer to n bytes (1,024 to 65,535) for
// the readers started afterwards, in the whole process: call it before
// Start (serve: --sip-read-buffer). 0 leaves it as it is.
func SetReadBuffer(n int) error {
	if n == 0 {
		return nil
	}
	if n < 1024 || n > 65535 {
		return fmt.Errorf("sipfront: read buffer %d bytes: want 1024 to 65535", n)
	}
	sip.TransportBufferReadSize = uint16(n)
	return nil
}

// fullDatagrams is the UDP socket as sipgo reads it: each datagram is read
// whole into a buffer of the largest size, sipgo gets what fits in its
// buffer, and the read filter (whole) gives sipgo's parser the rest.
// sipgo reads the socket from one goroutine, which calls the filter right
// after each read.
//
// It also spares each datagram its source address's allocations: the
// socket is read by address and port (ReadFromUDPAddrPort, no address
// allocated), and the net.Addr handed to sipgo is one kept per source
// (udpSource) whose String, which sipgo calls on every datagram, is text
// made once.
//
// On Linux it reads and writes the socket with raw system calls (rawUDP,
// rawudp_linux.go), which do not wake the runtime's sysmon thread; every
// send through the socket (sipgo's, the absorber's, the cluster's) goes
// through WriteTo.
type fullDatagrams struct {
	net.PacketConn
	udp  *net.UDPConn // PacketConn when it is a UDP socket (read by address and port)
	raw  *rawUDP      // udp's raw path, or nil
	addr string
	buf  []byte
	last []byte                        // the datagram last read
	srcs map[netip.AddrPort]*udpSource // recent sources (the reading goroutine's only)
}

// maxSources bounds fullDatagrams.srcs: past it the map starts again
// (about 150 bytes a source).
const maxSources = 4096

func newFullDatagrams(c net.PacketConn) *fullDatagrams {
	udp, _ := c.(*net.UDPConn)
	return &fullDatagrams{PacketConn: c, udp: udp, raw: newRawUDP(udp), addr: c.LocalAddr().String(),
		buf: make([]byte, 1<<16), srcs: map[netip.AddrPort]*udpSource{}}
}

func (c *fullDatagrams) ReadFrom(b []byte) (int, net.Addr, error) {
	if c.udp == nil {
		n, addr, err := c.PacketConn.ReadFrom(c.buf)
		c.last = c.buf[:n]
		return copy(b, c.last), addr, err
	}
	var n int
	var from netip.AddrPort
	var err error
	if c.raw != nil {
		n, from, err = c.raw.read(c.buf)
	} else {
		n, from, err = c.udp.ReadFromUDPAddrPort(c.buf)
	}
	c.last = c.buf[:n]
	if err != nil {
		return copy(b, c.last), nil, err
	}
	return copy(b, c.last), c.source(from), nil
}

// WriteTo sends b to addr, through the raw path when it takes addr. A
// source fullDatagrams handed out (udpSource) is taken as its UDP address.
func (c *fullDatagrams) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.udp == nil {
		return c.PacketConn.WriteTo(b, addr)
	}
	if src, ok := addr.(*udpSource); ok {
		addr = &src.UDPAddr
	}
	if ua, isUDP := addr.(*net.UDPAddr); isUDP && c.raw != nil {
		if n, ok, err := c.raw.write(b, ua); ok {
			return n, err
		}
	}
	return c.udp.WriteTo(b, addr)
}

// source is the net.Addr of a datagram from ap: the same value as the
// *net.UDPAddr that ReadFrom would have allocated (same IP length and
// zone), kept while ap keeps sending.
func (c *fullDatagrams) source(ap netip.AddrPort) *udpSource {
	if src := c.srcs[ap]; src != nil {
		return src
	}
	if len(c.srcs) >= maxSources {
		clear(c.srcs)
	}
	ua := net.UDPAddrFromAddrPort(ap)
	src := &udpSource{UDPAddr: *ua, s: ua.String()}
	c.srcs[ap] = src
	return src
}

// udpSource is a datagram's source as fullDatagrams hands it to sipgo: a
// UDP address with its text made once. Shared by the datagrams of one
// source: nothing may change it.
type udpSource struct {
	net.UDPAddr
	s string
}

func (a *udpSource) String() string { return a.s }

// udpAddrOf is the UDP address of a datagram's source as the transport
// layer hands it on (TransportReadProps.RemoteAddr).
func udpAddrOf(a net.Addr) (*net.UDPAddr, bool) {
	switch a := a.(type) {
	case *udpSource:
		return &a.UDPAddr, true
	case *net.UDPAddr:
		return a, true
	}
	return nil, false
}

// whole is the transport layer's read filter: a datagram of the socket
// cut by sipgo's buffer, whole again; anything else as it is. (The length
// test comes first: it fails for nearly every datagram, and the address
// comparison costs an allocation.)
func (c *fullDatagrams) whole(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if p.Transport == "UDP" && len(c.last) > len(data) && p.LocalAddr != nil && p.LocalAddr.String() == c.addr &&
		bytes.HasPrefix(c.last, data) {
		return c.last, nil
	}
	return data, nil
}
