package media

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Ptime is the packet interval of every stream.
const Ptime = 20 * time.Millisecond

// ticker is what a scheduler drives every 20 ms: a session's send path.
type ticker interface {
	// tick sends one packet; elapsed is how many 20 ms periods passed
	// since the previous tick (more than 1 after a stall).
	tick(now time.Time, elapsed int)
}

// Scheduler sends for its sessions on one 20 ms tick: one goroutine and
// one timer however many calls it carries, and no timer while it carries
// none (an idle server does not wake 50 times a second per scheduler).
// After a stall (the goroutine
// was not scheduled, a GC pause) it sends one packet per session, not a
// burst to catch up: the packet's RTP timestamp skips the missed periods
// so the receiver's jitter buffer sees a gap in time and plays through it.
type Scheduler struct {
	clock Clock

	mu      sync.Mutex
	members []ticker
	// wake tells an idle Run (no members, no timer) that a first member
	// came; buffered, so a wake-up sent before Run waits is not lost.
	wake chan struct{}
	run  []ticker // the tick's copy, reused: no allocation per tick

	// Ticks and Stalls count ticks and ticks that found more than one
	// period elapsed; Idles counts the times Run stopped its timer for
	// want of sessions.
	Ticks, Stalls, Idles atomic.Uint64
	// late counts Run's wake-ups by how late they were past their
	// deadline, in the buckets of LateBounds (the last: later still).
	late [len(LateBounds) + 1]atomic.Uint64
}

// LateBounds bound the buckets of a scheduler's wake-up lateness: how
// long past its deadline Run found itself running (the Go runtime or the
// kernel had not scheduled it); it sends its packets that much late.
var LateBounds = [...]time.Duration{time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond}

// LateOver is how many of Run's wake-ups were at least d past their
// deadline; d is one of LateBounds.
func (s *Scheduler) LateOver(d time.Duration) uint64 {
	var n uint64
	for i := len(LateBounds); i > 0 && LateBounds[i-1] >= d; i-- {
		n += s.late[i].Load()
	}
	return n
}

func (s *Scheduler) observeLate(d time.Duration) {
	i := 0
	for i < len(LateBounds) && d >= LateBounds[i] {
		i++
	}
	s.late[i].Add(1)
}

// NewScheduler makes a scheduler on clock; Run starts it.
func NewScheduler(clock Clock) *Scheduler {
	return &Scheduler{clock: clock, wake: make(chan struct{}, 1)}
}

func (s *Scheduler) add(t ticker) {
	s.mu.Lock()
	s.members = append(s.members, t)
	first := len(s.members) == 1
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

func (s *Scheduler) remove(t ticker) {
	s.mu.Lock()
	for i, m := range s.members {
		if m == t {
			last := len(s.members) - 1
			s.members[i] = s.members[last]
			s.members[last] = nil
			s.members = s.members[:last]
			break
		}
	}
	s.mu.Unlock()
}

// Len is how many sessions the scheduler carries.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.members)
}

// Run ticks until ctx ends. Deadlines are start + k*20 ms, so the cadence
// does not drift with the time each tick takes. While the scheduler has
// no session its timer is stopped and Run waits for the next one; the
// grid starts again 20 ms after it comes.
func (s *Scheduler) Run(ctx context.Context) {
	var (
		t    Timer // nil until the first session
		next time.Time
	)
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	armed := false
	for {
		if s.Len() == 0 {
			if armed {
				t.Stop()
				armed = false
				s.Idles.Add(1)
			}
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
			continue // the session may have left already
		}
		if !armed {
			next = s.clock.Now().Add(Ptime)
			if t == nil {
				t = s.clock.NewTimer(Ptime)
			} else {
				t.Reset(Ptime)
			}
			armed = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		now := s.clock.Now()
		elapsed := 1
		late := now.Sub(next)
		s.observeLate(late)
		if late >= Ptime {
			elapsed += int(late / Ptime)
		}
		next = next.Add(time.Duration(elapsed) * Ptime)
		s.Tick(now, elapsed)
		t.Reset(next.Sub(s.clock.Now()))
	}
}

// Tick sends one packet for every session. Run calls it; tests may too.
func (s *Scheduler) Tick(now time.Time, elapsed int) {
	s.mu.Lock()
	s.run = append(s.run[:0], s.members...)
	s.mu.Unlock()
	s.Ticks.Add(1)
	if elapsed > 1 {
		s.Stalls.Add(1)
	}
	for _, m := range s.run {
		m.tick(now, elapsed)
	}
	clear(s.run)
}
