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
