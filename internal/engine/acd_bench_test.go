package engine

import (
	"strconv"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/config"
)

// acdBenchEngine: n extensions with n agents (skill sales 50), all logged
// in to queue q1 and NotReady; a trunk; routing points rq (external
// router), rs (skill strategy: sales >= 40, fallback q1).
func acdBenchEngine(b *testing.B, n int) *Engine {
	b.Helper()
	t := config.Tenant{ID: "bench", Tokens: []string{"tok"}}
	t.DNs = append(t.DNs,
		config.DN{Number: "q1", Type: config.ACDQueue},
		config.DN{Number: "pstn", Type: config.Trunk, Trunk: &config.TrunkSettings{}},
		config.DN{Number: "rq", Type: config.RoutingPoint, Routing: &config.Routing{}},
		config.DN{Number: "rs", Type: config.RoutingPoint, Routing: &config.Routing{Strategy: &config.Strategy{
			Type: config.StrategySkill, Skill: "sales", MinLevel: 40, Fallback: "q1"}}},
	)
	for i := 0; i < n; i++ {
		t.DNs = append(t.DNs, config.DN{Number: strconv.Itoa(100000 + i), Type: config.Extension})
		t.Agents = append(t.Agents, config.Agent{ID: "a" + strconv.Itoa(i), Skills: map[string]int{"sales": 50}})
	}
	e, err := New(&t, Options{Server: "node1"})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		mustStep(b, e, Login{DN: strconv.Itoa(100000 + i), AgentID: "a" + strconv.Itoa(i), Queues: []string{"q1"}})
	}
	return e
}

var benchAt = int64(1_767_225_600_000_000)

func mustStep(b *testing.B, e *Engine, c Command) Result {
	benchAt++
	r, err := e.Step(benchAt, c)
	if err != nil {
		b.Fatalf("%#v: %v", c, err)
	}
	return r
}

// BenchmarkDistribution: 10,000 agents logged in to one queue, 1,000
// calls waiting. Each iteration an agent becomes Ready and gets the
// oldest call in the same step (EventAgentReady, Diverted, Ringing): the
// timed part is that one step, distribution decision included. Outside
// the timer the agent goes NotReady, the call is abandoned and a new one
// queued, so 1,000 calls always wait.
func BenchmarkDistribution(b *testing.B) {
	const agents, waiting = 10_000, 1_000
	e := acdBenchEngine(b, agents)
	for i := 0; i < waiting; i++ {
		mustStep(b, e, NetworkCall{Trunk: "pstn", ANI: "+331", DNIS: "q1"})
	}
	q := e.dns["q1"].q
	if q.waiting != waiting {
		b.Fatalf("%d waiting", q.waiting)
	}
	b.ResetTimer() // no ReportAllocs: with it Start/StopTimer read memory stats, which costs more than the step
	for i := 0; i < b.N; i++ {
		dn := strconv.Itoa(100000 + i%agents)
		benchAt++
		res, err := e.Step(benchAt, Ready{DN: dn})
		if err != nil || len(res.Events) != 3 {
			b.Fatalf("ready: %v, %d events", err, len(res.Events))
		}
		b.StopTimer()
		conn := res.Events[1].ConnID
		mustStep(b, e, NotReady{DN: dn})
		mustStep(b, e, NetworkRelease{ConnID: conn})
		mustStep(b, e, NetworkCall{Trunk: "pstn", ANI: "+331", DNIS: "q1"})
		b.StartTimer()
	}
	b.StopTimer()
	if q.waiting != waiting {
		b.Fatalf("%d waiting at the end", q.waiting)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/decision-step")
}

// BenchmarkDistributionDecision times the decision alone in the same
// state (10,000 agents logged in, 1,000 calls waiting): an agent becoming
// available is placed in the queue's ready list and the oldest call of
// its queues is found; then it is taken out again.
func BenchmarkDistributionDecision(b *testing.B) {
	const agents, waiting = 10_000, 1_000
	e := acdBenchEngine(b, agents)
	for i := 0; i < waiting; i++ {
		mustStep(b, e, NetworkCall{Trunk: "pstn", ANI: "+331", DNIS: "q1"})
	}
	as := e.agList
	b.ReportAllocs()
	b.ResetTimer()
	var found int
	for i := 0; i < b.N; i++ {
		a := as[i%agents]
		a.state = AgentReady
		e.refresh(a) // joins the ready lists
		if p := oldestFor(a); p != nil && e.dns["q1"].q.readyHead.a == a {
			found++
		}
		a.state = AgentNotReady
		e.refresh(a) // leaves them
		e.pending = e.pending[:0]
	}
	if found != b.N {
		b.Fatalf("decided %d of %d", found, b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/decision")
}

// BenchmarkRouteCall: a router's decisions per second. Each iteration a
// call waiting at routing point rq (10,000 agents logged in, 1,000 calls
// in q1) is routed to q1 (RouteUsed, Queued), timed; outside the timer
// it is abandoned and a new call arrives at rq.
func BenchmarkRouteCall(b *testing.B) {
	e := acdBenchEngine(b, 10_000)
	for i := 0; i < 1000; i++ {
		mustStep(b, e, NetworkCall{Trunk: "pstn", ANI: "+331", DNIS: "q1"})
	}
	conn := mustStep(b, e, NetworkCall{Trunk: "pstn", ANI: "+332", DNIS: "rq"}).Reply.(CallReply).ConnID
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchAt++
		if _, err := e.Step(benchAt, RouteCall{ConnID: conn, RoutingPoint: "rq", To: "q1"}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		mustStep(b, e, NetworkRelease{ConnID: conn})
		conn = mustStep(b, e, NetworkCall{Trunk: "pstn", ANI: "+332", DNIS: "rq"}).Reply.(CallReply).ConnID
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "routes/s")
}

// BenchmarkSkillStrategy: calls arriving at routing point rs, whose
// built-in skill strategy sends each to the longest-idle agent with sales
// >= 40 among 10,000 available agents (RouteRequest, RouteUsed, Ringing in
// one step, timed); outside the timer the call is abandoned and the
// agent is available again (at the end of the list).
func BenchmarkSkillStrategy(b *testing.B) {
	const agents = 10_000
	e := acdBenchEngine(b, agents)
	for i := 0; i < agents; i++ {
		mustStep(b, e, Ready{DN: strconv.Itoa(100000 + i)})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchAt++
		res, err := e.Step(benchAt, NetworkCall{Trunk: "pstn", ANI: "+333", DNIS: "rs"})
		if err != nil || len(res.Events) != 3 {
			b.Fatalf("%v, %d events", err, len(res.Events))
		}
		b.StopTimer()
		mustStep(b, e, NetworkRelease{ConnID: res.Reply.(CallReply).ConnID})
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "routes/s")
}
