package sipfront

import (
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// TestSubscribeDialogMidCall: a phone that subscribes while the DN it
// watches is talking gets that call, confirmed, in its first NOTIFY (the
// engine's view), then 1002 idle when the call ends; it unsubscribes.
func TestSubscribeDialogMidCall(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	out, err := f.rt.Do(ctx, engine.MakeCall{From: "1001", To: "1002"})
	if err != nil {
		t.Fatal(err)
	}
	conn := out.Reply.(engine.CallReply).ConnID
	if _, err := f.rt.Do(ctx, engine.Answer{ConnID: conn, DN: "1002"}); err != nil {
		t.Fatal(err)
	}
	p := f.startSipp("subscribe_dialog_midcall.xml", freeUDPPort(t), "-key", "user", "1003", "-s", "1002")
	f.waitSubscribed(1)
	f.waitNotified(1)
	if _, err := f.rt.Do(ctx, engine.Release{ConnID: conn, DN: "1001"}); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	f.waitSubscribed(0)
}

// waitNotified waits until the server's only subscription has sent n
// NOTIFYs and none is being sent.
func (f *fixture) waitNotified(n uint32) {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		f.sip.notes.mu.Lock()
		var sub *subscription
		for _, s := range f.sip.notes.byID {
			sub = s
		}
		f.sip.notes.mu.Unlock()
		if sub == nil {
			continue
		}
		if sub.mu.TryLock() {
			done := sub.cseq >= n
			sub.mu.Unlock()
			if done {
				return
			}
		}
	}
	f.t.Fatalf("no subscription with %d NOTIFYs sent", n)
}

// TestSubscribeExpires: a subscription not refreshed ends when it
// expires, with a NOTIFY terminated;reason=timeout.
func TestSubscribeExpires(t *testing.T) {
	f := newFixture(t, nil)
	f.startSipp("subscribe_expire.xml", freeUDPPort(t), "-key", "user", "1003", "-s", "1002").wait(t)
	f.waitSubscribed(0)
}

// TestSubscribeRefused: an unknown event package gets 489 (Allow-Events
// lists the served ones), the dialog of an unknown DN 404 after
// authentication, a SUBSCRIBE in a dialog that is no subscription (nor a
// call) 481.
func TestSubscribeRefused(t *testing.T) {
	f := newFixture(t, nil)
	f.startSipp("subscribe_refused.xml", freeUDPPort(t), "-key", "user", "1003", "-s", "9999").wait(t)
	f.waitSubscribed(0)
}

// TestMessageWaitingAfterSlowDrop: the agent-state subscription feeding
// message-summary is dropped for being slow (the test holds the
// notifier's lock while more agent-state events than its buffer come)
// while 1001's indicator turns on; the subscription is renewed and 1001's
// phone gets a NOTIFY with the state it missed (Messages-Waiting: yes,
// 2/1), then unsubscribes.
func TestMessageWaitingAfterSlowDrop(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	p := f.startSipp("uac_mwi.xml", pa, "-key", "user", "1001", "-au", "1001", "-ap", testPassword)
	f.waitSubscribed(1)
	f.waitNotified(1)
	n := &f.sip.notes
	n.mu.Lock()
	old := n.mwi[f.sip.single]
	// A message-waiting event blocks the watcher on the lock held here;
	// the events after it fill its buffer.
	if _, err := f.rt.Do(ctx, engine.MessageWaiting{DN: "1003", On: true, New: 1}); err != nil {
		n.mu.Unlock()
		t.Fatal(err)
	}
	for i := 0; i <= mwiBuffer; i++ {
		if _, err := f.rt.Do(ctx, engine.SetDND{DN: "1002", On: i%2 == 0}); err != nil {
			n.mu.Unlock()
			t.Fatal(err)
		}
	}
	select {
	case <-old.Done():
	case <-time.After(10 * time.Second):
		n.mu.Unlock()
		t.Fatal("the agent-state subscription was not dropped")
	}
	// Missed by the dropped subscription.
	_, err := f.rt.Do(ctx, engine.MessageWaiting{DN: "1001", On: true, New: 2, Old: 1})
	n.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	f.waitSubscribed(0)
}
