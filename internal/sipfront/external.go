package sipfront

import (
	"context"
	"strconv"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// External transfers (EVENTS.md 5.15). A call transferred, conferenced or
// redirected to an external number goes on without the transferring DN:
// the external party's trunk leg stays (or is started), and a call whose
// parties are all external (a trunk call transferred out) has no events
// any more, so sipfront ends it itself when one trunk leg hangs up.

// trunkOut is an outbound INVITE through a trunk to start once the
// tenant's lock is released.
type trunkOut struct {
	l      *leg
	ctx    context.Context
	target sip.Uri
	from   string
	sdp    []byte
}

// transferLocked handles what a transfer does to call c's legs on
// EventReleased(ev) of the transferring DN, before the usual release of
// its leg (ending, which is about to be hung up). It reports whether the
// call goes on without DNs (its other legs must not end), and the trunk
// INVITE to start, if any. Caller holds t.mu.
func (t *sipTenant) transferLocked(c *call, ev *event.Event, ending *leg) (keep bool, out *trunkOut) {
	if ev.ID != event.EventReleased {
		return false, nil
	}
	switch {
	case ev.CallType == event.CallTypeConsult && ev.PreviousConnID != "" &&
		(ev.CallState == event.CallStateTransferred || ev.CallState == event.CallStateConferenced):
		// The consulted external party joins the main call (5.8 with X's
		// events replaced by nothing): its trunk leg moves there.
		var moved []*leg
		for _, l := range c.legs {
			if l.trunk != "" && !l.ended && l != ending {
				moved = append(moved, l)
			}
		}
		if len(moved) == 0 {
			return false, nil
		}
		main := t.calls[ev.PreviousConnID]
		if main == nil {
			main = &call{connID: ev.PreviousConnID, dns: map[string]bool{}}
			t.calls[ev.PreviousConnID] = main
		}
		for _, l := range moved {
			l.connID = ev.PreviousConnID
			main.legs = append(main.legs, l)
		}
		kept := c.legs[:0]
		for _, l := range c.legs {
			if l.connID == c.connID {
				kept = append(kept, l)
			}
		}
		c.legs = kept
		return false, nil
	case ev.CallType != event.CallTypeConsult && ev.CallState == event.CallStateTransferred:
		// The other parties were handed to someone else: the call goes
		// on. To an external number (a single-step transfer or a
		// redirect; NetworkReached is not repeated): call it through
		// its trunk unless its leg is there already (a consultation).
		x := ev.ThirdPartyDN
		if x == "" || t.dns[x] != nil || !t.external(x) {
			return true, nil
		}
		for _, l := range c.legs {
			if l.trunk != "" && l.dn == x && !l.ended {
				return true, nil
			}
		}
		return true, t.trunkLegLocked(c, x, "", ev.OtherDN, ending)
	}
	return false, nil
}

// addedLocked: EventPartyAdded of an external party (a single-step
// conference to an external number) calls it through its trunk, once
// (every DN party gets the event; a completed conference's party has its
// leg already). Caller holds t.mu.
func (t *sipTenant) addedLocked(c *call, ev *event.Event) *trunkOut {
	if ev.OtherTrunk == "" || ev.OtherDNRole != event.RoleNewParty {
		return nil
	}
	for _, l := range c.legs {
		if l.trunk != "" && l.dn == ev.OtherDN && !l.ended {
			return nil
		}
	}
	return t.trunkLegLocked(c, ev.OtherDN, ev.OtherTrunk, ev.ThirdPartyDN, nil)
}

// trunkLegLocked adds to c a leg calling external number x through trunk
// DN trunkDN (empty: the first whose prefixes take x, as the engine
// chooses), from caller; the SDP offered is that of a live leg other than
// skip. Nil when the trunk has no address. Caller holds t.mu.
func (t *sipTenant) trunkLegLocked(c *call, x, trunkDN, caller string, skip *leg) *trunkOut {
	var tr *trunk
	for i := range t.trunks {
		if (trunkDN != "" && t.trunks[i].dn == trunkDN) || (trunkDN == "" && t.trunks[i].takes(x)) {
			tr = &t.trunks[i]
			break
		}
	}
	if tr == nil || tr.address == "" {
		return nil
	}
	var target sip.Uri
	if err := sip.ParseUri("sip:"+x+"@"+tr.address, &target); err != nil {
		return nil
	}
	nl := &leg{t: t, dn: x, trunk: tr.dn, callID: "sb-" + strconv.FormatUint(legSeq.Add(1), 36) + "-" + c.connID,
		connID: c.connID}
	ctx, cancel := context.WithCancel(t.s.ctx)
	nl.cancel = cancel
	sdp := placeholderSDP
	for _, o := range c.legs {
		if o != skip && !o.ended && len(o.sdp) > 0 {
			sdp = o.sdp
			break
		}
	}
	c.legs = append(c.legs, nl)
	return &trunkOut{l: nl, ctx: ctx, target: target, from: caller, sdp: sdp}
}

// start sends the INVITE (after the tenant's lock is released).
func (o *trunkOut) start(s *Server) {
	if o == nil {
		return
	}
	s.addLeg(o.l)
	go s.ringLeg(o.l, o.ctx, o.target, o.from, o.sdp)
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

// networkGone: trunk leg l hung up and the engine took its NetworkRelease
// with no event: no DN was on the call (a trunk call transferred out), so
// nothing will end the call's other legs but us.
func (t *sipTenant) networkGone(l *leg) {
	t.mu.Lock()
	c := t.calls[l.connID]
	if c == nil || len(c.dns) > 0 {
		t.mu.Unlock()
		return
	}
	var end []*leg
	for _, o := range c.legs {
		if o != l && !o.ended {
			end = append(end, o)
		}
	}
	delete(t.calls, l.connID)
	t.mu.Unlock()
	for _, o := range end {
		go t.s.hangUp(o)
	}
}

// forwardedOut: trunk call l produced no event: its DN forwards to an
// external number (EVENTS.md 5.15: forwarding applies to inbound calls
// too), so the call went straight out through a trunk. The engine's view
// of the call says where (querier, store.go): that number is called
// through its trunk.
func (t *sipTenant) forwardedOut(l *leg) {
	q, ok := t.rt.(querier)
	if !ok || l.connID == "" {
		return
	}
	var to []engine.PartyView
	ctx, cancel := context.WithTimeout(t.s.ctx, t.s.cfg.CommandTimeout)
	defer cancel()
	q.Query(ctx, func(m tenant.Machine) {
		e, ok := m.(*engine.Engine)
		if !ok {
			return
		}
		if v, err := e.Call(l.connID); err == nil {
			for _, p := range v.Parties {
				if p.External && p.State == "Ringing" {
					to = append(to, p)
				}
			}
		}
	})
	var outs []*trunkOut
	t.mu.Lock()
	if c := t.calls[l.connID]; c != nil {
		for _, p := range to {
			if o := t.trunkLegLocked(c, p.DN, p.Trunk, l.dn, nil); o != nil {
				outs = append(outs, o)
			}
		}
	}
	t.mu.Unlock()
	for _, o := range outs {
		o.start(t.s)
	}
}

// networkAnswered: trunk leg l answered and the engine took its
// NetworkAnswer without an event: no DN is on the call (a call forwarded
// straight out), so the trunk call waiting for an answer gets its 200
// (with l's SDP) from us.
func (t *sipTenant) networkAnswered(l *leg) {
	type answer struct {
		l   *leg
		sdp []byte
	}
	var ans []answer
	t.mu.Lock()
	if c := t.calls[l.connID]; c != nil && len(c.dns) == 0 {
		for _, o := range c.legs {
			if o.uas != nil && !o.answered && !o.ended {
				o.answered = true
				ans = append(ans, answer{o, l.sdp})
			}
		}
	}
	t.mu.Unlock()
	for _, a := range ans {
		select {
		case a.l.final <- final{code: 200, sdp: a.sdp}:
		default:
		}
	}
}
