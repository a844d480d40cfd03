//go:build !linux

package media

import (
	"net"
	"time"
)

// stampOn: kernel receive timestamps are read on Linux only; elsewhere
// Load times packets when its receivers read them.
func stampOn(*net.UDPConn) bool { return false }

func stampOf([]byte) (time.Time, bool) { return time.Time{}, false }
