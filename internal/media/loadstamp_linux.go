package media

import (
	"encoding/binary"
	"net"
	"syscall"
	"time"
)

// stampOn asks the kernel to stamp each datagram c receives when it
// arrives (SO_TIMESTAMPNS): on loopback that is when it was sent, so Load
// measures the sender's timing, not the receiving goroutine's.
func stampOn(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return false
	}
	return serr == nil
}

// stampOf reads the SCM_TIMESTAMPNS control message of one datagram
// (a 64-bit cmsghdr, then a timespec), without allocating.
func stampOf(oob []byte) (time.Time, bool) {
	const hdr = syscall.SizeofCmsghdr
	if hdr != 16 || len(oob) < hdr+16 {
		return time.Time{}, false
	}
	ne := binary.NativeEndian
	if int32(ne.Uint32(oob[8:])) != syscall.SOL_SOCKET || int32(ne.Uint32(oob[12:])) != syscall.SCM_TIMESTAMPNS {
		return time.Time{}, false
	}
	return time.Unix(int64(ne.Uint64(oob[hdr:])), int64(ne.Uint64(oob[hdr+8:]))), true
}
