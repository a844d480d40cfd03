package engine

import (
	"strconv"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

// Routing points, ACD queues and treatments. The decisions the contract
// leaves open are listed in doc.go ("Routing points, ACD queues and
// treatments").

// queueState is an acd-queue: its settings, the calls waiting in it (the
// queue's parties, oldest first) and the agents available for it (longest
// available first). Both lists are indexes over plain fields (party.w.qNo,
// agentState.avail/availNo/queues): reindex rebuilds them.
type queueState struct {
	d             *dnState
	noAnswer      int64  // RONA timeout, microseconds (0: the tenant default)
	rona          string // RONA policy (config.RONAPolicies; "": the tenant default)
	maxSize       int
	overflowAfter int64
	overflowTo    string
	skills        map[string]int
	treatments    []queueTreatment

	waitHead, waitTail   *party
	waiting              int
	readyHead, readyTail *qlink
}

type queueTreatment struct {
	typ   event.TreatmentType
	after int64
	every int64
	parms event.KV
}

// qlink is an agent's place in the ready list of one queue.
type qlink struct {
	a          *agentState
	q          *queueState
	prev, next *qlink
	in         bool // linked in q's ready list
	eligible   bool // the agent has the queue's skills
}

// rpState is a routing point's settings.
type rpState struct {
	routeTimeout int64
	defaultDest  string
	treatAfter   int64
	strategy     *config.Strategy
	loc          *time.Location // time-of-day strategy
}

// waitInfo is the queue and routing state of a party (party.w).
type waitInfo struct {
	qNo          uint64    // waiting in a queue: its place (lower: longer waiting); 0 otherwise
	qPlace       uint64    // an ACD call ringing at an agent: its place in the queue, kept for RONA
	qPrev, qNext *party    // waiting in a queue: the queue's waiting list (an index; see reindex)
	timers       []string  // further timers it owns (route, treatments, overflow), stopped when it leaves
	treat        treatment // the treatment running on it (queue or routing-point party)
	treated      bool      // a treatment was applied (no EventTreatmentRequired)
}

// treatment is the treatment running on a queue or routing-point party.
type treatment struct {
	typ    event.TreatmentType
	parms  event.KV
	timer  string // its end timer, or ""
	digits bool   // CollectDigits or PlayAnnouncementAndDigits waiting for digits
}

func newQueueState(d *dnState, c *config.Queue) *queueState {
	q := &queueState{d: d}
	if c == nil {
		return q
	}
	q.noAnswer = c.NoAnswerTimeout.Microseconds()
	q.rona = c.RONA
	q.maxSize = c.MaxSize
	if c.Overflow != nil {
		q.overflowAfter, q.overflowTo = c.Overflow.After.Microseconds(), c.Overflow.To
	}
	q.skills = c.Skills
	for _, t := range c.Treatments {
		typ, _ := event.ParseTreatmentType(t.Type)
		qt := queueTreatment{typ: typ, after: t.After.Microseconds(), every: t.Every.Microseconds()}
		keys := make([]string, 0, len(t.Parms))
		for k := range t.Parms {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			if n, err := strconv.ParseInt(t.Parms[k], 10, 64); err == nil {
				qt.parms = append(qt.parms, event.I(k, n))
			} else {
				qt.parms = append(qt.parms, event.S(k, t.Parms[k]))
			}
		}
		q.treatments = append(q.treatments, qt)
	}
	return q
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// newRPState reads a routing point's settings. The time zone of a
// time-of-day strategy is resolved here, once (config's Location reads
// the zone database); Step never does.
func newRPState(c *config.Routing) (*rpState, error) {
	r := &rpState{}
	if c == nil {
		return r, nil
	}
	r.routeTimeout = c.RouteTimeout.Microseconds()
	r.defaultDest = c.DefaultDestination
	r.treatAfter = c.TreatmentAfter.Microseconds()
	r.strategy = c.Strategy
	if s := c.Strategy; s != nil && s.Type == config.StrategyTimeOfDay {
		loc, err := s.Location()
		if err != nil {
			return nil, invalid("time zone " + q(s.TimeZone) + ": " + err.Error())
		}
		r.loc = loc
	}
	return r, nil
}

// ---- ready lists ----

func (q *queueState) pushReady(l *qlink) {
	// Sorted by availNo: walk back from the tail (an agent that just became
	// available goes last at once).
	at := q.readyTail
	for at != nil && at.a.availNo > l.a.availNo {
		at = at.prev
	}
	l.prev = at
	if at == nil {
		l.next = q.readyHead
		q.readyHead = l
	} else {
		l.next = at.next
		at.next = l
	}
	if l.next == nil {
		q.readyTail = l
	} else {
		l.next.prev = l
	}
	l.in = true
}

func (q *queueState) unlinkReady(l *qlink) {
	if !l.in {
		return
	}
	if l.prev == nil {
		q.readyHead = l.next
	} else {
		l.prev.next = l.next
	}
	if l.next == nil {
		q.readyTail = l.prev
	} else {
		l.next.prev = l.prev
	}
	l.prev, l.next, l.in = nil, nil, false
}

// eligible reports whether agent a has the skills queue q asks for.
func eligible(a *agentState, q *queueState) bool {
	for s, lvl := range q.skills {
		if a.skills[s] < lvl {
			return false
		}
	}
	return true
}

// available reports whether agent a may be offered an ACD call now.
func available(a *agentState) bool {
	d := a.dn
	return d != nil && a.state == AgentReady && d.inService && !d.dnd && d.onCalls() == 0
}

// refresh brings a's place in the ready lists up to date after anything
// that may change available(a); an agent that became available is noted
// for dispatch at the end of the step.
func (e *Engine) refresh(a *agentState) {
	now := available(a)
	if now == a.avail {
		return
	}
	a.avail = now
	if now {
		e.availNo++
		a.availNo = e.availNo
		for _, l := range a.links {
			if l.eligible {
				l.q.pushReady(l)
			}
		}
		e.allQ.pushReady(&a.allLink)
		e.pending = append(e.pending, a)
		return
	}
	for _, l := range a.links {
		l.q.unlinkReady(l)
	}
	e.allQ.unlinkReady(&a.allLink)
}

// refreshDN refreshes the agent logged in on d, if any.
func (e *Engine) refreshDN(d *dnState) {
	if d != nil && d.agent != nil {
		e.refresh(d.agent)
	}
}

// addLink adds a's place for queue DN qd (after a login to it).
func (e *Engine) addLink(a *agentState, qd *dnState) {
	if qd.q == nil {
		return
	}
	l := &qlink{a: a, q: qd.q, eligible: eligible(a, qd.q)}
	a.links = append(a.links, l)
	if a.avail && l.eligible {
		qd.q.pushReady(l)
		e.pending = append(e.pending, a)
	}
}

// dropLink removes a's place for queue number n (a logout from it).
func (e *Engine) dropLink(a *agentState, n string) {
	for i, l := range a.links {
		if l.q.d.number == n {
			l.q.unlinkReady(l)
			a.links = append(a.links[:i], a.links[i+1:]...)
			return
		}
	}
}

// dropLinks removes all of a's places (logout).
func (e *Engine) dropLinks(a *agentState) {
	for _, l := range a.links {
		l.q.unlinkReady(l)
	}
	a.links = nil
	e.allQ.unlinkReady(&a.allLink)
	a.avail = false
}

// ---- waiting lists ----

// pushWait inserts p by its qNo (a call queued again after RONA keeps its
// place: its original number).
func (q *queueState) pushWait(p *party) {
	at := q.waitTail
	for at != nil && at.w.qNo > p.w.qNo {
		at = at.w.qPrev
	}
	p.w.qPrev = at
	if at == nil {
		p.w.qNext = q.waitHead
		q.waitHead = p
	} else {
		p.w.qNext = at.w.qNext
		at.w.qNext = p
	}
	if p.w.qNext == nil {
		q.waitTail = p
	} else {
		p.w.qNext.w.qPrev = p
	}
	q.waiting++
}

func (q *queueState) unlinkWait(p *party) {
	if p.w.qPrev == nil {
		q.waitHead = p.w.qNext
	} else {
		p.w.qPrev.w.qNext = p.w.qNext
	}
	if p.w.qNext == nil {
		q.waitTail = p.w.qPrev
	} else {
		p.w.qNext.w.qPrev = p.w.qPrev
	}
	p.w.qPrev, p.w.qNext = nil, nil
	q.waiting--
}

// full reports whether a new call would be refused: MaxSize calls wait
// and no agent is available to take it at once.
func (q *queueState) full() bool {
	return q.maxSize > 0 && q.waiting >= q.maxSize && q.readyHead == nil
}

// reindex rebuilds the ready and waiting lists from the plain fields
// (agents' avail, availNo and queues; parties' qNo): for a snapshot
// restore.
func (e *Engine) reindex() {
	for _, d := range e.dnList {
		if d.q != nil {
			d.q.waitHead, d.q.waitTail, d.q.waiting = nil, nil, 0
			d.q.readyHead, d.q.readyTail = nil, nil
		}
	}
	e.allQ.readyHead, e.allQ.readyTail = nil, nil
	for _, a := range e.agList {
		a.links = nil
		a.allLink = qlink{a: a, q: &e.allQ, eligible: true}
		for _, n := range a.queues {
			if qd := e.dns[n]; qd != nil && qd.q != nil {
				a.links = append(a.links, &qlink{a: a, q: qd.q, eligible: eligible(a, qd.q)})
			}
		}
		if a.avail {
			for _, l := range a.links {
				if l.eligible {
					l.q.pushReady(l)
				}
			}
			e.allQ.pushReady(&a.allLink)
		}
	}
	for _, d := range e.dnList {
		if d.q == nil {
			continue
		}
		for _, p := range d.parties {
			if p.w != nil && p.w.qNo != 0 {
				d.q.pushWait(p)
			}
		}
	}
}

// ---- timers of parties ----

// partyTimer starts a timer owned by party p (stopped when p leaves).
func (e *Engine) partyTimer(kind timerKind, p *party, n int, at int64, name string) string {
	e.timerNo++
	id := name + "/" + p.call.conn + "/" + uitoa(e.timerNo)
	e.timers[id] = timer{kind: kind, party: p, n: n, at: at}
	p.w.timers = append(p.w.timers, id)
	e.effect(StartTimer{ID: id, At: at})
	return id
}

// forgetTimer removes a fired timer from p's list.
func forgetTimer(p *party, id string) {
	if p.w == nil {
		return
	}
	for i, t := range p.w.timers {
		if t == id {
			p.w.timers = append(p.w.timers[:i], p.w.timers[i+1:]...)
			return
		}
	}
}

// stopPartyTimers cancels every timer p owns.
func (e *Engine) stopPartyTimers(p *party) {
	if p.w == nil {
		return
	}
	for _, id := range p.w.timers {
		e.stopTimer(id)
	}
	p.w.timers = nil
	p.w.treat.timer = ""
}

func (e *Engine) cancelPartyTimer(p *party, id string) {
	if id == "" {
		return
	}
	forgetTimer(p, id)
	e.stopTimer(id)
}

// ---- arrival ----

// waits reports whether DN d is a queue or routing point (where calls
// wait rather than ring).
func (d *dnState) waits() bool { return d.q != nil || d.rp != nil }

// canTake checks that call k can be sent to tg now: a phone that is not
// busy (after forwarding) and not already on k, a queue that is not full,
// a routing point k is not at, an external number with a trunk.
func (e *Engine) canTake(k *call, tg target) error {
	d := tg.d
	switch {
	case d == nil:
		return nil
	case d.q != nil:
		if d.q.full() {
			return conflict("queue " + q(d.number) + " is full")
		}
		if k.hasDN(d) {
			return conflict("call " + q(k.conn) + " is already in queue " + q(d.number))
		}
	case d.rp != nil:
		if k.hasDN(d) {
			return conflict("call " + q(k.conn) + " is already at routing point " + q(d.number))
		}
	default:
		to, _, busy := e.offer(d)
		if busy {
			return refuseBusy(d)
		}
		if k.hasDN(to) {
			return conflict("DN " + q(to.number) + " is already on call " + q(k.conn))
		}
	}
	return nil
}

// arrive delivers call k to tg, checked by canTake: a phone rings (ThisQueue
// via, the queue or routing point it came through, if any), a queue queues
// it, a routing point asks for a route, an external number is called
// through its trunk.
func (e *Engine) arrive(k *call, tg target, via string, req *Request) {
	d := tg.d
	switch {
	case d == nil:
		x := e.join(k, nil, event.RoleDestination, psRinging)
		x.num, x.trunk = tg.num, tg.trunk.number
		for _, o := range k.parties {
			if o.dn != nil && o.state == psDialing {
				ev := e.emitCall(event.EventNetworkReached, o, req)
				other(ev, x)
			}
		}
	case d.q != nil:
		e.enqueue(k, d, 0, req)
	case d.rp != nil:
		e.arriveRP(k, d, req)
	default:
		to, fwd, _ := e.offer(d)
		st, third := event.CallStateOk, ""
		if fwd != nil {
			st, third = event.CallStateForwarded, fwd.number
		}
		p := e.join(k, to, event.RoleDestination, psRinging)
		p.queue = via
		e.ringEvent(p, st, third, 0, req)
		if via != "" && e.dns[via] != nil && e.dns[via].q != nil {
			e.startRONA(p)
		} else {
			e.startNoAnswer(p)
		}
	}
}

// enqueue places call k in queue qd (qNo 0: a new arrival, else its place
// from before): EventQueued, the queue's entry treatments, its timers; and
// offers it to the longest-available agent at once if there is one.
func (e *Engine) enqueue(k *call, qd *dnState, qNo uint64, req *Request) {
	q := qd.q
	p := e.join(k, qd, event.RoleDestination, psQueued)
	p.queue = qd.number
	p.w = &waitInfo{}
	if qNo == 0 {
		e.qNo++
		qNo = e.qNo
	}
	p.w.qNo = qNo
	q.pushWait(p)
	ev := e.emitPeer(event.EventQueued, p, req)
	ev.ANI, ev.DNIS = k.ani, k.dnis
	// An agent available now takes the call if it is the oldest waiting:
	// older calls wait only when an agent became available within this
	// step (RONA with policy none frees its agent before the call is
	// queued again), and dispatch offers those first at the end of the
	// step.
	if l := q.readyHead; l != nil && q.waitHead == p {
		e.distribute(p, l.a, req)
		return
	}
	if q.overflowAfter > 0 && q.overflowTo != "" {
		e.partyTimer(timerOverflow, p, 0, e.at+q.overflowAfter, "overflow")
	}
	for i, t := range q.treatments {
		switch {
		case t.after <= 0:
			e.treat(p, t.typ.String(), t.parms, nil)
			if t.every > 0 {
				e.partyTimer(timerQueueTreatment, p, i, e.at+t.every, "qtreat")
			}
		default:
			e.partyTimer(timerQueueTreatment, p, i, e.at+t.after, "qtreat")
		}
	}
}

// distribute gives queued party p's call to agent a (available):
// EventDiverted(Q, ThirdPartyDN the agent's DN), then EventRinging at the
// agent's DN with ThisQueue Q and the RONA timer.
func (e *Engine) distribute(p *party, a *agentState, req *Request) {
	if e.onDistribute != nil {
		e.onDistribute(p, a)
	}
	k, qd := p.call, p.dn
	ev := e.emitPeer(event.EventDiverted, p, req)
	ev.CallState = event.CallStateOk
	ev.ThirdPartyDN = a.dn.number
	p.w.qPlace = p.w.qNo
	k.remove(p)
	e.gone(p)
	r := e.join(k, a.dn, event.RoleDestination, psRinging)
	r.queue = qd.number
	r.w = &waitInfo{qPlace: p.w.qPlace}
	e.ringEvent(r, event.CallStateOk, "", 0, req)
	e.startRONA(r)
}

// startRONA starts the no-answer timer of an ACD call ringing at an
// agent: the agent's timeout, else the queue's, else the tenant default.
func (e *Engine) startRONA(p *party) {
	t := int64(0)
	if a := p.dn.agent; a != nil {
		t = a.noAnswer
	}
	if qd := e.dns[p.queue]; t <= 0 && qd != nil && qd.q != nil {
		t = qd.q.noAnswer
	}
	if t <= 0 {
		t = e.noAnswer
	}
	if t <= 0 {
		return
	}
	e.timerNo++
	id := "rona/" + p.call.conn + "/" + p.dn.number + "/" + uitoa(e.timerNo)
	e.timers[id] = timer{kind: timerRONA, party: p, at: e.at + t}
	p.timer = id
	e.effect(StartTimer{ID: id, At: e.at + t})
}

// oldestFor returns the oldest call waiting in a queue agent a may take
// calls of, or nil.
func oldestFor(a *agentState) *party {
	var best *party
	for _, l := range a.links {
		if !l.eligible {
			continue
		}
		if h := l.q.waitHead; h != nil && (best == nil || h.w.qNo < best.w.qNo) {
			best = h
		}
	}
	return best
}

// dispatch runs at the end of a successful step: each agent that became
// available in it (in that order) and is still available gets the oldest
// call waiting in its queues.
func (e *Engine) dispatch() {
	for i := 0; i < len(e.pending); i++ {
		a := e.pending[i]
		if !a.avail {
			continue
		}
		if p := oldestFor(a); p != nil {
			if e.outStart < 0 {
				e.begin(4)
			}
			e.distribute(p, a, nil)
		}
	}
	e.pending = e.pending[:0]
}

// queueFull ends call k of originator o whose destination queue qd is
// full: EventReleased(o, CallState QueueFull, OtherDN Q); the call ends.
func (e *Engine) queueFull(k *call, o *party, qd *dnState, req *Request) {
	ev := e.emitCall(event.EventReleased, o, req)
	ev.CallState = event.CallStateQueueFull
	ev.OtherDN, ev.OtherDNRole = qd.number, event.RoleDestination
	k.remove(o)
	e.gone(o)
	for len(k.parties) > 0 {
		e.drop(k.parties[0])
	}
	e.endCall(k)
}

// arriveRP: call k reaches routing point rd: EventRouteRequest; a built-in
// strategy routes it at once (EventRouteUsed in the same step); else the
// route-timeout and treatment-after timers start.
func (e *Engine) arriveRP(k *call, rd *dnState, req *Request) {
	p := e.join(k, rd, event.RoleDestination, psRouting)
	p.queue = rd.number
	p.w = &waitInfo{}
	ev := e.emitPeer(event.EventRouteRequest, p, req)
	ev.ANI, ev.DNIS = k.ani, k.dnis
	r := rd.rp
	if r.strategy != nil {
		if tg, ok := e.strategyTarget(k, rd); ok && e.canTake(k, tg) == nil {
			e.routeTo(p, tg, nil, req)
			return
		}
	}
	if r.routeTimeout > 0 && r.defaultDest != "" {
		e.partyTimer(timerRoute, p, 0, e.at+r.routeTimeout, "route")
	}
	if r.treatAfter > 0 {
		e.partyTimer(timerTreatReq, p, 0, e.at+r.treatAfter, "treat-req")
	}
}

// routeTo: routing-point party p's call goes to tg (checked):
// EventRouteUsed(ThirdPartyDN the destination, with reasons), then the
// destination's events.
func (e *Engine) routeTo(p *party, tg target, reasons event.KV, req *Request) {
	k, rd := p.call, p.dn
	ev := e.emitPeer(event.EventRouteUsed, p, req)
	ev.ThirdPartyDN, ev.ThirdPartyDNRole = tg.name(), event.RoleDestination
	if reasons != nil {
		ev.Reasons = reasons
	}
	k.remove(p)
	e.gone(p)
	e.arrive(k, tg, rd.number, req)
}

func (t target) name() string {
	if t.d != nil {
		return t.d.number
	}
	return t.num
}

// resolve turns a configured destination (a DN of the tenant or an
// external number) into a target; ok false if it cannot be used.
func (e *Engine) resolve(to string) (target, bool) {
	if d := e.dns[to]; d != nil {
		if d.typ == config.Trunk {
			return target{}, false
		}
		return target{d: d}, true
	}
	if !isExternal(to) {
		return target{}, false
	}
	tr := e.trunkFor(to)
	if tr == nil {
		return target{}, false
	}
	return target{num: to, trunk: tr}, true
}

// strategyTarget applies the routing point's built-in strategy.
func (e *Engine) strategyTarget(k *call, rd *dnState) (target, bool) {
	s := rd.rp.strategy
	switch s.Type {
	case config.StrategyQueue:
		return e.resolve(s.Queue)
	case config.StrategySkill:
		for l := e.allQ.readyHead; l != nil; l = l.next {
			a := l.a
			if lvl, ok := a.skills[s.Skill]; ok && lvl >= s.MinLevel && (s.Queue == "" || hasQueue(a.queues, s.Queue)) {
				return target{d: a.dn}, true
			}
		}
	case config.StrategyTimeOfDay:
		t := time.UnixMicro(e.at).In(rd.rp.loc)
		day := dayNames[t.Weekday()]
		hm := t.Format("15:04")
		for _, r := range s.Rules {
			if (len(r.Days) == 0 || hasQueue(r.Days, day)) && r.From <= hm && hm < r.To {
				return e.resolve(r.Destination)
			}
		}
	}
	if s.Fallback != "" {
		return e.resolve(s.Fallback)
	}
	return target{}, false
}

var dayNames = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ---- timers ----

func (e *Engine) acdTimer(id string, t timer) {
	p := t.party
	delete(e.timers, id)
	if t.kind == timerRONA {
		p.timer = ""
		e.rona(p)
		return
	}
	forgetTimer(p, id)
	k := p.call
	switch t.kind {
	case timerRoute:
		if p.state != psRouting {
			return
		}
		tg, ok := e.resolve(p.dn.rp.defaultDest)
		if !ok || e.canTake(k, tg) != nil {
			// The default destination cannot take the call now: it keeps
			// waiting, and the timer starts again.
			e.partyTimer(timerRoute, p, 0, e.at+p.dn.rp.routeTimeout, "route")
			return
		}
		e.begin(estimate(k) + 4)
		e.routeTo(p, tg, event.KV{event.S("RouteTimeout", "true")}, nil)
		e.finish(nil)
	case timerTreatReq:
		if p.state != psRouting || p.w.treated {
			return
		}
		e.begin(1)
		e.emitCall(event.EventTreatmentRequired, p, nil)
	case timerTreatEnd:
		if p.w.treat.timer != id {
			return
		}
		e.begin(1)
		ev := e.emitCall(event.EventTreatmentEnd, p, nil)
		ev.TreatmentType = p.w.treat.typ
		ev.Extensions = treatmentEnd(event.TreatmentCompletedNormal)
		if p.w.treat.digits {
			ev.Extensions = treatmentEnd(event.TreatmentCompletedTimeout)
		}
		p.w.treat = treatment{}
	case timerOverflow:
		q := p.dn.q
		tg, ok := e.resolve(q.overflowTo)
		if p.state != psQueued || !ok || e.canTake(k, tg) != nil {
			return // stays; no further overflow
		}
		e.begin(estimate(k) + 4)
		ev := e.emitPeer(event.EventDiverted, p, nil)
		ev.CallState = event.CallStateOk
		ev.ThirdPartyDN = tg.name()
		k.remove(p)
		e.gone(p)
		e.arrive(k, tg, q.d.number, nil)
		e.finish(nil)
	case timerQueueTreatment:
		if p.state != psQueued {
			return
		}
		qt := p.dn.q.treatments[t.n]
		e.begin(3)
		e.treat(p, qt.typ.String(), qt.parms, nil)
		if qt.every > 0 {
			e.partyTimer(timerQueueTreatment, p, t.n, e.at+qt.every, "qtreat")
		}
	}
}

// rona: an ACD call rang too long at an agent: EventDiverted(agent DN,
// ThirdPartyDN Q, Redirected), then the RONA policy (ronaPolicy) for the
// agent: [agent] EventAgentNotReady(AuxWork, Reasons.ReasonCode NoAnswer),
// or its logout with that reason, or nothing; and the call is queued again
// in its place.
func (e *Engine) rona(p *party) {
	qd := e.dns[p.queue]
	if p.state != psRinging || qd == nil || qd.q == nil {
		return
	}
	k := p.call
	a := p.dn.agent
	n := estimate(k) + 4
	if a != nil {
		n += logoutEvents(p.dn)
	}
	e.begin(n)
	ev := e.emitPeer(event.EventDiverted, p, nil)
	ev.CallState = event.CallStateRedirected
	ev.ThirdPartyDN = qd.number
	if a != nil {
		reasons := event.KV{event.S("ReasonCode", "NoAnswer")}
		switch e.ronaPolicy(a, qd) {
		case config.RONANone:
		case config.RONALogout:
			e.logoutAll(a, nil, &Request{Reasons: reasons})
		default:
			ev := e.emit(event.EventAgentNotReady, p.dn, nil)
			ev.AgentWorkMode = event.WorkModeAuxWork
			ev.Reasons = reasons
			e.stopTimer(a.acwTimer)
			a.acwTimer = ""
			e.setAgentState(a, AgentNotReady, event.WorkModeAuxWork, reasons)
		}
	}
	var qNo uint64
	if p.w != nil {
		qNo = p.w.qPlace
	}
	k.remove(p)
	e.gone(p)
	e.enqueue(k, qd, qNo, nil)
	e.finish(nil)
}

// ronaPolicy is the RONA policy for agent a and queue qd: the agent's,
// else the queue's, else the tenant default, else not-ready.
func (e *Engine) ronaPolicy(a *agentState, qd *dnState) string {
	switch {
	case a.rona != "":
		return a.rona
	case qd.q.rona != "":
		return qd.q.rona
	case e.ronaDef != "":
		return e.ronaDef
	}
	return config.RONANotReady
}

// ---- commands ----

// waitingParty resolves call conn and DN dn, which must be a routing point
// (rpOnly) or a queue where the call waits.
func (e *Engine) waitingParty(conn, dn string, rpOnly bool, what string) (*call, *party, error) {
	d, err := e.dn(dn)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case rpOnly && d.rp == nil:
		return nil, nil, invalid("DN " + q(dn) + " is " + article(d.typ) + ", not a routing-point")
	case !d.waits():
		return nil, nil, conflict("DN " + q(dn) + " is " + article(d.typ) + ", not a routing-point or acd-queue")
	}
	k, err := e.lookupCall(conn)
	if err != nil {
		return nil, nil, err
	}
	p := k.partyOf(d)
	if p == nil || (p.state != psQueued && p.state != psRouting) {
		return nil, nil, conflict("cannot " + what + ": call " + q(k.conn) + " is not waiting at DN " + q(dn))
	}
	return k, p, nil
}

func (e *Engine) routeCall(c *RouteCall) error {
	if c.RoutingPoint == "" {
		return invalid("missing routingPoint")
	}
	k, p, err := e.waitingParty(c.ConnID, c.RoutingPoint, true, "route")
	if err != nil {
		return err
	}
	tg, err := e.target(c.To, p.dn, true, "route to")
	if err != nil {
		return err
	}
	if err := e.canTake(k, tg); err != nil {
		return err
	}
	e.begin(estimate(k) + 4)
	e.routeTo(p, tg, nil, &c.Request)
	e.finish(&c.Request)
	return nil
}

func (e *Engine) applyTreatmentCmd(c *ApplyTreatment) error {
	_, p, err := e.waitingParty(c.ConnID, c.DN, false, "apply a treatment")
	if err != nil {
		return err
	}
	e.begin(2)
	e.treat(p, c.Type, c.Parms, &c.Request)
	return nil
}

// Error codes of EventTreatmentNotApplied.
const (
	treatErrUnknownType     = 1 // not a TreatmentType name
	treatErrUnsupportedType = 2 // a type this switch cannot play
	treatErrBadParms        = 3 // bad or missing parameters
)

// treatmentEnd is the Extensions of EventTreatmentEnd (EVENTS.md 2.3):
// COMPLETION_STATUS as given, INTERRUPTED NO (no treatment here is cut
// short by the caller's keypad or voice: digits end only CollectDigits
// and PlayAnnouncementAndDigits, which they complete).
func treatmentEnd(status string) event.KV {
	return event.KV{event.S("COMPLETION_STATUS", status), event.S("INTERRUPTED", event.TreatmentNotInterrupted)}
}

// treat applies a treatment to waiting party p: EventTreatmentApplied (a
// running treatment with an end is replaced: EventTreatmentEnd with
// COMPLETION_STATUS ERROR first, as it neither ran to its end nor timed
// out), or EventTreatmentNotApplied.
func (e *Engine) treat(p *party, typName string, parms event.KV, req *Request) {
	typ, ok := event.ParseTreatmentType(typName)
	notApplied := func(t event.TreatmentType, code int64, msg string) {
		ev := e.emitCall(event.EventTreatmentNotApplied, p, req)
		ev.TreatmentType = t
		ev.TreatmentParms = parms
		ev.ErrorCode, ev.ErrorMessage = code, msg
	}
	if !ok || typName == "" {
		notApplied(event.TreatmentUnknown, treatErrUnknownType, "unknown treatment type "+q(typName))
		return
	}
	switch typ {
	case event.TreatmentMusic, event.TreatmentRingBack, event.TreatmentSilence, event.TreatmentBusy,
		event.TreatmentPlayAnnouncement, event.TreatmentCollectDigits, event.TreatmentPlayAnnouncementAndDigits:
	default:
		notApplied(typ, treatErrUnsupportedType, "treatment "+typ.String()+" is not supported")
		return
	}
	var secs int64
	if v, has := parms.Get("DURATION"); has {
		switch {
		case v.Kind == event.KindInt && v.Int > 0:
			secs = v.Int
		case v.Kind == event.KindString:
			n, err := strconv.ParseInt(v.Str, 10, 64)
			if err != nil || n <= 0 {
				notApplied(typ, treatErrBadParms, "DURATION must be whole seconds above 0")
				return
			}
			secs = n
		default:
			notApplied(typ, treatErrBadParms, "DURATION must be whole seconds above 0")
			return
		}
		if secs > 86400 {
			notApplied(typ, treatErrBadParms, "DURATION is over a day")
			return
		}
	}
	if typ == event.TreatmentPlayAnnouncement && secs == 0 {
		notApplied(typ, treatErrBadParms, "PlayAnnouncement needs DURATION (whole seconds)")
		return
	}
	if typ == event.TreatmentSilence || typ == event.TreatmentRingBack {
		secs = 0 // last until the call moves on
	}
	if cur := p.w.treat; cur.timer != "" || cur.digits {
		ev := e.emitCall(event.EventTreatmentEnd, p, req)
		ev.TreatmentType = cur.typ
		ev.Extensions = treatmentEnd(event.TreatmentCompletedError)
		e.cancelPartyTimer(p, cur.timer)
	}
	ev := e.emitCall(event.EventTreatmentApplied, p, req)
	ev.TreatmentType = typ
	ev.TreatmentParms = parms
	p.w.treat = treatment{typ: typ, parms: parms, digits: typ == event.TreatmentCollectDigits || typ == event.TreatmentPlayAnnouncementAndDigits}
	if secs > 0 {
		p.w.treat.timer = e.partyTimer(timerTreatEnd, p, 0, e.at+secs*1_000_000, "treat-end")
	}
	if !p.w.treated {
		for _, id := range p.w.timers {
			if t, ok := e.timers[id]; ok && t.kind == timerTreatReq {
				e.cancelPartyTimer(p, id)
				break
			}
		}
	}
	p.w.treated = true
}

func (e *Engine) collectDigits(c *CollectDigits) error {
	if c.Digits == "" {
		return invalid("missing digits")
	}
	for i := 0; i < len(c.Digits); i++ {
		if ch := c.Digits[i]; (ch < '0' || ch > '9') && ch != '*' && ch != '#' {
			return invalid("digits " + q(c.Digits) + " must be 0-9, * or #")
		}
	}
	_, p, err := e.waitingParty(c.ConnID, c.DN, false, "collect digits")
	if err != nil {
		return err
	}
	if !p.w.treat.digits {
		return conflict("no CollectDigits treatment is running on call " + q(p.call.conn) + " at DN " + q(p.dn.number))
	}
	e.begin(1)
	ev := e.emitCall(event.EventTreatmentEnd, p, &c.Request)
	ev.TreatmentType = p.w.treat.typ
	ev.CollectedDigits = c.Digits
	ev.LastCollectedDigit = c.Digits[len(c.Digits)-1:]
	ev.Extensions = c.Extensions.Merge(treatmentEnd(event.TreatmentCompletedNormal))
	e.cancelPartyTimer(p, p.w.treat.timer)
	p.w.treat = treatment{}
	return nil
}
