package engine

import (
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

// TestRONAPolicyPrecedence: the RONA policy is the agent's, else the
// queue's, else the tenant default (EVENTS.md 5.16); the goldens cover the
// queue's and the agent's with a not-ready default, this the default.
func TestRONAPolicyPrecedence(t *testing.T) {
	cases := []struct {
		tenant, queue, agent string
		want                 event.Name // the agent's event after the Diverted, or 0 for none
	}{
		{"", "", "", event.EventAgentNotReady},
		{config.RONALogout, "", "", event.EventAgentLogout},
		{config.RONANone, "", "", 0},
		{config.RONALogout, config.RONANotReady, "", event.EventAgentNotReady},
		{config.RONANone, config.RONALogout, "", event.EventAgentLogout},
		{config.RONALogout, config.RONALogout, config.RONANone, 0},
		{config.RONANone, config.RONANone, config.RONANotReady, event.EventAgentNotReady},
	}
	for _, tc := range cases {
		t.Run(tc.tenant+"/"+tc.queue+"/"+tc.agent, func(t *testing.T) {
			tn := &config.Tenant{ID: "r", Tokens: []string{"t"}}
			tn.Defaults.NoAnswerTimeout = config.D(10 * time.Second)
			tn.Defaults.RONA = tc.tenant
			tn.DNs = []config.DN{
				{Number: "101", Type: config.Extension},
				{Number: "q", Type: config.ACDQueue, Queue: &config.Queue{RONA: tc.queue}},
				{Number: "pstn", Type: config.Trunk, Trunk: &config.TrunkSettings{}},
			}
			tn.Agents = []config.Agent{{ID: "a", RONA: tc.agent}}
			e, err := New(tn, Options{Server: "n"})
			if err != nil {
				t.Fatal(err)
			}
			at := goldenStart
			step := func(c Command) Result {
				t.Helper()
				at += 1000
				r, err := e.Step(at, c)
				if err != nil {
					t.Fatalf("%s: %v", c.Kind(), err)
				}
				return r
			}
			step(Login{DN: "101", AgentID: "a", Queues: []string{"q"}})
			step(Ready{DN: "101"})
			conn := step(NetworkCall{Trunk: "pstn", ANI: "+331", DNIS: "q"}).Reply.(CallReply).ConnID
			evs := step(NoAnswer{ConnID: conn, DN: "101"}).Events
			if len(evs) < 2 || evs[0].ID != event.EventDiverted {
				t.Fatalf("want Diverted first, got %v", names(evs))
			}
			switch {
			case tc.want == 0:
				// Stays Ready: the call is queued again and offered to it
				// at once (the only agent).
				if evs[1].ID != event.EventQueued || evs[len(evs)-1].ID != event.EventRinging {
					t.Fatalf("policy none: got %v", names(evs))
				}
			case evs[1].ID != tc.want || !noAnswerReason(evs[1].Reasons):
				t.Fatalf("got %v %v, want %s with ReasonCode NoAnswer", names(evs), evs[1].Reasons, tc.want)
			}
		})
	}
}

func noAnswerReason(kv event.KV) bool {
	p, ok := kv.Get("ReasonCode")
	return ok && p.Kind == event.KindString && p.Str == "NoAnswer"
}

func names(evs []event.Event) []string {
	var s []string
	for _, e := range evs {
		s = append(s, e.ID.String())
	}
	return s
}
