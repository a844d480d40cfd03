package sipfront

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// legSeq numbers the Call-IDs of the legs we call, across tenants.
var legSeq atomic.Uint64

// start subscribes to the tenant's recorded call events and runs the
// dispatcher that turns them into SIP.
func (t *sipTenant) start() {
	t.ctx, t.cancel = context.WithCancel(t.s.ctx)
	t.mu.Lock()
	t.book.ctx = t.s.ctx // the INVITEs we send end with the server
	t.mu.Unlock()
	t.sub = t.rt.Subscribe(callThread, t.s.cfg.EventBuffer)
	t.evWG.Add(1)
	go t.dispatch(t.sub)
}

func (t *sipTenant) shutdown() {
	t.shutOnce.Do(func() {
		t.cancel()
		t.mu.Lock()
		t.closed = true
		for _, bs := range t.bindings {
			for _, b := range bs {
				if b.timer != nil {
					b.timer.Stop()
				}
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

// onEvent turns one recorded call event into SIP: decided under the lock
// (book.decide), sent after it (act). It runs on the dispatcher goroutine
// and never blocks on the network.
func (t *sipTenant) onEvent(ev *event.Event) {
	t.mu.Lock()
	acts := t.decide(ev)
	t.mu.Unlock()
	t.act(acts)
	t.callEvent(ev) // dialog subscriptions (notify.go)
}

// act carries out actions decided under the lock, with the lock released.
// It never blocks: what waits on the network or the engine runs on
// goroutines of its own (SIP transactions, engine commands), responses to
// a waiting INVITE go through its handler's channel.
func (t *sipTenant) act(acts []action) {
	s := t.s
	for _, a := range acts {
		l := a.leg
		switch a.kind {
		case actRinging:
			s.ring(l) // reliably when required (prack.go)
		case actFinal:
			if a.fin.code == 200 {
				a.fin.sdp = l.origin.stamp(a.fin.sdp)
			}
			select {
			case l.final <- a.fin:
			default:
			}
		case actInvite:
			s.addLeg(l)
			go s.ringLeg(a.ctx, l, a.target, a.from, l.origin.stamp(a.sdp))
		case actCancel:
			// sipgo sends the CANCEL and waits for the 487 (up to 64*T1);
			// the leg is done for us now.
			s.forget(l)
			if a.reason != "" {
				s.reasons.set(l.callID, a.reason)
			}
			if cancel := l.cancel.Load(); cancel != nil {
				(*cancel)()
			}
		case actBye:
			s.forget(l)
			go s.bye(l, a.why)
		case actReinvite:
			go s.reinvite(l, a.hold, a.sdp)
		case actRelease:
			go t.releaseFor(l)
		default:
			t.actMedia(a)
		}
	}
}
