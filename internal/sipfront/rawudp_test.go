package sipfront

import (
	"bytes"
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The UDP socket's reads and writes through fullDatagrams, raw on Linux
// (rawudp_linux.go), against what net.UDPConn does with the same socket
// kind: contents, sources, truncation, deadlines, Close and errors.

// rawExpected: the platforms where fullDatagrams must take the raw path.
var rawExpected = runtime.GOOS == "linux" && runtime.GOARCH != "386"

// udpFamilies are the loopback sockets to test with: 127.0.0.1, ::1 when
// the host has it, and the dual-stack wildcard (an IPv6 socket reached
// from 127.0.0.1, whose sources are IPv4-mapped).
func udpFamilies(t *testing.T) map[string][2]string {
	t.Helper()
	fams := map[string][2]string{"ipv4": {"127.0.0.1:0", "127.0.0.1"}}
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err == nil {
		c.Close()
		fams["ipv6"] = [2]string{"[::1]:0", "::1"}
	}
	if c, err := net.ListenPacket("udp", ":0"); err == nil {
		if c.LocalAddr().(*net.UDPAddr).IP.To4() == nil {
			fams["dual"] = [2]string{":0", "127.0.0.1"}
		}
		c.Close()
	}
	return fams
}

// listenFull binds a socket like sipfront's (net.ListenPacket "udp") at
// addr and wraps it; peer is the address a client reaches it at.
func listenFull(t *testing.T, addr, host string) (*fullDatagrams, *net.UDPAddr) {
	t.Helper()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	full := newFullDatagrams(c)
	if rawExpected && full.raw == nil {
		t.Fatalf("%s: fullDatagrams has no raw path on %s/%s", addr, runtime.GOOS, runtime.GOARCH)
	}
	return full, &net.UDPAddr{IP: net.ParseIP(host), Port: c.LocalAddr().(*net.UDPAddr).Port}
}

func listenPlain(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

// TestRawUDPRoundTrip: datagrams read through fullDatagrams have their
// contents and the source plain net.UDPConn.ReadFrom gives (text, IP
// bytes, port, zone) on the same kind of socket; replies written to that
// source (as sipgo and the absorber write them) reach the client from the
// server's port, with their contents.
func TestRawUDPRoundTrip(t *testing.T) {
	for name, fam := range udpFamilies(t) {
		t.Run(name, func(t *testing.T) {
			full, at := listenFull(t, fam[0], fam[1])
			plain := listenPlain(t, fam[0])
			plainAt := &net.UDPAddr{IP: at.IP, Port: plain.LocalAddr().(*net.UDPAddr).Port}
			cli := listenPlain(t, net.JoinHostPort(fam[1], "0"))
			buf := make([]byte, 2048)
			for i, msg := range []string{"OPTIONS sip:a SIP/2.0\r\n\r\n", "", strings.Repeat("x", 1400)} {
				if _, err := cli.WriteTo([]byte(msg), at); err != nil {
					t.Fatal(err)
				}
				if _, err := cli.WriteTo([]byte(msg), plainAt); err != nil {
					t.Fatal(err)
				}
				full.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, got, err := full.ReadFrom(buf)
				if err != nil || string(buf[:n]) != msg {
					t.Fatalf("datagram %d: %q, %v; want %q", i, buf[:n], err, msg)
				}
				plain.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, want, err := plain.ReadFrom(make([]byte, 2048))
				if err != nil {
					t.Fatal(err)
				}
				ua, ok := udpAddrOf(got)
				wa := want.(*net.UDPAddr)
				if !ok || got.String() != want.String() || !bytes.Equal(ua.IP, wa.IP) || ua.Port != wa.Port ||
					ua.Zone != wa.Zone {
					t.Fatalf("source %#v (%s), want %#v (%s)", got, got, want, want)
				}
				if ua.Port != cli.LocalAddr().(*net.UDPAddr).Port {
					t.Fatalf("source port %d, client's %d", ua.Port, cli.LocalAddr().(*net.UDPAddr).Port)
				}

				reply := "SIP/2.0 200 OK " + msg
				for _, to := range []net.Addr{got, wa} { // our source value, then a plain *net.UDPAddr
					if n, err := full.WriteTo([]byte(reply), to); err != nil || n != len(reply) {
						t.Fatalf("WriteTo %s: %d, %v", to, n, err)
					}
					cli.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, from, err := cli.ReadFrom(buf)
					if err != nil || string(buf[:n]) != reply {
						t.Fatalf("reply %q, %v; want %q", buf[:n], err, reply)
					}
					if p := from.(*net.UDPAddr).Port; p != at.Port {
						t.Fatalf("reply from port %d, want the server's %d", p, at.Port)
					}
				}
			}
		})
	}
}

// TestRawUDPWhole: a datagram longer than sipgo's buffer is cut there by
// ReadFrom and given whole to the parser by the read filter (whole); the
// next, short one is not mixed with it.
func TestRawUDPWhole(t *testing.T) {
	full, at := listenFull(t, "127.0.0.1:0", "127.0.0.1")
	cli := listenPlain(t, "127.0.0.1:0")
	big := make([]byte, 60000)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	props := sip.TransportReadProps{Transport: "UDP", LocalAddr: full.LocalAddr()}
	small := make([]byte, 1024)
	for _, msg := range [][]byte{big, []byte("short")} {
		if _, err := cli.WriteTo(msg, at); err != nil {
			t.Fatal(err)
		}
		full.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := full.ReadFrom(small)
		if err != nil {
			t.Fatal(err)
		}
		want := min(len(msg), len(small))
		if n != want || !bytes.Equal(small[:n], msg[:want]) {
			t.Fatalf("ReadFrom: %d bytes, want the first %d of the datagram", n, want)
		}
		if got, _ := full.whole(props, small[:n]); !bytes.Equal(got, msg) {
			t.Fatalf("whole: %d bytes, want the datagram's %d", len(got), len(msg))
		}
	}
}

// TestRawUDPDeadlines: a read past its deadline and a write after a past
// write deadline fail as net.UDPConn's do (a timeout, the same error
// text but for the local address); the socket reads again afterwards.
func TestRawUDPDeadlines(t *testing.T) {
	full, at := listenFull(t, "127.0.0.1:0", "127.0.0.1")
	plain := listenPlain(t, "127.0.0.1:0")
	start := time.Now()
	full.SetReadDeadline(start.Add(50 * time.Millisecond))
	_, _, err := full.ReadFrom(make([]byte, 64))
	if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("read past the deadline: %v after %v", err, time.Since(start))
	}
	plain.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, _, perr := plain.ReadFrom(make([]byte, 64))
	sameError(t, full, plain, err, perr)

	dst := listenPlain(t, "127.0.0.1:0").LocalAddr()
	full.SetWriteDeadline(time.Now().Add(-time.Second))
	plain.SetWriteDeadline(time.Now().Add(-time.Second))
	_, err = full.WriteTo([]byte("x"), dst)
	_, perr = plain.WriteTo([]byte("x"), dst)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after its deadline: %v", err)
	}
	sameError(t, full, plain, err, perr)

	full.SetDeadline(time.Time{})
	cli := listenPlain(t, "127.0.0.1:0")
	cli.WriteTo([]byte("again"), at)
	full.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	if n, _, err := full.ReadFrom(buf); err != nil || string(buf[:n]) != "again" {
		t.Fatalf("read after the deadlines: %q, %v", buf[:n], err)
	}
}

// TestRawUDPClose: Close unblocks a reader waiting in the netpoller with
// net.ErrClosed (sipgo's reader loop ends on it); reads and writes after
// Close fail the same way, as net.UDPConn's.
func TestRawUDPClose(t *testing.T) {
	full, _ := listenFull(t, "127.0.0.1:0", "127.0.0.1")
	done := make(chan error, 1)
	go func() {
		_, _, err := full.ReadFrom(make([]byte, 64))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("read returned before any datagram or Close: %v", err)
	default:
	}
	full.Close()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock the reader")
	}
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("reader after Close: %v, want net.ErrClosed", err)
	}
	plain := listenPlain(t, "127.0.0.1:0")
	plain.Close()
	_, _, perr := plain.ReadFrom(make([]byte, 64))
	sameError(t, full, plain, err, perr)
	dst := listenPlain(t, "127.0.0.1:0").LocalAddr()
	_, err = full.WriteTo([]byte("x"), dst)
	_, perr = plain.WriteTo([]byte("x"), dst)
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	sameError(t, full, plain, err, perr)
}

// TestRawUDPErrors: a datagram to a closed port is sent (an unconnected
// socket gets no ICMP error) and does not disturb the next read; one too
// long for UDP fails with EMSGSIZE as net.UDPConn's does.
func TestRawUDPErrors(t *testing.T) {
	for name, fam := range udpFamilies(t) {
		t.Run(name, func(t *testing.T) {
			full, at := listenFull(t, fam[0], fam[1])
			plain := listenPlain(t, fam[0])
			gone := listenPlain(t, net.JoinHostPort(fam[1], "0"))
			closed := gone.LocalAddr().(*net.UDPAddr)
			gone.Close()
			for i := 0; i < 3; i++ {
				if n, err := full.WriteTo([]byte("nobody"), closed); err != nil || n != 6 {
					t.Fatalf("write to a closed port: %d, %v", n, err)
				}
			}
			cli := listenPlain(t, net.JoinHostPort(fam[1], "0"))
			cli.WriteTo([]byte("next"), at)
			full.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			if n, _, err := full.ReadFrom(buf); err != nil || string(buf[:n]) != "next" {
				t.Fatalf("read after writes to a closed port: %q, %v", buf[:n], err)
			}

			huge := make([]byte, 70000)
			_, err := full.WriteTo(huge, closed)
			_, perr := plain.WriteTo(huge, closed)
			if !errors.Is(err, syscall.EMSGSIZE) {
				t.Fatalf("write of %d bytes: %v, want EMSGSIZE", len(huge), err)
			}
			sameError(t, full, plain, err, perr)
		})
	}
}

// sameError: err (through fullDatagrams) and perr (net.UDPConn's own, on
// a socket of the same kind) are the same net.OpError but for the local
// address.
func sameError(t *testing.T, full *fullDatagrams, plain *net.UDPConn, err, perr error) {
	t.Helper()
	var oe, poe *net.OpError
	if !errors.As(err, &oe) || !errors.As(perr, &poe) {
		t.Fatalf("errors %#v and %#v: want net.OpError", err, perr)
	}
	got := strings.ReplaceAll(err.Error(), full.LocalAddr().String(), "LOCAL")
	want := strings.ReplaceAll(perr.Error(), plain.LocalAddr().String(), "LOCAL")
	if got != want || oe.Op != poe.Op || oe.Net != poe.Net || oe.Timeout() != poe.Timeout() {
		t.Fatalf("error %q (op %s, net %s), want %q (op %s, net %s)", got, oe.Op, oe.Net, want, poe.Op, poe.Net)
	}
}
