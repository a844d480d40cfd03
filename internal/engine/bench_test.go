package engine

import (
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

// benchEngine is a tenant of n extensions with n agents, each logged in to
// one queue on its own extension.
func benchEngine(b *testing.B, n int) *Engine {
	b.Helper()
	t := config.Tenant{ID: "bench", Tokens: []string{"tok"}}
	t.DNs = append(t.DNs, config.DN{Number: "q1", Type: config.ACDQueue})
	for i := 0; i < n; i++ {
		t.DNs = append(t.DNs, config.DN{Number: strconv.Itoa(100000 + i), Type: config.Extension})
		t.Agents = append(t.Agents, config.Agent{ID: "a" + strconv.Itoa(i)})
	}
	e, err := New(&t, Options{Server: "node1"})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := e.Step(1, Login{DN: strconv.Itoa(100000 + i), AgentID: "a" + strconv.Itoa(i), Queues: []string{"q1"}}); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// BenchmarkAgentStateSteps toggles Ready / NotReady across 10,000 agents:
// one engine step and one event each.
func BenchmarkAgentStateSteps(b *testing.B) {
	const agents = 10_000
	e := benchEngine(b, agents)
	cmds := make([]Command, 0, 2*agents)
	reasons := event.KV{event.S("ReasonCode", "Break")}
	for i := 0; i < agents; i++ {
		dn := strconv.Itoa(100000 + i)
		cmds = append(cmds, Ready{DN: dn, Request: Request{ReferenceID: int64(i)}})
	}
	for i := 0; i < agents; i++ {
		dn := strconv.Itoa(100000 + i)
		cmds = append(cmds, NotReady{DN: dn, Request: Request{ReferenceID: int64(i), Reasons: reasons}})
	}
	at := int64(1_767_225_600_000_000)
	events := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		at++
		res, err := e.Step(at, cmds[i%len(cmds)])
		if err != nil {
			b.Fatal(err)
		}
		events += len(res.Events)
	}
	b.StopTimer()
	reportRates(b, cpuTime()-cpu0)
	if events != b.N {
		b.Fatalf("%d events for %d steps", events, b.N)
	}
}

// BenchmarkLoginLogout logs agents in to a queue and out again (one event a
// step).
func BenchmarkLoginLogout(b *testing.B) {
	const agents = 1000
	e := benchEngine(b, agents)
	for i := 0; i < agents; i++ {
		if _, err := e.Step(2, Logout{DN: strconv.Itoa(100000 + i)}); err != nil {
			b.Fatal(err)
		}
	}
	logins := make([]Command, agents)
	logouts := make([]Command, agents)
	for i := range logins {
		dn := strconv.Itoa(100000 + i)
		logins[i] = Login{DN: dn, AgentID: "a" + strconv.Itoa(i), Queues: []string{"q1"}}
		logouts[i] = Logout{DN: dn}
	}
	at := int64(1_767_225_600_000_000)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		at++
		j := i / 2 % agents
		c := logins[j]
		if i%2 == 1 {
			c = logouts[j]
		}
		if _, err := e.Step(at, c); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRates(b, cpuTime()-cpu0)
}

// reportRates reports steps per second of wall time and, where the
// platform tells, per second of this process's CPU time (steps/cpu-s: the
// rate of one fully used core, whatever else the machine runs).
func reportRates(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "steps/cpu-s")
	}
}

// BenchmarkStepOverhead is what every step costs besides its handler's
// work: a TimerFired for a timer that does not exist, which Step
// dispatches and its handler ignores (no events, no error).
func BenchmarkStepOverhead(b *testing.B) {
	e := benchEngine(b, 1)
	cmd := Command(TimerFired{ID: "acw/none/1"})
	at := int64(1_767_225_600_000_000)
	b.ReportAllocs()
	for b.Loop() {
		at++
		if _, err := e.Step(at, cmd); err != nil {
			b.Fatal(err)
		}
	}
}
