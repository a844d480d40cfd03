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
