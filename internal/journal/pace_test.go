package journal

import (
	"container/heap"
	"context"
	"math/rand/v2"
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
			for i+n < len(arrivals) && arrivals[i+n] <= now {
				n++
			}
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

// A paceLoad is records from sources whose arrival may depend on earlier
// records being durable: each source's first record arrives at its start,
// each later one think after the previous one became durable (a caller
// that waits for its reply, or a call whose next step follows the previous
// step's reply). length is the records of each source, 0: unbounded; a
// source sends none from stop on, if set.
type paceLoad struct {
	starts []time.Duration
	length int
	think  func(*rand.Rand) time.Duration
	stop   time.Duration
}

// paceSimResult is what paceSim saw: when each batch was taken, the
// records taken and the batches that waited.
type paceSimResult struct {
	takes          []time.Duration
	records, waits int
}

// batchesPerIv is how many batches per interval r took in [from, to).
func (r paceSimResult) batchesPerIv(iv, from, to time.Duration) float64 {
	n := 0
	for _, at := range r.takes {
		if at >= from && at < to {
			n++
		}
	}
	return float64(n) * float64(iv) / float64(to-from)
}

// paceSim drives a pacer like the flusher does, with explicit timestamps,
// for the loads until the clock passes until: a batch is taken when the
// flusher is free (fsync after the previous take) and the pacer says not
// to wait; its records become durable fsync after it was taken.
func paceSim(iv, fsync, until time.Duration, seed uint64, loads ...paceLoad) paceSimResult {
	rng := rand.New(rand.NewPCG(seed, 1))
	p := pacer{iv: iv}
	base := time.Unix(1000, 0)
	q := &simQueue{}
	type source struct {
		load *paceLoad
		sent int
	}
	var srcs []source
	for l := range loads {
		for _, at := range loads[l].starts {
			heap.Push(q, simRec{at, len(srcs)})
			srcs = append(srcs, source{load: &loads[l]})
		}
	}
	var r paceSimResult
	var batch []int
	free := time.Duration(0)
	for q.Len() > 0 {
		now := max(free, (*q)[0].at)
		if now >= until {
			break
		}
		batch = batch[:0]
		take := func() {
			for q.Len() > 0 && (*q)[0].at <= now {
				batch = append(batch, heap.Pop(q).(simRec).src)
			}
		}
		take()
		if d := p.wait(base.Add(now), len(batch)); d > 0 {
			r.waits++
			now += d
			take()
		}
		p.took(base.Add(now), len(batch))
		r.takes = append(r.takes, now)
		r.records += len(batch)
		free = now + fsync
		for _, i := range batch {
			s := &srcs[i]
			if s.sent++; s.load.length != 0 && s.sent >= s.load.length {
				continue
			}
			if next := free + s.load.think(rng); s.load.stop == 0 || next < s.load.stop {
				heap.Push(q, simRec{next, i})
			}
		}
	}
	return r
}

type simRec struct {
	at  time.Duration
	src int
}

// simQueue is a heap of records by arrival time.
type simQueue []simRec

func (q simQueue) Len() int           { return len(q) }
func (q simQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q simQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)        { *q = append(*q, x.(simRec)) }
func (q *simQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// poisson returns the arrival times of a Poisson process of rate per
// second up to until.
func poisson(rng *rand.Rand, rate float64, until time.Duration) []time.Duration {
	var ts []time.Duration
	for at := time.Duration(0); ; {
		at += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
		if at >= until {
			return ts
		}
		ts = append(ts, at)
	}
}

// uniform returns a think time drawn uniformly from [lo, hi).
func uniform(lo, hi time.Duration) func(*rand.Rand) time.Duration {
	return func(rng *rand.Rand) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
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
	// A load that waiting does not slow keeps about one batch per
	// interval: over 10 s of each of 8 random loads, at most 1.2 on
	// average (the probes take every batch at once for paceProbe of every
	// paceLong+paceProbe intervals; a probe that finds batches taken at
	// once faster by chance, ~1% of them, makes them so for paceLong
	// intervals), and no load above 1.5.
	paced := func(t *testing.T, name string, load func(seed uint64) paceLoad) {
		t.Helper()
		const until = 10 * time.Second
		sum, worst := 0.0, 0.0
		for seed := range uint64(8) {
			r := paceSim(iv, 300*time.Microsecond, until, seed, load(seed))
			perIv := r.batchesPerIv(iv, 0, until)
			sum += perIv
			worst = max(worst, perIv)
		}
		if mean := sum / 8; mean > 1.2 || worst > 1.5 {
			t.Fatalf("%s: %.2f batches per interval on average, %.2f at most; want about 1", name, mean, worst)
		}
	}
	t.Run("open load with chance gaps", func(t *testing.T) {
		// 3,000 independent records/s (6 per interval, arriving at
		// random), fsync 0.3 ms. A wait that gathers nothing happens by
		// chance (no record for a millisecond: e^-3, 5%); the rule that
		// stopped waiting for 50 intervals after one took ~2.4 batches
		// per interval.
		paced(t, "3,000 records/s", func(seed uint64) paceLoad {
			return paceLoad{starts: poisson(rand.New(rand.NewPCG(seed, 2)), 3000, 10*time.Second), length: 1}
		})
	})
	t.Run("calls chained on replies", func(t *testing.T) {
		// SIP calls at 1,000/s, each 3 records, each after the previous
		// one's reply (0.1-0.4 ms later): most records follow a batch's
		// fsync and waits often end in silence, yet waiting costs no
		// records, so batches stay at about one per interval.
		paced(t, "1,000 calls/s", func(seed uint64) paceLoad {
			return paceLoad{starts: poisson(rand.New(rand.NewPCG(seed, 3)), 1000, 10*time.Second), length: 3,
				think: uniform(100*time.Microsecond, 400*time.Microsecond)}
		})
	})
	t.Run("closed loop", func(t *testing.T) {
		// Callers that each send their next request 0.05-0.3 ms after
		// their reply (fsync 0.2 ms): waiting would cut their records per
		// second by about 4; the pacer finds that in its probes and
		// takes batches at once. Within 7% of never waiting.
		for _, callers := range []int{1, 2, 8, 64} {
			for seed := range uint64(3) {
				const until = 4 * time.Second
				load := paceLoad{starts: make([]time.Duration, callers),
					think: uniform(50*time.Microsecond, 300*time.Microsecond)}
				free := paceSim(0, 200*time.Microsecond, until, seed, load)
				paced := paceSim(iv, 200*time.Microsecond, until, seed, load)
				if float64(paced.records) < 0.93*float64(free.records) {
					t.Fatalf("%d callers, seed %d: %d records paced (%d waits), %d never waiting", callers, seed, paced.records, paced.waits, free.records)
				}
			}
		}
	})
	t.Run("closed loop, then open load", func(t *testing.T) {
		// 8 callers for a second, then 3,000 independent records/s: the
		// probe after a long phase finds that waiting costs nothing now,
		// so batches come back to about one per interval.
		const until = 6 * time.Second
		closed := paceLoad{starts: make([]time.Duration, 8), think: uniform(50*time.Microsecond, 300*time.Microsecond), stop: time.Second}
		var open paceLoad
		open.length = 1
		for _, at := range poisson(rand.New(rand.NewPCG(7, 2)), 3000, until) {
			if at >= time.Second {
				open.starts = append(open.starts, at)
			}
		}
		r := paceSim(iv, 200*time.Microsecond, until, 7, closed, open)
		from := time.Second + (paceLong+2*paceProbe)*iv
		if perIv := r.batchesPerIv(iv, from, until); perIv > 1.15 {
			t.Fatalf("%.2f batches per interval from %v, want about 1", perIv, from)
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
