//go:build unix

package engine

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system, all threads) this process has
// used, so benchmarks can report a per-core rate that does not depend on
// how busy the machine is.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
