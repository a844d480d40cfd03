package sipfront

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// BenchmarkUDPOptions measures one request's whole way over UDP through
// the server and back: socket read, read filters, sipgo's parsing and
// server transaction, our handler wrappers, the response and its write.
// OPTIONS is answered without the engine, so what is left is the
// per-message cost of the SIP path. allocs/op counts every goroutine's.
func BenchmarkUDPOptions(b *testing.B) {
	f := newFixture(b, nil)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	srv, err := net.ResolveUDPAddr("udp", f.sip.Addr())
	if err != nil {
		b.Fatal(err)
	}
	me := c.LocalAddr().String()
	head := "OPTIONS sip:" + f.sip.Addr() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + me + ";branch=z9hG4bK-bench"
	tail := "\r\nMax-Forwards: 70\r\nFrom: <sip:bench@" + me + ">;tag=1\r\nTo: <sip:" + f.sip.Addr() +
		">\r\nCall-ID: bench-options\r\nCSeq: 1 OPTIONS\r\nContact: <sip:bench@" + me + ">\r\nContent-Length: 0\r\n\r\n"
	buf := make([]byte, 4096)
	msg := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msg = append(strconv.AppendInt(append(msg[:0], head...), int64(i), 10), tail...)
		if _, err := c.WriteTo(msg, srv); err != nil {
			b.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			b.Fatal(err)
		}
		if n < 12 || string(buf[:12]) != "SIP/2.0 200 " {
			b.Fatalf("answer %q", buf[:n])
		}
	}
}
