//go:build linux && !386

package sipfront

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// rawUDP reads and writes the UDP socket with raw system calls (Linux):
// recvfrom and sendto through syscall.RawSyscall6, inside the callbacks
// of the socket's syscall.RawConn.
//
// Why: net.UDPConn makes them through syscall.Syscall, which enters the
// runtime's syscall state (entersyscall). When every P was idle, sysmon
// sleeps deeply, and the first goroutine that enters a system call wakes
// it and resets its tick to 20 us for the next 50 ticks (Go 1.26
// runtime/proc.go: sysmon, entersyscall's syscallWake). Under SIP load the
// process goes idle and wakes thousands of times a second, nearly always
// through sipgo's reader calling recvfrom or a handler calling sendto,
// so sysmon kept ticking: 4.2 thread sleeps a call at 1,000 calls/s, the
// largest single item (issue 19, I19b). RawSyscall6 does not enter that
// state.
//
// Why it is safe: the socket is non-blocking (the net package makes every
// socket so; newRawUDP checks O_NONBLOCK and keeps net's path otherwise),
// so recvfrom and sendto return at once, EAGAIN when there is nothing to
// read or no room to write. The callback then returns false, and RawConn
// parks the goroutine in the netpoller exactly as net's own path does:
// deadlines, Close and the read and write locks work as they did. The
// system call state exists for calls that may block, so that the P can be
// handed to another M meanwhile; a call that cannot block needs none of
// that. The cost: the P stays held for the call's few microseconds (a
// sendto over loopback delivers the datagram and wakes its reader inside
// the call), or longer when the kernel preempts the thread inside the
// call (for the reader it woke): net's path would let sysmon hand the P
// to another thread after 20 us; and a stop-the-world waits for the
// call's end.
type rawUDP struct {
	rc     syscall.RawConn
	family int    // the socket's domain: AF_INET or AF_INET6
	net    string // the network net's errors name ("udp", "udp4", "udp6")
	laddr  net.Addr

	// The reading goroutine's own (sipgo reads from one goroutine):
	recv  func(fd uintptr) bool // r.recvfrom, made once
	buf   []byte
	n     int
	errno syscall.Errno
	from  syscall.RawSockaddrAny
	flen  uint32
	zones map[uint32]string // IPv6 scope ids by zone name
}

// newRawUDP is the raw path of c, or nil (then net's path) when c is not
// an unconnected, non-blocking IPv4 or IPv6 datagram socket.
func newRawUDP(c *net.UDPConn) *rawUDP {
	if c == nil || c.RemoteAddr() != nil {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawUDP{rc: rc, laddr: c.LocalAddr(), zones: map[uint32]string{}}
	ok := false
	if err := rc.Control(func(fd uintptr) {
		dom, err1 := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN)
		typ, err2 := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TYPE)
		fl, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		r.family = dom
		ok = err1 == nil && err2 == nil && e == 0 && typ == syscall.SOCK_DGRAM &&
			fl&syscall.O_NONBLOCK != 0 && (dom == syscall.AF_INET || dom == syscall.AF_INET6)
	}); err != nil || !ok {
		return nil
	}
	// The network as net's errors name it (c.fd.net): a write without an
	// address fails before any system call with an error that carries it.
	if _, err := c.WriteTo(nil, nil); err != nil {
		if oe, isOp := err.(*net.OpError); isOp {
			r.net = oe.Net
		}
	}
	if r.net == "" {
		r.net = "udp"
	}
	r.recv = r.recvfrom
	return r
}

// read reads one datagram into buf, as net.UDPConn.ReadFromUDPAddrPort
// does: the same source (an IPv4 socket's sources are 4-byte addresses,
// an IPv6 socket's 16-byte ones with their zone) and the same errors
// (net.OpError "read" around net.ErrClosed, os.ErrDeadlineExceeded or the
// system call's error).
func (r *rawUDP) read(buf []byte) (int, netip.AddrPort, error) {
	r.buf, r.n, r.errno = buf, 0, 0
	err := r.rc.Read(r.recv)
	r.buf = nil
	if err == nil && r.errno != 0 {
		err = os.NewSyscallError("recvfrom", r.errno)
	}
	if err != nil {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: r.net, Source: r.laddr, Err: unwrapOp(err)}
	}
	return r.n, r.source(), nil
}

func (r *rawUDP) recvfrom(fd uintptr) bool {
	var p unsafe.Pointer
	if len(r.buf) > 0 {
		p = unsafe.Pointer(&r.buf[0])
	}
	for {
		r.flen = syscall.SizeofSockaddrAny
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(p), uintptr(len(r.buf)), 0,
			uintptr(unsafe.Pointer(&r.from)), uintptr(unsafe.Pointer(&r.flen)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // the netpoller waits for the next datagram
		case 0:
			r.n = int(n)
		default:
			r.errno = e
		}
		return true
	}
}

// source decodes the address recvfrom wrote, by the socket's family as
// net does.
func (r *rawUDP) source() netip.AddrPort {
	if r.family == syscall.AF_INET {
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&r.from))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	}
	sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&r.from))
	ip := netip.AddrFrom16(sa.Addr)
	if sa.Scope_id != 0 {
		ip = ip.WithZone(r.zone(sa.Scope_id))
	}
	return netip.AddrPortFrom(ip, ntohs(sa.Port))
}

// zone is the name of the interface with index id, as net names a
// source's zone (its number when no interface has it); kept once found.
func (r *rawUDP) zone(id uint32) string {
	if z, ok := r.zones[id]; ok {
		return z
	}
	z := strconv.Itoa(int(id))
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		z = ifi.Name
	}
	if len(r.zones) < 64 {
		r.zones[id] = z
	}
	return z
}

// write sends b to a as net.UDPConn.WriteTo does (same errors: net.OpError
// "write" around the system call's error, net.ErrClosed or
// os.ErrDeadlineExceeded). ok is false when a is an address the raw path
// leaves to net (a zone to resolve, an unspecified IP, one of the other
// family, a port out of range): the caller writes it through net.
func (r *rawUDP) write(b []byte, a *net.UDPAddr) (n int, ok bool, err error) {
	s := sends.Get().(*rawSend)
	defer sends.Put(s)
	if !s.address(r.family, a) {
		return 0, false, nil
	}
	s.b, s.errno = b, 0
	err = r.rc.Write(s.fn)
	s.b = nil
	if err == nil && s.errno != 0 {
		err = os.NewSyscallError("sendto", s.errno)
	}
	if err != nil {
		return 0, true, &net.OpError{Op: "write", Net: r.net, Source: r.laddr, Addr: a, Err: unwrapOp(err)}
	}
	return len(b), true, nil
}

// rawSend is one write's state, pooled: its callback (fn, made once) and
// destination need no allocation per datagram. Writers are concurrent.
type rawSend struct {
	fn    func(fd uintptr) bool // s.sendto
	b     []byte
	sa    syscall.RawSockaddrInet6 // or a RawSockaddrInet4 at its start
	salen uintptr
	errno syscall.Errno
}

var sends = sync.Pool{New: func() any {
	s := &rawSend{}
	s.fn = s.sendto
	return s
}}

// address sets s's destination to a for a socket of family, or says no
// (net resolves it).
func (s *rawSend) address(family int, a *net.UDPAddr) bool {
	if a == nil || a.Zone != "" || a.Port <= 0 || a.Port > 0xFFFF {
		return false
	}
	if family == syscall.AF_INET {
		ip := a.IP.To4()
		if ip == nil {
			return false
		}
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&s.sa))
		*sa = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Port: htons(a.Port)}
		copy(sa.Addr[:], ip)
		s.salen = syscall.SizeofSockaddrInet4
		return true
	}
	ip := a.IP.To16()
	if ip == nil || ip.IsUnspecified() {
		return false
	}
	s.sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Port: htons(a.Port)}
	copy(s.sa.Addr[:], ip) // an IPv4 address as ::ffff:a.b.c.d, as net sends it
	s.salen = syscall.SizeofSockaddrInet6
	return true
}

func (s *rawSend) sendto(fd uintptr) bool {
	var p unsafe.Pointer
	if len(s.b) > 0 {
		p = unsafe.Pointer(&s.b[0])
	}
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(p), uintptr(len(s.b)), 0,
			uintptr(unsafe.Pointer(&s.sa)), s.salen)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // the netpoller waits for room
		}
		s.errno = e
		return true
	}
}

// unwrapOp is the error inside RawConn's "raw-read"/"raw-write" OpError
// (net.ErrClosed, os.ErrDeadlineExceeded), for an OpError named as net's
// own read and write name theirs.
func unwrapOp(err error) error {
	if oe, ok := err.(*net.OpError); ok {
		return oe.Err
	}
	return err
}

func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func htons(port int) uint16 {
	var p uint16
	b := (*[2]byte)(unsafe.Pointer(&p))
	b[0], b[1] = byte(port>>8), byte(port)
	return p
}
