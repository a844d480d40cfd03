package app

import (
	"os"
	"runtime/debug"
	"testing"
)

// gcPercent reads the collector's percent without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// unsetenv removes key for the test and puts it back after.
func unsetenv(t *testing.T, key string) {
	t.Setenv(key, "") // restores the old value (or its absence) at cleanup
	os.Unsetenv(key)
}

// TestTuneGC: without GOGC and GOMEMLIMIT in the environment serve raises
// the collector's percent and sets a soft memory limit, for as long as a
// serve runs in the process; the settings of before come back when the
// last one stops.
func TestTuneGC(t *testing.T) {
	unsetenv(t, "GOGC")
	unsetenv(t, "GOMEMLIMIT")
	before, limitBefore := debug.SetGCPercent(77), debug.SetMemoryLimit(-1)
	defer func() { debug.SetGCPercent(before); debug.SetMemoryLimit(limitBefore) }()
	debug.SetMemoryLimit(1 << 50)

	r1 := tuneGC()
	if got := gcPercent(); got != serveGCPercent {
		t.Fatalf("percent while serving = %d, want %d", got, serveGCPercent)
	}
	if lim := debug.SetMemoryLimit(-1); lim >= 1<<50 || lim <= 0 {
		t.Errorf("memory limit while serving = %d, want a share of the machine's memory", lim)
	}
	r2 := tuneGC() // a second serve in the process
	r1()
	r1() // a second call changes nothing
	if got := gcPercent(); got != serveGCPercent {
		t.Fatalf("percent with one serve still running = %d, want %d", got, serveGCPercent)
	}
	r2()
	if got := gcPercent(); got != 77 {
		t.Errorf("percent after the last serve = %d, want 77 (before)", got)
	}
	if lim := debug.SetMemoryLimit(-1); lim != 1<<50 {
		t.Errorf("memory limit after the last serve = %d, want %d (before)", lim, int64(1<<50))
	}
}

// TestTuneGCEnvironment: GOGC and GOMEMLIMIT set by the operator stay.
func TestTuneGCEnvironment(t *testing.T) {
	t.Setenv("GOGC", "77")
	t.Setenv("GOMEMLIMIT", "1TiB")
	before, limitBefore := debug.SetGCPercent(77), debug.SetMemoryLimit(1<<40)
	defer func() { debug.SetGCPercent(before); debug.SetMemoryLimit(limitBefore) }()
	restore := tuneGC()
	if got := gcPercent(); got != 77 {
		t.Errorf("percent with GOGC=77 = %d, want 77", got)
	}
	if lim := debug.SetMemoryLimit(-1); lim != 1<<40 {
		t.Errorf("memory limit with GOMEMLIMIT set = %d, want %d", lim, int64(1<<40))
	}
	restore()
}
