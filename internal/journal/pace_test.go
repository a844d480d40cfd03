package journal

import (
	"context"
	"slices"
	"testing"
	"time"
)

// paceRun drives a pacer like the flusher does, with explicit timestamps:
// records arrive at the given times; a batch is taken when the flusher is
// free (fsync seconds after the previous take) and the pacer says not to
// wait. It returns each batch's wait and size.
func paceRun(iv, fsync time.Duration, arrivals []time.Duration) (waits []time.Duration, sizes []int) {
	p := pacer{iv: iv}
	base := time.Unix(1000, 0)
	free := time.Duration(0) // when the flusher can take the next batch
	i := 0
	for i < len(arrivals) {
		now := max(free, arrivals[i])
		n := 0
		for i+n < len(arrivals) && arrivals[i+n] <= now {
			n++
		}
		d := p.wait(base.Add(now), n)
		if d > 0 {
			now += d
			n0 := n
			for i+n < len(arrivals) && arrivals[i+n] <= now {
				n++
			}
			p.gathered(base.Add(now), d, n-n0)
		}
		p.took(base.Add(now), n)
		waits = append(waits, d)
		sizes = append(sizes, n)
		i += n
		free = now + fsync
	}
	return waits, sizes
}

// every returns count arrival times, gap apart, from start.
func every(start, gap time.Duration, count int) []time.Duration {
	var ts []time.Duration
	for k := range count {
		ts = append(ts, start+time.Duration(k)*gap)
	}
	return ts
}

func TestPacerDecision(t *testing.T) {
	const iv = 2 * time.Millisecond
	t.Run("off", func(t *testing.T) {
		waits, _ := paceRun(0, 100*time.Microsecond, every(0, 10*time.Microsecond, 1000))
		if slices.ContainsFunc(waits, func(d time.Duration) bool { return d != 0 }) {
			t.Fatalf("interval 0 waited: %v", waits)
		}
	})
	t.Run("low rate chain", func(t *testing.T) {
		// One request chain at 200/s, each record 0.3 ms after the
		// previous batch started (the reply came back, the next request
		// followed): the old rule waited 1.7 ms for each.
		waits, sizes := paceRun(iv, 200*time.Microsecond, every(0, 5*time.Millisecond, 400))
		if slices.ContainsFunc(waits, func(d time.Duration) bool { return d != 0 }) || slices.Max(sizes) != 1 {
			t.Fatalf("a chain at 200 records/s waited: %v", waits)
		}
		p := pacer{iv: iv}
		base := time.Unix(1000, 0)
		p.took(base, 1)
		if d := p.wait(base.Add(300*time.Microsecond), 1); d != 0 {
			t.Fatalf("a record right after a lone batch waits %v", d)
		}
	})
	t.Run("high rate", func(t *testing.T) {
		// 10,000 records/s (20 per interval) with a 0.2 ms fsync: without
		// waiting, ~2 records per batch; the pacer gathers about an
		// interval's worth.
		waits, sizes := paceRun(iv, 200*time.Microsecond, every(0, 100*time.Microsecond, 10000))
		steady := sizes[len(sizes)/2:]
		total := 0
		for _, n := range steady {
			total += n
		}
		if avg := float64(total) / float64(len(steady)); avg < 15 {
			t.Fatalf("at 20 records per interval, %.1f records per batch; want about 20", avg)
		}
		if w := waits[len(waits)-2]; w <= 0 || w > iv {
			t.Fatalf("steady-state wait %v, want in (0, %v]", w, iv)
		}
	})
	t.Run("just below threshold", func(t *testing.T) {
		// 3 records per interval: waiting would gather too few.
		waits, _ := paceRun(iv, 100*time.Microsecond, every(0, iv/3, 3000))
		if slices.ContainsFunc(waits, func(d time.Duration) bool { return d != 0 }) {
			t.Fatal("3 records per interval waited")
		}
	})
	t.Run("after a burst", func(t *testing.T) {
		// A burst at 20 records per interval: a record half an interval
		// after the last batch waits; after a pause of a few windows, a
		// chain at a low rate does not.
		p := pacer{iv: iv}
		base := time.Unix(1000, 0)
		for _, a := range every(0, 100*time.Microsecond, 200) {
			p.took(base.Add(a), 1)
		}
		last := 199 * 100 * time.Microsecond
		if d := p.wait(base.Add(last+iv/2), 1); d != iv/2 {
			t.Fatalf("half an interval after a burst's last batch a record waits %v, want %v", d, iv/2)
		}
		at := last + 5*paceWindow*iv
		for k := range 20 {
			if d := p.wait(base.Add(at), 1); d != 0 {
				t.Fatalf("chained record %d after the pause waits %v", k, d)
			}
			p.took(base.Add(at), 1)
			at += iv / 3 // 3 records per interval
		}
	})
	t.Run("closed loop", func(t *testing.T) {
		// 8 callers that each send their next request once their reply
		// came: every batch holds the 8, back to back (fsync 0.2 ms), and
		// a wait gathers nobody. After one such wait the pacer rests for
		// paceRest intervals, so over 200 batches (40 ms) it waits once.
		iv := 2 * time.Millisecond
		p := pacer{iv: iv}
		now := time.Unix(1000, 0)
		waits := 0
		for range 200 {
			if d := p.wait(now, 8); d > 0 {
				waits++
				now = now.Add(d)
				p.gathered(now, d, 0)
			}
			p.took(now, 8)
			now = now.Add(200 * time.Microsecond)
		}
		if waits != 1 {
			t.Fatalf("%d waits in a closed loop of 8 callers, want 1", waits)
		}
		// Past the rest it tries again.
		now = now.Add(paceRest * iv)
		for range 3 {
			p.took(now, 8)
			now = now.Add(200 * time.Microsecond)
		}
		if d := p.wait(now, 8); d == 0 {
			t.Fatal("no wait after the rest at a high rate")
		}
	})
	t.Run("first batch", func(t *testing.T) {
		p := pacer{iv: iv}
		if d := p.wait(time.Unix(5, 0), 100); d != 0 {
			t.Fatalf("the first batch waits %v", d)
		}
	})
}

// A chain of records, each appended after the previous one is durable, at a
// rate below the pacer's threshold does not wait for the interval (the rule
// before the pacer made each wait out the rest of it).
func TestMinSyncIntervalChain(t *testing.T) {
	o := smallOpts(t)
	o.Logger = nil
	o.MinSyncInterval = 100 * time.Millisecond
	j := mustOpen(t, t.TempDir(), o)
	defer mustClose(t, j)
	var took []time.Duration
	for k := range 10 {
		t0 := time.Now()
		if _, err := j.AppendSync(context.Background(), payloadFor(uint64(k))); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(t0))
		time.Sleep(40 * time.Millisecond) // 2.5 records per interval
	}
	slices.Sort(took)
	if med := took[len(took)/2]; med >= 50*time.Millisecond {
		t.Fatalf("chained appends took %v (sorted); median %v, want well under the 100ms interval", took, med)
	}
}
