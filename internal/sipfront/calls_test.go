package sipfront

import (
	"log/slog"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

func testLogger(t testing.TB) *slog.Logger { return kafkatest.Logger(t, slog.LevelWarn) }

// names lists the event names and ThisDN of evs, for readable checks
// against EVENTS.md section 5.
func names(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID.String() + "(" + e.ThisDN + ")"
	}
	return out
}

// TestBasicCall: 1002 registers and answers (sipp UAS); 1001 registers and
// calls 1002 (sipp UAC), talks and hangs up. The events are the engine's
// golden flow 5.1 for the same calls: MakeCall, Answer by 1002, Release by
// 1001, after the two registrations' EventDNBackInService.
func TestBasicCall(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas.xml", pb, "-key", "user", "1002")
	uac := f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002")
	uac.wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	got := f.events(len(want))
	sameFlow(t, got, want)
}

// TestBusyDND: 1002 is on DND; 1001 (registered) calls it: 486, and the
// flow is 5.4 (Dialing, DestinationBusy, Released by the caller).
func TestBusyDND(t *testing.T) {
	f := newFixture(t, nil)
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	if _, err := f.rt.Do(t.Context(), engine.SetDND{DN: "1002", On: true}); err != nil {
		t.Fatal(err)
	}
	f.startSipp("uac_busy.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1001", InService: true},
		engine.SetDND{DN: "1002", On: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	got := f.events(len(want))
	sameFlow(t, got, want)
	if got[4].ID != event.EventDestinationBusy {
		t.Fatalf("event 4 is %s, want EventDestinationBusy", got[4].ID)
	}
}

// TestBusyPhone: the called phone answers 486. The caller gets 486; the
// engine has no busy-after-ringing command, so the nearest flow is the
// caller giving up while it rings (5.5: Released, Abandoned).
func TestBusyPhone(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_busy.xml", pb)
	f.startSipp("uac_busy.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
}

// TestCancelWhileRinging: 1001 hangs up while 1002's phone rings: the
// phone gets CANCEL, and the flow is 5.5 (Released(A), Abandoned(B)).
func TestCancelWhileRinging(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_ring.xml", pb)
	f.startSipp("uac_cancel.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	got := f.events(len(want))
	sameFlow(t, got, want)
	if got[6].ID != event.EventAbandoned || got[6].ThisDN != "1002" {
		t.Fatalf("event 6 is %s(%s), want EventAbandoned(1002)", got[6].ID, got[6].ThisDN)
	}
}

// TestCalleeHangsUp: 1002 answers and hangs up (BYE); the caller gets a
// BYE. Flow 5.1 with the release by B.
func TestCalleeHangsUp(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_bye.xml", pb, "-key", "service", "1002")
	f.startSipp("uac_wait_bye.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1002"},
	)
	sameFlow(t, f.events(len(want)), want)
}

// TestRegistrationExpiry: a binding of 1 s ends by itself: back in
// service, then out of service.
func TestRegistrationExpiry(t *testing.T) {
	f := newFixture(t, nil)
	f.register("1003", freeUDPPort(t), 1)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1003", InService: false},
	)
	sameFlow(t, f.events(len(want)), want)
}

// TestUnregister: Expires 0 ends the binding at once.
func TestUnregister(t *testing.T) {
	f := newFixture(t, nil)
	p := freeUDPPort(t)
	f.register("1003", p, 3600)
	f.register("1003", p, 0)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1003", InService: false},
	)
	sameFlow(t, f.events(len(want)), want)
}

// TestRegisterBadPassword: 401, then 403 for the wrong password, and no
// event (a sentinel command's event is the only one).
func TestRegisterBadPassword(t *testing.T) {
	f := newFixture(t, nil)
	f.startSipp("register_badauth.xml", freeUDPPort(t), "-au", "1003", "-ap", "wrong", "-key", "user", "1003").wait(t)
	if _, err := f.rt.Do(t.Context(), engine.SetDND{DN: "1004", On: true}); err != nil {
		t.Fatal(err)
	}
	want := expected(t, f.tenant, engine.SetDND{DN: "1004", On: true})
	sameFlow(t, f.events(len(want)), want)
}
