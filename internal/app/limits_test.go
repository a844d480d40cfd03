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

// TestAuthFailuresDefault: --api-auth-failures 0 means the default of 20
// failures at once, not a burst of one (which blocked a client after its
// first 401).
func TestAuthFailuresDefault(t *testing.T) {
	if l := authFailures(0); l.Burst != 20 || l.Rate != 1 {
		t.Errorf("authFailures(0) = %+v, want burst 20 at 1/s", l)
	}
	if l := authFailures(5); l.Burst != 5 {
		t.Errorf("authFailures(5) = %+v, want burst 5", l)
	}
}
