package app

import (
	"os"
	"runtime/debug"
	"sync"

	"github.com/switchboard-cc/switchboard/internal/broker"
)

// serveGCPercent is serve's garbage-collection target (the GOGC percent)
// when the environment sets no GOGC. The collector's CPU is about the
// allocation rate divided by this percent: under SIP load, where every
// call allocates its messages and transactions and the live heap is
// small, Go's default of 100 makes collection a fifth of serve's CPU.
// At 400 the heap may grow to five times the live heap between
// collections instead of twice; serveMemoryShare bounds that.
const serveGCPercent = 400

// serveMemoryShare is the share of the machine's memory (or the
// container's limit) given to the runtime as its soft memory limit when
// the environment sets no GOMEMLIMIT: near it, the collector runs as
// often as it must to stay below, whatever the percent.
const serveMemoryShare = 0.75

var gcSettings struct {
	sync.Mutex
	users          int
	percent        int
	limit          int64
	percentChanged bool
	limitChanged   bool
}

// tuneGC applies serve's collector settings (serveGCPercent and the soft
// memory limit) unless the environment sets GOGC or GOMEMLIMIT, which the
// runtime has applied and which stay. The returned function restores the
// settings of before once the last serve running in this process calls
// it (bench and tests run several).
func tuneGC() (restore func()) {
	g := &gcSettings
	g.Lock()
	defer g.Unlock()
	if g.users == 0 {
		g.percentChanged, g.limitChanged = false, false
		if _, set := os.LookupEnv("GOGC"); !set {
			g.percent, g.percentChanged = debug.SetGCPercent(serveGCPercent), true
		}
		if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
			if mem := broker.MachineMemory(); mem > 0 {
				g.limit, g.limitChanged = debug.SetMemoryLimit(int64(float64(mem)*serveMemoryShare)), true
			}
		}
	}
	g.users++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.Lock()
			defer g.Unlock()
			if g.users--; g.users > 0 {
				return
			}
			if g.percentChanged {
				debug.SetGCPercent(g.percent)
			}
			if g.limitChanged {
				debug.SetMemoryLimit(g.limit)
			}
		})
	}
}
