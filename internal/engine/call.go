package engine

import (
	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

// partyState is the state of one party on one call.
type partyState uint8

const (
	psDialing     partyState = iota + 1 // the originator, waiting for the answer
	psRinging                           // the call is delivered here (or, external: the network is alerting)
	psEstablished                       // talking
	psHeld                              // this party put the call on hold
	psBusy                              // the originator after EventDestinationBusy
	psBridged                           // a bridged appearance showing the call of another party
	psObserver                          // a monitoring supervisor (silent)
	psQueued                            // the party of an acd-queue: the call waits there
	psRouting                           // the party of a routing point: the call waits for a route
)

var partyStateNames = [...]string{"", "Dialing", "Ringing", "Established", "Held", "Busy", "Bridged", "Established", "Queued", "Routing"}

// party is one DN (or external number) on one call.
type party struct {
	call  *call
	dn    *dnState // nil for an external party
	num   string   // external: the number
	trunk string   // external: the trunk DN
	role  event.DNRole
	state partyState
	queue string // ThisQueue: the queue an ACD call came through (acd.go)

	muted     bool
	listenOff bool

	timer   string   // the running no-answer timer, or ""
	line    *party   // psBridged: the party whose line this appearance shows
	monitor *monitor // psObserver: the monitoring request that added it

	// Queue and routing state (acd.go): set for a party waiting at a
	// queue or routing point, and for an ACD call ringing at an agent;
	// nil otherwise, so a plain call's parties stay small.
	w *waitInfo
}

// name is the party's DN number, or its external number.
func (p *party) name() string {
	if p.dn != nil {
		return p.dn.number
	}
	return p.num
}

// real reports whether the party takes part in the conversation (not a
// bridged appearance or a silent observer).
func (p *party) real() bool { return p.state != psBridged && p.state != psObserver }

// call is one call: one ConnID.
type call struct {
	n        uint64 // counter; ConnID = perm(n)
	conn     string
	callID   int64
	typ      event.CallType
	th       *thread
	parties  []*party // in join order
	userData event.KV // never modified in place: replaced on merge
	prevConn string   // Consult: the ConnID of the main call
	ani      string
	dnis     string
	started  int64

	// Allocated with the call, so a basic call costs few allocations:
	// its first two parties, their list, and its thread if it starts one.
	pbuf [2]party
	buf  [2]*party
	tbuf thread
	used uint8 // pbuf entries handed out
}

// thread is a call thread (EVENTS.md section 3).
type thread struct {
	id    string
	seq   int64 // last Seq of key tenant:id
	calls int   // live calls in the thread
}

// realParties counts the parties taking part in the conversation.
func (c *call) realParties() int {
	n := 0
	for _, p := range c.parties {
		if p.real() {
			n++
		}
	}
	return n
}

// partyOf returns d's party on c (not a bridged appearance), or nil.
func (c *call) partyOf(d *dnState) *party {
	for _, p := range c.parties {
		if p.dn == d && p.state != psBridged {
			return p
		}
	}
	return nil
}

// hasDN reports whether d is on c in any way (a bridged appearance too).
func (c *call) hasDN(d *dnState) bool {
	for _, p := range c.parties {
		if p.dn == d {
			return true
		}
	}
	return false
}

// peer is the party shown as OtherDN to p: the first other party taking
// part in the conversation, in join order.
func (c *call) peer(p *party) *party {
	for _, q := range c.parties {
		if q != p && q.real() {
			return q
		}
	}
	return nil
}

// external returns the external party, or nil.
func (c *call) external() *party {
	for _, p := range c.parties {
		if p.dn == nil {
			return p
		}
	}
	return nil
}

func (c *call) remove(p *party) {
	for i, q := range c.parties {
		if q == p {
			c.parties = append(c.parties[:i], c.parties[i+1:]...)
			c.parties[len(c.parties) : len(c.parties)+1][0] = nil
			return
		}
	}
}

// addParty and removeParty keep a DN's parties in the order it joined their
// calls.

func (d *dnState) addParty(p *party) { d.parties = append(d.parties, p) }

func (d *dnState) removeParty(p *party) {
	for i, q := range d.parties {
		if q == p {
			d.parties = append(d.parties[:i], d.parties[i+1:]...)
			d.parties[len(d.parties) : len(d.parties)+1][0] = nil
			return
		}
	}
}

// onCalls counts the calls d takes part in (not bridged appearances).
func (d *dnState) onCalls() int {
	n := 0
	for _, p := range d.parties {
		if p.state != psBridged {
			n++
		}
	}
	return n
}

// active returns d's party that is not held (dialing, ringing, talking,
// busy), other than except, or nil.
func (d *dnState) active(except *party) *party {
	for _, p := range d.parties {
		if p != except && p.state != psHeld && p.state != psBridged {
			return p
		}
	}
	return nil
}

// busy reports whether d refuses a new call: out of service, DND, or on a
// call without call waiting.
func (d *dnState) busy() bool {
	return !d.inService || d.dnd || (!d.callWaiting && d.onCalls() > 0)
}

// newCall creates a call in thread th (nil: a new thread).
func (e *Engine) newCall(typ event.CallType, th *thread) *call {
	e.connNo++
	e.callNo++
	c := &call{n: e.connNo, callID: e.callNo, typ: typ, started: e.at}
	if th == nil {
		e.threadNo++
		c.conn, c.tbuf.id = e.ids.connAndThread(e.connNo, e.threadNo, e.at)
		th = &c.tbuf
	} else {
		c.conn = connString(e.ids.perm(e.connNo))
	}
	c.th = th
	th.calls++
	c.parties = c.buf[:0:2]
	e.calls[c.n] = c
	return c
}

// join adds a party for DN d (nil: external) to c.
func (e *Engine) join(c *call, d *dnState, role event.DNRole, st partyState) *party {
	var p *party
	if int(c.used) < len(c.pbuf) {
		p = &c.pbuf[c.used]
		c.used++
	} else {
		p = new(party)
	}
	*p = party{call: c, dn: d, role: role, state: st}
	c.parties = append(c.parties, p)
	if d != nil {
		d.addParty(p)
		e.refreshDN(d)
	}
	return p
}

// endCall forgets a call whose parties are all gone.
func (e *Engine) endCall(c *call) {
	delete(e.calls, c.n)
	c.th.calls--
}

// lookupCall finds a live call: a malformed or never issued ConnID is not
// found (404), one that was issued and released is a conflict (409).
func (e *Engine) lookupCall(conn string) (*call, error) {
	if conn == "" {
		return nil, invalid("missing ConnID")
	}
	x, ok := parseConn(conn)
	if !ok {
		return nil, notFound("unknown ConnID " + q(conn) + " (want 16 lowercase hex digits)")
	}
	n := e.ids.unperm(x)
	if c := e.calls[n]; c != nil {
		return c, nil
	}
	if n >= 1 && n <= e.connNo {
		return nil, conflict("call " + q(conn) + " was already released")
	}
	return nil, notFound("unknown ConnID " + q(conn))
}

// on returns d's party on c, or a conflict.
func on(c *call, d *dnState) (*party, error) {
	if p := c.partyOf(d); p != nil {
		return p, nil
	}
	return nil, conflict("DN " + q(d.number) + " is not on call " + q(c.conn))
}

// emitCall appends a voice-callthread event of p's call reported for p,
// caused by req (nil: none), with the call's fields and ThisDN, ThisDNRole,
// AgentID, ThisQueue and UserData set.
func (e *Engine) emitCall(name event.Name, p *party, req *Request) *event.Event {
	c := p.call
	ev := e.next()
	ev.ID = name
	ev.Server = e.server
	ev.Time = e.now
	ev.CustomerID = e.tenant
	ev.SchemaVersion = event.SchemaVersion
	c.th.seq++
	ev.Seq = c.th.seq
	ev.CallThreadID = c.th.id
	ev.ConnID = c.conn
	ev.CallID = c.callID
	ev.CallType = c.typ
	ev.PreviousConnID = c.prevConn
	ev.ThisDN = p.dn.number
	ev.ThisDNRole = p.role
	ev.ThisQueue = p.queue
	if a := p.dn.agent; a != nil {
		ev.AgentID = a.id
	}
	ev.UserData = c.userData
	if req != nil {
		ev.ReferenceID = req.ReferenceID
		if len(req.Reasons) > 0 {
			ev.Reasons = req.Reasons
		}
		if len(req.Extensions) > 0 {
			ev.Extensions = req.Extensions
		}
	}
	return ev
}

// other sets OtherDN (and OtherDNRole, OtherTrunk) to party o.
func other(ev *event.Event, o *party) {
	if o == nil {
		return
	}
	ev.OtherDN = o.name()
	ev.OtherDNRole = o.role
	ev.OtherTrunk = o.trunk
}

// emitPeer is emitCall with OtherDN set to p's peer.
func (e *Engine) emitPeer(name event.Name, p *party, req *Request) *event.Event {
	ev := e.emitCall(name, p, req)
	other(ev, p.call.peer(p))
	return ev
}

// stepEnd collects what a step does after its call events: EventOnHook for
// DNs whose last call went, and monitoring that a OneCall ends.
type stepEnd struct {
	hooks    []hookEnd
	monitors []*dnState // supervisor DNs whose OneCall monitoring ends
}

// hookEnd: DN d may go on hook; its last call was k.
type hookEnd struct {
	d      *dnState
	conn   string
	callID int64
}

// gone is called when party p has left its call (already removed from the
// call's list and the DN's): stops its timer, releases bridged appearances
// of its line, and records the on-hook and monitoring ends for the end of
// the step.
func (e *Engine) gone(p *party) {
	e.stopPartyTimer(p)
	e.stopPartyTimers(p)
	d := p.dn
	if d == nil {
		return
	}
	if p.w != nil && p.w.qNo != 0 {
		d.q.unlinkWait(p)
		p.w.qNo = 0
	}
	d.removeParty(p)
	e.refreshDN(d)
	if p.state == psObserver && p.monitor != nil {
		if s := p.monitor.super; s.monitoring == p.monitor && p.monitor.typ == event.MonitorOneCall {
			e.end.monitors = append(e.end.monitors, s)
		}
	}
	if d.onCalls() == 0 && d.offHook {
		for i := range e.end.hooks {
			if e.end.hooks[i].d == d {
				e.end.hooks[i].conn, e.end.hooks[i].callID = p.call.conn, p.call.callID
				return
			}
		}
		e.end.hooks = append(e.end.hooks, hookEnd{d, p.call.conn, p.call.callID})
	}
}

// finish emits what stepEnd collected: EventOnHook for each DN still on
// hook-able (no call, off hook), then the monitoring cancellations.
func (e *Engine) finish(req *Request) {
	for _, h := range e.end.hooks {
		if d := h.d; d.onCalls() == 0 && d.offHook {
			d.offHook = false
			ev := e.emit(event.EventOnHook, d, req)
			ev.ConnID, ev.CallID = h.conn, h.callID
		}
	}
	for _, s := range e.end.monitors {
		if s.monitoring != nil {
			e.endMonitoring(s, req)
		}
	}
	e.end.hooks, e.end.monitors = e.end.hooks[:0], e.end.monitors[:0]
}

// offHook emits EventOffHook for d (starting or answering call k) if it
// is not off hook yet.
func (e *Engine) offHook(d *dnState, k *call, req *Request) {
	if !d.offHook {
		d.offHook = true
		ev := e.emit(event.EventOffHook, d, req)
		ev.ConnID, ev.CallID = k.conn, k.callID
	}
}

// released emits EventReleased for p with state st (after-call work first
// for an agent leaving an ACD call), removes p from its call and finishes
// it (gone), then releases the bridged appearances of p's line.
//
// OtherDN is p's peer, or else (the peer left in this step) gonePeer.
func (e *Engine) released(p *party, st event.CallState, req *Request, third string, gonePeer *party) {
	c := p.call
	e.acw(p, req)
	ev := e.emitPeer(event.EventReleased, p, req)
	if ev.OtherDN == "" {
		other(ev, gonePeer)
	}
	ev.CallState = st
	ev.ThirdPartyDN = third
	c.remove(p)
	e.gone(p)
	for i := 0; i < len(c.parties); {
		b := c.parties[i]
		if b.state == psBridged && b.line == p {
			ev := e.emitCall(event.EventReleased, b, req)
			ev.CallState = event.CallStateOk
			ev.OtherDN = p.dn.number
			c.remove(b)
			e.gone(b)
			continue
		}
		i++
	}
}

// drop removes p from its call without an event of its own (an external
// party, or a ringing party whose event the caller produced).
func (e *Engine) drop(p *party) {
	p.call.remove(p)
	e.gone(p)
}

// leave: party p leaves call c (hung up, was deleted, or the network
// released it); actor is the DN that caused it (nil: p itself). With two or
// more conversation parties left, the call goes on: EventReleased(p) then
// EventPartyDeleted for each remaining DN party in join order. Otherwise
// the call ends: EventReleased(p) (or nothing for an external party), then
// for each other party in join order EventAbandoned if it was ringing, else
// EventReleased.
func (e *Engine) leave(p *party, actor *party, st event.CallState, req *Request) {
	c := p.call
	left := c.realParties()
	if p.real() {
		left--
	}
	if left >= 2 {
		by := p
		if actor != nil {
			by = actor
		}
		if p.dn != nil {
			e.released(p, st, req, "", nil)
		} else {
			e.drop(p)
		}
		cs := event.CallStateOk
		if left >= 3 {
			cs = event.CallStateConferenced
		}
		for _, q := range c.parties {
			if q.dn == nil || q.state == psBridged {
				continue
			}
			ev := e.emitCall(event.EventPartyDeleted, q, req)
			ev.CallState = cs
			ev.OtherDN, ev.OtherDNRole, ev.OtherTrunk = p.name(), event.RoleDeletedParty, p.trunk
			ev.ThirdPartyDN, ev.ThirdPartyDNRole = by.name(), event.RoleDeletedBy
		}
		return
	}
	// The call ends.
	if p.dn != nil {
		e.released(p, st, req, "", nil)
	} else {
		e.drop(p)
	}
	e.clear(c, p, req)
}

// clear ends call c: every remaining party, in join order (monitoring
// supervisors last), gets EventAbandoned (ringing) or EventReleased;
// external parties none. last is
// the party that left just before (shown as OtherDN when no other is left).
func (e *Engine) clear(c *call, last *party, req *Request) {
	for len(c.parties) > 0 {
		q := c.parties[0]
		for _, r := range c.parties {
			if r.state != psObserver {
				q = r // a monitoring supervisor goes after the last real party
				break
			}
		}
		switch {
		case q.dn == nil:
			e.drop(q)
		case q.state == psRinging || q.state == psQueued || q.state == psRouting:
			ev := e.emitPeer(event.EventAbandoned, q, req)
			if ev.OtherDN == "" {
				other(ev, last)
			}
			ev.CallState = event.CallStateOk
			e.drop(q)
		case q.state == psBusy:
			e.released(q, event.CallStateBusy, req, "", last)
		default:
			e.released(q, event.CallStateOk, req, "", last)
		}
	}
	e.endCall(c)
}

// offer decides where a call for DN d goes: to d, or to its forward
// destination (unconditional, or on busy), and whether it is busy. from is
// the DN that forwarded (nil if not forwarded).
func (e *Engine) offer(d *dnState) (to, from *dnState, busy bool) {
	fwd := e.forwardTarget(d)
	switch d.fwdMode {
	case ForwardUnconditional:
		if fwd != nil {
			return fwd, d, fwd.busy()
		}
	case ForwardOnBusy, ForwardOnBusyAndNoAnswer:
		if d.busy() && fwd != nil && !fwd.busy() {
			return fwd, d, false
		}
	}
	return d, nil, d.busy()
}

// forwardTarget is the phone DN d forwards to, or nil (none, or an
// external number or non-phone DN, which this engine does not forward to
// yet).
func (e *Engine) forwardTarget(d *dnState) *dnState {
	if d.fwdTo == "" {
		return nil
	}
	f := e.dns[d.fwdTo]
	if f == nil || !f.typ.IsPhone() || f == d {
		return nil
	}
	return f
}

// ring delivers c to DN d (already chosen by offer, not busy) as a new
// party: EventRinging with OtherDN the peer, ThirdPartyDN third (with its
// role), CallState st; starts the no-answer timer when d forwards on no
// answer.
func (e *Engine) ring(c *call, d *dnState, role event.DNRole, st event.CallState, third string, thirdRole event.DNRole, req *Request) *party {
	p := e.join(c, d, role, psRinging)
	e.ringEvent(p, st, third, thirdRole, req)
	e.startNoAnswer(p)
	return p
}

func (e *Engine) ringEvent(p *party, st event.CallState, third string, thirdRole event.DNRole, req *Request) {
	c := p.call
	ev := e.emitPeer(event.EventRinging, p, req)
	ev.CallState = st
	ev.ThirdPartyDN, ev.ThirdPartyDNRole = third, thirdRole
	ev.ANI, ev.DNIS = c.ani, c.dnis
}

// startNoAnswer starts the no-answer timer of a ringing party whose DN
// forwards on no answer.
func (e *Engine) startNoAnswer(p *party) {
	d := p.dn
	if d.fwdMode != ForwardOnNoAnswer && d.fwdMode != ForwardOnBusyAndNoAnswer {
		return
	}
	if e.forwardTarget(d) == nil {
		return
	}
	t := d.noAnswer
	if t <= 0 {
		t = e.noAnswer
	}
	if t <= 0 {
		return
	}
	e.timerNo++
	id := "noanswer/" + p.call.conn + "/" + d.number + "/" + uitoa(e.timerNo)
	e.timers[id] = timer{kind: timerNoAnswer, party: p, at: e.at + t}
	p.timer = id
	e.effect(StartTimer{ID: id, At: e.at + t})
}

func (e *Engine) stopPartyTimer(p *party) {
	if p.timer != "" {
		e.stopTimer(p.timer)
		p.timer = ""
	}
}

// noAnswerFired: the party still rings; its DN forwards on no answer to a
// free DN: EventDiverted(d, ThirdPartyDN F, Forwarded), EventRinging(F,
// ThirdPartyDN d, Forwarded). Otherwise it keeps ringing.
func (e *Engine) noAnswerFired(id string, p *party) {
	delete(e.timers, id)
	p.timer = ""
	d := p.dn
	f := e.forwardTarget(d)
	if p.state != psRinging || f == nil || f.busy() || p.call.hasDN(f) {
		return
	}
	e.begin(2)
	ev := e.emitPeer(event.EventDiverted, p, nil)
	ev.CallState = event.CallStateForwarded
	ev.ThirdPartyDN = f.number
	e.moveParty(p, f)
	e.ringEvent(p, event.CallStateForwarded, d.number, 0, nil)
	e.startNoAnswer(p)
}

// moveParty moves a ringing party from its DN to DN to.
func (e *Engine) moveParty(p *party, to *dnState) {
	e.stopPartyTimer(p)
	from := p.dn
	from.removeParty(p)
	p.dn = to
	to.addParty(p)
	e.refreshDN(from)
	e.refreshDN(to)
}

// trunkFor returns the trunk an external number leaves through: the first
// trunk (configuration order) with a matching prefix or no prefixes that
// is in service, else (every such trunk is out of service, e.g. its SIP
// keepalive failed) the first of them all the same: it may be back, and
// the call's outcome will say.
func (e *Engine) trunkFor(number string) *dnState {
	var first *dnState
	for _, d := range e.dnList {
		if d.typ != config.Trunk || !d.takes(number) {
			continue
		}
		if d.inService {
			return d
		}
		if first == nil {
			first = d
		}
	}
	return first
}

// takes reports whether trunk d takes number: a matching prefix, or none.
func (d *dnState) takes(number string) bool {
	if len(d.prefixes) == 0 {
		return true
	}
	for _, px := range d.prefixes {
		if len(number) >= len(px) && number[:len(px)] == px {
			return true
		}
	}
	return false
}

// acw starts after-call work for the agent on p's DN when p leaves an ACD
// call (p.queue set): EventAgentNotReady(AfterCallWork,
// Extensions.WrapUpTime), and a timer for timed wrap-up. The wrap-up time
// is the agent's, else the queue's, else the tenant default; none: nothing.
func (e *Engine) acw(p *party, req *Request) {
	if p.queue == "" || p.dn == nil || p.dn.agent == nil || !p.real() || p.state == psRinging {
		return // not an ACD call, or never answered
	}
	a := p.dn.agent
	w, ok := e.wrapUpOf(p)
	if !ok {
		return
	}
	ev := e.emit(event.EventAgentNotReady, p.dn, nil)
	ev.AgentWorkMode = event.WorkModeAfterCallWork
	ev.ThisQueue = p.queue
	if req != nil {
		ev.ReferenceID = req.ReferenceID
	}
	e.stopTimer(a.acwTimer)
	a.acwTimer = ""
	ev.Extensions = event.KV{wrapUpTime(w)}
	if !w.Untimed {
		a.acwTimer = e.newTimer(timerACW, a, e.at+w.Time.Microseconds())
	}
	e.setAgentState(a, AgentAfterCallWork, event.WorkModeAfterCallWork, nil)
}

// wrapUpOf is the after-call work that will follow when the agent on p's
// DN leaves p's ACD call: the agent's wrap-up time, else the queue's, else
// the tenant default; ok is false when there is none (or p is not an ACD
// call of a logged-in agent).
func (e *Engine) wrapUpOf(p *party) (w config.WrapUp, ok bool) {
	if p.queue == "" || p.dn == nil || p.dn.agent == nil {
		return w, false
	}
	w = p.dn.agent.wrapUp
	if !w.Set {
		if qd := e.dns[p.queue]; qd != nil {
			w = qd.wrapUp
		}
	}
	if !w.Set {
		w = e.wrapUp
	}
	return w, w.Set && (w.Untimed || w.Time > 0)
}

// wrapUpTime is Extensions.WrapUpTime for w: whole seconds (rounded up),
// or "untimed".
func wrapUpTime(w config.WrapUp) event.Pair {
	if w.Untimed {
		return event.S("WrapUpTime", "untimed")
	}
	return event.I("WrapUpTime", int64((w.Time+999_999_999)/1_000_000_000))
}

// afterAnswer handles what follows an answer on call c (the answering
// party's events done): monitoring supervisors of the DNs that became
// established join silently, then bridged appearances of their lines show
// the call.
func (e *Engine) afterAnswer(c *call, now []*party, req *Request) {
	for _, p := range now {
		if p.dn == nil || p.call != c {
			continue
		}
		if s := p.dn.monitoredBy; s != nil && s.monitoring != nil && !s.monitoring.used && !s.busy() && !c.hasDN(s) {
			m := s.monitoring
			if m.typ == event.MonitorOneCall {
				m.used = true
			}
			// Service observing: each party already on the call learns
			// of the observer first (the monitored party first), then
			// the supervisor's phone goes off hook and is bridged in.
			added := func(q *party) {
				ev := e.emitCall(event.EventPartyAdded, q, req)
				ev.CallState = event.CallStateBridged
				ev.OtherDN, ev.OtherDNRole = s.number, event.RoleObserver
			}
			added(p)
			for _, q := range c.parties {
				if q.dn != nil && q != p && q.state != psBridged {
					added(q)
				}
			}
			o := e.join(c, s, event.RoleObserver, psObserver)
			o.monitor = m
			e.offHook(s, c, req)
			ev := e.emitCall(event.EventRinging, o, req)
			ev.CallState = event.CallStateBridged
			other(ev, p)
			ev = e.emitCall(event.EventEstablished, o, req)
			ev.CallState = event.CallStateBridged
			other(ev, p)
		}
	}
	for _, p := range now {
		if p.dn == nil || p.call != c {
			continue
		}
		for _, x := range p.dn.bridgedBy {
			if c.hasDN(x) || !x.inService {
				continue
			}
			b := e.join(c, x, event.RoleDestination, psBridged)
			b.line = p
			ev := e.emitCall(event.EventBridged, b, req)
			ev.OtherDN = p.dn.number
		}
	}
}
