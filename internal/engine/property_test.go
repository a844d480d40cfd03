package engine

import (
	"bytes"
	"errors"
	"flag"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
)

var (
	propSeeds = flag.Int("prop.seeds", 8, "property test: number of seeds")
	propSteps = flag.Int("prop.steps", 10000, "property test: steps per seed")
)

// TestPropertyAgentsAndDNs drives the engine with random agent and DN
// commands (valid and invalid) and checks after every step:
//   - a refusal is an *Error, produces no events or effects and changes
//     nothing (state digest before and after);
//   - every event passes event.Validate, has Time = the step's time and the
//     Seq that follows the previous one of its key;
//   - an agent is on at most one DN and a DN has at most one agent; Ready or
//     NotReady implies logged in; monitoring links are symmetric; a running
//     after-call-work timer belongs to an agent in after-call work;
//   - a consumer that sees only the events knows every agent's DN, queues,
//     state and work mode (a shadow model built from the events equals the
//     engine's views);
//   - every command survives EncodeCommand/DecodeCommand, and replaying the
//     journal of a run into a fresh engine gives the same events, byte for
//     byte, and the same state;
//   - the run has the agent requests schema 2 allows (a repeated login,
//     Ready ReturnBack, NotReady LegalGuard, a supervisor re-targeting its
//     monitoring), so the checks above cover them.
func TestPropertyAgentsAndDNs(t *testing.T) {
	for seed := 1; seed <= *propSeeds; seed++ {
		t.Run("seed"+strconv.Itoa(seed), func(t *testing.T) {
			runProperty(t, uint64(seed), *propSteps)
		})
	}
}

type journaled struct {
	at  int64
	cmd []byte
}

func runProperty(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	e := newDemoEngine(t)
	g := &gen{rng: rng}
	seq := map[string]int64{}
	shadow := map[string]*shadowAgent{}
	var journal []journaled
	var wire [][]byte
	var kept []*event.Event // the events as handed out, checked at the end
	at := goldenStart
	var refused, produced int
	requests := map[string]int{} // the agent requests of EVENTS.md schema 2 seen
	for step := 0; step < steps; step++ {
		at += int64(rng.IntN(3_000_000))
		cmd := g.command(e)
		b, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("step %d: encode %#v: %v", step, cmd, err)
		}
		dec, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("step %d: decode %s: %v", step, b, err)
		}
		before := digest(e)
		res, err := e.Step(at, dec)
		if err != nil {
			refused++
			var ee *Error
			if !errors.As(err, &ee) || (ee.Code != CodeInvalid && ee.Code != CodeNotFound && ee.Code != CodeConflict) {
				t.Fatalf("step %d: %s: error %v is not an *Error with a known code", step, b, err)
			}
			if len(res.Events) != 0 || len(res.Effects) != 0 {
				t.Fatalf("step %d: %s: refused but produced %d events", step, b, len(res.Events))
			}
			if after := digest(e); after != before {
				t.Fatalf("step %d: %s: refused (%v) but the state changed:\n%s\n->\n%s", step, b, err, before, after)
			}
		}
		journal = append(journal, journaled{at, b})
		if cap(res.Events) != len(res.Events) {
			// begin reserves exactly what the step produces, so the
			// caller's slice ends where the next step's begins.
			t.Fatalf("step %d: %s: %d events in a slice of capacity %d", step, b, len(res.Events), cap(res.Events))
		}
		for i := range res.Events {
			ev := &res.Events[i]
			produced++
			if err := ev.Validate(); err != nil {
				t.Fatalf("step %d: %s: %v\n%s", step, b, err, event.Marshal(ev))
			}
			if ev.Time != event.TimeFromUnixMicro(at) || ev.CustomerID != "demo" || ev.Server != goldenServer {
				t.Fatalf("step %d: %s: common fields %s", step, b, event.Marshal(ev))
			}
			k := ev.Key()
			if ev.Seq != seq[k]+1 {
				t.Fatalf("step %d: %s: key %s Seq %d after %d", step, b, k, ev.Seq, seq[k])
			}
			seq[k] = ev.Seq
			switch a := shadow[ev.AgentID]; {
			case ev.ID == event.EventAgentLogin && a != nil && a.state != "LoggedOut" && a.dn == ev.ThisDN:
				requests["repeated login"]++
			case ev.ID == event.EventAgentReady && ev.AgentWorkMode == event.WorkModeReturnBack:
				requests["Ready ReturnBack"]++
			case ev.ID == event.EventAgentNotReady && ev.AgentWorkMode == event.WorkModeLegalGuard:
				requests["NotReady LegalGuard"]++
			case ev.ID == event.EventMonitoringCancelled && dec.Kind() == "monitor":
				requests["monitor re-targeted"]++
			}
			applyShadow(shadow, ev)
			wire = append(wire, event.Marshal(ev))
			kept = append(kept, ev)
		}
		for _, f := range res.Effects {
			if st, ok := f.(StartTimer); ok {
				g.timers = append(g.timers, st.ID)
			}
		}
		checkInvariants(t, step, string(b), e, shadow)
	}
	t.Logf("%d steps: %d refused, %d events, %d timers started; %v", steps, refused, produced, len(g.timers), requests)
	for _, r := range []string{"repeated login", "Ready ReturnBack", "NotReady LegalGuard", "monitor re-targeted"} {
		if requests[r] == 0 {
			t.Errorf("the run has no %s", r)
		}
	}
	if refused == 0 || produced == 0 || refused == steps {
		t.Fatalf("degenerate run: %d refused, %d events in %d steps", refused, produced, steps)
	}

	// The caller owns the events: later steps never wrote over them.
	for i, ev := range kept {
		if got := event.Marshal(ev); !bytes.Equal(got, wire[i]) {
			t.Fatalf("event %d changed after it was returned:\n got %s\nwant %s", i, got, wire[i])
		}
	}

	// Replay the journal: same events, byte for byte, and the same state.
	r := newDemoEngine(t)
	var n int
	for _, j := range journal {
		cmd, err := DecodeCommand(j.cmd)
		if err != nil {
			t.Fatal(err)
		}
		res, _ := r.Step(j.at, cmd)
		for i := range res.Events {
			if got := event.Marshal(&res.Events[i]); !bytes.Equal(got, wire[n]) {
				t.Fatalf("replay event %d:\n got %s\nwant %s", n, got, wire[n])
			}
			n++
		}
	}
	if n != len(wire) || digest(r) != digest(e) {
		t.Fatalf("replay: %d of %d events, same state %v", n, len(wire), digest(r) == digest(e))
	}
}

// shadowAgent is what a consumer of voice-agentstate knows about an agent.
type shadowAgent struct {
	dn     string
	queues []string
	state  string
	mode   event.AgentWorkMode
}

func applyShadow(m map[string]*shadowAgent, ev *event.Event) {
	if ev.AgentID == "" {
		return
	}
	a := m[ev.AgentID]
	if a == nil {
		a = &shadowAgent{state: "LoggedOut"}
		m[ev.AgentID] = a
	}
	switch ev.ID {
	case event.EventAgentLogin:
		if a.state == "LoggedOut" {
			a.state, a.mode, a.queues = "NotReady", ev.AgentWorkMode, nil
		}
		a.dn = ev.ThisDN
		// A repeated login (same agent, same DN) shows a queue again.
		if ev.ThisQueue != "" && !slices.Contains(a.queues, ev.ThisQueue) {
			a.queues = append(a.queues, ev.ThisQueue)
		}
	case event.EventQueueLogout:
		a.queues = slices.DeleteFunc(a.queues, func(q string) bool { return q == ev.ThisQueue })
	case event.EventAgentLogout:
		*a = shadowAgent{state: "LoggedOut"}
	case event.EventAgentReady:
		a.state, a.mode = "Ready", ev.AgentWorkMode
	case event.EventAgentNotReady:
		a.state, a.mode = "NotReady", ev.AgentWorkMode
		if ev.AgentWorkMode == event.WorkModeAfterCallWork {
			a.state = "AfterCallWork"
		}
	}
}

func checkInvariants(t *testing.T, step int, cmd string, e *Engine, shadow map[string]*shadowAgent) {
	t.Helper()
	fail := func(msg string) { t.Fatalf("step %d after %s: %s\n%s", step, cmd, msg, digest(e)) }
	onDN := map[*agentState]*dnState{}
	for _, d := range e.dnList {
		if a := d.agent; a != nil {
			if prev, dup := onDN[a]; dup {
				fail("agent " + a.id + " on DNs " + prev.number + " and " + d.number)
			}
			onDN[a] = d
			if a.dn != d {
				fail("DN " + d.number + " has agent " + a.id + " whose DN differs")
			}
			if !d.inService {
				fail("agent " + a.id + " on DN " + d.number + " out of service")
			}
		}
		if m := d.monitoring; m != nil && m.target.monitoredBy != d {
			fail("monitoring of " + d.number + " not mirrored")
		}
		if s := d.monitoredBy; s != nil && (s.monitoring == nil || s.monitoring.target != d) {
			fail("monitoredBy of " + d.number + " not mirrored")
		}
		if d.monitoredBy != nil && d.agent == nil {
			fail("DN " + d.number + " monitored without an agent")
		}
	}
	for _, a := range e.agList {
		if (a.dn != nil) != (a.state != AgentLoggedOut) {
			fail("agent " + a.id + " state " + a.state.String() + " but DN set " + strconv.FormatBool(a.dn != nil))
		}
		if a.dn != nil && onDN[a] != a.dn {
			fail("agent " + a.id + " DN not mirrored")
		}
		if a.acwTimer != "" {
			if _, ok := e.timers[a.acwTimer]; !ok || a.state != AgentAfterCallWork {
				fail("agent " + a.id + " timer " + a.acwTimer + " in state " + a.state.String())
			}
		}
	}
	for id, tm := range e.timers {
		if tm.agent.acwTimer != id {
			fail("timer " + id + " not the agent's")
		}
	}
	for _, v := range e.Agents() {
		s := shadow[v.AgentID]
		if s == nil {
			s = &shadowAgent{state: "LoggedOut"}
		}
		if v.DN != s.dn || v.State != s.state || v.WorkMode != s.mode.String() || !slices.Equal(v.Queues, s.queues) {
			fail("agent " + v.AgentID + ": engine " + v.DN + "/" + v.State + "/" + v.WorkMode + "/" + strconv.Itoa(len(v.Queues)) +
				", events say " + s.dn + "/" + s.state + "/" + s.mode.String() + "/" + strconv.Itoa(len(s.queues)))
		}
	}
}

// gen makes random commands, mostly plausible, some invalid.
type gen struct {
	rng    *rand.Rand
	timers []string
}

var (
	propPhones = []string{"1001", "1002", "1003", "1004", "1005", "1006", "1100"}
	propOther  = []string{"7000", "7001", "5000", "pstn", "4242", ""}
	propAgents = []string{"agent1", "agent2", "agent3", "agent4", "agent5", "agent6", "super1", "nobody"}
	propQueues = []string{"7000", "7001", "5000", "7999"}
)

func (g *gen) pick(s []string) string { return s[g.rng.IntN(len(s))] }

func (g *gen) dn() string {
	if g.rng.IntN(12) == 0 {
		return g.pick(propOther)
	}
	return g.pick(propPhones)
}

// busyDN picks, most of the time, a DN with an agent logged in.
func (g *gen) busyDN(e *Engine) string {
	if g.rng.IntN(4) != 0 {
		var with []string
		for _, d := range e.dnList {
			if d.agent != nil {
				with = append(with, d.number)
			}
		}
		if len(with) > 0 {
			return g.pick(with)
		}
	}
	return g.dn()
}

func (g *gen) queues() []string {
	var qs []string
	for i := g.rng.IntN(3); i > 0; i-- {
		if g.rng.IntN(8) == 0 {
			qs = append(qs, g.pick(propQueues))
		} else {
			qs = append(qs, g.pick(propQueues[:2]))
		}
	}
	return qs
}

func (g *gen) mode() event.AgentWorkMode {
	if g.rng.IntN(3) == 0 {
		return 0
	}
	return event.AgentWorkMode(g.rng.IntN(10)) // includes undefined 0 and valid 1..9 (9: LegalGuard)
}

func (g *gen) request() Request {
	var r Request
	if g.rng.IntN(2) == 0 {
		r.ReferenceID = int64(g.rng.IntN(1000))
	}
	if g.rng.IntN(4) == 0 {
		r.Reasons = event.KV{event.S("ReasonCode", g.pick([]string{"Lunch", "Break", "Meeting"}))}
	}
	return r
}

func (g *gen) command(e *Engine) Command {
	req := g.request()
	switch n := g.rng.IntN(100); {
	case n < 18:
		return Login{Request: req, DN: g.dn(), AgentID: g.pick(propAgents), Queues: g.queues(), WorkMode: g.mode()}
	case n < 28:
		return Logout{Request: req, DN: g.busyDN(e), Queues: g.queues()}
	case n < 43:
		return Ready{Request: req, DN: g.busyDN(e), WorkMode: g.mode()}
	case n < 58:
		nr := NotReady{Request: req, DN: g.busyDN(e), WorkMode: g.mode()}
		if g.rng.IntN(3) == 0 {
			nr.WorkMode = event.WorkModeAfterCallWork
			switch g.rng.IntN(3) {
			case 0:
				nr.Extensions = event.KV{event.I("WrapUpTime", int64(g.rng.IntN(20)))}
			case 1:
				nr.Extensions = event.KV{event.S("WrapUpTime", "untimed")}
			}
		}
		return nr
	case n < 63:
		return SetDND{Request: req, DN: g.dn(), On: g.rng.IntN(2) == 0}
	case n < 67:
		return SetForward{Request: req, DN: g.dn(), To: g.pick([]string{"1001", "1002", "7000", "+331234", "pstn", "x"}), Mode: ForwardMode(g.rng.IntN(5))}
	case n < 69:
		return CancelForward{Request: req, DN: g.dn()}
	case n < 74:
		return MonitorNextCall{Request: req, Supervisor: g.dn(), Target: g.busyDN(e), Type: event.MonitorNextCallType(g.rng.IntN(3))}
	case n < 77:
		return CancelMonitoring{Request: req, Supervisor: g.dn()}
	case n < 81:
		return Hook{Request: req, DN: g.dn(), OffHook: g.rng.IntN(2) == 0}
	case n < 86:
		return SetService{Request: req, DN: g.dn(), InService: g.rng.IntN(3) != 0}
	case n < 89:
		return MessageWaiting{Request: req, DN: g.dn(), On: g.rng.IntN(2) == 0, New: g.rng.IntN(4) - 1, Old: g.rng.IntN(4)}
	case n < 90:
		return Mute{Request: req, DN: g.dn(), ConnID: "00000000000000a1", On: true}
	case n < 91:
		return Listen{Request: req, DN: g.dn(), ConnID: "00000000000000a1", Party: "1002"}
	default:
		if len(g.timers) > 0 {
			return TimerFired{ID: g.pick(g.timers)}
		}
		return TimerFired{ID: "acw/agent1/999"}
	}
}
