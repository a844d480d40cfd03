package stats

import (
	"slices"
	"time"

	"github.com/switchboard-cc/switchboard/event"
)

// State is an agent's state as the agent-state events give it.
type State uint8

// The agent states (docs/STATS.md): time in each is counted per agent.
const (
	LoggedOut State = iota
	NotReady
	Ready
	AfterCallWork
	numStates
)

var stateNames = [numStates]string{"LoggedOut", "NotReady", "Ready", "AfterCallWork"}

func (s State) String() string { return stateNames[s] }

// ShortAbandon is the bound of "abandoned within 5 s".
const ShortAbandon = 5 * time.Second

// DefaultServiceLevel is the service-level threshold of a queue or routing
// point that sets none, and the tenant's.
const DefaultServiceLevel = 20 * time.Second

// TenantOptions are what the aggregator knows of a tenant beyond its
// events: its time zone (the day starts at midnight there) and the
// service-level threshold of each queue or routing point.
type TenantOptions struct {
	Location     *time.Location
	ServiceLevel map[string]time.Duration // by queue or routing point number
	// Kinds gives each queue or routing point's type ("acd-queue",
	// "routing-point") for the views; unknown numbers are reported by what
	// their events show.
	Kinds map[string]string
}

// Options configure an Aggregator.
type Options struct {
	// Tenants by id. A tenant without options (events of a tenant not
	// configured) gets UTC and DefaultServiceLevel.
	Tenants map[string]TenantOptions
}

// Aggregator turns events into statistics. It is pure: events go in with
// their own timestamps (Add), figures come out for a given instant
// (Tenant, Queues, Agents); it reads no clock and does no I/O, so a
// stream in gives the same numbers every time. Not safe for concurrent
// use.
type Aggregator struct {
	opts    Options
	tenants map[string]*tenantState
}

// New returns an empty aggregator.
func New(opts Options) *Aggregator {
	return &Aggregator{opts: opts, tenants: map[string]*tenantState{}}
}

// tenantState is everything kept for one tenant. Its exported fields are
// the checkpoint (checkpoint.go).
type tenantState struct {
	ID       string                 `json:"id"`
	DayStart int64                  `json:"dayStart"` // µs; 0 before the first event
	DayEnd   int64                  `json:"dayEnd"`
	Total    Series                 `json:"total"`
	Queues   map[string]*queueState `json:"queues"`
	Agents   map[string]*agentState `json:"agents"`
	Calls    map[string]*callState  `json:"calls"`
	Events   int64                  `json:"events"`
	Last     int64                  `json:"last"` // latest event time seen, µs

	loc *time.Location
	sl  map[string]int64
}

type queueState struct {
	Kind   string `json:"kind,omitempty"` // "acd-queue" or "routing-point"
	Series Series `json:"series"`
}

type agentState struct {
	DN     string   `json:"dn,omitempty"`
	State  State    `json:"state"`
	Since  int64    `json:"since"`
	Queues []string `json:"queues,omitempty"` // logged in to
	// ACWQueue is the queue whose call the current after-call work follows
	// (the ACW event's ThisQueue).
	ACWQueue string `json:"acwQueue,omitempty"`
	// ACD are the agent's latest answers of calls delivered from a queue,
	// by answer time; Asked its latest after-call work spans that carried
	// no queue. Each such span counts for the queue of the latest answer at
	// or before its start; an answer read late (the call's topic behind
	// the agent's) moves the spans it now precedes (attributeACW).
	ACD   []acdAnswer `json:"acd,omitempty"`
	Asked []acwSpan   `json:"asked,omitempty"`
	// Legs by call-party state: the agent's parties ringing, talking, held.
	Ringing  int    `json:"ringing,omitempty"`
	Talking  int    `json:"talking,omitempty"`
	Held     int    `json:"held,omitempty"`
	CallFrom int64  `json:"callFrom,omitempty"` // when the call-party state last changed
	Series   Series `json:"series"`
}

// acdAnswer: the agent answered a call delivered from queue Q at At.
type acdAnswer struct {
	At int64  `json:"at"`
	Q  string `json:"q"`
}

// acwSpan is after-call work from From to To (Sum long) that its event
// did not attribute to a queue; Q is the queue it counts for now, that of
// the answer at QAt.
type acwSpan struct {
	From int64  `json:"from"`
	To   int64  `json:"to"`
	Sum  int64  `json:"sum"`
	Q    string `json:"q,omitempty"`
	QAt  int64  `json:"qAt,omitempty"`
}

// callState is one ConnID.
type callState struct {
	Inbound   bool  `json:"in,omitempty"`
	Arrival   int64 `json:"arr"`
	Answered  bool  `json:"ans,omitempty"`
	Abandoned bool  `json:"abd,omitempty"`
	// Prev is a consult call's main call.
	Prev string `json:"prev,omitempty"`
	// Wait is the queue or routing point the call waits at, since WaitFrom.
	Wait     string `json:"wait,omitempty"`
	WaitFrom int64  `json:"waitFrom,omitempty"`
	// Queues are the queues and routing points it was offered to.
	Queues  []*callQueue `json:"queues,omitempty"`
	Parties []*party     `json:"parties,omitempty"`
	Moving  bool         `json:"moving,omitempty"`
	Last    int64        `json:"last"`
}

type callQueue struct {
	Q         string `json:"q"`
	Entered   int64  `json:"at"`
	Answered  bool   `json:"ans,omitempty"`
	Abandoned bool   `json:"abd,omitempty"`
}

type partyState uint8

const (
	pDialing partyState = iota
	pRinging
	pTalking
	pHeld
)

type party struct {
	DN       string     `json:"dn"`
	Agent    string     `json:"agent,omitempty"`
	Queue    string     `json:"q,omitempty"`
	State    partyState `json:"s"`
	Observer bool       `json:"obs,omitempty"`
	Origin   bool       `json:"orig,omitempty"`
	Talk     int64      `json:"talk,omitempty"` // established at
	HeldAt   int64      `json:"heldAt,omitempty"`
	HoldSum  int64      `json:"hold,omitempty"`
	Handling bool       `json:"handling,omitempty"` // answered by an agent: counts as handled when it ends
}

func (a *Aggregator) tenant(id string) *tenantState {
	t := a.tenants[id]
	if t == nil {
		t = &tenantState{ID: id, Queues: map[string]*queueState{}, Agents: map[string]*agentState{}, Calls: map[string]*callState{}}
		a.attach(t)
		a.tenants[id] = t
	}
	return t
}

// attach sets what a tenant takes from Options (also after a restore).
func (a *Aggregator) attach(t *tenantState) {
	o := a.opts.Tenants[t.ID]
	t.loc = o.Location
	if t.loc == nil {
		t.loc = time.UTC
	}
	t.sl = map[string]int64{}
	for q, d := range o.ServiceLevel {
		t.sl[q] = d.Microseconds()
	}
	for q, k := range o.Kinds {
		if qs := t.Queues[q]; qs != nil {
			qs.Kind = k
		}
	}
}

func (t *tenantState) serviceLevel(q string) int64 {
	if d, ok := t.sl[q]; ok && d > 0 {
		return d
	}
	return DefaultServiceLevel.Microseconds()
}

// dayOf returns the start and end (µs) of the tenant's day containing at.
func (t *tenantState) dayOf(at int64) (int64, int64) {
	tm := time.UnixMicro(at).In(t.loc)
	y, m, d := tm.Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, t.loc)
	end := time.Date(y, m, d+1, 0, 0, 0, 0, t.loc)
	return start.UnixMicro(), end.UnixMicro()
}

// roll starts a new day when at is past the current one: every day
// counter starts again from zero. Open spans (agent states, waiting
// calls) carry on; their time is counted from the day's start.
func (t *tenantState) roll(at int64) {
	if at < t.DayEnd {
		return
	}
	t.DayStart, t.DayEnd = t.dayOf(at)
	t.Total.Day = Counters{}
	for _, q := range t.Queues {
		q.Series.Day = Counters{}
	}
	for _, ag := range t.Agents {
		ag.Series.Day = Counters{}
		ag.pruneACW(t.DayStart - windowMinutes*minute)
	}
	// A call left with no party that waits nowhere, whose next event
	// never came (it left through a trunk), is forgotten after a day.
	for conn, c := range t.Calls {
		if len(c.Parties) == 0 && c.Wait == "" && c.Last < t.DayStart-24*60*minute {
			delete(t.Calls, conn)
		}
	}
}

func (t *tenantState) queue(n string) *queueState {
	q := t.Queues[n]
	if q == nil {
		q = &queueState{}
		t.Queues[n] = q
	}
	return q
}

func (t *tenantState) agent(id string) *agentState {
	ag := t.Agents[id]
	if ag == nil {
		ag = &agentState{}
		t.Agents[id] = ag
	}
	return ag
}

// Add takes one event. Events of one record key must come in their order
// (Kafka gives that); across keys and topics any interleaving gives the
// same figures (docs/STATS.md says why).
func (a *Aggregator) Add(ev *event.Event) {
	if ev.CustomerID == "" {
		return
	}
	t := a.tenant(ev.CustomerID)
	at := ev.Time.UnixMicro()
	t.roll(at)
	t.Events++
	t.Last = max(t.Last, at)
	if ev.ID.Topic() == event.AgentStateTopic {
		t.agentEvent(ev, at)
	} else {
		t.callEvent(ev, at)
	}
}

func (t *tenantState) agentEvent(ev *event.Event, at int64) {
	if ev.AgentID == "" {
		return
	}
	switch ev.ID {
	case event.EventAgentLogin:
		ag := t.agent(ev.AgentID)
		ag.DN = ev.ThisDN
		if ag.State == LoggedOut {
			t.setState(ag, NotReady, "", at)
		}
		if ev.ThisQueue != "" && !contains(ag.Queues, ev.ThisQueue) {
			ag.Queues = append(ag.Queues, ev.ThisQueue)
			t.queue(ev.ThisQueue)
		}
	case event.EventQueueLogout:
		ag := t.agent(ev.AgentID)
		ag.Queues = remove(ag.Queues, ev.ThisQueue)
	case event.EventAgentLogout:
		ag := t.agent(ev.AgentID)
		t.setState(ag, LoggedOut, "", at)
		ag.Queues = nil
	case event.EventAgentReady:
		t.setState(t.agent(ev.AgentID), Ready, "", at)
	case event.EventAgentNotReady:
		if ev.AgentWorkMode == event.WorkModeAfterCallWork {
			t.setState(t.agent(ev.AgentID), AfterCallWork, ev.ThisQueue, at)
		} else {
			t.setState(t.agent(ev.AgentID), NotReady, "", at)
		}
	}
}

// setState ends the agent's current state span at at and starts st.
// After-call work that ends is counted in the agent's and its queue's
// handle time.
func (t *tenantState) setState(ag *agentState, st State, acwQueue string, at int64) {
	if st == ag.State && st != AfterCallWork {
		return
	}
	if ag.State != LoggedOut && ag.Since > 0 {
		ag.Series.addSpan(ag.State, ag.Since, at, t.DayStart)
	}
	if ag.State == AfterCallWork && ag.Since > 0 {
		d := Counters{ACWCount: 1, ACWSum: max(0, at-ag.Since)}
		ag.Series.add(at, t.DayStart, &d)
		t.Total.add(at, t.DayStart, &d)
		if ag.ACWQueue != "" {
			t.queue(ag.ACWQueue).Series.add(at, t.DayStart, &d)
		} else {
			t.askedACW(ag, acwSpan{From: ag.Since, To: at, Sum: d.ACWSum})
		}
	}
	ag.State, ag.Since, ag.ACWQueue = st, at, acwQueue
}

func (t *tenantState) callEvent(ev *event.Event, at int64) {
	if ev.ConnID == "" {
		return
	}
	c := t.Calls[ev.ConnID]
	if c == nil {
		c = &callState{Arrival: at}
		t.Calls[ev.ConnID] = c
		switch ev.ID {
		case event.EventRinging, event.EventQueued, event.EventRouteRequest:
			if ev.CallType == event.CallTypeInbound {
				c.Inbound = true
				t.Total.add(at, t.DayStart, &Counters{Offered: 1})
			}
		}
		if ev.CallType == event.CallTypeConsult {
			c.Prev = ev.PreviousConnID
		}
	}
	c.Last = at
	switch ev.ID {
	case event.EventQueued, event.EventRouteRequest:
		t.enter(c, ev, at)
	case event.EventRouteUsed:
		if c.Wait == ev.ThisDN {
			c.Wait = ""
		}
		c.Moving = true
		t.queue(ev.ThisDN).Series.add(at, t.DayStart, &Counters{Routed: 1})
	case event.EventDiverted:
		if c.Wait == ev.ThisDN {
			c.Wait = ""
			c.Moving = true
			return
		}
		p := c.party(ev.ThisDN)
		if ev.CallState == event.CallStateRedirected && ev.ThisQueue != "" && ev.ThirdPartyDN == ev.ThisQueue {
			d := Counters{RONA: 1}
			t.Total.add(at, t.DayStart, &d)
			t.queue(ev.ThisQueue).Series.add(at, t.DayStart, &d)
			if ag := agentOf(ev, p); ag != "" {
				t.agent(ag).Series.add(at, t.DayStart, &d)
			}
		}
		t.leave(c, ev.ConnID, p, at)
		c.Moving = true
	case event.EventDialing:
		p := t.join(c, ev, pDialing)
		p.Origin = true
	case event.EventRinging:
		t.join(c, ev, pRinging)
	case event.EventEstablished:
		p := c.party(ev.ThisDN)
		if p == nil {
			p = t.join(c, ev, pRinging)
		}
		t.setParty(p, pTalking, at)
		p.Talk = at
		if ev.ThisDNRole == event.RoleObserver || p.Observer {
			p.Observer = true
			return
		}
		t.answer(c, p, ev, at)
	case event.EventHeld:
		if p := c.party(ev.ThisDN); p != nil && p.State == pTalking {
			t.setParty(p, pHeld, at)
			p.HeldAt = at
		}
	case event.EventRetrieved:
		if p := c.party(ev.ThisDN); p != nil && p.State == pHeld {
			t.setParty(p, pTalking, at)
			p.HoldSum += at - p.HeldAt
		}
	case event.EventAbandoned:
		t.abandon(c, ev, at)
		if c.Wait == ev.ThisDN {
			c.Wait = ""
		}
		t.leave(c, ev.ConnID, c.party(ev.ThisDN), at)
		t.gone(ev.ConnID, c)
	case event.EventReleased:
		p := c.party(ev.ThisDN)
		t.released(c, p, ev, at)
		t.leave(c, ev.ConnID, p, at)
		switch ev.CallState {
		case event.CallStateTransferred, event.CallStateConferenced, event.CallStateRedirected:
			c.Moving = true
		default:
			t.gone(ev.ConnID, c)
		}
	case event.EventPartyChanged:
		if ev.PreviousConnID == "" || ev.PreviousConnID == ev.ConnID {
			return
		}
		old := t.Calls[ev.PreviousConnID]
		if old == nil {
			return
		}
		if p := old.party(ev.ThisDN); p != nil {
			old.Parties = removeParty(old.Parties, p)
			if c.party(ev.ThisDN) == nil {
				c.Parties = append(c.Parties, p)
			}
		}
		t.gone(ev.PreviousConnID, old)
	}
}

// enter: the call arrives at queue or routing point ThisDN.
func (t *tenantState) enter(c *callState, ev *event.Event, at int64) {
	q := ev.ThisDN
	qs := t.queue(q)
	if qs.Kind == "" {
		if ev.ID == event.EventRouteRequest {
			qs.Kind = "routing-point"
		} else {
			qs.Kind = "acd-queue"
		}
	}
	c.Moving = false
	cq := c.queue(q)
	if cq == nil {
		cq = &callQueue{Q: q, Entered: at}
		c.Queues = append(c.Queues, cq)
		qs.Series.add(at, t.DayStart, &Counters{Offered: 1})
	}
	c.Wait, c.WaitFrom = q, cq.Entered
}

func (t *tenantState) join(c *callState, ev *event.Event, st partyState) *party {
	c.Moving = false
	p := c.party(ev.ThisDN)
	if p == nil {
		p = &party{DN: ev.ThisDN, State: st, Agent: ev.AgentID}
		c.Parties = append(c.Parties, p)
		if p.Agent != "" {
			t.agentLeg(p, st, +1, ev.Time.UnixMicro())
		}
	}
	if ev.ThisQueue != "" && ev.ThisQueue != ev.ThisDN {
		p.Queue = ev.ThisQueue
	}
	if ev.ThisDNRole == event.RoleObserver {
		p.Observer = true
	}
	return p
}

// setParty moves a party to another call-party state (for its agent's
// current state).
func (t *tenantState) setParty(p *party, st partyState, at int64) {
	if p.State == st {
		return
	}
	if p.Agent != "" {
		t.agentLeg(p, p.State, -1, at)
		t.agentLeg(p, st, +1, at)
	}
	p.State = st
}

func (t *tenantState) agentLeg(p *party, st partyState, n int, at int64) {
	ag := t.agent(p.Agent)
	switch st {
	case pRinging:
		ag.Ringing += n
	case pTalking, pDialing:
		ag.Talking += n
	case pHeld:
		ag.Held += n
	}
	ag.CallFrom = max(ag.CallFrom, at) // the same whatever order calls' events come in
}

// leave takes party p off the call.
func (t *tenantState) leave(c *callState, conn string, p *party, at int64) {
	if p == nil {
		return
	}
	if p.Agent != "" {
		t.agentLeg(p, p.State, -1, at)
	}
	c.Parties = removeParty(c.Parties, p)
}

// gone forgets a call that has no party left and waits nowhere.
func (t *tenantState) gone(conn string, c *callState) {
	if len(c.Parties) == 0 && c.Wait == "" && !c.Moving {
		delete(t.Calls, conn)
	}
}

// answer: a party that is not an observer answered.
func (t *tenantState) answer(c *callState, p *party, ev *event.Event, at int64) {
	if c.Inbound && !c.Answered {
		speed := at - c.Arrival
		d := Counters{Answered: 1, SpeedSum: speed, SpeedMax: speed}
		if speed <= DefaultServiceLevel.Microseconds() {
			d.AnsweredInSL = 1
		}
		t.Total.add(at, t.DayStart, &d)
	}
	c.Answered = true
	if q := p.Queue; q != "" {
		if cq := c.queue(q); cq != nil && !cq.Answered && !cq.Abandoned {
			cq.Answered = true
			speed := at - cq.Entered
			d := Counters{Answered: 1, SpeedSum: speed, SpeedMax: speed}
			if speed <= t.serviceLevel(q) {
				d.AnsweredInSL = 1
			}
			t.queue(q).Series.add(at, t.DayStart, &d)
		}
	}
	if p.Agent != "" && !p.Origin && !p.Handling {
		p.Handling = true
		ag := t.agent(p.Agent)
		ag.Series.add(at, t.DayStart, &Counters{Answered: 1})
		if p.Queue != "" {
			t.acdAnswer(ag, acdAnswer{At: at, Q: p.Queue})
		}
	}
}

// askedACW: after-call work that carried no queue ended; it counts for
// the queue of the agent's latest ACD answer at or before its start, if
// one is known.
func (t *tenantState) askedACW(ag *agentState, sp acwSpan) {
	for i := len(ag.ACD) - 1; i >= 0; i-- {
		if a := ag.ACD[i]; a.At <= sp.From {
			sp.Q, sp.QAt = a.Q, a.At
			t.moveACW(&sp, "", a.Q)
			break
		}
	}
	ag.Asked = append(ag.Asked, sp)
}

// acdAnswer records an ACD answer (kept in time order) and moves the
// after-call work spans it is now the latest answer before.
func (t *tenantState) acdAnswer(ag *agentState, a acdAnswer) {
	i := len(ag.ACD)
	for i > 0 && ag.ACD[i-1].At > a.At {
		i--
	}
	ag.ACD = slices.Insert(ag.ACD, i, a)
	for k := range ag.Asked {
		sp := &ag.Asked[k]
		if a.At <= sp.From && (sp.Q == "" || a.At > sp.QAt) {
			old := sp.Q
			sp.Q, sp.QAt = a.Q, a.At
			t.moveACW(sp, old, a.Q)
		}
	}
}

// pruneACW forgets the after-call work spans that ended before horizon
// (out of today and of the sliding windows: moving them changes nothing
// shown) and the ACD answers before it but the latest (the one a span
// starting after horizon follows). A span or answer read later than that
// is attributed without the forgotten ones (docs/STATS.md, Known limits).
func (ag *agentState) pruneACW(horizon int64) {
	ag.Asked = slices.DeleteFunc(ag.Asked, func(sp acwSpan) bool { return sp.To < horizon })
	i := 0
	for i+1 < len(ag.ACD) && ag.ACD[i+1].At < horizon {
		i++
	}
	ag.ACD = ag.ACD[i:]
}

// moveACW moves span sp's after-call work from queue from (none: "") to
// queue to, at the time it ended.
func (t *tenantState) moveACW(sp *acwSpan, from, to string) {
	if from == to {
		return
	}
	if from != "" {
		t.queue(from).Series.add(sp.To, t.DayStart, &Counters{ACWCount: -1, ACWSum: -sp.Sum})
	}
	t.queue(to).Series.add(sp.To, t.DayStart, &Counters{ACWCount: 1, ACWSum: sp.Sum})
}

// abandon: the caller hung up before an answer, at ThisDN.
func (t *tenantState) abandon(c *callState, ev *event.Event, at int64) {
	if c.Inbound && !c.Answered && !c.Abandoned {
		d := Counters{Abandoned: 1}
		if at-c.Arrival <= ShortAbandon.Microseconds() {
			d.AbandonedShort = 1
		}
		t.Total.add(at, t.DayStart, &d)
	}
	c.Abandoned = true
	q := ev.ThisQueue
	if q == "" {
		q = ev.ThisDN
	}
	if cq := c.queue(q); cq != nil && !cq.Answered && !cq.Abandoned {
		cq.Abandoned = true
		d := Counters{Abandoned: 1}
		if at-cq.Entered <= ShortAbandon.Microseconds() {
			d.AbandonedShort = 1
		}
		t.queue(q).Series.add(at, t.DayStart, &d)
	}
}

// released: party p left the call. An answered agent leg counts as
// handled with its talk and hold time; a completed transfer or conference
// is counted for the party that completed it.
func (t *tenantState) released(c *callState, p *party, ev *event.Event, at int64) {
	var d Counters
	queue, agent := "", agentOf(ev, p)
	if p != nil {
		queue = p.Queue
		if p.Handling {
			hold := p.HoldSum
			if p.State == pHeld {
				hold += at - p.HeldAt
			}
			d.Handled, d.HoldSum = 1, hold
			d.TalkSum = max(0, at-p.Talk-hold)
			p.Handling = false
		}
	}
	if ev.CallType != event.CallTypeConsult && ev.CallState == event.CallStateTransferred {
		d.Transfers = 1
	}
	if ev.CallType == event.CallTypeConsult && ev.CallState == event.CallStateConferenced {
		d.Conferences = 1
		if main := t.Calls[c.Prev]; main != nil && queue == "" {
			if mp := main.party(ev.ThisDN); mp != nil {
				queue = mp.Queue
			}
		}
	}
	if d == (Counters{}) {
		return
	}
	t.Total.add(at, t.DayStart, &d)
	if queue != "" {
		t.queue(queue).Series.add(at, t.DayStart, &d)
	}
	if agent != "" {
		t.agent(agent).Series.add(at, t.DayStart, &d)
	}
}

func agentOf(ev *event.Event, p *party) string {
	if p != nil && p.Agent != "" {
		return p.Agent
	}
	return ev.AgentID
}

func (c *callState) party(dn string) *party {
	for _, p := range c.Parties {
		if p.DN == dn {
			return p
		}
	}
	return nil
}

func (c *callState) queue(q string) *callQueue {
	for _, cq := range c.Queues {
		if cq.Q == q {
			return cq
		}
	}
	return nil
}

func removeParty(ps []*party, p *party) []*party {
	for i, x := range ps {
		if x == p {
			return append(ps[:i], ps[i+1:]...)
		}
	}
	return ps
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func remove(s []string, v string) []string {
	for i, x := range s {
		if x == v {
			return append(s[:i:i], s[i+1:]...)
		}
	}
	return s
}
