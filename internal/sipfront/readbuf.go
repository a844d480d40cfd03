package sipfront

import (
	"bytes"
	"fmt"
	"net"

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
type fullDatagrams struct {
	net.PacketConn
	addr string
	buf  []byte
	last []byte // the datagram last read
}

func newFullDatagrams(c net.PacketConn) *fullDatagrams {
	return &fullDatagrams{PacketConn: c, addr: c.LocalAddr().String(), buf: make([]byte, 1<<16)}
}

func (c *fullDatagrams) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(c.buf)
	c.last = c.buf[:n]
	return copy(b, c.last), addr, err
}

// whole is the transport layer's read filter: a datagram of the socket
// cut by sipgo's buffer, whole again; anything else as it is.
func (c *fullDatagrams) whole(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if p.Transport == "UDP" && p.LocalAddr != nil && p.LocalAddr.String() == c.addr &&
		len(c.last) > len(data) && bytes.HasPrefix(c.last, data) {
		return c.last, nil
	}
	return data, nil
}
