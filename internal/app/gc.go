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

// embeddedHeadroom is what the soft memory limit allows beyond the
// embedded broker's retention bound (both topics): the embedded broker
// keeps its retained records in the heap, so without this bound a heap
// of five times the live heap would be five times the retained records.
const embeddedHeadroom = 64 << 20

// gcMemoryBound is the soft memory limit c asks for besides the
// machine's share: the embedded broker's retention bound of both topics
// plus embeddedHeadroom; 0 (none) with an external Kafka or no size bound.
func (c Config) gcMemoryBound() int64 {
	if len(c.KafkaBrokers) > 0 || c.Embedded.RetentionBytes <= 0 {
		return 0
	}
	return 2*c.Embedded.RetentionBytes + embeddedHeadroom
}

var gcSettings struct {
	sync.Mutex
	users          int
	percent        int
	limit          int64
	percentChanged bool
	limitChanged   bool
}

// tuneGC applies serve's collector settings (serveGCPercent and the soft
// memory limit: the machine's share, or bound if smaller and not 0) unless the environment sets GOGC or GOMEMLIMIT, which the
// runtime has applied and which stay. The returned function restores the
// settings of before once the last serve running in this process calls
// it (bench and tests run several).
func tuneGC(bound int64) (restore func()) {
	g := &gcSettings
	g.Lock()
	defer g.Unlock()
	if g.users == 0 {
		g.percentChanged, g.limitChanged = false, false
		if _, set := os.LookupEnv("GOGC"); !set {
			g.percent, g.percentChanged = debug.SetGCPercent(serveGCPercent), true
		}
		if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
			limit := int64(float64(broker.MachineMemory()) * serveMemoryShare)
			if bound > 0 && (limit <= 0 || bound < limit) {
				limit = bound
			}
			if limit > 0 {
				g.limit, g.limitChanged = debug.SetMemoryLimit(limit), true
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
