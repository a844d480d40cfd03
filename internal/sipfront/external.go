package sipfront

import (
	"context"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// External transfers (EVENTS.md 5.15). A call transferred, conferenced or
// redirected to an external number goes on without the transferring DN:
// the external party's trunk leg stays (or is started), and a call whose
// parties are all external (a trunk call transferred out, or forwarded
// straight out) has no events, so sipfront ends or answers it itself from
// the engine's replies. The book's part is here, next to book.go: what to
// send, no I/O.

// transferMoves: EventReleased(ev) of the transferring DN on call c. A
// consultation's external party joins the main call (5.8 with X's events
// replaced by nothing): its trunk leg moves there. It reports whether c
// goes on without DNs (a transfer hands its other parties to someone
// else: their legs must not end with the transferring DN's).
func (b *book) transferMoves(c *call, ev *event.Event, mine *leg) (keep bool) {
	if ev.ID != event.EventReleased {
		return false
	}
	switch {
	case ev.CallType == event.CallTypeConsult && ev.PreviousConnID != "" &&
		(ev.CallState == event.CallStateTransferred || ev.CallState == event.CallStateConferenced):
		var moved []*leg
		for _, l := range c.legs {
			if l.trunk != "" && !l.over() && l != mine {
				moved = append(moved, l)
			}
		}
		if len(moved) == 0 {
			return false
		}
		main := b.call(ev.PreviousConnID)
		kept := c.legs[:0]
		for _, l := range c.legs {
			if l.trunk != "" && !l.over() && l != mine {
				l.connID = main.connID
				main.legs = append(main.legs, l)
				continue
			}
			kept = append(kept, l)
		}
		c.legs = kept
		return false
	case ev.CallType != event.CallTypeConsult && ev.CallState == event.CallStateTransferred:
		return true
	}
	return false
}

// transferOut: after EventReleased(Transferred, ThirdPartyDN X) of a
// single-step transfer or a redirect to external number X (NetworkReached
// is not repeated), X is called through its trunk, unless its leg is on
// the call already (a completed consultation).
func (b *book) transferOut(c *call, ev *event.Event) []action {
	if ev.ID != event.EventReleased || ev.CallType == event.CallTypeConsult || ev.CallState != event.CallStateTransferred {
		return nil
	}
	x := ev.ThirdPartyDN
	if x == "" || b.owner != nil && b.owner.dns[x] != nil || b.trunkLegOf(c, x) != nil {
		return nil
	}
	return b.trunkLeg(c, x, "", ev.OtherDN)
}

// partyAdded: EventPartyAdded of an external party (a single-step
// conference to an external number) calls it through its trunk, once
// (every DN party gets the event; a completed conference's party has its
// leg already).
func (b *book) partyAdded(c *call, ev *event.Event) []action {
	if c == nil || ev.OtherTrunk == "" || ev.OtherDNRole != event.RoleNewParty || b.trunkLegOf(c, ev.OtherDN) != nil {
		return nil
	}
	return b.trunkLeg(c, ev.OtherDN, ev.OtherTrunk, ev.ThirdPartyDN)
}

// trunkLegOf is c's live trunk leg to number x, or nil.
func (b *book) trunkLegOf(c *call, x string) *leg {
	for _, l := range c.legs {
		if l.trunk != "" && l.dn == x && !l.over() {
			return l
		}
	}
	return nil
}

// trunkLeg calls external number x on call c through trunk DN trunkDN
// (empty: the trunk the engine chooses, pickTrunk), from
// caller. Nothing when that trunk has no address.
func (b *book) trunkLeg(c *call, x, trunkDN, caller string) []action {
	tr := b.pickTrunk(x) // carrier.go
	if trunkDN != "" {
		tr = nil
		for i := range b.trunks {
			if b.trunks[i].dn == trunkDN {
				tr = &b.trunks[i]
				break
			}
		}
	}
	if tr == nil || tr.address == "" {
		return nil
	}
	var target sip.Uri
	if err := sip.ParseUri("sip:"+x+"@"+tr.address, &target); err != nil {
		return nil
	}
	return []action{b.newLeg(c, x, tr.dn, target, caller)}
}

// takes reports whether the trunk takes number x (no prefixes: any).
func (tr *trunk) takes(x string) bool {
	if len(tr.prefixes) == 0 {
		return true
	}
	for _, p := range tr.prefixes {
		if len(x) >= len(p) && x[:len(p)] == p {
			return true
		}
	}
	return false
}

// trunkGone: trunk leg l's party left and the engine took it without an
// event: no DN was on the call (a trunk call transferred or forwarded
// out), so nothing will end the call's other legs but us.
func (b *book) trunkGone(l *leg) []action {
	c := b.calls[l.connID]
	if c == nil || len(c.dns) > 0 {
		return nil
	}
	var acts []action
	for _, o := range c.legs {
		if o != l {
			acts = append(acts, b.end(o, terminated)...)
		}
	}
	delete(b.calls, l.connID)
	return acts
}

// trunkAnswered: trunk leg l answered and the engine took its
// NetworkAnswer without an event: no DN is on the call (forwarded straight
// out), so the trunk call waiting for an answer gets its 200, with l's
// SDP, from us.
func (b *book) trunkAnswered(l *leg) []action {
	c := b.calls[l.connID]
	if c == nil || len(c.dns) > 0 {
		return nil
	}
	var acts []action
	for _, o := range c.legs {
		if o.caller && o.state == legCalling {
			o.state = legAnswered
			acts = append(acts, action{kind: actFinal, leg: o, fin: final{code: 200, sdp: l.sdp}})
		}
	}
	return acts
}

// forwardedOut: trunk call l produced no event: its DN forwards to an
// external number (5.15: forwarding applies to inbound calls too), so the
// call went straight out through a trunk; the engine's view of the call
// (querier, store.go) says where, and that number is called.
func (t *sipTenant) forwardedOut(l *leg) {
	q, ok := t.rt.(querier)
	if !ok || l.connID == "" {
		return
	}
	var to []engine.PartyView
	ctx, cancel := context.WithTimeout(t.s.ctx, t.s.cfg.CommandTimeout)
	defer cancel()
	q.Query(ctx, func(m tenant.Machine) {
		if e, ok := m.(*engine.Engine); ok {
			if v, err := e.Call(l.connID); err == nil {
				for _, p := range v.Parties {
					if p.External && p.State == "Ringing" {
						to = append(to, p)
					}
				}
			}
		}
	})
	var acts []action
	t.mu.Lock()
	if c := t.calls[l.connID]; c != nil {
		for _, p := range to {
			acts = append(acts, t.trunkLeg(c, p.DN, p.Trunk, l.dn)...)
		}
	}
	t.mu.Unlock()
	t.act(acts)
}
