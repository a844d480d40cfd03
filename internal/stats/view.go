package stats

import (
	"slices"
	"time"
)

// Interval is the figures of one interval, as the API gives them. Times
// are seconds. docs/STATS.md defines each.
type Interval struct {
	Offered                int64   `json:"offered"`
	Answered               int64   `json:"answered"`
	Abandoned              int64   `json:"abandoned"`
	AbandonedWithin5s      int64   `json:"abandonedWithin5s"`
	AnsweredInServiceLevel int64   `json:"answeredInServiceLevel"`
	ServiceLevel           float64 `json:"serviceLevel"` // percent; 100 with nothing to count
	AvgSpeedOfAnswer       float64 `json:"avgSpeedOfAnswer"`
	MaxSpeedOfAnswer       float64 `json:"maxSpeedOfAnswer"`
	Routed                 int64   `json:"routed,omitempty"`
	Handled                int64   `json:"handled"`
	AvgTalk                float64 `json:"avgTalk"`
	AvgHold                float64 `json:"avgHold"`
	AvgAfterCallWork       float64 `json:"avgAfterCallWork"`
	AvgHandleTime          float64 `json:"avgHandleTime"`
	Transfers              int64   `json:"transfers"`
	Conferences            int64   `json:"conferences"`
	RONA                   int64   `json:"rona"`
	// TimeInState: agents (and agent groups) only, seconds per state,
	// Talking and Held from the agent's answered calls.
	TimeInState map[string]float64 `json:"timeInState,omitempty"`
}

// Intervals are the figures since the start of the tenant's day and over
// the sliding 15 and 60 minutes.
type Intervals struct {
	Today  Interval `json:"today"`
	Last15 Interval `json:"last15m"`
	Last60 Interval `json:"last60m"`
}

// QueueStats is one ACD queue or routing point.
type QueueStats struct {
	Queue string `json:"queue"`
	Kind  string `json:"kind,omitempty"`
	// ServiceLevelThreshold in seconds.
	ServiceLevelThreshold float64 `json:"serviceLevelThreshold"`
	Waiting               int     `json:"waiting"`
	LongestWait           float64 `json:"longestWait"`
	// Agents counts the queue's agent group (agents logged in to it) by
	// current state; Group sums their figures over the same intervals as
	// the queue's own.
	Agents map[string]int `json:"agents"`
	Group  Intervals      `json:"group"`
	// Calls counts the calls in progress at the queue by state: the calls
	// waiting there, and those whose party was delivered from it.
	Calls map[string]int `json:"calls"`
	Intervals
}

// AgentStats is one agent.
type AgentStats struct {
	Agent       string   `json:"agent"`
	DN          string   `json:"dn,omitempty"`
	State       string   `json:"state"`
	TimeInState float64  `json:"timeInState"`
	Queues      []string `json:"queues"`
	Intervals
}

// TenantStats is the tenant as a whole.
type TenantStats struct {
	Tenant      string         `json:"tenant"`
	Day         string         `json:"day"` // YYYY-MM-DD in the tenant's time zone
	TimeZone    string         `json:"timeZone"`
	At          time.Time      `json:"at"`
	Events      int64          `json:"events"`
	Waiting     int            `json:"waiting"`
	LongestWait float64        `json:"longestWait"`
	Agents      map[string]int `json:"agents"`
	Calls       map[string]int `json:"calls"`
	Intervals
}

// The display states of an agent: its agent state, or its call's state
// while it has one.
const (
	dRinging = "Ringing"
	dTalking = "Talking"
	dHeld    = "Held"
)

func secs(us int64) float64 { return float64(us) / 1e6 }

func avg(sum, n int64) float64 {
	if n == 0 {
		return 0
	}
	return secs(sum) / float64(n)
}

func interval(c *Counters, agent bool) Interval {
	iv := Interval{
		Offered: c.Offered, Answered: c.Answered, Abandoned: c.Abandoned,
		AbandonedWithin5s: c.AbandonedShort, AnsweredInServiceLevel: c.AnsweredInSL,
		ServiceLevel:     100,
		AvgSpeedOfAnswer: avg(c.SpeedSum, c.Answered), MaxSpeedOfAnswer: secs(c.SpeedMax),
		Routed: c.Routed, Handled: c.Handled,
		AvgTalk: avg(c.TalkSum, c.Handled), AvgHold: avg(c.HoldSum, c.Handled),
		AvgAfterCallWork: avg(c.ACWSum, c.ACWCount),
		AvgHandleTime:    avg(c.TalkSum+c.HoldSum+c.ACWSum, c.Handled),
		Transfers:        c.Transfers, Conferences: c.Conferences, RONA: c.RONA,
	}
	if d := c.Answered + c.Abandoned - c.AbandonedShort; d > 0 {
		iv.ServiceLevel = 100 * float64(c.AnsweredInSL) / float64(d)
	}
	if agent {
		iv.TimeInState = map[string]float64{}
		for s := NotReady; s < numStates; s++ {
			iv.TimeInState[s.String()] = secs(c.StateTime[s])
		}
		iv.TimeInState[dTalking] = secs(c.TalkSum)
		iv.TimeInState[dHeld] = secs(c.HoldSum)
	}
	return iv
}

// view is a tenant seen at an instant.
type view struct {
	t        *tenantState
	now      int64
	dayStart int64
	today    bool // the tenant's day counters are of now's day
}

func (t *tenantState) at(now time.Time) view {
	n := now.UnixMicro()
	ds, _ := t.dayOf(n)
	return view{t: t, now: n, dayStart: ds, today: ds == t.DayStart}
}

// intervals reads a series; open adds, for agents, the span of the
// current state still running.
func (v view) intervals(s *Series, open func(c *Counters, from int64)) Intervals {
	var day Counters
	if v.today {
		day = s.Day
	}
	nm := floorDiv(v.now, minute)
	w15, w60 := s.window(nm, 15), s.window(nm, 60)
	agent := open != nil
	if agent {
		open(&day, v.dayStart)
		open(&w15, (nm-14)*minute)
		open(&w60, (nm-59)*minute)
	}
	return Intervals{Today: interval(&day, agent), Last15: interval(&w15, agent), Last60: interval(&w60, agent)}
}

func (v view) agentOpen(ag *agentState) func(*Counters, int64) {
	return func(c *Counters, from int64) {
		if ag.State != LoggedOut && ag.Since > 0 {
			if f := max(from, ag.Since); v.now > f {
				c.StateTime[ag.State] += v.now - f
			}
		}
	}
}

func (ag *agentState) display() (string, int64) {
	switch {
	case ag.State == LoggedOut:
		return LoggedOut.String(), ag.Since
	case ag.Talking > 0:
		return dTalking, ag.CallFrom
	case ag.Held > 0:
		return dHeld, ag.CallFrom
	case ag.Ringing > 0:
		return dRinging, ag.CallFrom
	}
	return ag.State.String(), ag.Since
}

// Tenant returns the tenant's figures at now, or false for a tenant that
// has had no event.
func (a *Aggregator) Tenant(id string, now time.Time) (TenantStats, bool) {
	t := a.tenants[id]
	if t == nil {
		return TenantStats{}, false
	}
	v := t.at(now)
	ts := TenantStats{
		Tenant: id, Day: time.UnixMicro(v.dayStart).In(t.loc).Format(time.DateOnly),
		TimeZone: t.loc.String(), At: now.UTC(), Events: t.Events,
		Agents: map[string]int{}, Calls: map[string]int{},
		Intervals: v.intervals(&t.Total, nil),
	}
	for _, ag := range t.Agents {
		if ag.State != LoggedOut {
			s, _ := ag.display()
			ts.Agents[s]++
		}
	}
	for _, c := range t.Calls {
		if c.Wait != "" {
			ts.Waiting++
			ts.LongestWait = max(ts.LongestWait, secs(v.now-c.WaitFrom))
		}
		if s := c.display(); s != "" {
			ts.Calls[s]++
		}
	}
	return ts, true
}

func (c *callState) display() string { return c.displayAt("") }

// displayAt is the call's state as seen at queue or routing point q (all
// of it for ""): only q's own parties count, and Waiting only at q. A call
// that neither waits at q nor has a party delivered from q has none.
func (c *callState) displayAt(q string) string {
	var ringing, talking, held, dialing bool
	for _, p := range c.Parties {
		if p.Observer || (q != "" && p.Queue != q) {
			continue
		}
		switch p.State {
		case pRinging:
			ringing = true
		case pTalking:
			talking = true
		case pHeld:
			held = true
		case pDialing:
			dialing = true
		}
	}
	switch {
	case talking:
		return dTalking
	case held:
		return dHeld
	case ringing:
		return dRinging
	case c.Wait != "" && (q == "" || c.Wait == q):
		return "Waiting"
	case dialing:
		return "Dialing"
	}
	return ""
}

// Queues returns every queue and routing point of the tenant seen in its
// events, by number.
func (a *Aggregator) Queues(id string, now time.Time) []QueueStats {
	t := a.tenants[id]
	if t == nil {
		return nil
	}
	v := t.at(now)
	out := make([]QueueStats, 0, len(t.Queues))
	idx := map[string]int{}
	for _, n := range sortedKeys(t.Queues) {
		q := t.Queues[n]
		idx[n] = len(out)
		out = append(out, QueueStats{
			Queue: n, Kind: q.Kind, ServiceLevelThreshold: secs(t.serviceLevel(n)),
			Agents: map[string]int{}, Calls: map[string]int{}, Intervals: v.intervals(&q.Series, nil),
		})
	}
	for _, c := range t.Calls {
		if i, ok := idx[c.Wait]; ok {
			out[i].Waiting++
			out[i].LongestWait = max(out[i].LongestWait, secs(v.now-c.WaitFrom))
		}
		for i := range out {
			if s := c.displayAt(out[i].Queue); s != "" {
				out[i].Calls[s]++
			}
		}
	}
	nm := floorDiv(v.now, minute)
	group := make([][3]Counters, len(out)) // today, 15, 60 minutes
	for _, id := range sortedKeys(t.Agents) {
		ag := t.Agents[id]
		if ag.State == LoggedOut || len(ag.Queues) == 0 {
			continue
		}
		s, _ := ag.display()
		var w [3]Counters
		if v.today {
			w[0] = ag.Series.Day
		}
		w[1], w[2] = ag.Series.window(nm, 15), ag.Series.window(nm, 60)
		open := v.agentOpen(ag)
		open(&w[0], v.dayStart)
		open(&w[1], (nm-14)*minute)
		open(&w[2], (nm-59)*minute)
		for _, qn := range ag.Queues {
			if i, ok := idx[qn]; ok {
				out[i].Agents[s]++
				for k := range w {
					group[i][k].add(&w[k])
				}
			}
		}
	}
	for i := range out {
		g := &group[i]
		out[i].Group = Intervals{Today: interval(&g[0], true), Last15: interval(&g[1], true), Last60: interval(&g[2], true)}
	}
	return out
}

// Agents returns every agent of the tenant seen in its events, by id.
func (a *Aggregator) Agents(id string, now time.Time) []AgentStats {
	t := a.tenants[id]
	if t == nil {
		return nil
	}
	v := t.at(now)
	out := make([]AgentStats, 0, len(t.Agents))
	for _, n := range sortedKeys(t.Agents) {
		ag := t.Agents[n]
		s, since := ag.display()
		as := AgentStats{
			Agent: n, DN: ag.DN, State: s, Queues: append([]string{}, ag.Queues...),
			Intervals: v.intervals(&ag.Series, v.agentOpen(ag)),
		}
		if since > 0 {
			as.TimeInState = secs(max(0, v.now-since))
		}
		out = append(out, as)
	}
	return out
}

// TenantIDs returns the tenants seen, sorted.
func (a *Aggregator) TenantIDs() []string { return sortedKeys(a.tenants) }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
