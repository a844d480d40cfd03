package media

import (
	"context"
	"sync"
	"testing"
	"time"
)

type recTicker struct {
	mu    sync.Mutex
	at    []time.Time
	elaps []int
}

func (r *recTicker) tick(now time.Time, elapsed int) {
	r.mu.Lock()
	r.at = append(r.at, now)
	r.elaps = append(r.elaps, elapsed)
	r.mu.Unlock()
}

func (r *recTicker) snapshot() ([]time.Time, []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time{}, r.at...), append([]int{}, r.elaps...)
}

// step advances the fake clock by d once the scheduler goroutine has
// armed its timer, and waits until it has ticked and re-armed.
func step(t *testing.T, c *FakeClock, s *Scheduler, d time.Duration) {
	t.Helper()
	waitFor(t, func() bool { return c.Waiters() == 1 })
	before := s.Ticks.Load()
	c.Advance(d)
	waitFor(t, func() bool { return s.Ticks.Load() > before || c.Waiters() == 1 })
	waitFor(t, func() bool { return c.Waiters() == 1 })
}

func waitFor(t *testing.T, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestSchedulerCadenceOnFakeClock(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := NewFakeClock(t0)
	s := NewScheduler(c)
	a, b := &recTicker{}, &recTicker{}
	s.add(a)
	s.add(b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	for range 5 {
		step(t, c, s, Ptime)
	}
	at, el := a.snapshot()
	if len(at) != 5 {
		t.Fatalf("%d ticks after 5 periods, want 5", len(at))
	}
	for i := range at {
		if want := t0.Add(time.Duration(i+1) * Ptime); !at[i].Equal(want) || el[i] != 1 {
			t.Fatalf("tick %d at %v elapsed %d, want %v elapsed 1", i, at[i].Sub(t0), el[i], want.Sub(t0))
		}
	}
	// Half a period late: still one tick, and the next deadline stays on
	// the grid (no drift).
	step(t, c, s, Ptime+10*time.Millisecond)
	step(t, c, s, 10*time.Millisecond)
	at, el = a.snapshot()
	if len(at) != 7 || !at[6].Equal(t0.Add(7*Ptime)) || el[5] != 1 || el[6] != 1 {
		t.Fatalf("late tick: at %v elapsed %v", at[5:], el[5:])
	}
	// A stall of 100 ms: one tick saying 5 periods passed, not a burst of 5.
	step(t, c, s, 100*time.Millisecond)
	at, el = a.snapshot()
	if len(at) != 8 || el[7] != 5 {
		t.Fatalf("after a 100 ms stall: %d ticks, last elapsed %v; want 8 ticks, elapsed 5", len(at), el[7:])
	}
	if s.Stalls.Load() != 1 {
		t.Fatalf("stalls %d, want 1", s.Stalls.Load())
	}
	// Lateness: the half-period-late tick (10 ms) and the stall (80 ms
	// past its deadline); the others on time.
	for _, c := range []struct {
		over time.Duration
		want uint64
	}{{time.Millisecond, 2}, {10 * time.Millisecond, 2}, {20 * time.Millisecond, 1}, {50 * time.Millisecond, 1}} {
		if got := s.LateOver(c.over); got != c.want {
			t.Fatalf("wake-ups %v late or more: %d, want %d", c.over, got, c.want)
		}
	}
	// Back on the 20 ms grid after the stall.
	step(t, c, s, Ptime)
	at, _ = a.snapshot()
	if !at[8].Equal(t0.Add(13 * Ptime)) {
		t.Fatalf("after the stall the tick is at %v, want %v", at[8].Sub(t0), 13*Ptime)
	}
	bt, _ := b.snapshot()
	if len(bt) != len(at) {
		t.Fatalf("second session ticked %d times, first %d", len(bt), len(at))
	}
	s.remove(a)
	step(t, c, s, Ptime)
	if at2, _ := a.snapshot(); len(at2) != len(at) {
		t.Fatal("removed session still ticked")
	}
}

// A scheduler without sessions has no timer armed: an idle server does
// not wake every 20 ms. The first session arms it again, on a grid that
// starts when the session came.
func TestSchedulerIdleWithoutSessions(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := NewFakeClock(t0)
	s := NewScheduler(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	a := &recTicker{}
	s.add(a)
	step(t, c, s, Ptime)
	if at, _ := a.snapshot(); len(at) != 1 || !at[0].Equal(t0.Add(Ptime)) {
		t.Fatalf("ticks %v, want one at 20 ms", at)
	}
	s.remove(a)
	c.Advance(Ptime) // the tick already armed finds no session and stops
	waitFor(t, func() bool { return s.Idles.Load() == 1 })
	ticks := s.Ticks.Load()
	for range 10 {
		c.Advance(time.Second)
	}
	time.Sleep(10 * time.Millisecond)
	if n := s.Ticks.Load(); n != ticks || c.Waiters() != 0 {
		t.Fatalf("idle scheduler ticked %d times in 10 s, %d timers armed", n-ticks, c.Waiters())
	}

	// Back to work: the first tick 20 ms after the session came, one
	// period elapsed (not the 10 s idle), then on the new grid.
	b := &recTicker{}
	s.add(b)
	step(t, c, s, Ptime)
	step(t, c, s, Ptime)
	at, el := b.snapshot()
	back := t0.Add(2*Ptime + 10*time.Second)
	if len(at) != 2 || el[0] != 1 || el[1] != 1 || !at[0].Equal(back.Add(Ptime)) || !at[1].Equal(back.Add(2*Ptime)) {
		t.Fatalf("after idle: ticks at %v elapsed %v, want at +20 and +40 ms after %v, elapsed 1", at, el, back)
	}
	if s.Stalls.Load() != 0 {
		t.Fatalf("%d stalls counted across the idle time", s.Stalls.Load())
	}
}
