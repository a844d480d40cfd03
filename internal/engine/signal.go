package engine

import "github.com/switchboard-cc/switchboard/event"

// Signals from a ringing phone (the SIP front end): the phone refused the
// call as busy (SIP 486/600/603) or gave up ringing (408/480) before the
// engine's own no-answer timer.

// DestinationBusy: the phone of DN, where call ConnID rings, refused it as
// busy. In this order:
//   - an ACD call delivered to an agent (the party came through a queue) is
//     handled like RONA: EventDiverted(DN, ThirdPartyDN the queue,
//     Redirected), the agent NotReady (ReasonCode NoAnswer), the call
//     queued again in its place;
//   - DN forwards on busy (OnBusy, OnBusyAndNoAnswer) to a free phone DN not
//     on the call: EventDiverted(DN, ThirdPartyDN F, Forwarded),
//     EventRinging(F, ThirdPartyDN DN, Forwarded) (5.11);
//   - otherwise DN leaves the call: EventReleased(DN, CallState Busy); an
//     originator DN waiting for the answer (Dialing) gets
//     EventDestinationBusy(OtherDN DN, CallState Busy) and keeps the call
//     until it hangs up (then EventReleased CallState Busy, 5.4). A call
//     without such an originator (inbound from a trunk, or one whose other
//     parties talk already) goes on as when DN hangs up: it ends with two
//     parties or fewer, else the others get EventPartyDeleted.
//
// Refused with CodeConflict when the call is not ringing at DN.
type DestinationBusy struct {
	Request
	ConnID string `json:"connId"`
	DN     string `json:"dn"`
}

// NoAnswer: the phone of DN, where call ConnID rings, gave up ringing (SIP
// 408/480). The DN's no-answer handling applies at once, as when its timer
// runs out: RONA for an ACD call delivered to an agent; forwarding on no
// answer (OnNoAnswer, OnBusyAndNoAnswer) to a free phone DN; otherwise DN
// leaves the call with EventReleased(CallState NoAnswer), and with two
// parties or fewer the call ends: an originator DN still dialing gets
// EventReleased(CallState NoAnswer), the others as when DN hangs up.
//
// Refused with CodeConflict when the call is not ringing at DN.
type NoAnswer struct {
	Request
	ConnID string `json:"connId"`
	DN     string `json:"dn"`
}

func (e *Engine) destinationBusy(c *DestinationBusy) error {
	k, p, err := e.callParty(c.ConnID, c.DN, "refuse as busy")
	if err != nil {
		return err
	}
	if err := needState(p, "refuse as busy", psRinging); err != nil {
		return err
	}
	e.stopPartyTimer(p)
	if e.ronaAt(p) {
		return nil
	}
	d := p.dn
	if d.fwdMode == ForwardOnBusy || d.fwdMode == ForwardOnBusyAndNoAnswer {
		if e.forwardAway(p, &c.Request) {
			return nil
		}
	}
	e.begin(estimate(k) + 2)
	var o *party
	for _, q := range k.parties {
		if q != p && q.state == psDialing && q.dn != nil {
			o = q
			break
		}
	}
	if o == nil || k.realParties() > 2 {
		e.leave(p, nil, event.CallStateBusy, &c.Request)
		e.finish(&c.Request)
		return nil
	}
	e.released(p, event.CallStateBusy, &c.Request, "", nil)
	o.state = psBusy
	ev := e.emitCall(event.EventDestinationBusy, o, &c.Request)
	ev.CallState = event.CallStateBusy
	ev.OtherDN, ev.OtherDNRole = d.number, event.RoleDestination
	e.finish(&c.Request)
	return nil
}

func (e *Engine) giveUpRinging(c *NoAnswer) error {
	k, p, err := e.callParty(c.ConnID, c.DN, "give up ringing")
	if err != nil {
		return err
	}
	if err := needState(p, "give up ringing", psRinging); err != nil {
		return err
	}
	e.stopPartyTimer(p)
	if e.ronaAt(p) {
		return nil
	}
	d := p.dn
	if d.fwdMode == ForwardOnNoAnswer || d.fwdMode == ForwardOnBusyAndNoAnswer {
		if e.forwardAway(p, &c.Request) {
			return nil
		}
	}
	e.begin(estimate(k) + 2)
	if k.realParties() > 2 {
		e.leave(p, nil, event.CallStateNoAnswer, &c.Request)
		e.finish(&c.Request)
		return nil
	}
	e.released(p, event.CallStateNoAnswer, &c.Request, "", nil)
	for i := 0; i < len(k.parties); {
		if q := k.parties[i]; q.state == psDialing && q.dn != nil {
			e.released(q, event.CallStateNoAnswer, &c.Request, "", p)
			continue
		}
		i++
	}
	e.clear(k, p, &c.Request)
	e.finish(&c.Request)
	return nil
}

// ronaAt applies RONA to ringing party p if it is an ACD delivery (it came
// through a queue), reporting whether it did.
func (e *Engine) ronaAt(p *party) bool {
	if p.queue == "" {
		return false
	}
	if qd := e.dns[p.queue]; qd == nil || qd.q == nil {
		return false
	}
	e.rona(p)
	return true
}

// forwardAway moves ringing party p to its DN's forward destination when
// that is a free phone DN not on the call: EventDiverted(DN, ThirdPartyDN
// F, Forwarded), EventRinging(F, ThirdPartyDN DN, Forwarded).
func (e *Engine) forwardAway(p *party, req *Request) bool {
	d := p.dn
	f := e.forwardTarget(d)
	if f == nil || f.busy() || p.call.hasDN(f) {
		return false
	}
	e.begin(2)
	ev := e.emitPeer(event.EventDiverted, p, req)
	ev.CallState = event.CallStateForwarded
	ev.ThirdPartyDN = f.number
	e.moveParty(p, f)
	e.ringEvent(p, event.CallStateForwarded, d.number, 0, req)
	e.startNoAnswer(p)
	return true
}
