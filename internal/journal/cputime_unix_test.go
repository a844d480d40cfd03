//go:build unix

package journal

import (
	"syscall"
	"time"
)

// cpuTime is the process's CPU time so far, user and system (the kernel's
// share of an fdatasync included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
