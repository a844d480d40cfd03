package app

import (
	"log/slog"
	"syscall"
)

// raiseFDLimit raises the soft limit on open files to the hard limit where
// the system allows it: every API connection, WebSocket stream and journal
// segment is a descriptor, and the usual soft limit (1024) is far below
// what the connection bounds allow. It returns the limit in force, which
// /metrics reports (process_max_fds) and the start-up line logs.
func raiseFDLimit(log *slog.Logger) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		log.Warn("cannot read the open files limit", "err", err)
		return 0
	}
	if l.Cur < l.Max {
		want := l
		want.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			log.Warn("cannot raise the open files limit", "soft", l.Cur, "hard", l.Max, "err", err)
			return l.Cur
		}
		l = want
	}
	return l.Cur
}
