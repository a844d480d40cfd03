package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleLoads(t *testing.T) {
	f, err := Load(filepath.Join("..", "..", "examples", "switchboard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Server, "switchboard-1"; got != want {
		t.Errorf("server = %q, want %q", got, want)
	}
	tn := f.Lookup("acme")
	if tn == nil {
		t.Fatal("tenant acme missing")
	}
	q := tn.DN("7001")
	if q == nil || q.Queue == nil || !q.Queue.WrapUpTime.Untimed {
		t.Errorf("7001 wrap-up: %+v, want untimed", q)
	}
	if d := tn.DN("5000"); d == nil || d.Routing.RouteTimeout.Duration != 10*time.Second || d.Routing.DefaultDestination != "7000" {
		t.Errorf("5000 routing: %+v", d.Routing)
	}
	if got := tn.DN("7000").Queue.Overflow.After.Duration; got != 2*time.Minute {
		t.Errorf("overflow after = %v", got)
	}
	if got := tn.Agents[0].Skills["english"]; got != 80 {
		t.Errorf("alice english = %d", got)
	}
	if got := tn.Supervisors[0].ID; got != "sam" {
		t.Errorf("supervisor = %q", got)
	}
	if !tn.Defaults.WrapUpTime.Set || tn.Defaults.WrapUpTime.Time != 0 {
		t.Errorf("default wrap-up %+v, want set to 0", tn.Defaults.WrapUpTime)
	}
}

func TestDemo(t *testing.T) {
	f := Demo("tok", "pw")
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	tn := f.Lookup("demo")
	if tn == nil {
		t.Fatal("no demo tenant")
	}
	for i := 1001; i <= 1020; i++ {
		n := string(rune('0'+i/1000)) + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
		if d := tn.DN(n); d == nil || d.Type != Extension {
			t.Errorf("extension %s: %+v", n, d)
		}
	}
	if d := tn.DN("1100"); d == nil || d.Type != Extension {
		t.Errorf("1100: %+v", d)
	}
	if d := tn.DN("7000"); d == nil || d.Type != ACDQueue || d.Name != "sales" || !d.Queue.WrapUpTime.Set || d.Queue.WrapUpTime.Time != 0 || d.Queue.WrapUpTime.Untimed {
		t.Errorf("7000: %+v", d)
	}
	if d := tn.DN("7001"); d == nil || d.Name != "support" || d.Queue.WrapUpTime.Time != 10*time.Second {
		t.Errorf("7001: %+v", d)
	}
	r := tn.DN("5000").Routing
	if r.RouteTimeout.Duration != 10*time.Second || r.DefaultDestination != "7000" || r.TreatmentAfter.Duration != 5*time.Second || r.Strategy != nil {
		t.Errorf("5000: %+v", r)
	}
	s := tn.DN("5001").Routing.Strategy
	if s == nil || s.Type != StrategyQueue || s.Queue != "7001" {
		t.Errorf("5001 strategy: %+v", s)
	}
	if d := tn.DN("pstn"); d == nil || d.Type != Trunk {
		t.Errorf("pstn: %+v", d)
	}
	if len(tn.Agents) != 20 || tn.Agents[0].ID != "agent1" || tn.Agents[19].ID != "agent20" {
		t.Errorf("agents: %d", len(tn.Agents))
	}
	if len(tn.Supervisors) != 1 || tn.Supervisors[0].ID != "super1" {
		t.Errorf("supervisors: %+v", tn.Supervisors)
	}
	if got := tn.Tokens; len(got) != 1 || got[0] != "tok" {
		t.Errorf("tokens %v", got)
	}
	if tn.Defaults.SIPPassword != "pw" {
		t.Errorf("sip password %q", tn.Defaults.SIPPassword)
	}
	if err := Demo("", "pw").Validate(); err == nil || !strings.Contains(err.Error(), "tokens[0]: empty token") {
		t.Errorf("empty token: %v", err)
	}
}

// base is a valid file that each case below breaks in one place.
const base = `server: n1
tenants:
  - id: t1
    tokens: [tok1]
    dns:
      - number: "1001"
        type: extension
      - number: "1002"
        type: extension
      - number: "7000"
        type: acd-queue
      - number: "5000"
        type: routing-point
      - number: pstn
        type: trunk
    agents:
      - id: a1
`

func TestBaseIsValid(t *testing.T) {
	if _, err := Parse("c.yaml", []byte(base)); err != nil {
		t.Fatal(err)
	}
}

func TestValidationErrors(t *testing.T) {
	// Each case replaces old with new in base (or, when old is "", appends
	// new) and wants an error containing want.
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown top-level key", "", "colour: blue\n", `c.yaml:18: colour: unknown field "colour"`},
		{"unknown DN key", "        type: acd-queue\n", "        type: acd-queue\n        size: 3\n", `c.yaml:12: tenants[0].dns[2].size: unknown field "size"`},
		{"not yaml", "server: n1", "server: [n1", "c.yaml: "},
		{"wrong type", "server: n1", "server: {a: 1}", "c.yaml:1: cannot unmarshal"},
		{"no tenants", "", "", ""}, // replaced below
		{"missing tenant id", "  - id: t1\n", "  - name: x\n", `unknown field "name"`},
		{"empty tenant id", "  - id: t1\n", "  - id: \"\"\n", `c.yaml:3: tenants[0].id: missing tenant id`},
		{"bad tenant id", "  - id: t1\n", "  - id: \"t:1\"\n", `tenants[0].id: bad tenant id "t:1"`},
		{"duplicate tenant", "", "  - id: t1\n    tokens: [tok2]\n", `c.yaml:18: tenants[1].id: duplicate tenant id "t1" (also tenants[0])`},
		{"no tokens", "    tokens: [tok1]\n", "", `tenants[0].tokens: at least one API token is required`},
		{"empty token", "[tok1]", `[tok1, ""]`, `tenants[0].tokens[1]: empty token`},
		{"space in token", "[tok1]", `["tok 1"]`, `tenants[0].tokens[0]: token contains white space`},
		{"token of two tenants", "", "  - id: t2\n    tokens: [tok1]\n", `c.yaml:19: tenants[1].tokens[0]: token already used by tenant "t1"`},
		{"missing DN type", "        type: extension\n      - number: \"1002\"", "        name: x\n      - number: \"1002\"", `c.yaml:6: tenants[0].dns[0].type: missing DN type (want extension, acd-position, acd-queue, routing-point, trunk)`},
		{"unknown DN type", "type: trunk", "type: foo", `c.yaml:15: tenants[0].dns[4].type: unknown DN type "foo" (want extension, acd-position, acd-queue, routing-point, trunk)`},
		{"missing number", `- number: "1002"`, `- name: "1002"`, `tenants[0].dns[1].number: missing DN number`},
		{"bad number", `"1002"`, `"10 02"`, `c.yaml:8: tenants[0].dns[1].number: bad DN number "10 02"`},
		{"duplicate DN", `"1002"`, `"1001"`, `c.yaml:8: tenants[0].dns[1].number: duplicate DN "1001" (also dns[0])`},
		{"bad duration", "    tokens: [tok1]\n", "    tokens: [tok1]\n    defaults:\n      no-answer-timeout: 10\n", `c.yaml:6: tenants[0].defaults.no-answer-timeout: bad duration "10" (want a Go duration`},
		{"negative duration", "    tokens: [tok1]\n", "    tokens: [tok1]\n    defaults:\n      no-answer-timeout: -5s\n", `tenants[0].defaults.no-answer-timeout: negative duration -5s`},
		{"bad wrap-up", "    tokens: [tok1]\n", "    tokens: [tok1]\n    defaults:\n      wrap-up-time: forever\n", `tenants[0].defaults.wrap-up-time: bad wrap-up time "forever" (want a Go duration such as "10s", or "untimed")`},
		{"queue settings on extension", "        type: extension\n      - number: \"1002\"", "        type: extension\n        queue: {max-size: 3}\n      - number: \"1002\"", `c.yaml:8: tenants[0].dns[0].queue: only allowed on an acd-queue (this DN is an extension)`},
		{"routing on queue", "type: acd-queue\n", "type: acd-queue\n        routing: {}\n", `tenants[0].dns[2].routing: only allowed on a routing-point`},
		{"trunk on extension", "        type: extension\n      - number: \"1002\"", "        type: extension\n        trunk: {}\n      - number: \"1002\"", `tenants[0].dns[0].trunk: only allowed on a trunk`},
		{"forward on queue", "type: acd-queue\n", "type: acd-queue\n        forward: {to: \"1001\"}\n", `tenants[0].dns[2].forward: only allowed on an extension or acd-position`},
		{"no-answer on trunk", "type: trunk\n", "type: trunk\n        no-answer-timeout: 5s\n", `tenants[0].dns[4].no-answer-timeout: only allowed on an extension or acd-position`},
		{"sip password on queue", "type: acd-queue\n", "type: acd-queue\n        sip-password: x\n", `tenants[0].dns[2].sip-password: only allowed`},
		{"max-contacts on queue", "type: acd-queue\n", "type: acd-queue\n        max-contacts: 2\n", `tenants[0].dns[2].max-contacts: only allowed on an extension or acd-position`},
		{"negative max-contacts", "    tokens: [tok1]\n", "    tokens: [tok1]\n    defaults:\n      max-contacts: -1\n", `tenants[0].defaults.max-contacts: negative max-contacts -1`},
		{"bad trunk inbound", "type: trunk\n", "type: trunk\n        trunk: {address: \"h:5060\", inbound: tls}\n", `tenants[0].dns[4].trunk.inbound: unknown inbound mode "tls" (want address, credentials, both)`},
		{"inbound credentials without password", "type: trunk\n", "type: trunk\n        trunk: {inbound: credentials}\n", `tenants[0].dns[4].trunk.inbound: inbound "credentials" needs a sip-password`},
		{"account without user", "type: trunk\n", "type: trunk\n        trunk: {address: \"h:5060\", account: {password: x}}\n", `tenants[0].dns[4].trunk.account.user: missing user`},
		{"account with two passwords", "type: trunk\n", "type: trunk\n        trunk: {address: \"h:5060\", account: {user: u, password: x, password-env: X}}\n", `trunk.account.password-env: give password or password-env, not both`},
		{"register without address", "type: trunk\n", "type: trunk\n        trunk: {account: {user: u, password: x, register: true}}\n", `tenants[0].dns[4].trunk.account.register: registering needs the trunk's address`},
		{"bad keepalive", "type: trunk\n", "type: trunk\n        trunk: {address: \"h:5060\", keepalive: sometimes}\n", `tenants[0].dns[4].trunk.keepalive: bad duration "sometimes"`},
		{"bridged on RP", "type: routing-point\n", "type: routing-point\n        bridged: [\"1001\"]\n", `tenants[0].dns[3].bridged: only allowed`},
		{"bad wrap-up in queue", "type: acd-queue\n", "type: acd-queue\n        queue: {wrap-up-time: 10x}\n", `c.yaml:12: tenants[0].dns[2].queue.wrap-up-time: bad wrap-up time "10x"`},
		{"negative queue size", "type: acd-queue\n", "type: acd-queue\n        queue: {max-size: -1}\n", `tenants[0].dns[2].queue.max-size: negative queue size -1`},
		{"overflow without wait", "type: acd-queue\n", "type: acd-queue\n        queue: {overflow: {to: \"5000\"}}\n", `tenants[0].dns[2].queue.overflow.after: overflow needs a wait time above 0`},
		{"overflow to unknown", "type: acd-queue\n", "type: acd-queue\n        queue: {overflow: {after: 1m, to: \"7999\"}}\n", `tenants[0].dns[2].queue.overflow.to: unknown DN "7999"`},
		{"overflow to itself", "type: acd-queue\n", "type: acd-queue\n        queue: {overflow: {after: 1m, to: \"7000\"}}\n", `tenants[0].dns[2].queue.overflow.to: DN "7000" cannot be its own destination`},
		{"overflow external", "type: acd-queue\n", "type: acd-queue\n        queue: {overflow: {after: 1m, to: \"0123\"}}\n", `queue.overflow.to: unknown DN "0123"`},
		{"queue skill level", "type: acd-queue\n", "type: acd-queue\n        queue: {skills: {english: 101}}\n", `tenants[0].dns[2].queue.skills.english: skill level 101 out of range (want 0-100)`},
		{"unknown default destination", "type: routing-point\n", "type: routing-point\n        routing: {route-timeout: 10s, default-destination: \"x7999\"}\n", `c.yaml:14: tenants[0].dns[3].routing.default-destination: unknown DN "x7999" (and not an external number)`},
		{"default destination trunk", "type: routing-point\n", "type: routing-point\n        routing: {default-destination: pstn}\n", `routing.default-destination: DN "pstn" is a trunk`},
		{"route timeout without destination", "type: routing-point\n", "type: routing-point\n        routing: {route-timeout: 10s}\n", `tenants[0].dns[3].routing.default-destination: a route-timeout needs a default-destination`},
		{"bad route timeout", "type: routing-point\n", "type: routing-point\n        routing: {route-timeout: soon}\n", `tenants[0].dns[3].routing.route-timeout: bad duration "soon"`},
		{"bad treatment-after", "type: routing-point\n", "type: routing-point\n        routing: {treatment-after: 1y}\n", `routing.treatment-after: bad duration "1y"`},
		{"strategy type missing", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {queue: \"7000\"}}\n", `routing.strategy.type: missing strategy type (want queue, skill, time-of-day)`},
		{"strategy type unknown", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: random}}\n", `routing.strategy.type: unknown strategy type "random"`},
		{"strategy queue not a queue", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: queue, queue: \"1001\"}}\n", `routing.strategy.queue: DN "1001" is an extension, not an acd-queue`},
		{"strategy queue missing", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: queue}}\n", `routing.strategy.queue: missing queue`},
		{"strategy skill missing", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: skill}}\n", `routing.strategy.skill: missing skill`},
		{"strategy min level", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: skill, skill: x, min-level: -1}}\n", `routing.strategy.min-level: skill level -1 out of range`},
		{"time-of-day no rules", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: time-of-day, fallback: \"7000\"}}\n", `routing.strategy.rules: a time-of-day strategy needs at least one rule`},
		{"time-of-day no fallback", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: time-of-day, rules: [{from: \"08:00\", to: \"09:00\", destination: \"7000\"}]}}\n", `routing.strategy.fallback: missing destination`},
		{"time-of-day bad time", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: time-of-day, fallback: \"7000\", rules: [{from: \"8\", to: \"09:00\", destination: \"7000\"}]}}\n", `routing.strategy.rules[0].from: bad time "8" (want HH:MM)`},
		{"time-of-day reversed", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: time-of-day, fallback: \"7000\", rules: [{from: \"10:00\", to: \"09:00\", destination: \"7000\"}]}}\n", `routing.strategy.rules[0].to: 09:00 is not after from 10:00`},
		{"time-of-day bad day", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: time-of-day, fallback: \"7000\", rules: [{days: [monday], from: \"08:00\", to: \"09:00\", destination: \"7000\"}]}}\n", `routing.strategy.rules[0].days[0]: unknown day "monday"`},
		{"time-of-day bad zone", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: time-of-day, time-zone: Mars/Base, fallback: \"7000\", rules: [{from: \"08:00\", to: \"09:00\", destination: \"7000\"}]}}\n", `routing.strategy.time-zone: unknown time zone "Mars/Base"`},
		{"time-of-day unknown destination", "type: routing-point\n", "type: routing-point\n        routing: {strategy: {type: time-of-day, fallback: \"7000\", rules: [{from: \"08:00\", to: \"09:00\", destination: \"x9\"}]}}\n", `routing.strategy.rules[0].destination: unknown DN "x9"`},
		{"forward to unknown", "        type: extension\n      - number: \"1002\"", "        type: extension\n        forward: {to: abc}\n      - number: \"1002\"", `tenants[0].dns[0].forward.to: unknown DN "abc" (and not an external number)`},
		{"forward to itself", "        type: extension\n      - number: \"1002\"", "        type: extension\n        forward: {to: \"1001\"}\n      - number: \"1002\"", `tenants[0].dns[0].forward.to: DN "1001" cannot be its own destination`},
		{"forward bad mode", "        type: extension\n      - number: \"1002\"", "        type: extension\n        forward: {to: \"1002\", mode: Always}\n      - number: \"1002\"", `tenants[0].dns[0].forward.mode: unknown forward mode "Always" (want Unconditional, OnBusy, OnNoAnswer, OnBusyAndNoAnswer)`},
		{"bridged unknown", "        type: extension\n      - number: \"1002\"", "        type: extension\n        bridged: [\"1003\"]\n      - number: \"1002\"", `tenants[0].dns[0].bridged[0]: unknown DN "1003"`},
		{"bridged itself", "        type: extension\n      - number: \"1002\"", "        type: extension\n        bridged: [\"1001\"]\n      - number: \"1002\"", `tenants[0].dns[0].bridged[0]: DN "1001" cannot bridge its own line`},
		{"bridged queue", "        type: extension\n      - number: \"1002\"", "        type: extension\n        bridged: [\"7000\"]\n      - number: \"1002\"", `tenants[0].dns[0].bridged[0]: DN "7000" is an acd-queue`},
		{"bridged twice", "        type: extension\n      - number: \"1002\"", "        type: extension\n        bridged: [\"1002\", \"1002\"]\n      - number: \"1002\"", `tenants[0].dns[0].bridged[1]: DN "1002" listed twice`},
		{"trunk prefix", "type: trunk\n", "type: trunk\n        trunk: {prefixes: [abc]}\n", `tenants[0].dns[4].trunk.prefixes[0]: bad prefix "abc"`},
		{"missing agent id", "      - id: a1\n", "      - id: \"\"\n", `c.yaml:17: tenants[0].agents[0].id: missing agent id`},
		{"bad agent id", "      - id: a1\n", "      - id: \"a 1\"\n", `tenants[0].agents[0].id: bad agent id "a 1"`},
		{"duplicate agent", "      - id: a1\n", "      - id: a1\n      - id: a1\n", `c.yaml:18: tenants[0].agents[1].id: duplicate agent id "a1" (also tenants[0].agents[0])`},
		{"supervisor same as agent", "      - id: a1\n", "      - id: a1\n    supervisors:\n      - id: a1\n", `tenants[0].supervisors[0].id: duplicate agent id "a1"`},
		{"agent id is a DN", "      - id: a1\n", "      - id: \"1001\"\n", `tenants[0].agents[0].id: agent id "1001" is also a DN number`},
		{"agent skill level", "      - id: a1\n", "      - id: a1\n        skills: {x: -3}\n", `tenants[0].agents[0].skills.x: skill level -3 out of range`},
		{"agent wrap-up", "      - id: a1\n", "      - id: a1\n        wrap-up-time: sometimes\n", `c.yaml:18: tenants[0].agents[0].wrap-up-time: bad wrap-up time "sometimes"`},
		{"bad rona default", "    tokens: [tok1]\n", "    tokens: [tok1]\n    defaults:\n      rona: ignore\n", `c.yaml:6: tenants[0].defaults.rona: unknown RONA policy "ignore" (want not-ready, logout, none)`},
		{"bad rona in queue", "type: acd-queue\n", "type: acd-queue\n        queue: {rona: NotReady}\n", `c.yaml:12: tenants[0].dns[2].queue.rona: unknown RONA policy "NotReady"`},
		{"bad rona of agent", "      - id: a1\n", "      - id: a1\n        rona: log-out\n", `c.yaml:18: tenants[0].agents[0].rona: unknown RONA policy "log-out"`},
		{"agent no-answer", "      - id: a1\n", "      - id: a1\n        no-answer-timeout: 3\n", `tenants[0].agents[0].no-answer-timeout: bad duration "3"`},
		{"unknown agent key", "      - id: a1\n", "      - id: a1\n        skill: x\n", `c.yaml:18: tenants[0].agents[0].skill: unknown field "skill"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base
			switch {
			case tt.name == "no tenants":
				src = "server: n1\n"
				tt.want = "c.yaml: tenants: at least one tenant is required"
			case tt.old == "":
				src += tt.new
			default:
				if !strings.Contains(src, tt.old) {
					t.Fatalf("case does not apply: %q not in base", tt.old)
				}
				src = strings.Replace(src, tt.old, tt.new, 1)
			}
			_, err := Parse("c.yaml", []byte(src))
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestErrorsAreTyped(t *testing.T) {
	_, err := Parse("c.yaml", []byte(strings.Replace(base, "type: trunk", "type: foo", 1)))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("%v is not a *config.Error", err)
	}
	if ce.File != "c.yaml" || ce.Line != 15 || ce.Path != "tenants[0].dns[4].type" {
		t.Errorf("got %+v", ce)
	}
}

func TestSeveralErrorsReported(t *testing.T) {
	src := strings.Replace(base, "type: trunk", "type: foo", 1)
	src = strings.Replace(src, "- id: a1", "- id: \"\"", 1)
	_, err := Parse("c.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "dns[4].type") || !strings.Contains(err.Error(), "agents[0].id") {
		t.Errorf("want both errors, got %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || err.Error() != "empty.yaml: the file is empty" {
		t.Errorf("empty file: %v", err)
	}
	p = filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(p, []byte(strings.Replace(base, "type: trunk", "type: foo", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if want := `bad.yaml:15: tenants[0].dns[4].type: unknown DN type "foo"`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want prefix %s", err, want)
	}
}

func TestGoBuiltFileErrorsHaveNoFile(t *testing.T) {
	f := Demo("tok", "")
	f.Tenants[0].DNs[0].Type = "phone"
	err := f.Validate()
	if want := `config: tenants[0].dns[0].type: unknown DN type "phone"`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want prefix %s", err, want)
	}
}

func TestTenantTimeZone(t *testing.T) {
	f := Demo("tok", "pw")
	f.Tenants[0].TimeZone = "Europe/Paris"
	if err := f.Validate(); err != nil {
		t.Fatalf("Europe/Paris: %v", err)
	}
	f.Tenants[0].TimeZone = "Mars/Olympus"
	err := f.Validate()
	if err == nil || !strings.Contains(err.Error(), "time-zone") {
		t.Fatalf("Mars/Olympus: %v, want a time-zone error", err)
	}
	f.Tenants[0].TimeZone = ""
	if loc, err := f.Tenants[0].Location(); err != nil || loc != time.UTC {
		t.Fatalf("default: %v %v, want UTC", loc, err)
	}
}

// TestTrunkCarrierSettings: a trunk's keepalive is a duration or "off";
// inbound defaults to both with a sip-password, else address; an account
// reads as written.
func TestTrunkCarrierSettings(t *testing.T) {
	f, err := Parse("c.yaml", []byte(strings.Replace(base, "type: trunk\n",
		"type: trunk\n        trunk: {address: \"h:5060\", keepalive: \"off\", sip-password: s, account: {user: u, password-env: P, register: true, expires: 5m}}\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	tr := f.Tenants[0].DNs[4].Trunk
	if !tr.Keepalive.Off || tr.InboundMode() != "both" || tr.Account.User != "u" || tr.Account.PasswordEnv != "P" || !tr.Account.Register || tr.Account.Expires.Duration != 5*time.Minute {
		t.Fatalf("trunk settings %+v, account %+v", tr, tr.Account)
	}
	f, err = Parse("c.yaml", []byte(strings.Replace(base, "type: trunk\n", "type: trunk\n        trunk: {address: \"h:5060\", keepalive: 10s}\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if tr := f.Tenants[0].DNs[4].Trunk; tr.Keepalive.Off || tr.Keepalive.Duration.Duration != 10*time.Second || tr.InboundMode() != "address" {
		t.Fatalf("trunk settings %+v", tr)
	}
}
