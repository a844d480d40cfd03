package stats

// Counters are the interval figures of one queue, agent or tenant over one
// interval (the day so far, or one minute of the sliding windows). Times
// are microseconds. docs/STATS.md defines every field.
type Counters struct {
	Offered        int64 `json:"o,omitempty"`
	Answered       int64 `json:"a,omitempty"`
	Abandoned      int64 `json:"ab,omitempty"`
	AbandonedShort int64 `json:"abs,omitempty"` // within ShortAbandon of entering
	AnsweredInSL   int64 `json:"sl,omitempty"`
	SpeedSum       int64 `json:"ss,omitempty"` // speed of answer, summed
	SpeedMax       int64 `json:"sm,omitempty"`
	Routed         int64 `json:"r,omitempty"` // routing points: EventRouteUsed
	Handled        int64 `json:"h,omitempty"` // answered legs that ended
	TalkSum        int64 `json:"ts,omitempty"`
	HoldSum        int64 `json:"hs,omitempty"`
	ACWCount       int64 `json:"ac,omitempty"`
	ACWSum         int64 `json:"as,omitempty"`
	Transfers      int64 `json:"x,omitempty"`
	Conferences    int64 `json:"c,omitempty"`
	RONA           int64 `json:"rona,omitempty"`
	// StateTime is, for agents, the time spent in each agent state
	// (index: State).
	StateTime [numStates]int64 `json:"st"`
}

func (c *Counters) add(d *Counters) {
	c.Offered += d.Offered
	c.Answered += d.Answered
	c.Abandoned += d.Abandoned
	c.AbandonedShort += d.AbandonedShort
	c.AnsweredInSL += d.AnsweredInSL
	c.SpeedSum += d.SpeedSum
	c.SpeedMax = max(c.SpeedMax, d.SpeedMax)
	c.Routed += d.Routed
	c.Handled += d.Handled
	c.TalkSum += d.TalkSum
	c.HoldSum += d.HoldSum
	c.ACWCount += d.ACWCount
	c.ACWSum += d.ACWSum
	c.Transfers += d.Transfers
	c.Conferences += d.Conferences
	c.RONA += d.RONA
	for i := range c.StateTime {
		c.StateTime[i] += d.StateTime[i]
	}
}

const (
	minute = int64(60_000_000) // µs
	// windowMinutes is how many one-minute buckets a series keeps: the
	// longest sliding window.
	windowMinutes = 60
)

// bucket is one minute of a series.
type bucket struct {
	Minute int64    `json:"m"` // unix minute
	C      Counters `json:"c"`
}

// Series is the interval figures of one queue, agent or tenant: the day so
// far and the last 60 one-minute buckets (the sliding 15 and 60 minutes
// sum the buckets whose minute falls in the window).
type Series struct {
	Day     Counters               `json:"day"`
	Buckets [windowMinutes]*bucket `json:"b"`
}

// add records d at time at (µs): in the day when at is within the tenant's
// current day (dayStart <= at), and in at's minute bucket unless that
// minute is already older than the window.
func (s *Series) add(at, dayStart int64, d *Counters) {
	if at >= dayStart {
		s.Day.add(d)
	}
	m := floorDiv(at, minute)
	i := int(m % windowMinutes)
	b := s.Buckets[i]
	switch {
	case b == nil:
		b = &bucket{Minute: m}
		s.Buckets[i] = b
	case b.Minute < m:
		*b = bucket{Minute: m}
	case b.Minute > m:
		return // older than the window
	}
	b.C.add(d)
}

// window sums the buckets of the minutes (nowMinute-n, nowMinute].
func (s *Series) window(nowMinute int64, n int64) Counters {
	var c Counters
	for _, b := range s.Buckets {
		if b != nil && b.Minute > nowMinute-n && b.Minute <= nowMinute {
			c.add(&b.C)
		}
	}
	return c
}

// addSpan records d.StateTime-like durations: the span [from, to) of state
// st, split over the day and the minute buckets it covers (only the last
// windowMinutes of it can fall in a window).
func (s *Series) addSpan(st State, from, to, dayStart int64) {
	if to <= from {
		return
	}
	var d Counters
	if f := max(from, dayStart); to > f {
		d.StateTime[st] = to - f
		s.Day.add(&d)
	}
	f := max(from, (floorDiv(to, minute)-windowMinutes+1)*minute)
	for f < to {
		end := min(to, (floorDiv(f, minute)+1)*minute)
		d.StateTime[st] = end - f
		s.add(f, maxInt64, &d) // the day already has it
		f = end
	}
}

const maxInt64 = int64(^uint64(0) >> 1)

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
