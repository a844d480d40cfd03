package sipfront

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

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

// TestNotifyBodies pins the NOTIFY bodies (testdata/notify/bodies.golden;
// -rewrite writes the actual output back, then review the diff): 1001's
// message-summary before and after its indicator turns on, and the
// dialog-info of 1001 and 1002 through CTI-only calls (1001 dials 1002,
// 1002 rings, answers, holds; 1001 calls an external number through the
// trunk), each document well-formed XML.
func TestNotifyBodies(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	host := sip.FromHeader{Address: sip.Uri{Host: "demo"}}
	var out strings.Builder
	mwi := &subscription{t: f.sip.single, event: "message-summary", dn: "1001", from: host}
	render := func(what string, dns ...string) {
		out.WriteString("# " + what + "\n")
		for _, dn := range dns {
			sub := &subscription{t: f.sip.single, event: "dialog", dn: dn, from: host, version: 1}
			body := f.sip.dialogInfo(sub)
			if err := xml.Unmarshal([]byte(body), new(struct{})); err != nil {
				t.Fatalf("%s: %s's dialog-info is not XML: %v\n%s", what, dn, err, body)
			}
			out.WriteString(strings.ReplaceAll(body, "\r\n", "\n"))
		}
	}
	do := func(cmd engine.Command) string {
		t.Helper()
		res, err := f.rt.Do(ctx, cmd)
		if err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		if r, ok := res.Reply.(engine.CallReply); ok {
			return r.ConnID
		}
		return ""
	}
	out.WriteString("# 1001's mailbox, empty\n" + strings.ReplaceAll(f.sip.messageSummary(mwi), "\r\n", "\n"))
	do(engine.MessageWaiting{DN: "1001", On: true, New: 2, Old: 1})
	out.WriteString("# 1001's mailbox, 2 new, 1 old\n" + strings.ReplaceAll(f.sip.messageSummary(mwi), "\r\n", "\n"))
	render("idle", "1002")
	c1 := do(engine.MakeCall{From: "1001", To: "1002"})
	render("1001 dials 1002, which rings", "1001", "1002")
	do(engine.Answer{ConnID: c1, DN: "1002"})
	render("1002 answers", "1001", "1002")
	do(engine.Hold{ConnID: c1, DN: "1002"})
	render("1002 holds", "1002")
	do(engine.Release{ConnID: c1, DN: "1001"})
	render("1001 hangs up", "1001", "1002")
	c2 := do(engine.MakeCall{From: "1001", To: "0123456"})
	render("1001 calls 0123456 through the trunk", "1001")
	do(engine.Release{ConnID: c2, DN: "1001"})
	// ConnIDs differ from run to run: numbered in order of appearance.
	got := strings.NewReplacer(c1, "conn-1", c2, "conn-2").Replace(out.String())
	path := filepath.Join("testdata", "notify", "bodies.golden")
	if *rewrite {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -rewrite and review the diff)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestSubscribeTooBrief: a SUBSCRIBE asking for less than MinExpires gets
// 423 with Min-Expires, as a REGISTER does.
func TestSubscribeTooBrief(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MinExpires = time.Minute })
	f.startSipp("subscribe_brief.xml", freeUDPPort(t), "-key", "user", "1003", "-s", "1002").wait(t)
	f.waitSubscribed(0)
}
