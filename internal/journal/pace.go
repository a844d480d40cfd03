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
//
// Waiting must not cost throughput: when the records come from a few
// callers that each wait for their reply (a closed loop, such as a few API
// clients), every wait delays all of them and fewer records arrive. An
// open load (calls arriving at their own rate) brings as many records
// whether batches wait or not. Neither can be told from the gaps between
// records: under an open SIP load most records also follow the replies of
// the previous batch (each call's next step waits for its previous one to
// be durable), and a wait that gathers no record happens by chance. So the
// pacer measures the effect itself: it alternates a long phase of the mode
// it chose last (waiting, or taking every batch at once) with a short
// probe of the other mode, and compares the records per interval taken in
// each (the long phase's last paceRecent intervals, the probe's all but
// its first paceSettle). If batches taken at once bring records paceGain
// times faster than waiting, the load is a closed loop and the next long
// phase takes every batch at once; otherwise it waits. After an idle pause
// (no batch for a probe's length) it starts over with a short waiting
// phase and a probe. The decision stays a function of the timestamps the
// flusher passes.

const (
	// paceWindow is the time constant of the arrival rate, in intervals:
	// the rate is an exponentially weighted count of records whose weight
	// falls by e every paceWindow intervals.
	paceWindow = 4
	// paceMinRecords is the arrival rate, in records per interval, from
	// which a batch waits: below it waiting would gather too few records
	// to be worth its latency.
	paceMinRecords = 4
	// paceLong and paceProbe are the lengths, in intervals, of a phase of
	// the mode chosen last and of a probe of the other mode: a probe costs
	// a closed loop waits (its throughput falls for paceProbe intervals)
	// and an open load unpaced fsyncs, each for 3% of the time. A wrong
	// choice, a probe misled by chance (~1% of them under an open load of
	// 6 records per interval), lasts paceLong intervals.
	paceLong  = 1000
	paceProbe = 32
	// A probe's rate leaves out its first paceSettle intervals: the switch
	// itself holds back or releases records (those that waiting kept in
	// flight). A long phase's rate counts its last paceRecent intervals.
	paceSettle = 4
	paceRecent = 200
	// paceGain is how much faster batches taken at once must bring records
	// than waiting for the load to count as a closed loop.
	paceGain = 1.3
)

// pacer decides whether a batch waits. It is driven by explicit timestamps
// (the flusher passes time.Now()), so a unit test can drive it with any
// clock. Only the flusher uses it.
type pacer struct {
	iv    time.Duration // Options.MinSyncInterval; 0: never wait
	score float64       // records taken, weighted by exp(-age/(paceWindow*iv)), as of at
	at    time.Time     // when score was last brought up to date
	start time.Time     // when the previous batch was taken; zero before the first

	// The current phase: it waits unless rest is set; long is false for a
	// probe. count is the records taken in it since from; prev is the
	// records per interval so measured in the long phase before a probe.
	rest, long bool
	from, end  time.Time // when the phase is counted from and ends; end zero: no phase yet
	count      int
	prev       float64
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
// now for more records; 0 means take it now. Unless the phase takes every
// batch at once, the batch waits until the interval since the previous
// batch's start is over, but only if the arrival rate over the last few
// intervals, this batch's n records included, is at least paceMinRecords
// per interval.
func (p *pacer) wait(now time.Time, n int) time.Duration {
	if p.iv <= 0 || p.start.IsZero() {
		return 0
	}
	p.advance(now)
	if p.rest {
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
	if p.iv <= 0 {
		return
	}
	p.advance(now)
	if !now.Before(p.from) {
		p.count += n
	}
	p.score = p.decayed(now) + float64(n)
	p.at = now
	p.start = now
}

// advance ends the phases that are over by now and chooses the next ones.
func (p *pacer) advance(now time.Time) {
	if p.end.IsZero() || now.Sub(p.start) >= paceProbe*p.iv {
		// The first batch, or one after an idle pause: the load may have
		// changed. A short waiting phase, then a probe, decide anew.
		p.begin(now, false, true, paceProbe)
		return
	}
	for !now.Before(p.end) {
		rate := float64(p.count) * float64(p.iv) / float64(p.end.Sub(p.from))
		if p.long {
			p.prev = rate
			p.begin(p.end, !p.rest, false, paceProbe)
			continue
		}
		// The probe is over: choose the mode that brings records faster.
		restRate, waitRate := rate, p.prev
		if !p.rest {
			restRate, waitRate = p.prev, rate
		}
		p.begin(p.end, restRate > paceGain*waitRate, true, paceLong)
	}
}

// begin starts a phase at now of length intervals.
func (p *pacer) begin(now time.Time, rest, long bool, length int) {
	p.rest, p.long, p.count = rest, long, 0
	p.end = now.Add(time.Duration(length) * p.iv)
	p.from = now.Add(paceSettle * p.iv)
	if recent := p.end.Add(-paceRecent * p.iv); recent.After(p.from) {
		p.from = recent
	}
}
