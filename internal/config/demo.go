package config

import (
	"strconv"
	"time"
)

// DemoTenant is the id of the built-in demo tenant.
const DemoTenant = "demo"

// Demo returns the built-in demo configuration that serve runs without
// --config (documented in the README): tenant "demo" with API token
// token; extensions 1001-1020 and the supervisor extension 1100, all with
// SIP password sipPassword; ACD queues 7000 (sales, no after-call work) and
// 7001 (support, 10 s of after-call work); routing point 5000, which waits
// for an external router (route timeout 10 s, then default destination 7000;
// treatment after 5 s); routing point 5001, which routes by the built-in
// queue strategy to 7001; trunk "pstn"; SIP callers answered when queued,
// hearing synthesised music (Media); agents agent1-agent20 and supervisor
// super1. The caller chooses token (SWITCHBOARD_DEMO_TOKEN or random) and
// should Validate the result (an empty token is refused).
func Demo(token, sipPassword string) *File {
	t := Tenant{
		ID:       DemoTenant,
		Tokens:   []string{token},
		Defaults: Defaults{SIPPassword: sipPassword},
	}
	for i := 1001; i <= 1020; i++ {
		t.DNs = append(t.DNs, DN{Number: strconv.Itoa(i), Type: Extension})
	}
	t.DNs = append(t.DNs,
		DN{Number: "1100", Type: Extension, Name: "supervisor"},
		DN{Number: "7000", Type: ACDQueue, Name: "sales", Queue: &Queue{WrapUpTime: WrapUpNone()}},
		DN{Number: "7001", Type: ACDQueue, Name: "support", Queue: &Queue{WrapUpTime: WrapUpTime(10 * time.Second)}},
		DN{Number: "5000", Type: RoutingPoint, Name: "external router", Routing: &Routing{
			RouteTimeout:       D(10 * time.Second),
			DefaultDestination: "7000",
			TreatmentAfter:     D(5 * time.Second),
		}},
		DN{Number: "5001", Type: RoutingPoint, Name: "to support", Routing: &Routing{
			Strategy: &Strategy{Type: StrategyQueue, Queue: "7001"},
		}},
		DN{Number: "pstn", Type: Trunk, Name: "public network", Trunk: &TrunkSettings{}},
	)
	for i := 1; i <= 20; i++ {
		t.Agents = append(t.Agents, Agent{ID: "agent" + strconv.Itoa(i)})
	}
	t.Supervisors = []Supervisor{{Agent: Agent{ID: "super1", Name: "Supervisor"}}}
	// SIP callers are answered when their call is queued and hear
	// switchboard's own synthesised music; the "welcome" announcement is
	// its chime.
	t.Media = &Media{AnswerOn: "arrival", DefaultMusic: DemoMusic,
		Announcements: map[string]string{"welcome": DemoAnnouncement}}
	return &File{Tenants: []Tenant{t}}
}
