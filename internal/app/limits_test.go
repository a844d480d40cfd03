package app

import (
	"log/slog"
	"syscall"
	"testing"
)

// TestRaiseFDLimit: the soft open files limit is raised to the hard one
// and reported.
func TestRaiseFDLimit(t *testing.T) {
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &before) })
	lowered := before
	lowered.Cur = min(before.Max, 256)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	got := raiseFDLimit(slog.New(slog.DiscardHandler))
	var after syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &after)
	if after.Cur != before.Max || got != after.Cur {
		t.Errorf("after raiseFDLimit: soft %d (reported %d), want the hard limit %d", after.Cur, got, before.Max)
	}
}
