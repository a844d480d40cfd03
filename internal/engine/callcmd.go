package engine

import (
	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

// Every handler checks everything first and returns an *Error with nothing
// changed, then calls begin and acts; what acting does cannot fail.

// target is where a request sends a call: a phone DN, or an external
// number and the trunk it leaves through.
type target struct {
	d     *dnState
	num   string
	trunk *dnState
}

// target resolves destination to for a request of DN from; external says
// whether external numbers are allowed.
func (e *Engine) target(to string, from *dnState, external bool, what string) (target, error) {
	if to == "" {
		return target{}, invalid("missing destination")
	}
	if d := e.dns[to]; d != nil {
		switch {
		case d == from:
			return target{}, invalid("DN " + q(to) + " cannot " + what + " itself")
		case d.typ.IsPhone() || d.waits():
			return target{d: d}, nil
		case d.typ == config.Trunk:
			return target{}, invalid("DN " + q(to) + " is a trunk; give an external number")
		default:
			return target{}, conflict("calls to " + article(d.typ) + " (" + q(to) + ") are not handled yet")
		}
	}
	if !isExternal(to) {
		return target{}, notFound("unknown DN " + q(to))
	}
	if !external {
		return target{}, conflict("cannot " + what + " an external number (" + q(to) + ")")
	}
	tr := e.trunkFor(to)
	if tr == nil {
		return target{}, conflict("no trunk takes number " + q(to))
	}
	return target{num: to, trunk: tr}, nil
}

// callParty resolves the DN, the call and the DN's party on it.
func (e *Engine) callParty(conn, dn, what string) (*call, *party, error) {
	d, err := e.phone(dn, what)
	if err != nil {
		return nil, nil, err
	}
	c, err := e.lookupCall(conn)
	if err != nil {
		return nil, nil, err
	}
	p, err := on(c, d)
	if err != nil {
		return nil, nil, err
	}
	return c, p, nil
}

// needState refuses unless p is in one of the states.
func needState(p *party, what string, states ...partyState) error {
	for _, s := range states {
		if p.state == s {
			return nil
		}
	}
	return conflict("cannot " + what + ": call " + q(p.call.conn) + " is " + stateWord(p) + " at DN " + q(p.name()))
}

func stateWord(p *party) string {
	switch p.state {
	case psDialing:
		return "dialing"
	case psRinging:
		return "ringing"
	case psEstablished:
		return "established"
	case psHeld:
		return "held"
	case psBusy:
		return "busy"
	case psObserver:
		return "monitored"
	}
	return "bridged"
}

// noOtherActive refuses when d has an active call other than those given.
func noOtherActive(d *dnState, except ...*party) error {
	for _, p := range d.parties {
		if p.state == psHeld || p.state == psBridged {
			continue
		}
		skip := false
		for _, x := range except {
			skip = skip || p == x
		}
		if !skip {
			return conflict("DN " + q(d.number) + " is on another call (" + q(p.call.conn) + ", " + stateWord(p) + "); hold or release it first")
		}
	}
	return nil
}

func callReply(c *call) CallReply { return CallReply{ConnID: c.conn, CallThreadID: c.th.id} }

// estimate is a generous bound on the events of a step on calls cs.
func estimate(cs ...*call) int {
	n := 8
	for _, c := range cs {
		n += 4 * len(c.parties)
	}
	return n
}

func (e *Engine) makeCall(c *MakeCall) error {
	from, err := e.phone(c.From, "make call")
	if err != nil {
		return err
	}
	tg, err := e.target(c.To, from, true, "call")
	if err != nil {
		return err
	}
	if !from.inService {
		return refuseOutOfService(from)
	}
	if err := noOtherActive(from); err != nil {
		return err
	}
	var fwdFrom string
	if tg.d != nil {
		if ext, ok := e.externalForward(tg.d); ok {
			fwdFrom, tg = tg.d.number, ext
		}
	}
	e.begin(6)
	typ := event.CallTypeInternal
	if tg.d == nil {
		typ = event.CallTypeOutbound
	}
	k := e.newCall(typ, nil)
	k.userData = c.UserData
	if tg.d == nil {
		k.dnis = c.To // the dialed number
	}
	e.offHook(from, k, &c.Request)
	o := e.join(k, from, event.RoleOrigination, psDialing)
	e.dialing(o, c.To, &c.Request)
	e.deliver(k, o, tg, fwdFrom, &c.Request)
	e.finish(&c.Request)
	e.reply = callReply(k)
	return nil
}

func (e *Engine) dialing(o *party, to string, req *Request) {
	ev := e.emitCall(event.EventDialing, o, req)
	ev.OtherDN, ev.OtherDNRole = to, event.RoleDestination
	ev.DNIS = o.call.dnis
}

// externalForward returns the external target a call for DN d goes to when
// d forwards to an external number unconditionally, or on busy while busy,
// through a trunk that takes the number.
func (e *Engine) externalForward(d *dnState) (target, bool) {
	if d.fwdTo == "" || e.dns[d.fwdTo] != nil || !isExternal(d.fwdTo) {
		return target{}, false
	}
	switch d.fwdMode {
	case ForwardUnconditional:
	case ForwardOnBusy, ForwardOnBusyAndNoAnswer:
		if !d.busy() {
			return target{}, false
		}
	default:
		return target{}, false
	}
	tr := e.trunkFor(d.fwdTo)
	if tr == nil {
		return target{}, false
	}
	return target{num: d.fwdTo, trunk: tr}, true
}

// deliver sends call k of originator o to tg: through the trunk
// (EventNetworkReached), to a busy DN (EventDestinationBusy), or ringing a
// DN (or its forward destination).
func (e *Engine) deliver(k *call, o *party, tg target, fwdFrom string, req *Request) {
	if d := tg.d; d != nil && d.waits() {
		if e.canTake(k, tg) != nil {
			e.queueFull(k, o, d, req)
			return
		}
		e.arrive(k, tg, "", req)
		return
	}
	if tg.d == nil {
		x := e.join(k, nil, event.RoleDestination, psRinging)
		x.num, x.trunk = tg.num, tg.trunk.number
		ev := e.emitCall(event.EventNetworkReached, o, req)
		other(ev, x)
		ev.ThirdPartyDN = fwdFrom
		return
	}
	to, fwd, busy := e.offer(tg.d)
	if busy || k.hasDN(to) {
		o.state = psBusy
		ev := e.emitCall(event.EventDestinationBusy, o, req)
		ev.CallState = event.CallStateBusy
		ev.OtherDN, ev.OtherDNRole = tg.d.number, event.RoleDestination
		return
	}
	st, third := event.CallStateOk, ""
	if fwd != nil {
		st, third = event.CallStateForwarded, fwd.number
	}
	e.ring(k, to, event.RoleDestination, st, third, 0, req)
}

func (e *Engine) answer(c *Answer) error {
	k, p, err := e.callParty(c.ConnID, c.DN, "answer")
	if err != nil {
		return err
	}
	if err := needState(p, "answer", psRinging); err != nil {
		return err
	}
	if err := noOtherActive(p.dn, p); err != nil {
		return err
	}
	e.begin(estimate(k) + 4)
	e.stopPartyTimer(p)
	e.offHook(p.dn, k, &c.Request)
	p.state = psEstablished
	ev := e.emitPeer(event.EventEstablished, p, &c.Request)
	ev.CallState = event.CallStateOk
	if w, ok := e.wrapUpOf(p); ok {
		// After-call work will follow this ACD call: announced now, as
		// T-Server's emulated after-call work does (EVENTS.md 4.2).
		ev.Extensions = ev.Extensions.Merge(event.KV{wrapUpTime(w)})
	}
	var buf [4]*party
	now := append(buf[:0], p)
	for _, q := range k.parties {
		if q == p || q.state != psDialing {
			continue
		}
		q.state = psEstablished
		if q.dn != nil {
			ev := e.emitCall(event.EventEstablished, q, &c.Request)
			ev.CallState = event.CallStateOk
			other(ev, p)
			now = append(now, q)
		}
	}
	e.afterAnswer(k, now, &c.Request)
	e.finish(&c.Request)
	return nil
}

func (e *Engine) release(c *Release) error {
	k, p, err := e.callParty(c.ConnID, c.DN, "release")
	if err != nil {
		return err
	}
	if p.state == psRinging {
		return conflict("call " + q(k.conn) + " is ringing at DN " + q(p.name()) + "; answer or redirect it")
	}
	e.begin(estimate(k))
	st := event.CallStateOk
	if p.state == psBusy {
		st = event.CallStateBusy
	}
	e.leave(p, nil, st, &c.Request)
	e.finish(&c.Request)
	return nil
}

func (e *Engine) hold(c *Hold) error {
	_, p, err := e.callParty(c.ConnID, c.DN, "hold")
	if err != nil {
		return err
	}
	if p.state == psHeld {
		return refuseAlready(p, "hold")
	}
	if err := needState(p, "hold", psEstablished); err != nil {
		return err
	}
	e.begin(1)
	p.state = psHeld
	e.emitPeer(event.EventHeld, p, &c.Request)
	return nil
}

func (e *Engine) retrieve(c *Retrieve) error {
	_, p, err := e.callParty(c.ConnID, c.DN, "retrieve")
	if err != nil {
		return err
	}
	if p.state == psEstablished {
		return refuseAlready(p, "retrieve")
	}
	if err := needState(p, "retrieve", psHeld); err != nil {
		return err
	}
	if err := noOtherActive(p.dn, p); err != nil {
		return err
	}
	e.begin(1)
	p.state = psEstablished
	ev := e.emitPeer(event.EventRetrieved, p, &c.Request)
	ev.CallState = event.CallStateOk
	return nil
}

// offerFree resolves a DN a request moves an existing call to: refused if
// busy or already on the call.
func (e *Engine) offerFree(k *call, d *dnState) (to, fwd *dnState, err error) {
	to, fwd, busy := e.offer(d)
	if busy {
		return nil, nil, refuseBusy(d)
	}
	if k.hasDN(to) {
		return nil, nil, conflict("DN " + q(to.number) + " is already on call " + q(k.conn))
	}
	return to, fwd, nil
}

func (e *Engine) redirect(c *Redirect) error {
	k, p, err := e.callParty(c.ConnID, c.DN, "redirect")
	if err != nil {
		return err
	}
	if err := needState(p, "redirect", psRinging); err != nil {
		return err
	}
	tg, err := e.target(c.To, p.dn, true, "redirect to")
	if err != nil {
		return err
	}
	if tg.d == nil {
		e.begin(estimate(k))
		e.transferOut(k, p, tg, &c.Request)
		e.finish(&c.Request)
		return nil
	}
	if tg.d.waits() {
		if err := e.canTake(k, tg); err != nil {
			return err
		}
		e.begin(estimate(k) + 4)
		ev := e.emitPeer(event.EventDiverted, p, &c.Request)
		ev.CallState = event.CallStateRedirected
		ev.ThirdPartyDN = tg.d.number
		e.drop(p)
		e.arrive(k, tg, "", &c.Request)
		e.finish(&c.Request)
		return nil
	}
	to, _, err := e.offerFree(k, tg.d)
	if err != nil {
		return err
	}
	e.begin(2)
	d := p.dn
	ev := e.emitPeer(event.EventDiverted, p, &c.Request)
	ev.CallState = event.CallStateRedirected
	ev.ThirdPartyDN = tg.d.number
	e.moveParty(p, to)
	e.ringEvent(p, event.CallStateRedirected, d.number, 0, &c.Request)
	e.startNoAnswer(p)
	return nil
}

func (e *Engine) singleStepTransfer(c *SingleStepTransfer) error {
	k, p, err := e.callParty(c.ConnID, c.DN, "transfer")
	if err != nil {
		return err
	}
	if err := needState(p, "transfer", psEstablished, psHeld); err != nil {
		return err
	}
	tg, err := e.target(c.To, p.dn, true, "transfer to")
	if err != nil {
		return err
	}
	if tg.d == nil {
		e.begin(estimate(k))
		e.transferOut(k, p, tg, &c.Request)
		e.finish(&c.Request)
		return nil
	}
	if tg.d.waits() {
		if err := e.canTake(k, tg); err != nil {
			return err
		}
		e.begin(estimate(k) + 4)
		b := p.dn.number
		e.released(p, event.CallStateTransferred, &c.Request, tg.d.number, nil)
		e.transferred(k, tg.d.number, "", event.RoleDestination, b, &c.Request)
		e.arrive(k, tg, "", &c.Request)
		e.finish(&c.Request)
		return nil
	}
	to, fwd, err := e.offerFree(k, tg.d)
	if err != nil {
		return err
	}
	e.begin(estimate(k))
	b := p.dn.number
	e.released(p, event.CallStateTransferred, &c.Request, tg.d.number, nil)
	role := newRole(k)
	e.transferred(k, tg.d.number, "", role, b, &c.Request)
	st := event.CallStateOk
	if fwd != nil {
		st = event.CallStateForwarded
	}
	e.ring(k, to, role, st, b, event.RoleTransferredBy, &c.Request)
	e.finish(&c.Request)
	return nil
}

// transferOut hands call k over from party p to an external number (a
// single-step transfer, or a redirect of the call ringing at p; EVENTS.md
// 5.15): EventReleased(p, Transferred, ThirdPartyDN X), EventPartyChanged
// for every remaining DN party (OtherDN X with its trunk), and X joins,
// called through its trunk. The call leaves the switch without a further
// event (EventNetworkReached is not repeated); NetworkAnswer, NetworkBusy
// and NetworkRelease with Party X report what the network does.
func (e *Engine) transferOut(k *call, p *party, tg target, req *Request) {
	b := p.dn.number
	e.released(p, event.CallStateTransferred, req, tg.num, nil)
	role := newRole(k)
	e.transferred(k, tg.num, tg.trunk.number, role, b, req)
	x := e.join(k, nil, role, psRinging)
	x.num, x.trunk = tg.num, tg.trunk.number
}

// initiate starts a consultation call from DN dn on call conn to to
// (InitiateTransfer and InitiateConference).
func (e *Engine) initiate(req *Request, conn, dn, to string, ud event.KV) error {
	k, p, err := e.callParty(conn, dn, "consult")
	if err != nil {
		return err
	}
	if err := needState(p, "consult", psEstablished, psHeld); err != nil {
		return err
	}
	if err := noOtherActive(p.dn, p); err != nil {
		return err
	}
	tg, err := e.target(to, p.dn, true, "consult")
	if err != nil {
		return err
	}
	var fwdFrom string
	if tg.d != nil {
		if ext, ok := e.externalForward(tg.d); ok {
			fwdFrom, tg = tg.d.number, ext
		}
	}
	e.begin(6)
	if p.state == psEstablished {
		p.state = psHeld
		e.emitPeer(event.EventHeld, p, req)
	}
	k2 := e.newCall(event.CallTypeConsult, k.th)
	k2.prevConn = k.conn
	k2.userData = k.userData.Merge(ud)
	o := e.join(k2, p.dn, event.RoleOrigination, psDialing)
	e.dialing(o, to, req)
	e.deliver(k2, o, tg, fwdFrom, req)
	e.reply = callReply(k2)
	return nil
}

// twoCalls resolves phone DN dn and its parties on call conn and on another
// call consult; consultPair and related add their own checks.
func (e *Engine) twoCalls(conn, dn, consult, what string) (d *dnState, k1, k2 *call, p1, p2 *party, err error) {
	if d, err = e.phone(dn, what); err != nil {
		return
	}
	if k1, err = e.lookupCall(conn); err != nil {
		return
	}
	if consult == "" {
		err = invalid("missing consult ConnID")
		return
	}
	if k2, err = e.lookupCall(consult); err != nil {
		return
	}
	if k1 == k2 {
		err = invalid("the consult call is the call itself")
		return
	}
	if p1, err = on(k1, d); err != nil {
		return
	}
	if p2, err = on(k2, d); err != nil {
		return
	}
	return
}

// consultPair resolves the main call, the consultation call and DN's
// parties on both, checking that the second is a consultation the DN made
// from the first and that it has one other party.
func (e *Engine) consultPair(conn, dn, consult, what string) (k1, k2 *call, p1, p2, cp *party, err error) {
	var d *dnState
	if d, k1, k2, p1, p2, err = e.twoCalls(conn, dn, consult, what); err != nil {
		return
	}
	if k2.typ != event.CallTypeConsult || k2.prevConn != k1.conn || p2.role != event.RoleOrigination {
		err = conflict("call " + q(k2.conn) + " is not a consultation made by DN " + q(d.number) + " from call " + q(k1.conn))
		return
	}
	if k2.realParties() != 2 {
		err = conflict("consultation call " + q(k2.conn) + " has no other party")
		return
	}
	cp = k2.peer(p2)
	return
}

func (e *Engine) completeTransfer(c *CompleteTransfer) error {
	k1, k2, p1, p2, cp, err := e.consultPair(c.ConnID, c.DN, c.ConsultConnID, "complete transfer")
	if err != nil {
		return err
	}
	if err := needState(p1, "complete transfer", psHeld, psEstablished); err != nil {
		return err
	}
	if err := needState(cp, "complete transfer", psRinging, psEstablished); err != nil {
		return err
	}
	if cp.dn != nil && k1.hasDN(cp.dn) {
		return conflict("DN " + q(cp.name()) + " is already on call " + q(k1.conn))
	}
	e.begin(estimate(k1, k2))
	b := p1.dn.number
	e.released(p2, event.CallStateTransferred, &c.Request, "", nil)
	e.released(p1, event.CallStateTransferred, &c.Request, cp.name(), nil)
	cp.role = newRole(k1)
	e.transferred(k1, cp.name(), cp.trunk, cp.role, b, &c.Request)
	e.moveCall(cp, k1)
	if cp.dn != nil { // an external party gets no event (EVENTS.md 5.15)
		ev := e.emitCall(event.EventPartyChanged, cp, &c.Request)
		ev.PreviousConnID = k2.conn
		ev.CallState = event.CallStateTransferred
		other(ev, k1.peer(cp))
		ev.ThirdPartyDN, ev.ThirdPartyDNRole = b, event.RoleTransferredBy
	}
	e.clear(k2, nil, &c.Request)
	e.finish(&c.Request)
	return nil
}

// newRole is the role of a party joining k: Destination, or
// ConferenceMember when k already has two or more conversation parties.
func newRole(k *call) event.DNRole {
	if k.realParties() >= 2 {
		return event.RoleConferenceMember
	}
	return event.RoleDestination
}

// transferred emits EventPartyChanged(Transferred) for every DN party of k
// in join order (the transferring party has left): OtherDN the new party
// to (with role, and its trunk if external), ThirdPartyDN by
// (TransferredBy), PreviousConnID k's own.
func (e *Engine) transferred(k *call, to, trunk string, role event.DNRole, by string, req *Request) {
	for _, q := range k.parties {
		if q.dn == nil || q.state == psBridged {
			continue
		}
		ev := e.emitCall(event.EventPartyChanged, q, req)
		ev.PreviousConnID = k.conn
		ev.CallState = event.CallStateTransferred
		ev.OtherDN, ev.OtherDNRole, ev.OtherTrunk = to, role, trunk
		ev.ThirdPartyDN, ev.ThirdPartyDNRole = by, event.RoleTransferredBy
	}
}

// moveCall moves party p to call k (a transfer or conference completed).
func (e *Engine) moveCall(p *party, k *call) {
	p.call.remove(p)
	p.call = k
	k.parties = append(k.parties, p)
}

func (e *Engine) completeConference(c *CompleteConference) error {
	k1, k2, p1, p2, cp, err := e.consultPair(c.ConnID, c.DN, c.ConsultConnID, "complete conference")
	if err != nil {
		return err
	}
	if err := needState(p1, "complete conference", psHeld, psEstablished); err != nil {
		return err
	}
	if cp.state != psEstablished {
		return conflict("cannot complete conference: the consulted party " + q(cp.name()) + " has not answered")
	}
	if cp.dn != nil && k1.hasDN(cp.dn) {
		return conflict("DN " + q(cp.name()) + " is already on call " + q(k1.conn))
	}
	if err := noOtherActive(p1.dn, p1, p2); err != nil {
		return err
	}
	e.begin(estimate(k1, k2))
	b := p1.dn.number
	e.released(p2, event.CallStateConferenced, &c.Request, "", nil)
	if p1.state == psHeld {
		p1.state = psEstablished
		ev := e.emitPeer(event.EventRetrieved, p1, &c.Request)
		ev.CallState = event.CallStateOk
	}
	e.moveCall(cp, k1)
	e.conferenceRoles(k1)
	e.partyAdded(k1, p1, cp, &c.Request)
	if cp.dn != nil { // an external party gets no event (EVENTS.md 5.15)
		ev := e.emitCall(event.EventPartyChanged, cp, &c.Request)
		ev.PreviousConnID = k2.conn
		ev.CallState = event.CallStateConferenced
		ev.ThirdPartyDN, ev.ThirdPartyDNRole = b, event.RoleConferencedBy
	}
	e.clear(k2, nil, &c.Request)
	e.finish(&c.Request)
	return nil
}

// conferenceRoles makes every conversation party a ConferenceMember.
func (e *Engine) conferenceRoles(k *call) {
	for _, p := range k.parties {
		if p.real() {
			p.role = event.RoleConferenceMember
		}
	}
}

// partyAdded emits EventPartyAdded for new party n added by by: for by
// first, then every other DN party in join order.
func (e *Engine) partyAdded(k *call, by, n *party, req *Request) {
	add := func(p *party) {
		ev := e.emitCall(event.EventPartyAdded, p, req)
		ev.CallState = event.CallStateConferenced
		ev.OtherDN, ev.OtherDNRole, ev.OtherTrunk = n.name(), event.RoleNewParty, n.trunk
		ev.ThirdPartyDN, ev.ThirdPartyDNRole = by.name(), event.RoleAddedBy
	}
	add(by)
	for _, p := range k.parties {
		if p != by && p != n && p.dn != nil && p.state != psBridged {
			add(p)
		}
	}
}

func (e *Engine) singleStepConference(c *SingleStepConference) error {
	k, p, err := e.callParty(c.ConnID, c.DN, "conference")
	if err != nil {
		return err
	}
	if err := needState(p, "conference", psEstablished); err != nil {
		return err
	}
	tg, err := e.target(c.To, p.dn, true, "conference")
	if err != nil {
		return err
	}
	if tg.d == nil {
		// An external party is called through its trunk: PartyAdded for
		// the DN parties, no Ringing (it is outside the switch).
		e.begin(estimate(k))
		e.conferenceRoles(k)
		n := e.join(k, nil, event.RoleConferenceMember, psRinging)
		n.num, n.trunk = tg.num, tg.trunk.number
		e.partyAdded(k, p, n, &c.Request)
		return nil
	}
	if tg.d.waits() {
		return conflict("cannot conference " + article(tg.d.typ) + " (" + q(tg.d.number) + ") into a call")
	}
	to, _, err := e.offerFree(k, tg.d)
	if err != nil {
		return err
	}
	e.begin(estimate(k))
	e.conferenceRoles(k)
	n := e.join(k, to, event.RoleConferenceMember, psRinging)
	e.partyAdded(k, p, n, &c.Request)
	e.ringEvent(n, event.CallStateOk, p.dn.number, event.RoleAddedBy, &c.Request)
	e.startNoAnswer(n)
	return nil
}

// partyNamed returns the party of k with DN or number name (not a bridged
// appearance).
func partyNamed(k *call, name string) *party {
	for _, p := range k.parties {
		if p.name() == name && p.state != psBridged {
			return p
		}
	}
	return nil
}

func (e *Engine) deleteFromConference(c *DeleteFromConference) error {
	if c.Party == "" {
		return invalid("missing party")
	}
	k, p, err := e.callParty(c.ConnID, c.DN, "delete from conference")
	if err != nil {
		return err
	}
	if err := needState(p, "delete from conference", psEstablished, psHeld); err != nil {
		return err
	}
	x := partyNamed(k, c.Party)
	switch {
	case x == nil:
		return conflict(q(c.Party) + " is not on call " + q(k.conn))
	case x == p:
		return invalid("DN " + q(p.name()) + " cannot delete itself; release the call instead")
	case x.real() && k.realParties() < 3:
		return conflict("call " + q(k.conn) + " is not a conference")
	}
	e.begin(estimate(k))
	e.leave(x, p, event.CallStateOk, &c.Request)
	e.finish(&c.Request)
	return nil
}

// related resolves two calls of DN dn where consult is a consultation of
// conn.
func (e *Engine) related(conn, dn, consult, what string) (k1, k2 *call, p1, p2 *party, err error) {
	if _, k1, k2, p1, p2, err = e.twoCalls(conn, dn, consult, what); err != nil {
		return
	}
	if k2.prevConn != k1.conn {
		err = conflict("call " + q(k2.conn) + " is not a consultation of call " + q(k1.conn))
	}
	return
}

func (e *Engine) alternate(c *Alternate) error {
	_, _, p1, p2, err := e.related(c.ConnID, c.DN, c.ConsultConnID, "alternate")
	if err != nil {
		return err
	}
	hold, back := p1, p2
	switch {
	case p1.state == psEstablished && p2.state == psHeld:
	case p1.state == psHeld && p2.state == psEstablished:
		hold, back = p2, p1
	default:
		return conflict("cannot alternate: DN " + q(p1.name()) + " is " + stateWord(p1) + " on " + q(p1.call.conn) +
			" and " + stateWord(p2) + " on " + q(p2.call.conn) + " (want one established, one held)")
	}
	e.begin(2)
	hold.state = psHeld
	e.emitPeer(event.EventHeld, hold, &c.Request)
	back.state = psEstablished
	ev := e.emitPeer(event.EventRetrieved, back, &c.Request)
	ev.CallState = event.CallStateOk
	return nil
}

func (e *Engine) reconnect(c *Reconnect) error {
	_, k2, p1, p2, err := e.related(c.ConnID, c.DN, c.ConsultConnID, "reconnect")
	if err != nil {
		return err
	}
	if err := needState(p1, "reconnect", psHeld); err != nil {
		return err
	}
	if err := needState(p2, "reconnect", psDialing, psEstablished, psHeld, psBusy); err != nil {
		return err
	}
	if err := noOtherActive(p1.dn, p1, p2); err != nil {
		return err
	}
	e.begin(estimate(k2) + 1)
	st := event.CallStateOk
	if p2.state == psBusy {
		st = event.CallStateBusy
	}
	e.leave(p2, nil, st, &c.Request)
	p1.state = psEstablished
	ev := e.emitPeer(event.EventRetrieved, p1, &c.Request)
	ev.CallState = event.CallStateOk
	e.finish(&c.Request)
	return nil
}

func (e *Engine) attachUserData(c *AttachUserData) error {
	if len(c.UserData) == 0 {
		return invalid("missing userData")
	}
	k, err := e.lookupCall(c.ConnID)
	if err != nil {
		return err
	}
	k.userData = k.userData.Merge(c.UserData)
	return nil
}

func (e *Engine) mute(c *Mute) error {
	_, p, err := e.callParty(c.ConnID, c.DN, "mute")
	if err != nil {
		return err
	}
	if err := needState(p, "mute", psEstablished, psHeld); err != nil {
		return err
	}
	e.begin(1)
	name := event.EventMuteOff
	if c.On {
		name = event.EventMuteOn
	}
	ev := e.emit(name, p.dn, &c.Request)
	ev.ConnID, ev.CallID = p.call.conn, p.call.callID
	p.muted = c.On
	return nil
}

func (e *Engine) listen(c *Listen) error {
	if c.Party == "" {
		return invalid("missing party")
	}
	k, p, err := e.callParty(c.ConnID, c.DN, "listen")
	if err != nil {
		return err
	}
	if err := needState(p, "listen", psEstablished, psHeld, psObserver); err != nil {
		return err
	}
	x := partyNamed(k, c.Party)
	switch {
	case x == nil:
		return conflict(q(c.Party) + " is not on call " + q(k.conn))
	case x == p:
		return invalid("DN " + q(p.name()) + " cannot disconnect or reconnect its own listening")
	case x.dn == nil:
		return conflict(q(c.Party) + " is an external party")
	case k.realParties() < 3:
		return conflict("call " + q(k.conn) + " is not a conference")
	}
	if err := needState(x, "listen", psEstablished, psHeld); err != nil {
		return err
	}
	e.begin(1)
	name := event.EventListenReconnected
	if !c.On {
		name = event.EventListenDisconnected
	}
	ev := e.emit(name, x.dn, &c.Request)
	ev.ConnID, ev.CallID, ev.OtherDN = k.conn, k.callID, p.dn.number
	if !c.On {
		ev.CallState = event.CallStateHeld
	}
	x.listenOff = !c.On
	return nil
}

func (e *Engine) networkCall(c *NetworkCall) error {
	if c.Trunk == "" {
		return invalid("missing trunk")
	}
	tr, err := e.dn(c.Trunk)
	if err != nil {
		return err
	}
	if tr.typ != config.Trunk {
		return invalid("DN " + q(tr.number) + " is " + article(tr.typ) + ", not a trunk")
	}
	if c.ANI == "" {
		return invalid("missing ANI")
	}
	if c.DNIS == "" {
		return invalid("missing DNIS")
	}
	d, err := e.dn(c.DNIS)
	if err != nil {
		return err
	}
	if d.typ == config.Trunk {
		return invalid("DNIS " + q(d.number) + " is a trunk")
	}
	if ext, ok := e.externalForward(d); ok {
		// Forwarded to an external number: the call leaves through that
		// trunk at once. No DN of the tenant is on it, so it has no
		// event; NetworkAnswer, NetworkRelease with Party report what the
		// network does.
		e.begin(1)
		k := e.newCall(event.CallTypeInbound, nil)
		k.ani, k.dnis, k.userData = c.ANI, c.DNIS, c.UserData
		x := e.join(k, nil, event.RoleOrigination, psEstablished)
		x.num, x.trunk = c.ANI, tr.number
		f := e.join(k, nil, event.RoleDestination, psRinging)
		f.num, f.trunk = ext.num, ext.trunk.number
		e.reply = callReply(k)
		return nil
	}
	if d.waits() {
		if d.q != nil && d.q.full() {
			return conflict("queue " + q(d.number) + " is full")
		}
		e.begin(6)
		k := e.newCall(event.CallTypeInbound, nil)
		k.ani, k.dnis, k.userData = c.ANI, c.DNIS, c.UserData
		x := e.join(k, nil, event.RoleOrigination, psDialing)
		x.num, x.trunk = c.ANI, tr.number
		e.arrive(k, target{d: d}, "", &c.Request)
		e.finish(&c.Request)
		e.reply = callReply(k)
		return nil
	}
	to, fwd, busy := e.offer(d)
	if busy {
		return refuseBusy(d)
	}
	e.begin(2)
	k := e.newCall(event.CallTypeInbound, nil)
	k.ani, k.dnis, k.userData = c.ANI, c.DNIS, c.UserData
	x := e.join(k, nil, event.RoleOrigination, psDialing)
	x.num, x.trunk = c.ANI, tr.number
	st, third := event.CallStateOk, ""
	if fwd != nil {
		st, third = event.CallStateForwarded, fwd.number
	}
	e.ring(k, to, event.RoleDestination, st, third, 0, &c.Request)
	e.reply = callReply(k)
	return nil
}

// networkParty resolves the call and its external party: the one with
// number num if given, else the first being called (ringing) if called,
// else the first.
func (e *Engine) networkParty(conn, num string, called bool) (*call, *party, error) {
	k, err := e.lookupCall(conn)
	if err != nil {
		return nil, nil, err
	}
	var x *party
	for _, p := range k.parties {
		switch {
		case p.dn != nil:
		case num != "":
			if p.num == num && x == nil {
				x = p
			}
		case x == nil, called && x.state != psRinging && p.state == psRinging:
			x = p
		}
	}
	if x == nil {
		if num != "" {
			return nil, nil, conflict(q(num) + " is not a network party of call " + q(k.conn))
		}
		return nil, nil, conflict("call " + q(k.conn) + " has no network party")
	}
	return k, x, nil
}

func (e *Engine) networkAnswer(c *NetworkAnswer) error {
	k, x, err := e.networkParty(c.ConnID, c.Party, true)
	if err != nil {
		return err
	}
	if x.state != psRinging {
		return conflict("the network party " + q(x.num) + " of call " + q(k.conn) + " is not being called (it is " + stateWord(x) + ")")
	}
	e.begin(estimate(k))
	x.state = psEstablished
	var buf [4]*party
	now := buf[:0]
	for _, q := range k.parties {
		if q.state != psDialing || q.dn == nil {
			continue
		}
		q.state = psEstablished
		ev := e.emitCall(event.EventEstablished, q, &c.Request)
		ev.CallState = event.CallStateOk
		other(ev, x)
		now = append(now, q)
	}
	e.afterAnswer(k, now, &c.Request)
	return nil
}

func (e *Engine) networkBusy(c *NetworkBusy) error {
	k, x, err := e.networkParty(c.ConnID, c.Party, true)
	if err != nil {
		return err
	}
	if x.state != psRinging {
		return conflict("the network party " + q(x.num) + " of call " + q(k.conn) + " is not being called (it is " + stateWord(x) + ")")
	}
	e.begin(estimate(k))
	dialing := false
	for _, q := range k.parties {
		if q.state == psDialing && q.dn != nil {
			dialing = true
			q.state = psBusy
			ev := e.emitCall(event.EventDestinationBusy, q, &c.Request)
			ev.CallState = event.CallStateBusy
			ev.OtherDN, ev.OtherDNRole, ev.OtherTrunk = x.num, x.role, x.trunk
		}
	}
	if !dialing {
		// Nobody waits for this party (it was called by a transfer or a
		// conference, or the call was forwarded out): it leaves the call
		// like a party hanging up.
		e.leave(x, nil, event.CallStateOk, &c.Request)
		e.finish(&c.Request)
		return nil
	}
	e.drop(x)
	return nil
}

func (e *Engine) networkRelease(c *NetworkRelease) error {
	k, x, err := e.networkParty(c.ConnID, c.Party, false)
	if err != nil {
		return err
	}
	e.begin(estimate(k))
	e.leave(x, nil, event.CallStateOk, &c.Request)
	e.finish(&c.Request)
	return nil
}
