package event_test

import (
	"errors"
	"fmt"

	"github.com/switchboard-cc/switchboard/event"
)

// A consumer decodes a record value read from voice-callthread, skips event
// names it does not know, and reads the fields it needs.
func Example() {
	value := []byte(`{"id":"EventRinging","Server":"sb-node-1",` +
		`"time":{"seconds":1795599000,"useconds":3200},"CustomerID":"acme","Seq":5,"SchemaVersion":2,` +
		`"CallThreadID":"019ab9f2-6a4c-7e21-8b3d-5c0f9e8d7a61","ConnID":"019ab9f26a4c0001","CallID":1042,` +
		`"CallType":"Inbound","CallState":"Ok","ThisDN":"5001","ThisDNRole":"Destination",` +
		`"OtherDN":"+14155550123","ThisQueue":"8000","UserData":{"Segment":"Gold","Priority":5},` +
		`"AgentID":"alice","SomeFutureField":[1,2,3]}`)

	var ev event.Event
	if err := event.Unmarshal(value, &ev); err != nil {
		fmt.Println("bad record:", err)
		return
	}
	if ev.ID == 0 {
		return // an event this version of the package does not know
	}
	if err := ev.Validate(); err != nil {
		fmt.Println("invalid:", err)
	}
	seg, _ := ev.UserData.Get("Segment")
	fmt.Println(ev.ID, ev.ThisDN, ev.CallType, ev.CallState.Int(), seg.Str)
	fmt.Println(ev.Topic(), ev.Key(), ev.Seq)

	// Without ThisDN, the validation names the event and the field.
	ev.ThisDN = ""
	err := ev.Validate()
	fmt.Println(err, errors.Is(err, event.ErrMissingField))

	// Output:
	// EventRinging 5001 Inbound 0 Gold
	// voice-callthread acme:019ab9f2-6a4c-7e21-8b3d-5c0f9e8d7a61 5
	// event: EventRinging: missing ThisDN true
}

// A producer appends record values into a reused buffer.
func ExampleEvent_AppendJSON() {
	ev := event.Event{
		ID: event.EventAgentReady, Server: "sb-node-1", Time: event.TimeFromUnixMicro(1795599000000400),
		CustomerID: "acme", Seq: 2, SchemaVersion: event.SchemaVersion,
		ThisDN: "5001", AgentID: "alice", AgentWorkMode: event.WorkModeManualIn,
	}
	if err := ev.Validate(); err != nil {
		panic(err)
	}
	buf := ev.AppendJSON(nil)
	fmt.Println(string(buf))
	fmt.Println(ev.Key(), ev.Headers())
	// Output:
	// {"id":"EventAgentReady","Server":"sb-node-1","time":{"seconds":1795599000,"useconds":400},"CustomerID":"acme","Seq":2,"SchemaVersion":2,"ThisDN":"5001","AgentID":"alice","AgentWorkMode":"ManualIn"}
	// acme:alice [{event EventAgentReady} {tenant acme} {schema 2}]
}
