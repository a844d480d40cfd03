package sipfront

import (
	"testing"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// TestFeatureCodes: 1001's phone dials *78, *72 1003, *73 and *79: each
// INVITE is answered and ended by a BYE, and the events are those of the
// engine's SetDND, SetForward and CancelForward for 1001.
func TestFeatureCodes(t *testing.T) {
	f := newFixture(t, nil)
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	for _, code := range []string{"*78", "*721003", "*73", "*79"} {
		f.startSipp("uac_wait_bye.xml", pa, "-key", "user", "1001", "-s", code).wait(t)
	}
	f.flowIs(
		engine.SetService{DN: "1001", InService: true},
		engine.SetDND{DN: "1001", On: true},
		engine.SetForward{DN: "1001", To: "1003", Mode: engine.ForwardUnconditional},
		engine.CancelForward{DN: "1001"},
		engine.SetDND{DN: "1001", On: false},
	)
}

// TestFeatureCodeRefused: forwarding to a number the tenant cannot reach
// is refused as the engine refuses it (404), and no event follows.
func TestFeatureCodeRefused(t *testing.T) {
	f := newFixture(t, nil)
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	f.startSipp(scenarioWith(t, "uac_busy.xml", `response="486"`, `response="404"`), pa, "-key", "user", "1001", "-s", "*72nosuch").wait(t)
	f.flowIs(engine.SetService{DN: "1001", InService: true})
}
