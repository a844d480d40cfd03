package sipfront

import (
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/config"
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

// TestParseFeatureCodes: name=code pairs over the defaults; bad names,
// undiallable or repeated codes and all codes off are refused.
func TestParseFeatureCodes(t *testing.T) {
	def := FeatureCodes{DNDOn: "*78", DNDOff: "*79", ForwardOn: "*72", ForwardOff: "*73"}
	for _, c := range []struct {
		in   string
		want FeatureCodes
		err  bool
	}{
		{"", def, false},
		{"dnd-on=#21, dnd-off=#22", FeatureCodes{DNDOn: "#21", DNDOff: "#22", ForwardOn: "*72", ForwardOff: "*73"}, false},
		{"forward=", FeatureCodes{DNDOn: "*78", DNDOff: "*79", ForwardOff: "*73"}, false},
		{"dnd=*78", def, true},
		{"dnd-on", def, true},
		{"dnd-on=*7 8", def, true},
		{"dnd-on=*79", def, true},
		{"dnd-on=,dnd-off=,forward=,forward-off=", def, true},
	} {
		got, err := ParseFeatureCodes(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseFeatureCodes(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

// TestFeatureCodesConfigured: codes set in the configuration replace the
// defaults: #21 turns DND on, and *78 is an ordinary (unknown) number.
func TestFeatureCodesConfigured(t *testing.T) {
	fc, err := ParseFeatureCodes("dnd-on=#21")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *Config) { c.FeatureCodes = fc })
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	f.startSipp("uac_wait_bye.xml", pa, "-key", "user", "1001", "-s", "#21").wait(t)
	f.startSipp(scenarioWith(t, "uac_busy.xml", `response="486"`, `response="404"`), pa, "-key", "user", "1001", "-s", "*78").wait(t)
	f.flowIs(engine.SetService{DN: "1001", InService: true}, engine.SetDND{DN: "1001", On: true})
}

// TestFeatureCodesPerTenant: a tenant's feature-codes section overrides
// the server's codes for its phones: #61 turns DND on, forwarding's code
// is off (*721002 is an unknown number: 404), the others stay.
func TestFeatureCodesPerTenant(t *testing.T) {
	code := func(s string) *string { return &s }
	f := newFixtureTenant(t, nil, func(c *config.Tenant) {
		c.FeatureCodes = &config.FeatureCodes{DNDOn: code("#61"), Forward: code("")}
	})
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	f.startSipp("uac_wait_bye.xml", pa, "-key", "user", "1001", "-s", "#61").wait(t)
	f.startSipp(scenarioWith(t, "uac_busy.xml", `response="486"`, `response="404"`), pa, "-key", "user", "1001", "-s", "*721002").wait(t)
	f.startSipp("uac_wait_bye.xml", pa, "-key", "user", "1001", "-s", "*79").wait(t)
	f.flowIs(
		engine.SetService{DN: "1001", InService: true},
		engine.SetDND{DN: "1001", On: true},
		engine.SetDND{DN: "1001", On: false},
	)
}

// TestFeatureCodesTenantClash: a tenant code that is another feature's
// code of the server stops Start.
func TestFeatureCodesTenantClash(t *testing.T) {
	f := newFixture(t, nil)
	code := "*79" // the server's dnd-off
	tc := *f.tenant
	tc.FeatureCodes = &config.FeatureCodes{DNDOn: &code}
	s, err := Start(Config{Listen: "127.0.0.1:0", Tenants: []Tenant{{Config: &tc, Runtime: f.rt}}})
	if err == nil {
		s.Close()
		t.Fatal("a tenant code used twice was accepted")
	}
	if !strings.Contains(err.Error(), `feature code "*79" used twice`) {
		t.Fatalf("error %v", err)
	}
}
