package sipfront

import (
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// TestFeatureCodes: registered phone 1001 dials *78, *721002, *73, *73
// again (nothing to cancel), *79: each is answered 200 with no media and
// ended by switchboard's BYE, and the engine's events are those of the
// same requests made through the API (the second *73 makes none). *72
// without a destination is refused 400, with no event.
func TestFeatureCodes(t *testing.T) {
	f := newFixture(t, nil)
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	for _, code := range []string{"*78", "*721002", "*73", "*73", "*79"} {
		f.startSipp("uac_feature.xml", pa, "-key", "user", "1001", "-s", code).wait(t)
	}
	f.startSipp("uac_feature_400.xml", pa, "-key", "user", "1001", "-s", "*72").wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1001", InService: true},
		engine.SetDND{DN: "1001", On: true},
		engine.SetForward{DN: "1001", To: "1002"},
		engine.CancelForward{DN: "1001"},
		engine.SetDND{DN: "1001", On: false},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestFeatureCodesConfigured: a tenant's own codes replace the defaults,
// and a code turned off is an ordinary number again (404: no such DN).
func TestFeatureCodesConfigured(t *testing.T) {
	f := newFixtureTenant(t, nil, func(c *config.Tenant) {
		c.FeatureCodes = config.FeatureCodes{DNDOn: "#61", DNDOff: config.FeatureOff}
	})
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	f.startSipp("uac_feature.xml", pa, "-key", "user", "1001", "-s", "#61").wait(t)
	f.startSipp("uac_feature_404.xml", pa, "-key", "user", "1001", "-s", "*79").wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1001", InService: true},
		engine.SetDND{DN: "1001", On: true},
	)
	sameFlow(t, f.events(len(want)), want)
}

// notified waits until a subscription to pkg of the fixture's tenant has
// had n NOTIFYs sent and answered, with none waiting.
func (f *fixture) notified(pkg string, n uint32) {
	f.t.Helper()
	w := f.sip.single.watch
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		w.mu.Lock()
		for _, s := range w.subs {
			if s.pkg == pkg && s.cseq >= n && !s.sending {
				w.mu.Unlock()
				return
			}
		}
		w.mu.Unlock()
	}
	f.t.Fatalf("no %s subscription with %d NOTIFYs answered", pkg, n)
}

// noSubscriptions waits until the tenant holds no subscription and no
// watched DN.
func (f *fixture) noSubscriptions() {
	f.t.Helper()
	w := f.sip.single.watch
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		w.mu.Lock()
		n := len(w.subs) + len(w.byDN) + len(w.perSub) + len(w.calls) + int(w.dialogSubs.Load())
		w.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("subscriptions left over: %d", n)
		}
	}
}

// TestSubscribeMessageSummary: phone 1001 subscribes to its
// message-summary (the scenario checks each NOTIFY's body and
// Subscription-State); message waiting set on and off through the
// engine's request sends a NOTIFY each; the phone unsubscribes.
func TestSubscribeMessageSummary(t *testing.T) {
	f := newFixture(t, nil)
	pa := freeUDPPort(t)
	p := f.startSipp("subscribe_mwi.xml", pa, "-key", "user", "1001", "-s", "1001")
	f.notified(pkgMWI, 1)
	if _, err := f.rt.Do(t.Context(), engine.MessageWaiting{DN: "1001", On: true, New: 2, Old: 8}); err != nil {
		t.Fatal(err)
	}
	f.notified(pkgMWI, 2)
	if _, err := f.rt.Do(t.Context(), engine.MessageWaiting{DN: "1001", On: false, Old: 10}); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	f.noSubscriptions()
}

// TestSubscribeDialog: phone 1003 watches 1002 (a busy lamp field): the
// first NOTIFY has no dialog, a refresh is answered with the state again,
// then a SIP call from 1001 to 1002 gives NOTIFYs early, confirmed and
// terminated (versions rising); the phone unsubscribes. The call's
// events are unchanged by the watching.
func TestSubscribeDialog(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb, pc := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	p := f.startSipp("subscribe_dialog.xml", pc, "-key", "user", "1003", "-s", "1002")
	f.notified(pkgDialog, 2)
	uas := f.startSipp("uas.xml", pb)
	f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	p.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
	f.noSubscriptions()
}

// TestSubscribeDialogMidCall: a phone that subscribes while the DN it
// watches is talking gets that call, confirmed, in its first NOTIFY (from
// the engine's view), then the call's end.
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
	f.notified(pkgDialog, 1)
	if _, err := f.rt.Do(ctx, engine.Release{ConnID: conn, DN: "1001"}); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	f.noSubscriptions()
}

// TestSubscribeExpires: a subscription not refreshed ends when it
// expires, with a NOTIFY terminated;reason=timeout.
func TestSubscribeExpires(t *testing.T) {
	f := newFixture(t, nil)
	f.startSipp("subscribe_expire.xml", freeUDPPort(t), "-key", "user", "1003", "-s", "1002").wait(t)
	f.noSubscriptions()
}

// TestSubscribeRefused: an unknown package 489 (Allow-Events lists the
// served ones), the dialog of a DN that is not a phone 404, a SUBSCRIBE
// in a dialog that is no subscription 481.
func TestSubscribeRefused(t *testing.T) {
	f := newFixture(t, nil)
	f.startSipp("subscribe_refused.xml", freeUDPPort(t), "-key", "user", "1003", "-s", "7000").wait(t)
	f.noSubscriptions()
}
