package journal

import (
	"math"
	"time"
)

// Adaptive group commit (Options.MinSyncInterval). The flusher asks a
// pacer, before it takes a pending batch, how long that batch should wait
// for more records. It waits only under load: when the records arriving
// over the last few intervals would gather at least paceMinRecords per
// interval. A lone chain of requests at a low rate (a reply, then the next
// request, which arrives just after the previous batch started) therefore
// never waits, while at high rates batches start no sooner than the
// interval after the previous batch started. A batch whose first record
// arrives after the journal was idle for an interval never waits either:
// the interval since the previous batch's start is over by then.

const (
	// paceWindow is the time constant of the arrival rate, in intervals:
	// the rate is an exponentially weighted count of records whose weight
	// falls by e every paceWindow intervals.
	paceWindow = 4
	// paceMinRecords is the arrival rate, in records per interval, from
	// which a batch waits: below it waiting would gather too few records
	// to be worth its latency.
	paceMinRecords = 4
	// paceRest is how long, in intervals, the pacer lets batches through
	// after a wait that gathered no record: the records come from a few
	// callers that each wait for their reply (a closed loop), so waiting
	// only delays them. It then tries waiting again.
	paceRest = 50
)

// pacer decides whether a batch waits. It is driven by explicit timestamps
// (the flusher passes time.Now()), so a unit test can drive it with any
// clock. Only the flusher uses it.
type pacer struct {
	iv    time.Duration // Options.MinSyncInterval; 0: never wait
	score float64       // records taken, weighted by exp(-age/(paceWindow*iv)), as of at
	at    time.Time     // when score was last brought up to date
	start time.Time     // when the previous batch was taken; zero before the first
	rest  time.Time     // no waiting before this (gathered)
}

// decayed is the score brought forward to now.
func (p *pacer) decayed(now time.Time) float64 {
	dt := now.Sub(p.at)
	if dt <= 0 || p.score == 0 {
		return p.score
	}
	return p.score * math.Exp(-float64(dt)/float64(paceWindow*p.iv))
}

// wait returns how long a pending batch of n records should still wait at
// now for more records; 0 means take it now. The batch waits until the
// interval since the previous batch's start is over, but only if the
// arrival rate over the last few intervals, this batch's n records
// included, is at least paceMinRecords per interval.
func (p *pacer) wait(now time.Time, n int) time.Duration {
	if p.iv <= 0 || p.start.IsZero() || now.Before(p.rest) {
		return 0
	}
	rate := (p.decayed(now) + float64(n)) / paceWindow // records per interval
	if rate < paceMinRecords {
		return 0
	}
	return max(0, p.iv-now.Sub(p.start))
}

// took records that a batch of n records was taken at now.
func (p *pacer) took(now time.Time, n int) {
	p.score = p.decayed(now) + float64(n)
	p.at = now
	p.start = now
}

// gathered records at now that a wait of d let k more records join its
// batch. A wait of half an interval or more that gathered none means the
// records come from callers that each wait for their reply: for paceRest
// intervals no batch waits. (A shorter wait, the rest of an interval
// mostly over, may gather none by chance.)
func (p *pacer) gathered(now time.Time, d time.Duration, k int) {
	if k <= 0 && 2*d >= p.iv {
		p.rest = now.Add(paceRest * p.iv)
	}
}
