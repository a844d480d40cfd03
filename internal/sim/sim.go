package sim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/verify"
)

// Driver carries out the simulator's requests against a switch.
type Driver interface {
	// Do carries out cmd at simulated time at (from the start of the day).
	// For the commands that create a call (NetworkCall, InitiateTransfer,
	// InitiateConference) it returns the new call's ids.
	Do(ctx context.Context, at time.Duration, cmd engine.Command) (engine.CallReply, error)
	// Wait returns when simulated time at has come: at once on a virtual
	// clock, after sleeping on a real one. It returns ctx's error if ctx
	// ends first.
	Wait(ctx context.Context, at time.Duration) error
	// Events is how many events the switch produced so far (-1: unknown).
	Events() int64
}

// EventSource is implemented by drivers that see the switch's events
// (needed when calls go to queues: the switch picks the agent).
type EventSource interface {
	// Subscribe sets fn, called in the simulation's goroutine with each
	// event and the simulated time it was seen.
	Subscribe(fn func(now time.Duration, ev *event.Event))
}

// Stats are the simulator's counters. Counts are what the stream must
// show (verify's Count* names); the rest are for people.
type Stats struct {
	Now          time.Duration  // simulated time
	Arrived      int            // callers who arrived
	Waiting      int            // callers arrived and not yet answered nor gone (queued, ringing, held)
	Offered      int            // calls offered to the switch (NetworkCall succeeded)
	Answered     int            // answered by an agent
	InSL         int            // answered within ServiceLevel of arrival
	Abandoned    int            // callers who hung up while ringing (EventAbandoned)
	LeftWaiting  int            // callers who hung up while the simulator held them (never offered)
	Transfers    int            // completed transfers
	Conferences  int            // completed conferences
	Consults     int            // consultation calls made
	ExtConsults  int            // of those, to an external number through the trunk
	ExtTransfers int            // transfers to an external number (in Transfers too)
	Logins       int            // EventAgentLogin events caused
	Logouts      int            // agents logged out
	Ready        int            // EventAgentReady caused
	NotReady     int            // EventAgentNotReady caused
	Monitors     int            // monitoring requests that succeeded
	Requests     int            // requests made
	Errors       int            // requests refused
	ErrorsByKind map[string]int // refusals per command kind
	FirstErrors  []string       // the first few refusals, for the report
	InProgress   int            // calls in progress
	// Set at the end by Execute:
	Wall                               time.Duration // wall-clock time of the run
	EventsSeen                         int64         // events the switch produced (-1 unknown)
	LatencyP50, LatencyP90, LatencyP99 time.Duration // API request latencies (against a server)
}

// ServiceLevel is the share of arrived callers answered within the target,
// counting those who abandoned (a common contact-centre definition).
func (s *Stats) ServiceLevel() float64 {
	d := s.Answered + s.Abandoned + s.LeftWaiting
	if d == 0 {
		return 1
	}
	return float64(s.InSL) / float64(d)
}

// Expect returns the summary verify checks the stream against.
func (s *Stats) Expect(tenant string, seed uint64) *verify.Expect {
	return &verify.Expect{
		Tenant: tenant, Seed: seed,
		Counts: map[string]int{
			verify.CountOffered:         s.Offered,
			verify.CountAnswered:        s.Answered,
			verify.CountAbandoned:       s.Abandoned,
			verify.CountTransfers:       s.Transfers,
			verify.CountConferences:     s.Conferences,
			verify.CountConsults:        s.Consults,
			verify.CountExtConsults:     s.ExtConsults,
			verify.CountLogins:          s.Logins,
			verify.CountLogouts:         s.Logouts,
			verify.CountReady:           s.Ready,
			verify.CountNotReady:        s.NotReady,
			verify.CountMonitorRequests: s.Monitors,
		},
		Info: map[string]int{
			"arrived": s.Arrived, "leftWaiting": s.LeftWaiting, "answeredInServiceLevel": s.InSL,
			"requests": s.Requests, "errors": s.Errors, "externalTransfers": s.ExtTransfers,
		},
	}
}

type agentPhase int

const (
	phaseOut agentPhase = iota
	phaseReady
	phaseNotReady // break
	phaseBusy     // ringing, talking, consulting, in wrap-up
)

type agent struct {
	i          int
	dn, id     string
	phase      agentPhase
	readySince time.Duration
	wantOut    bool // log out when free
	wantBreak  bool // take a break when free
	monitorBy  *supervisor
	acwSet     bool // queue mode: NotReady(AfterCallWork) already sent for the call it leaves
}

type supervisor struct {
	dn, id     string
	target     *agent
	monitoring bool
}

type callSim struct {
	n        int
	connID   string
	arrival  time.Duration
	patience time.Duration
	agent    *agent // the agent the call is with
	answered bool
	done     bool
	settled  bool // answered or gone: no longer counted as waiting
}

type item struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type queue []*item

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*item)) }
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// Sim is one simulated day. It is single-threaded: actions run in
// simulated-time order (ties in the order they were scheduled), and every
// random draw is made from one PCG source in that order, so the sequence
// of intended actions is a function of the seed and of the switch's
// answers alone.
type Sim struct {
	cfg    Config
	drv    Driver
	rng    *rand.Rand
	q      queue
	seq    uint64
	now    time.Duration
	agents []*agent
	sups   []*supervisor
	wait   []*callSim          // callers the simulator holds (no ready agent)
	byConn map[string]*callSim // queue mode: calls offered to a queue, by ConnID
	byDN   map[string]*agent
	early  map[string]*agent // queue mode: deliveries seen before their ConnID was known
	stats  Stats
	calls  int
	ctx    context.Context
	err    error
	// Progress, if set, is called after each action with the stats.
	Progress func(*Stats)
}

// New returns a simulation of cfg (validated) against drv.
func New(cfg Config, drv Driver) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sim{cfg: cfg, drv: drv, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed5eed5eed5eed))}
	s.stats.ErrorsByKind = map[string]int{}
	s.byConn, s.byDN, s.early = map[string]*callSim{}, map[string]*agent{}, map[string]*agent{}
	for i := 0; i < cfg.Agents; i++ {
		a := &agent{i: i, dn: cfg.AgentDN(i), id: cfg.AgentID(i)}
		s.agents = append(s.agents, a)
		s.byDN[a.dn] = a
	}
	if src, ok := drv.(EventSource); ok && cfg.queueMode() {
		src.Subscribe(s.observe)
	}
	for _, sp := range cfg.Supervisors {
		s.sups = append(s.sups, &supervisor{dn: sp.DN, id: sp.AgentID})
	}
	return s, nil
}

// At schedules fn at simulated time at (not before now).
func (s *Sim) At(at time.Duration, fn func()) {
	if at < s.now {
		at = s.now
	}
	s.seq++
	heap.Push(&s.q, &item{at: at, seq: s.seq, fn: fn})
}

// Stats returns a copy of the counters.
func (s *Sim) Stats() Stats {
	st := s.stats
	st.Now = s.now
	return st
}

// Run runs the day: arrivals until Duration, then until every call has
// ended (or Drain has passed), then, with LogoutAtEnd, logs every agent
// out. It returns the first transport error (refusals are counted, not
// returned) or ctx's error.
func (s *Sim) Run(ctx context.Context) error {
	s.ctx = ctx
	c := &s.cfg
	spread := time.Duration(float64(c.Duration) * c.LoginSpread)
	for _, a := range s.agents {
		a := a
		in := time.Duration(s.rng.Float64() * float64(spread))
		s.At(in, func() { s.login(a) })
		if c.LoginSpread > 0 {
			out := c.Duration - time.Duration(s.rng.Float64()*float64(spread))
			s.At(out, func() { s.logoutWhenFree(a) })
		}
		if c.BreaksPerHour > 0 {
			s.scheduleBreak(a, in)
		}
	}
	for _, sp := range s.sups {
		sp := sp
		s.At(0, func() { s.supervisorLogin(sp) })
	}
	if c.Rate > 0 {
		s.At(s.expo(c.Rate), s.arrival)
	}
	drainEnd := time.Duration(-1)
	if c.Drain > 0 {
		drainEnd = c.Duration + c.Drain
	}
	for s.q.Len() > 0 && s.err == nil {
		it := heap.Pop(&s.q).(*item)
		if drainEnd >= 0 && it.at > drainEnd {
			break
		}
		if err := s.drv.Wait(ctx, it.at); err != nil {
			return err
		}
		s.now = max(s.now, it.at)
		it.fn()
		s.stats.Now = s.now
		if s.Progress != nil {
			s.Progress(&s.stats)
		}
	}
	if s.err != nil {
		return s.err
	}
	if c.LogoutAtEnd {
		for _, a := range s.agents {
			if a.phase != phaseOut && a.phase != phaseBusy {
				s.logout(a)
			}
		}
	}
	s.stats.Now = s.now
	return s.err
}

func (s *Sim) expo(rate float64) time.Duration {
	return time.Duration(s.rng.ExpFloat64() / rate * float64(time.Second))
}

// do makes a request; a refusal is counted and returned, a transport
// error stops the simulation.
func (s *Sim) do(cmd engine.Command) (engine.CallReply, error) {
	s.stats.Requests++
	rep, err := s.drv.Do(s.ctx, s.now, cmd)
	if err != nil {
		var ee *engine.Error
		if !errors.As(err, &ee) {
			if s.err == nil {
				s.err = fmt.Errorf("sim: %s at %v: %w", cmd.Kind(), s.now, err)
			}
			return rep, err
		}
		s.stats.Errors++
		s.stats.ErrorsByKind[cmd.Kind()]++
		if len(s.stats.FirstErrors) < 10 {
			s.stats.FirstErrors = append(s.stats.FirstErrors, fmt.Sprintf("%v %s: %v", s.now, cmd.Kind(), err))
		}
	}
	return rep, err
}

func (s *Sim) login(a *agent) {
	if _, err := s.do(engine.Login{DN: a.dn, AgentID: a.id, Queues: s.cfg.Queues}); err != nil {
		return
	}
	s.stats.Logins += max(1, len(s.cfg.Queues))
	a.phase = phaseNotReady
	s.At(s.now+s.cfg.AnswerDelay.Draw(s.rng), func() { s.becomeFree(a) })
}

func (s *Sim) logout(a *agent) {
	if a.monitorBy != nil {
		a.monitorBy.monitoring, a.monitorBy.target = false, nil // the switch cancels it
		a.monitorBy = nil
	}
	if _, err := s.do(engine.Logout{DN: a.dn}); err != nil {
		return
	}
	s.stats.Logouts++
	a.phase = phaseOut
}

func (s *Sim) logoutWhenFree(a *agent) {
	switch a.phase {
	case phaseReady, phaseNotReady:
		if a.phase == phaseNotReady && a.wantBreak {
			a.wantOut = true // the break's end logs out
			return
		}
		s.logout(a)
	case phaseBusy:
		a.wantOut = true
	}
}

func (s *Sim) scheduleBreak(a *agent, from time.Duration) {
	at := from + s.expo(s.cfg.BreaksPerHour/3600)
	if at > s.cfg.Duration {
		return
	}
	s.At(at, func() {
		switch a.phase {
		case phaseOut:
		case phaseReady:
			s.takeBreak(a)
		default:
			a.wantBreak = true
		}
		s.scheduleBreak(a, s.now)
	})
}

func (s *Sim) takeBreak(a *agent) {
	a.wantBreak = false
	if _, err := s.do(engine.NotReady{DN: a.dn, WorkMode: event.WorkModeAuxWork,
		Request: engine.Request{Reasons: event.KV{event.S("ReasonCode", "Break")}}}); err != nil {
		return
	}
	s.stats.NotReady++
	a.phase = phaseNotReady
	a.wantBreak = true // marks "on break" until it ends
	s.At(s.now+s.cfg.BreakTime.Draw(s.rng), func() {
		a.wantBreak = false
		s.becomeFree(a)
	})
}

// becomeFree: after login, a break or wrap-up, the agent goes Ready (or
// logs out, or starts a break) and takes a waiting caller.
func (s *Sim) becomeFree(a *agent) {
	if a.phase == phaseOut {
		return
	}
	if a.wantOut {
		a.wantOut = false
		s.logout(a)
		return
	}
	if a.wantBreak {
		a.phase = phaseReady // takeBreak from Ready
		s.takeBreak(a)
		return
	}
	a.phase, a.readySince = phaseReady, s.now
	if _, err := s.do(engine.Ready{DN: a.dn}); err != nil {
		a.phase = phaseNotReady
		return
	}
	s.stats.Ready++
	for len(s.wait) > 0 && a.phase == phaseReady {
		c := s.wait[0]
		s.wait = s.wait[1:]
		if c.done {
			continue
		}
		s.offer(c, a)
	}
}

// longestReady returns the agent ready longest, except not.
func (s *Sim) longestReady(not *agent) *agent {
	var best *agent
	for _, a := range s.agents {
		if a.phase == phaseReady && a != not && (best == nil || a.readySince < best.readySince) {
			best = a
		}
	}
	return best
}

func (s *Sim) arrival() {
	if s.now > s.cfg.Duration {
		return
	}
	s.At(s.now+s.expo(s.cfg.Rate), s.arrival)
	s.calls++
	s.stats.Arrived++
	s.stats.Waiting++
	c := &callSim{n: s.calls, arrival: s.now, patience: s.cfg.Patience.Draw(s.rng)}
	if s.queueMode() {
		s.offerTo(c, s.pickTarget())
		return
	}
	if a := s.longestReady(nil); a != nil {
		s.offer(c, a)
		return
	}
	s.wait = append(s.wait, c)
	s.At(c.arrival+c.patience, func() {
		if c.connID == "" && !c.done {
			c.done = true
			s.settle(c)
			s.stats.LeftWaiting++
		}
	})
}

func (s *Sim) pickTarget() string {
	total := 0.0
	for _, t := range s.cfg.Targets {
		total += max(t.Weight, 0)
	}
	x := s.rng.Float64() * total
	for _, t := range s.cfg.Targets {
		if x < t.Weight {
			return t.DNIS
		}
		x -= max(t.Weight, 0)
	}
	return s.cfg.Targets[len(s.cfg.Targets)-1].DNIS
}

func (s *Sim) networkCall(c *callSim, dnis string) bool {
	ani := "+1555" + strconv.Itoa(1000000+s.rng.IntN(9000000))
	rep, err := s.do(engine.NetworkCall{Trunk: s.cfg.Trunk, ANI: ani, DNIS: dnis,
		UserData: event.KV{event.I("SimCall", int64(c.n))}})
	if err != nil {
		c.done = true
		s.settle(c)
		return false
	}
	c.connID = rep.ConnID
	s.stats.Offered++
	s.stats.InProgress++
	return true
}

// offerTo sends the call to a queue or routing point. Who answers is the
// switch's decision, which the simulator learns from its events
// (observe); the caller abandons after their patience unless answered.
func (s *Sim) offerTo(c *callSim, dnis string) {
	if !s.networkCall(c, dnis) {
		return
	}
	s.byConn[c.connID] = c
	s.At(c.arrival+c.patience, func() { s.callerGivesUp(c) })
	if a := s.early[c.connID]; a != nil {
		// delivered in the step that made the call
		delete(s.early, c.connID)
		s.delivered(c, a)
	}
}

// queueMode: calls go to queues or routing points and the switch picks
// the agent.
func (s *Sim) queueMode() bool { return s.cfg.queueMode() }

func (c *Config) queueMode() bool { return !c.Direct && len(c.Targets) > 0 }

// settle stops counting c as waiting, once: it was answered or is gone.
func (s *Sim) settle(c *callSim) {
	if !c.settled {
		c.settled = true
		s.stats.Waiting--
	}
}

// observe handles the switch's events in queue mode: an ACD delivery
// (EventRinging with ThisQueue at an agent's DN for a call the simulator
// offered) makes the agent answer after the answer delay. now is the
// simulated time the event was seen.
func (s *Sim) observe(now time.Duration, ev *event.Event) {
	if ev.ID != event.EventRinging || ev.ThisQueue == "" {
		return
	}
	c, a := s.byConn[ev.ConnID], s.byDN[ev.ThisDN]
	if a == nil {
		return
	}
	if now > s.now {
		s.now = now
	}
	if c == nil {
		// in-process, the call's own step delivers it before NetworkCall
		// returns its ConnID
		a.phase = phaseBusy
		s.early[ev.ConnID] = a
		return
	}
	if !c.done && !c.answered {
		s.delivered(c, a)
	}
}

func (s *Sim) delivered(c *callSim, a *agent) {
	c.agent = a
	a.phase = phaseBusy
	s.At(s.now+s.cfg.AnswerDelay.Draw(s.rng), func() { s.answer(c) })
}

// leaving: in queue mode an agent about to leave a call first goes
// NotReady(AfterCallWork), so the switch does not offer it the next call
// before its wrap-up.
func (s *Sim) leaving(a *agent) {
	if !s.queueMode() || a == nil || a.acwSet {
		return
	}
	if _, err := s.do(engine.NotReady{DN: a.dn, WorkMode: event.WorkModeAfterCallWork}); err == nil {
		s.stats.NotReady++
		a.acwSet = true
	}
}

func (s *Sim) offer(c *callSim, a *agent) {
	a.phase = phaseBusy
	if !s.networkCall(c, a.dn) {
		s.At(s.now, func() { s.becomeFree(a) })
		return
	}
	c.agent = a
	answerAt := s.now + s.cfg.AnswerDelay.Draw(s.rng)
	if giveUp := c.arrival + c.patience; giveUp < answerAt {
		s.At(giveUp, func() { s.callerGivesUp(c) })
		return
	}
	s.At(answerAt, func() { s.answer(c) })
}

func (s *Sim) callerGivesUp(c *callSim) {
	if c.done || c.answered {
		return
	}
	c.done = true
	s.settle(c)
	s.stats.InProgress--
	delete(s.byConn, c.connID)
	a := c.agent
	if a != nil && s.queueMode() {
		// still Ready in the switch, which may offer it the next call
		// in the same step
		a.phase, a.readySince = phaseReady, s.now
		a = nil
	}
	if _, err := s.do(engine.NetworkRelease{ConnID: c.connID}); err == nil {
		s.stats.Abandoned++
	}
	if a != nil {
		s.becomeFree(a)
	}
}

func (s *Sim) answer(c *callSim) {
	if c.done {
		return
	}
	a := c.agent
	if a == nil {
		return // queue mode: the offer was withdrawn, the call waits again
	}
	if _, err := s.do(engine.Answer{ConnID: c.connID, DN: a.dn}); err != nil {
		if s.queueMode() && c.agent == a {
			// Against a server the simulator acts on events it has not
			// seen yet: the switch took the offer back (the agent logged
			// out or went not ready meanwhile) and queued the call again.
			// It waits for the next offer; the caller's patience still
			// runs.
			c.agent = nil
			if a.phase == phaseBusy {
				a.phase, a.readySince = phaseReady, s.now
			}
			return
		}
		s.endCall(c, false)
		return
	}
	c.answered = true
	s.settle(c)
	s.stats.Answered++
	if s.now-c.arrival <= s.cfg.ServiceLevel {
		s.stats.InSL++
	}
	talk := s.cfg.TalkTime.Draw(s.rng)
	x := s.rng.Float64()
	split := time.Duration(float64(talk) * (0.2 + 0.6*s.rng.Float64()))
	switch {
	case x < s.cfg.TransferRate:
		s.At(s.now+split, func() { s.transfer(c, talk-split) })
	case x < s.cfg.TransferRate+s.cfg.ConferenceRate:
		s.At(s.now+split, func() { s.conference(c, talk-split) })
	default:
		s.At(s.now+talk, func() { s.endCall(c, true) })
	}
}

// endCall ends the call: the caller or the agent hangs up; the agent
// wraps up.
func (s *Sim) endCall(c *callSim, hangUp bool) {
	if c.done {
		return
	}
	c.done = true
	s.settle(c)
	s.stats.InProgress--
	delete(s.byConn, c.connID)
	a := c.agent
	s.leaving(a)
	if hangUp {
		if s.rng.Float64() < s.cfg.CallerHangsUp {
			s.do(engine.NetworkRelease{ConnID: c.connID})
		} else {
			s.do(engine.Release{ConnID: c.connID, DN: a.dn})
		}
	}
	s.wrapUp(a)
}

func (s *Sim) wrapUp(a *agent) {
	if a.acwSet {
		a.acwSet = false
	} else if _, err := s.do(engine.NotReady{DN: a.dn, WorkMode: event.WorkModeAfterCallWork}); err == nil {
		s.stats.NotReady++
	}
	s.At(s.now+s.cfg.WrapUp.Draw(s.rng), func() { s.becomeFree(a) })
}

func (s *Sim) transfer(c *callSim, rest time.Duration) {
	if c.done {
		return
	}
	a := c.agent
	if s.rng.Float64() < s.cfg.ExternalShare {
		s.transferOut(c, rest)
		return
	}
	b := s.longestReady(a)
	if b == nil {
		s.At(s.now+rest, func() { s.endCall(c, true) })
		return
	}
	b.phase = phaseBusy
	if s.rng.Float64() >= s.cfg.TwoStepShare {
		s.leaving(a)
		if _, err := s.do(engine.SingleStepTransfer{ConnID: c.connID, DN: a.dn, To: b.dn}); err != nil {
			s.becomeFree(b)
			s.At(s.now+rest, func() { s.endCall(c, true) })
			return
		}
		s.stats.Transfers++
		c.agent = b
		s.wrapUp(a)
		s.At(s.now+s.cfg.AnswerDelay.Draw(s.rng), func() { s.answerMoved(c, b, rest) })
		return
	}
	rep, err := s.do(engine.InitiateTransfer{ConnID: c.connID, DN: a.dn, To: b.dn})
	if err != nil {
		s.becomeFree(b)
		s.At(s.now+rest, func() { s.endCall(c, true) })
		return
	}
	s.stats.Consults++
	consult := rep.ConnID
	s.At(s.now+s.cfg.AnswerDelay.Draw(s.rng), func() {
		if _, err := s.do(engine.Answer{ConnID: consult, DN: b.dn}); err != nil {
			s.do(engine.Reconnect{ConnID: c.connID, DN: a.dn, ConsultConnID: consult})
			s.becomeFree(b)
			s.At(s.now+rest, func() { s.endCall(c, true) })
			return
		}
		s.At(s.now+s.cfg.ConsultTime.Draw(s.rng), func() {
			s.leaving(a)
			if _, err := s.do(engine.CompleteTransfer{ConnID: c.connID, DN: a.dn, ConsultConnID: consult}); err != nil {
				s.leaving(b)
				s.do(engine.Release{ConnID: consult, DN: b.dn})
				s.wrapUp(b)
				s.At(s.now+rest, func() { s.endCall(c, true) })
				return
			}
			s.stats.Transfers++
			c.agent = b
			s.wrapUp(a)
			s.At(s.now+rest, func() { s.endCall(c, true) })
		})
	})
}

// transferOut transfers the call to an external number through the trunk
// (EVENTS.md 5.15), in one step or after a consultation the network
// answers. The caller then talks to the network: the call has no DN left
// and ends, without an event, when the caller hangs up.
func (s *Sim) transferOut(c *callSim, rest time.Duration) {
	a := c.agent
	ext := "+3390" + strconv.Itoa(1000+s.rng.IntN(9000))
	gone := func() {
		s.stats.Transfers++
		s.stats.ExtTransfers++
		c.agent = nil
		s.wrapUp(a)
		s.At(s.now+rest, func() {
			c.done = true
			s.stats.InProgress--
			delete(s.byConn, c.connID)
			s.do(engine.NetworkRelease{ConnID: c.connID, Party: ext})
		})
	}
	if s.rng.Float64() >= s.cfg.TwoStepShare {
		s.leaving(a)
		if _, err := s.do(engine.SingleStepTransfer{ConnID: c.connID, DN: a.dn, To: ext}); err != nil {
			s.At(s.now+rest, func() { s.endCall(c, true) })
			return
		}
		s.do(engine.NetworkAnswer{ConnID: c.connID, Party: ext})
		gone()
		return
	}
	rep, err := s.do(engine.InitiateTransfer{ConnID: c.connID, DN: a.dn, To: ext})
	if err != nil {
		s.At(s.now+rest, func() { s.endCall(c, true) })
		return
	}
	s.stats.Consults++
	s.stats.ExtConsults++
	consult := rep.ConnID
	s.At(s.now+s.cfg.AnswerDelay.Draw(s.rng), func() {
		if _, err := s.do(engine.NetworkAnswer{ConnID: consult}); err != nil {
			s.do(engine.Reconnect{ConnID: c.connID, DN: a.dn, ConsultConnID: consult})
			s.At(s.now+rest, func() { s.endCall(c, true) })
			return
		}
		s.At(s.now+s.cfg.ConsultTime.Draw(s.rng), func() {
			s.leaving(a)
			if _, err := s.do(engine.CompleteTransfer{ConnID: c.connID, DN: a.dn, ConsultConnID: consult}); err != nil {
				s.do(engine.Release{ConnID: consult, DN: a.dn})
				s.At(s.now+rest, func() { s.endCall(c, true) })
				return
			}
			gone()
		})
	})
}

// answerMoved: b answers a call transferred to it in one step.
func (s *Sim) answerMoved(c *callSim, b *agent, rest time.Duration) {
	if c.done {
		return
	}
	if _, err := s.do(engine.Answer{ConnID: c.connID, DN: b.dn}); err != nil {
		s.endCall(c, false)
		return
	}
	s.At(s.now+rest, func() { s.endCall(c, true) })
}

func (s *Sim) conference(c *callSim, rest time.Duration) {
	if c.done {
		return
	}
	a := c.agent
	b := s.longestReady(a)
	if b == nil {
		s.At(s.now+rest, func() { s.endCall(c, true) })
		return
	}
	b.phase = phaseBusy
	rep, err := s.do(engine.InitiateConference{ConnID: c.connID, DN: a.dn, To: b.dn})
	if err != nil {
		s.becomeFree(b)
		s.At(s.now+rest, func() { s.endCall(c, true) })
		return
	}
	s.stats.Consults++
	consult := rep.ConnID
	s.At(s.now+s.cfg.AnswerDelay.Draw(s.rng), func() {
		if _, err := s.do(engine.Answer{ConnID: consult, DN: b.dn}); err != nil {
			s.do(engine.Reconnect{ConnID: c.connID, DN: a.dn, ConsultConnID: consult})
			s.becomeFree(b)
			s.At(s.now+rest, func() { s.endCall(c, true) })
			return
		}
		s.At(s.now+s.cfg.ConsultTime.Draw(s.rng), func() {
			if _, err := s.do(engine.CompleteConference{ConnID: c.connID, DN: a.dn, ConsultConnID: consult}); err != nil {
				s.leaving(b)
				s.do(engine.Release{ConnID: consult, DN: b.dn})
				s.wrapUp(b)
				s.At(s.now+rest, func() { s.endCall(c, true) })
				return
			}
			s.stats.Conferences++
			// b stays for part of the rest, then leaves the conference
			stay := time.Duration(float64(rest) * s.rng.Float64())
			s.At(s.now+stay, func() {
				if !c.done {
					s.leaving(b)
					s.do(engine.Release{ConnID: c.connID, DN: b.dn})
				}
				s.wrapUp(b)
			})
			s.At(s.now+rest, func() { s.endCall(c, true) })
		})
	})
}

func (s *Sim) supervisorLogin(sp *supervisor) {
	if _, err := s.do(engine.Login{DN: sp.dn, AgentID: sp.id}); err == nil {
		s.stats.Logins++
	}
	if s.cfg.MonitorsPerHour > 0 {
		s.At(s.now+s.expo(s.cfg.MonitorsPerHour/3600), func() { s.monitor(sp) })
	}
}

// monitor: the supervisor monitors all calls of a random logged-in agent
// for a while, then cancels.
func (s *Sim) monitor(sp *supervisor) {
	if s.now > s.cfg.Duration {
		return
	}
	next := s.now + s.expo(s.cfg.MonitorsPerHour/3600)
	if !sp.monitoring {
		var in []*agent
		for _, a := range s.agents {
			if a.phase != phaseOut && a.monitorBy == nil && !a.wantOut {
				in = append(in, a)
			}
		}
		if len(in) > 0 {
			a := in[s.rng.IntN(len(in))]
			if _, err := s.do(engine.MonitorNextCall{Supervisor: sp.dn, Target: a.dn, Type: event.MonitorAllCalls}); err == nil {
				s.stats.Monitors++
				sp.monitoring, sp.target, a.monitorBy = true, a, sp
				s.At(s.now+s.cfg.MonitorTime.Draw(s.rng), func() {
					if sp.monitoring && sp.target == a {
						s.do(engine.CancelMonitoring{Supervisor: sp.dn})
						sp.monitoring, sp.target, a.monitorBy = false, nil, nil
					}
				})
			}
		}
	}
	s.At(next, func() { s.monitor(sp) })
}

// Summary is a text summary of the stats.
func (st *Stats) Summary() string {
	s := fmt.Sprintf("simulated %v: arrived %d, offered %d, answered %d, abandoned %d (+%d left waiting), service level %.1f%%, transfers %d (%d external), conferences %d, consults %d (%d external), logins %d, logouts %d, requests %d, refused %d",
		st.Now.Round(time.Second), st.Arrived, st.Offered, st.Answered, st.Abandoned, st.LeftWaiting, 100*st.ServiceLevel(),
		st.Transfers, st.ExtTransfers, st.Conferences, st.Consults, st.ExtConsults, st.Logins, st.Logouts, st.Requests, st.Errors)
	if st.Wall > 0 {
		s += fmt.Sprintf("; wall %v", st.Wall.Round(time.Millisecond))
		if st.EventsSeen >= 0 {
			s += fmt.Sprintf(", %d events (%.0f/s)", st.EventsSeen, float64(st.EventsSeen)/st.Wall.Seconds())
		}
	}
	if st.LatencyP99 > 0 {
		s += fmt.Sprintf("; API latency p50 %v p90 %v p99 %v", st.LatencyP50, st.LatencyP90, st.LatencyP99)
	}
	if len(st.ErrorsByKind) > 0 {
		var ks []string
		for k, n := range st.ErrorsByKind {
			ks = append(ks, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(ks)
		s += fmt.Sprintf(" %v", ks)
	}
	return s
}
