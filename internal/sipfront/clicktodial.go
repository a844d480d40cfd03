package sipfront

import (
	"github.com/switchboard-cc/switchboard/event"
)

// Click-to-dial: a call made through the API (MakeCall) from a registered
// DN rings that DN's phone first (our INVITE offers the placeholder SDP,
// From the number dialled), and only once the phone answers are the
// destination's phone or trunk INVITEd, with the originator's SDP; when
// the destination answers, the originator is re-INVITEd with its SDP
// (repoint). The engine's events are those of MakeCall: the destination
// rings for the engine at once, its SIP INVITE waits (deferred on the
// call). The originator's phone refusing or not answering is a Release
// by the DN: the call ends, and the destination's INVITE never goes.

// ringFirst: EventDialing(A) of a call the book does not know: a call
// made through the API. A registered A that is not dialling through SIP
// (and whose call is not a consultation, which A's phone would place
// itself) gets its phone rung first.
func (b *book) ringFirst(ev *event.Event) []action {
	if ev.CallType == event.CallTypeConsult || b.dialing[ev.ThisDN] != nil {
		return nil
	}
	contacts := b.contacts(ev.ThisDN)
	if len(contacts) == 0 {
		return nil
	}
	c := b.call(ev.ConnID)
	c.dns[ev.ThisDN] = true
	// Every device of A rings (fork.go); the first to answer is A's phone
	// for the call.
	acts := b.fork(c, ev.ThisDN, contacts, ev.OtherDN)
	for _, a := range acts {
		a.leg.first = true
	}
	c.first = acts[0].leg
	return acts
}

// firstRinging reports whether a device of call c's originator, rung
// first, still rings.
func (c *call) firstRinging() bool {
	for _, l := range c.legs {
		if l.first && l.state == legCalling {
			return true
		}
	}
	return false
}

// deferForFirst keeps the INVITEs of call c's other parties while its
// originator's phone, rung first, has not answered.
func (c *call) deferForFirst(acts []action) []action {
	if c == nil || c.first == nil || !c.firstRinging() {
		return acts
	}
	kept := acts[:0:0]
	for _, a := range acts {
		if a.kind == actInvite && a.leg != c.first && a.leg.connID == c.connID {
			c.deferred = append(c.deferred, a)
			continue
		}
		kept = append(kept, a)
	}
	return kept
}

// firstAnswered: leg l, an originator's phone rung first, answered: the
// INVITEs kept for its call go now, offering its SDP.
func (b *book) firstAnswered(l *leg) []action {
	c := b.calls[l.connID]
	if c == nil || c.first == nil || !l.first {
		return nil
	}
	var acts []action
	for _, a := range c.deferred {
		if a.leg.over() {
			continue
		}
		a.sdp, a.leg.far = c.peerSDP(a.leg), c.peerLeg(a.leg)
		acts = append(acts, a)
	}
	c.first, c.deferred = nil, nil
	return acts
}
