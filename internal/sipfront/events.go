package sipfront

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

var legSeq atomic.Uint64

// start subscribes to the tenant's recorded call events and runs the
// dispatcher that turns them into SIP.
func (t *sipTenant) start() {
	t.sub = t.rt.Subscribe(callThread, t.s.cfg.EventBuffer)
	t.evWG.Add(1)
	go t.dispatch(t.sub)
}

func (t *sipTenant) shutdown() {
	t.shutOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		for _, b := range t.bindings {
			if b.timer != nil {
				b.timer.Stop()
			}
		}
		t.mu.Unlock()
		t.sub.Close()
		t.evWG.Wait()
	})
}

// dispatch reads the subscription until it ends. A subscription dropped
// for being slow is renewed (the events it missed are lost to SIP: their
// calls may need a hang-up from the phone); the drop is logged.
func (t *sipTenant) dispatch(sub *tenant.Subscription) {
	defer t.evWG.Done()
	for {
		select {
		case ev := <-sub.C:
			t.onEvent(&ev)
			continue
		case <-sub.Done():
		}
		// Drain what was delivered before the end.
		for {
			select {
			case ev := <-sub.C:
				t.onEvent(&ev)
				continue
			default:
			}
			break
		}
		if t.s.ctx.Err() != nil || !errors.Is(sub.Err(), tenant.ErrSlowSubscriber) {
			return // closed by us, or the tenant is closing
		}
		t.s.log.Error("SIP front end: event subscription ended; renewing", "tenant", t.id, "err", sub.Err())
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return
		}
		sub = t.rt.Subscribe(callThread, t.s.cfg.EventBuffer)
		t.sub = sub
		t.mu.Unlock()
	}
}

// onEvent is the event-to-SIP table of doc.go. It runs on the dispatcher
// goroutine and never blocks on the network: SIP transactions run on
// goroutines of their own.
func (t *sipTenant) onEvent(ev *event.Event) {
	s := t.s
	t.mu.Lock()
	c := t.calls[ev.ConnID]
	switch ev.ID {
	case event.EventDialing:
		if l := t.dialing[ev.ThisDN]; l != nil && l.to == ev.OtherDN && c == nil {
			c = t.bindLocked(l, ev.ConnID)
		}
		if c != nil {
			c.dns[ev.ThisDN] = true
		}
		t.mu.Unlock()

	case event.EventRinging:
		if c == nil && ev.CallType == event.CallTypeInbound {
			key := ev.OtherTrunk + "\x00" + ev.OtherDN
			if q := t.inbound[key]; len(q) > 0 {
				c = t.bindLocked(q[0], ev.ConnID)
				if len(q) == 1 {
					delete(t.inbound, key)
				} else {
					t.inbound[key] = q[1:]
				}
			}
		}
		contact, registered := t.contactOf(ev.ThisDN)
		if c == nil && !registered {
			t.mu.Unlock()
			return
		}
		if c == nil {
			// A call made through the API to a registered DN.
			c = &call{connID: ev.ConnID, dns: map[string]bool{}}
			t.calls[ev.ConnID] = c
		}
		c.dns[ev.ThisDN] = true
		// The caller hears ringing.
		var ring []*leg
		for _, o := range c.legs {
			if o.uas != nil && !o.answered && !o.ended {
				ring = append(ring, o)
			}
		}
		var nl *leg
		var ctx context.Context
		if registered && c.legOf(ev.ThisDN) == nil {
			nl = &leg{t: t, dn: ev.ThisDN, callID: "sb-" + strconv.FormatUint(legSeq.Add(1), 36) + "-" + ev.ConnID,
				connID: ev.ConnID}
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(s.ctx)
			nl.cancel = cancel
			c.legs = append(c.legs, nl)
		}
		var sdp []byte
		if nl != nil {
			sdp = c.peerSDP(nl)
		}
		t.mu.Unlock()
		for _, o := range ring {
			o.uas.Respond(180, "Ringing", nil)
		}
		if nl != nil {
			s.addLeg(nl)
			from := ev.OtherDN
			go s.ringLeg(nl, ctx, contact, from, sdp)
		}

	case event.EventNetworkReached:
		if c == nil {
			t.mu.Unlock()
			return
		}
		var tr *trunk
		for i := range t.trunks {
			if t.trunks[i].dn == ev.OtherTrunk {
				tr = &t.trunks[i]
			}
		}
		if tr == nil || tr.address == "" {
			t.mu.Unlock()
			return
		}
		var target sip.Uri
		if err := sip.ParseUri("sip:"+ev.OtherDN+"@"+tr.address, &target); err != nil {
			t.mu.Unlock()
			return
		}
		nl := &leg{t: t, dn: ev.OtherDN, trunk: tr.dn, callID: "sb-" + strconv.FormatUint(legSeq.Add(1), 36) + "-" + ev.ConnID,
			connID: ev.ConnID}
		ctx, cancel := context.WithCancel(s.ctx)
		nl.cancel = cancel
		c.legs = append(c.legs, nl)
		sdp := c.peerSDP(nl)
		t.mu.Unlock()
		s.addLeg(nl)
		go s.ringLeg(nl, ctx, target, ev.ThisDN, sdp)

	case event.EventEstablished:
		if c == nil {
			t.mu.Unlock()
			return
		}
		c.dns[ev.ThisDN] = true
		// The DN's own unanswered INVITE (it dialled), and an external
		// caller's, get their 200 now.
		type answer struct {
			l   *leg
			sdp []byte
		}
		var ans []answer
		for _, o := range c.legs {
			if o.uas == nil || o.answered || o.ended {
				continue
			}
			if (o.trunk == "" && o.dn == ev.ThisDN) || o.trunk != "" {
				o.answered = true
				ans = append(ans, answer{o, c.peerSDP(o)})
			}
		}
		t.mu.Unlock()
		for _, a := range ans {
			select {
			case a.l.final <- final{code: 200, sdp: a.sdp}:
			default:
			}
		}

	case event.EventDestinationBusy:
		var l *leg
		if c != nil {
			if l = c.legOf(ev.ThisDN); l != nil && l.uas != nil && !l.answered {
				l.ended = true
			} else {
				l = nil
			}
		}
		t.mu.Unlock()
		if l != nil {
			select {
			case l.final <- busyHere:
			default:
			}
			// The phone's attempt is over: the originator hangs up (5.4).
			go t.releaseFor(l)
		}

	case event.EventReleased, event.EventAbandoned, event.EventDiverted:
		// Diverted: the call left the DN (forwarded on no answer,
		// redirected, RONA): its phone stops ringing.
		if c == nil {
			t.mu.Unlock()
			return
		}
		delete(c.dns, ev.ThisDN)
		var end []*leg
		var mine *leg
		if l := c.legOf(ev.ThisDN); l != nil {
			end, mine = append(end, l), l
			if t.heldBy[l.dn] == l {
				delete(t.heldBy, l.dn)
			}
		}
		keep, out := t.transferLocked(c, ev, mine) // external.go
		if len(c.dns) == 0 && !keep {
			// The call is over: external legs end too.
			for _, o := range c.legs {
				if !o.ended && (len(end) == 0 || o != end[0]) {
					end = append(end, o)
				}
			}
			delete(t.calls, ev.ConnID)
		}
		t.mu.Unlock()
		// A call that ends because its destination refused it: the SIP
		// caller still waiting for an answer gets 486 or 480.
		f := terminated
		if ev.ID == event.EventReleased {
			switch ev.CallState {
			case event.CallStateBusy:
				f = busyHere
			case event.CallStateNoAnswer:
				f = unavailable
			}
		}
		for _, l := range end {
			go s.hangUpWith(l, f)
		}
		out.start(s)

	case event.EventHeld, event.EventRetrieved:
		var l *leg
		if c != nil {
			if l = c.legOf(ev.ThisDN); l != nil {
				if l.phoneHold > 0 {
					l.phoneHold--
					l = nil
				}
			}
		}
		t.mu.Unlock()
		if l != nil {
			go s.reinvite(l, ev.ID == event.EventHeld)
		}

	case event.EventPartyChanged:
		// A completed transfer moves the consulted party from its call
		// (PreviousConnID) to this one: its leg moves too.
		if prev := t.calls[ev.PreviousConnID]; ev.PreviousConnID != ev.ConnID && prev != nil {
			delete(prev.dns, ev.ThisDN)
			if l := prev.legOf(ev.ThisDN); l != nil {
				if c == nil {
					c = &call{connID: ev.ConnID, dns: map[string]bool{}}
					t.calls[ev.ConnID] = c
				}
				prev.legs = slices.DeleteFunc(prev.legs, func(x *leg) bool { return x == l })
				l.connID = ev.ConnID
				c.legs = append(c.legs, l)
			}
			if len(prev.dns) == 0 {
				delete(t.calls, ev.PreviousConnID)
			}
		}
		if c != nil {
			c.dns[ev.ThisDN] = true
		}
		t.mu.Unlock()

	case event.EventPartyAdded:
		var out *trunkOut
		if c != nil {
			out = t.addedLocked(c, ev) // external.go
		}
		t.mu.Unlock()
		out.start(s)

	default:
		t.mu.Unlock()
	}
}
