package sipfront

import (
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// shortSessions lets the tests ask for session intervals of seconds (the
// RFC's floor, 90 s, is the default).
func shortSessions(c *Config) { c.MinSE = time.Second }

// flowIs checks that the recorded events are the golden flow of cmds
// and that no SIP state is left over.
func (f *fixture) flowIs(cmds ...engine.Command) {
	f.t.Helper()
	want := expected(f.t, f.tenant, cmds...)
	sameFlow(f.t, f.events(len(want)), want)
	f.noLeftovers()
}

// basicFlow is 1001 calling 1002, 1002 answering, 1001 leaving, after both
// registered.
func basicFlow(t *testing.T, f *fixture) {
	t.Helper()
	f.flowIs(
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
}

// TestSessionTimerRefreshedByPhone: 1001 asks for a 90 s session it
// refreshes; our 200 says so (refresher=uac, Require: timer), and its
// UPDATE refresh gets 200 with Session-Expires (checked by the scenario).
func TestSessionTimerRefreshedByPhone(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas.xml", pb)
	f.startSipp("uac_timer_refresh.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	basicFlow(t, f)
}

// TestSessionTimerTooSmall: a 30 s session is below Min-SE: 422 with
// Min-SE: 90, and no call.
func TestSessionTimerTooSmall(t *testing.T) {
	f := newFixture(t, nil)
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	f.startSipp("uac_timer_small.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	f.flowIs(engine.SetService{DN: "1001", InService: true})
}

// TestSessionTimerExpires: 1001 asks for a 3 s session it should refresh
// and never does: about 2 s after the answer (3 s less a third) it gets a
// BYE with Reason SIP 408, and the engine hears its hang-up (1002 gets a
// BYE with normal clearing).
func TestSessionTimerExpires(t *testing.T) {
	f := newFixture(t, shortSessions)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp(withReason(t, reasonClearedRE), pb)
	start := time.Now()
	f.startSipp("uac_timer_expire.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("BYE after %v, before the session could expire (2 s)", d)
	}
	uas.wait(t)
	basicFlow(t, f)
}

// TestSessionTimerWeRefresh: switchboard refreshes both legs: 1001 asked
// it to (refresher=uas) and allows UPDATE: an UPDATE; 1002 answered our
// INVITE's offer with a 4 s session we refresh (refresher=uac) without
// allowing UPDATE: a re-INVITE. The calls go on (no expiry).
func TestSessionTimerWeRefresh(t *testing.T) {
	f := newFixture(t, shortSessions)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_timer.xml", pb)
	f.startSipp("uac_timer_uas.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	basicFlow(t, f)
}

// TestUpdateMovesMedia: 1001's phone moves its media by an UPDATE with a
// new SDP (another port): it gets 200 with an SDP, and 1002's phone is
// re-INVITEd with the new port (checked by its scenario). No event: the
// call's state did not change.
func TestUpdateMovesMedia(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb, moved := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp(repointed(t, "uas_repointed.xml", moved), pb)
	f.startSipp(repointed(t, "uac_update_sdp.xml", moved), pa, "-key", "user", "1001", "-s", "1002", "-d", "1000").wait(t)
	uas.wait(t)
	basicFlow(t, f)
}

// TestSessionTimerRetry422: 1002's phone (as a carrier may) wants
// sessions of at least an hour: our INVITE (Session-Expires 1800) gets
// 422 with Min-SE 3600, and the retry offers 3600; the call goes on as
// flow 5.1.
func TestSessionTimerRetry422(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_422.xml", pb)
	f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	basicFlow(t, f)
}
