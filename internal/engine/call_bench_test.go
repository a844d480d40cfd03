package engine

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/config"
)

// callTenant is a tenant of n extensions (200000, 200001, ...), n agents
// and a trunk.
func callTenant(n int) *config.Tenant {
	t := &config.Tenant{ID: "bench", Tokens: []string{"tok"}}
	for i := 0; i < n; i++ {
		t.DNs = append(t.DNs, config.DN{Number: strconv.Itoa(200000 + i), Type: config.Extension})
		t.Agents = append(t.Agents, config.Agent{ID: "a" + strconv.Itoa(i)})
	}
	t.DNs = append(t.DNs, config.DN{Number: "pstn", Type: config.Trunk, Trunk: &config.TrunkSettings{}})
	return t
}

// BenchmarkBasicCall: one op is a full basic call, A dials B, B rings,
// answers, A hangs up (MakeCall, Answer, Release: 3 steps, 10 events with
// OffHook/OnHook), over 1,000 pairs of extensions with agents logged in.
// calls/cpu-s is the rate of one fully used core. /scratch steps with
// StepScratch, as the tenant runtime does.
func BenchmarkBasicCall(b *testing.B) {
	b.Run("step", func(b *testing.B) { benchBasicCall(b, (*Engine).Step) })
	b.Run("scratch", func(b *testing.B) { benchBasicCall(b, (*Engine).StepScratch) })
}

func benchBasicCall(b *testing.B, step func(*Engine, int64, Command) (Result, error)) {
	const pairs = 1000
	e, err := New(callTenant(2*pairs), Options{Server: "node1"})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 2*pairs; i++ {
		if _, err := e.Step(1, Login{DN: strconv.Itoa(200000 + i), AgentID: "a" + strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
	from := make([]string, pairs)
	to := make([]string, pairs)
	for i := range from {
		from[i], to[i] = strconv.Itoa(200000+2*i), strconv.Itoa(200001+2*i)
	}
	at := int64(1_767_225_600_000_000)
	events := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		j := i % pairs
		at++
		res, err := step(e, at, MakeCall{From: from[j], To: to[j]})
		if err != nil {
			b.Fatal(err)
		}
		conn := res.Reply.(CallReply).ConnID
		events += len(res.Events)
		res, err = step(e, at, Answer{ConnID: conn, DN: to[j]})
		if err != nil {
			b.Fatal(err)
		}
		events += len(res.Events)
		res, err = step(e, at, Release{ConnID: conn, DN: from[j]})
		if err != nil {
			b.Fatal(err)
		}
		events += len(res.Events)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "calls/cpu-s")
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/call")
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPerCall measures the heap an active, answered two-party
// call between two extensions with agents logged in holds (call, parties,
// thread, ids, the map entry and the DNs' call lists), over 10,000 calls:
// B/call. Goal: at most 4 KB.
func BenchmarkMemoryPerCall(b *testing.B) {
	const calls = 10_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, err := New(callTenant(2*calls), Options{Server: "node1"})
		if err != nil {
			b.Fatal(err)
		}
		for k := 0; k < 2*calls; k++ {
			if _, err := e.Step(1, Login{DN: strconv.Itoa(200000 + k), AgentID: "a" + strconv.Itoa(k)}); err != nil {
				b.Fatal(err)
			}
		}
		// Warm the DNs' call lists and the map to their steady size, so
		// the figure is what calls hold, not one-off growth.
		conns := make([]string, calls)
		before := heapAlloc()
		b.StartTimer()
		for k := 0; k < calls; k++ {
			a, bb := strconv.Itoa(200000+2*k), strconv.Itoa(200001+2*k)
			res, err := e.Step(2, MakeCall{From: a, To: bb})
			if err != nil {
				b.Fatal(err)
			}
			conns[k] = res.Reply.(CallReply).ConnID
			if _, err := e.Step(3, Answer{ConnID: conns[k], DN: bb}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		after := heapAlloc()
		if len(e.calls) != calls {
			b.Fatalf("%d calls", len(e.calls))
		}
		b.ReportMetric(float64(int64(after)-int64(before))/calls, "B/call")
		runtime.KeepAlive(e)
		runtime.KeepAlive(conns)
	}
}

// BenchmarkMemoryPerAgent measures the heap one configured extension with
// an idle logged-in agent (DN state, agent state, map entries, the login)
// holds, over 10,000 of them: B/agent. Goal: at most 1 KB. The tenant
// configuration itself (owned by the caller) is built before measuring.
func BenchmarkMemoryPerAgent(b *testing.B) {
	const agents = 10_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		t := callTenant(agents)
		logins := make([]Command, agents)
		for k := range logins {
			logins[k] = Login{DN: strconv.Itoa(200000 + k), AgentID: "a" + strconv.Itoa(k), Queues: nil}
		}
		before := heapAlloc()
		b.StartTimer()
		e, err := New(t, Options{Server: "node1"})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range logins {
			if _, err := e.Step(1, c); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		after := heapAlloc()
		b.ReportMetric(float64(int64(after)-int64(before))/agents, "B/agent")
		runtime.KeepAlive(e)
		runtime.KeepAlive(t)
		runtime.KeepAlive(logins)
	}
}
