package event

import "testing"

func TestKey(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"agent event keyed by agent",
			Event{ID: EventAgentReady, CustomerID: "acme", ThisDN: "5001", AgentID: "alice"}, "acme:alice"},
		{"DN event with an agent logged in",
			Event{ID: EventDNDOn, CustomerID: "acme", ThisDN: "5002", AgentID: "bob"}, "acme:bob"},
		{"DN event on a DN without agent keyed by DN",
			Event{ID: EventDNOutOfService, CustomerID: "acme", ThisDN: "5003"}, "acme:5003"},
		{"OffHook without agent",
			Event{ID: EventOffHook, CustomerID: "t-9", ThisDN: "5010", ConnID: gConn1}, "t-9:5010"},
		{"call event keyed by call thread, not agent",
			Event{ID: EventRinging, CustomerID: "acme", CallThreadID: gThread, ThisDN: "5001", AgentID: "alice"},
			"acme:" + gThread},
		{"routing event keyed by call thread",
			Event{ID: EventRouteUsed, CustomerID: "acme", CallThreadID: gThread, ThisDN: "7000"}, "acme:" + gThread},
		{"treatment event keyed by call thread",
			Event{ID: EventTreatmentNotApplied, CustomerID: "acme", CallThreadID: gThread}, "acme:" + gThread},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Key(); got != tt.want {
				t.Errorf("Key() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestGoldenKeysAndTopics checks every golden event's topic against the
// tables of section 4 (first 21 agentstate, then 21 callthread) and its key
// against the rule for its topic.
func TestGoldenKeysAndTopics(t *testing.T) {
	agent, callthread := 0, 0
	for _, n := range Names() {
		e := goldenEvents[n]()
		var want string
		switch e.Topic() {
		case AgentStateTopic:
			agent++
			who := e.AgentID
			if who == "" {
				who = e.ThisDN
			}
			want = e.CustomerID + ":" + who
		case CallThreadTopic:
			callthread++
			want = e.CustomerID + ":" + e.CallThreadID
		default:
			t.Fatalf("%v: topic %q", n, e.Topic())
		}
		if got := e.Key(); got != want {
			t.Errorf("%v: Key() = %q, want %q", n, got, want)
		}
	}
	if agent != 21 || callthread != 21 {
		t.Errorf("%d agentstate and %d callthread events, want 21 and 21", agent, callthread)
	}
	if EventMessageWaitingOff.Topic() != AgentStateTopic || EventDialing.Topic() != CallThreadTopic {
		t.Errorf("the topic boundary is not between MessageWaitingOff and Dialing")
	}
	if Name(0).Topic() != "" || Name(numNames+1).Topic() != "" {
		t.Errorf("an unknown name has a topic")
	}
}

func TestHeaders(t *testing.T) {
	e := goldenEvents[EventEstablished]()
	h := e.Headers()
	want := [3]Header{{"event", "EventEstablished"}, {"tenant", "acme"}, {"schema", "2"}}
	if h != want {
		t.Errorf("Headers() = %v, want %v", h, want)
	}
	e.SchemaVersion = 0 // not yet set: the schema of this package
	if got := e.Headers()[2].Value; got != "2" {
		t.Errorf("schema header of SchemaVersion 0 = %q, want 2", got)
	}
	e.SchemaVersion = 1 // an older record: its own version
	if got := e.Headers()[2].Value; got != "1" {
		t.Errorf("schema header of SchemaVersion 1 = %q, want 1", got)
	}
	for _, n := range Names() {
		e := goldenEvents[n]()
		if got := e.Headers()[0].Value; got != n.String() {
			t.Errorf("%v: event header %q", n, got)
		}
	}
}
