package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

// TestCallsEndToEnd drives the call flows of EVENTS.md section 5 (5.1,
// 5.2, 5.3, 5.4, 5.6, 5.7, 5.8 transfer and conference, 5.13, 5.14
// service observing, 5.15 external consultation and transfer) through the
// CTI API and the network-side API of a running serve, reads the events
// back from Kafka and compares them per record key (names, order, main
// fields), pipes every record through the independent checker, and checks
// the WebSocket stream carried exactly the same records. Then the
// refusals: each gets its status and nothing reaches Kafka or the stream.
func TestCallsEndToEnd(t *testing.T) {
	t.Run(kafkatest.NameEmbedded, func(t *testing.T) {
		callsE2E(t, nil, "")
	})
	if real := kafkatest.RealKafka(t); real != nil {
		t.Run(kafkatest.NameReal, func(t *testing.T) {
			callsE2E(t, real.Brokers, kafkatest.UniqueTopicPrefix(t))
		})
	}
}

// callFlow drives requests and accumulates the events they must cause,
// each under its record key.
type callFlow struct {
	t      *testing.T
	r      *running
	conns  map[string]string // ConnID -> alias c1, c2, ...
	ids    map[string]string // alias -> ConnID
	thread map[string]string // alias -> CallThreadID
	expect []want
}

func (f *callFlow) alias(conn string) string {
	if a, ok := f.conns[conn]; ok {
		return a
	}
	return conn
}

// fill replaces $cN by the ConnID named cN.
func (f *callFlow) fill(s string) string {
	for a, conn := range f.ids {
		s = strings.ReplaceAll(s, "$"+a+"/", conn+"/")
		s = strings.ReplaceAll(s, `"$`+a+`"`, `"`+conn+`"`)
		if strings.HasSuffix(s, "$"+a) {
			s = strings.TrimSuffix(s, "$"+a) + conn
		}
	}
	return s
}

// key is the record key of call alias's thread.
func (f *callFlow) key(alias string) string { return "demo:" + f.thread[alias] }

// create sends a request that creates a call, names it, and returns its
// alias; the expected events are given with the key "T" standing for the
// new call's thread.
func (f *callFlow) create(path, body string, want ...want) string {
	f.t.Helper()
	status, out := f.r.post(f.t, "POST", f.fill("/v1/tenants/demo"+path), f.fill(body))
	if status != http.StatusCreated {
		f.t.Fatalf("POST %s: %d %s, want 201", path, status, out)
	}
	var cr struct{ ConnID, CallThreadID string }
	if err := json.Unmarshal([]byte(out), &cr); err != nil || cr.ConnID == "" || cr.CallThreadID == "" {
		f.t.Fatalf("POST %s: reply %s", path, out)
	}
	a := fmt.Sprintf("c%d", len(f.conns)+1)
	f.conns[cr.ConnID], f.ids[a], f.thread[a] = a, cr.ConnID, cr.CallThreadID
	for _, w := range want {
		if w.key == "T" {
			w.key = "demo:" + cr.CallThreadID
		}
		f.expect = append(f.expect, w)
	}
	return a
}

// step sends a request that must succeed (200) and cause the events want.
func (f *callFlow) step(method, path, body string, want ...want) {
	f.t.Helper()
	status, out := f.r.post(f.t, method, f.fill("/v1/tenants/demo"+path), f.fill(body))
	if status != http.StatusOK {
		f.t.Fatalf("%s %s %s: %d %s", method, path, body, status, out)
	}
	f.expect = append(f.expect, want...)
}

// callSummary renders the main fields of an event, ConnIDs by alias.
func (f *callFlow) callSummary(ev *event.Event) string {
	s := ev.ID.String() + " " + ev.ThisDN
	add := func(k, v string) {
		if v != "" {
			s += " " + k + "=" + v
		}
	}
	if ev.Topic() == event.CallThreadTopic || ev.ID == event.EventMuteOn || ev.ID == event.EventMuteOff {
		add("conn", f.alias(ev.ConnID))
	}
	add("prev", f.alias(ev.PreviousConnID))
	add("type", ev.CallType.String())
	add("state", ev.CallState.String())
	if ev.ID != event.EventReleased {
		add("other", ev.OtherDN)
	}
	if ev.ID == event.EventRinging || ev.ID == event.EventEstablished || ev.ID == event.EventNetworkReached {
		add("trunk", ev.OtherTrunk)
	}
	add("third", ev.ThirdPartyDN)
	add("thirdRole", ev.ThirdPartyDNRole.String())
	add("agent", ev.AgentID)
	if ev.ReferenceID != 0 {
		add("ref", fmt.Sprint(ev.ReferenceID))
	}
	if len(ev.UserData) > 0 {
		b, _ := ev.UserData.MarshalJSON()
		add("ud", string(b))
	}
	return s
}

func callsE2E(t *testing.T, brokers []string, prefix string) {
	r := startMain(t, brokers, prefix)
	ws := dialEvents(t, r)
	f := &callFlow{t: t, r: r, conns: map[string]string{}, ids: map[string]string{}, thread: map[string]string{}}
	a1, a2, a3 := "demo:agent1", "demo:agent2", "demo:agent3"
	for i, dn := range []string{"1001", "1002", "1003"} {
		n := fmt.Sprint(i + 1)
		f.step("POST", "/dns/"+dn+"/login", `{"agentId":"agent`+n+`"}`,
			want{"demo:agent" + n, "EventAgentLogin " + dn + " agent=agent" + n})
	}

	// 5.1 internal call: 1001 calls 1002, 1002 answers, 1001 hangs up.
	T := "T"
	c1 := f.create("/calls", `{"from":"1001","to":"1002","userData":{"Order":42},"referenceId":11}`,
		want{a1, "EventOffHook 1001 agent=agent1 ref=11"},
		want{T, `EventDialing 1001 conn=c1 type=Internal other=1002 agent=agent1 ref=11 ud={"Order":42}`},
		want{T, `EventRinging 1002 conn=c1 type=Internal state=Ok other=1001 agent=agent2 ref=11 ud={"Order":42}`})
	k := f.key(c1)
	f.step("POST", "/calls/$c1/answer", `{"dn":"1002","referenceId":12}`,
		want{a2, "EventOffHook 1002 agent=agent2 ref=12"},
		want{k, `EventEstablished 1002 conn=c1 type=Internal state=Ok other=1001 agent=agent2 ref=12 ud={"Order":42}`},
		want{k, `EventEstablished 1001 conn=c1 type=Internal state=Ok other=1002 agent=agent1 ref=12 ud={"Order":42}`})
	f.step("POST", "/calls/$c1/release", `{"dn":"1001","referenceId":13}`,
		want{k, `EventReleased 1001 conn=c1 type=Internal state=Ok agent=agent1 ref=13 ud={"Order":42}`},
		want{k, `EventReleased 1002 conn=c1 type=Internal state=Ok agent=agent2 ref=13 ud={"Order":42}`},
		want{a1, "EventOnHook 1001 agent=agent1 ref=13"},
		want{a2, "EventOnHook 1002 agent=agent2 ref=13"})

	// 5.2 inbound: from the network to 1002; the caller hangs up.
	c2 := f.create("/network/calls", `{"trunk":"pstn","ani":"+33123456789","dnis":"1002"}`,
		want{T, "EventRinging 1002 conn=c2 type=Inbound state=Ok other=+33123456789 trunk=pstn agent=agent2"})
	k = f.key(c2)
	f.step("POST", "/calls/$c2/answer", `{"dn":"1002"}`,
		want{a2, "EventOffHook 1002 agent=agent2"},
		want{k, "EventEstablished 1002 conn=c2 type=Inbound state=Ok other=+33123456789 trunk=pstn agent=agent2"})
	f.step("POST", "/network/calls/$c2/release", ``,
		want{k, "EventReleased 1002 conn=c2 type=Inbound state=Ok agent=agent2"},
		want{a2, "EventOnHook 1002 agent=agent2"})

	// 5.3 outbound: 1001 dials an external number, which answers.
	c3 := f.create("/calls", `{"from":"1001","to":"+4930123456"}`,
		want{a1, "EventOffHook 1001 agent=agent1"},
		want{T, "EventDialing 1001 conn=c3 type=Outbound other=+4930123456 agent=agent1"},
		want{T, "EventNetworkReached 1001 conn=c3 type=Outbound other=+4930123456 trunk=pstn agent=agent1"})
	k = f.key(c3)
	f.step("POST", "/network/calls/$c3/answer", ``,
		want{k, "EventEstablished 1001 conn=c3 type=Outbound state=Ok other=+4930123456 trunk=pstn agent=agent1"})
	f.step("POST", "/calls/$c3/release", `{"dn":"1001"}`,
		want{k, "EventReleased 1001 conn=c3 type=Outbound state=Ok agent=agent1"},
		want{a1, "EventOnHook 1001 agent=agent1"})

	// 5.4 busy: 1003 is on DND; 1001 calls it and hangs up.
	f.step("POST", "/dns/1003/dnd", `{"on":true}`, want{a3, "EventDNDOn 1003 agent=agent3"})
	c4 := f.create("/calls", `{"from":"1001","to":"1003"}`,
		want{a1, "EventOffHook 1001 agent=agent1"},
		want{T, "EventDialing 1001 conn=c4 type=Internal other=1003 agent=agent1"},
		want{T, "EventDestinationBusy 1001 conn=c4 type=Internal state=Busy other=1003 agent=agent1"})
	k = f.key(c4)
	f.step("POST", "/calls/$c4/release", `{"dn":"1001"}`,
		want{k, "EventReleased 1001 conn=c4 type=Internal state=Busy agent=agent1"},
		want{a1, "EventOnHook 1001 agent=agent1"})
	f.step("POST", "/dns/1003/dnd", `{"on":false}`, want{a3, "EventDNDOff 1003 agent=agent3"})

	// 5.6 hold and retrieve, then 5.7: 1002 transfers 1001 to 1003.
	c5 := f.create("/calls", `{"from":"1001","to":"1002"}`,
		want{a1, "EventOffHook 1001 agent=agent1"},
		want{T, "EventDialing 1001 conn=c5 type=Internal other=1002 agent=agent1"},
		want{T, "EventRinging 1002 conn=c5 type=Internal state=Ok other=1001 agent=agent2"})
	k = f.key(c5)
	f.step("POST", "/calls/$c5/answer", `{"dn":"1002"}`,
		want{a2, "EventOffHook 1002 agent=agent2"},
		want{k, "EventEstablished 1002 conn=c5 type=Internal state=Ok other=1001 agent=agent2"},
		want{k, "EventEstablished 1001 conn=c5 type=Internal state=Ok other=1002 agent=agent1"})
	f.step("POST", "/calls/$c5/hold", `{"dn":"1002"}`,
		want{k, "EventHeld 1002 conn=c5 type=Internal other=1001 agent=agent2"})
	f.step("POST", "/calls/$c5/retrieve", `{"dn":"1002"}`,
		want{k, "EventRetrieved 1002 conn=c5 type=Internal state=Ok other=1001 agent=agent2"})
	f.step("POST", "/calls/$c5/single-step-transfer", `{"dn":"1002","to":"1003","referenceId":57}`,
		want{k, "EventReleased 1002 conn=c5 type=Internal state=Transferred third=1003 agent=agent2 ref=57"},
		want{k, "EventPartyChanged 1001 conn=c5 prev=c5 type=Internal state=Transferred other=1003 third=1002 thirdRole=TransferredBy agent=agent1 ref=57"},
		want{k, "EventRinging 1003 conn=c5 type=Internal state=Ok other=1001 third=1002 thirdRole=TransferredBy agent=agent3 ref=57"},
		want{a2, "EventOnHook 1002 agent=agent2 ref=57"})
	f.step("POST", "/calls/$c5/answer", `{"dn":"1003"}`,
		want{a3, "EventOffHook 1003 agent=agent3"},
		want{k, "EventEstablished 1003 conn=c5 type=Internal state=Ok other=1001 agent=agent3"})
	f.step("POST", "/calls/$c5/release", `{"dn":"1003"}`,
		want{k, "EventReleased 1003 conn=c5 type=Internal state=Ok agent=agent3"},
		want{k, "EventReleased 1001 conn=c5 type=Internal state=Ok agent=agent1"},
		want{a3, "EventOnHook 1003 agent=agent3"},
		want{a1, "EventOnHook 1001 agent=agent1"})

	// 5.8 two-step transfer: 1002 consults 1003 (same thread), completes.
	c6 := f.create("/calls", `{"from":"1001","to":"1002"}`,
		want{a1, "EventOffHook 1001 agent=agent1"},
		want{T, "EventDialing 1001 conn=c6 type=Internal other=1002 agent=agent1"},
		want{T, "EventRinging 1002 conn=c6 type=Internal state=Ok other=1001 agent=agent2"})
	k = f.key(c6)
	f.step("POST", "/calls/$c6/answer", `{"dn":"1002"}`,
		want{a2, "EventOffHook 1002 agent=agent2"},
		want{k, "EventEstablished 1002 conn=c6 type=Internal state=Ok other=1001 agent=agent2"},
		want{k, "EventEstablished 1001 conn=c6 type=Internal state=Ok other=1002 agent=agent1"})
	c7 := f.create("/calls/$c6/initiate-transfer", `{"dn":"1002","to":"1003"}`,
		want{k, "EventHeld 1002 conn=c6 type=Internal other=1001 agent=agent2"},
		want{k, "EventDialing 1002 conn=c7 prev=c6 type=Consult other=1003 agent=agent2"},
		want{k, "EventRinging 1003 conn=c7 prev=c6 type=Consult state=Ok other=1002 agent=agent3"})
	if f.thread[c7] != f.thread[c6] {
		t.Errorf("the consultation call is in thread %s, the main call in %s", f.thread[c7], f.thread[c6])
	}
	f.step("POST", "/calls/$c7/answer", `{"dn":"1003"}`,
		want{a3, "EventOffHook 1003 agent=agent3"},
		want{k, "EventEstablished 1003 conn=c7 prev=c6 type=Consult state=Ok other=1002 agent=agent3"},
		want{k, "EventEstablished 1002 conn=c7 prev=c6 type=Consult state=Ok other=1003 agent=agent2"})
	f.step("POST", "/calls/$c6/complete-transfer", `{"dn":"1002","consultConnId":"$c7"}`,
		want{k, "EventReleased 1002 conn=c7 prev=c6 type=Consult state=Transferred agent=agent2"},
		want{k, "EventReleased 1002 conn=c6 type=Internal state=Transferred third=1003 agent=agent2"},
		want{k, "EventPartyChanged 1001 conn=c6 prev=c6 type=Internal state=Transferred other=1003 third=1002 thirdRole=TransferredBy agent=agent1"},
		want{k, "EventPartyChanged 1003 conn=c6 prev=c7 type=Internal state=Transferred other=1001 third=1002 thirdRole=TransferredBy agent=agent3"},
		want{a2, "EventOnHook 1002 agent=agent2"})
	f.step("POST", "/calls/$c6/release", `{"dn":"1001"}`,
		want{k, "EventReleased 1001 conn=c6 type=Internal state=Ok agent=agent1"},
		want{k, "EventReleased 1003 conn=c6 type=Internal state=Ok agent=agent3"},
		want{a1, "EventOnHook 1001 agent=agent1"},
		want{a3, "EventOnHook 1003 agent=agent3"})

	// 5.8 conference, then 5.13: 1003 hangs up, then 1004 added in one
	// step is removed by 1002.
	c8 := f.create("/calls", `{"from":"1001","to":"1002"}`,
		want{a1, "EventOffHook 1001 agent=agent1"},
		want{T, "EventDialing 1001 conn=c8 type=Internal other=1002 agent=agent1"},
		want{T, "EventRinging 1002 conn=c8 type=Internal state=Ok other=1001 agent=agent2"})
	k = f.key(c8)
	f.step("POST", "/calls/$c8/answer", `{"dn":"1002"}`,
		want{a2, "EventOffHook 1002 agent=agent2"},
		want{k, "EventEstablished 1002 conn=c8 type=Internal state=Ok other=1001 agent=agent2"},
		want{k, "EventEstablished 1001 conn=c8 type=Internal state=Ok other=1002 agent=agent1"})
	f.create("/calls/$c8/initiate-conference", `{"dn":"1002","to":"1003"}`,
		want{k, "EventHeld 1002 conn=c8 type=Internal other=1001 agent=agent2"},
		want{k, "EventDialing 1002 conn=c9 prev=c8 type=Consult other=1003 agent=agent2"},
		want{k, "EventRinging 1003 conn=c9 prev=c8 type=Consult state=Ok other=1002 agent=agent3"})
	f.step("POST", "/calls/$c9/answer", `{"dn":"1003"}`,
		want{a3, "EventOffHook 1003 agent=agent3"},
		want{k, "EventEstablished 1003 conn=c9 prev=c8 type=Consult state=Ok other=1002 agent=agent3"},
		want{k, "EventEstablished 1002 conn=c9 prev=c8 type=Consult state=Ok other=1003 agent=agent2"})
	f.step("POST", "/calls/$c8/complete-conference", `{"dn":"1002","consultConnId":"$c9"}`,
		want{k, "EventReleased 1002 conn=c9 prev=c8 type=Consult state=Conferenced agent=agent2"},
		want{k, "EventRetrieved 1002 conn=c8 type=Internal state=Ok other=1001 agent=agent2"},
		want{k, "EventPartyAdded 1002 conn=c8 type=Internal state=Conferenced other=1003 third=1002 thirdRole=AddedBy agent=agent2"},
		want{k, "EventPartyAdded 1001 conn=c8 type=Internal state=Conferenced other=1003 third=1002 thirdRole=AddedBy agent=agent1"},
		want{k, "EventPartyChanged 1003 conn=c8 prev=c9 type=Internal state=Conferenced third=1002 thirdRole=ConferencedBy agent=agent3"})
	f.step("POST", "/calls/$c8/release", `{"dn":"1003","referenceId":513}`,
		want{k, "EventReleased 1003 conn=c8 type=Internal state=Ok agent=agent3 ref=513"},
		want{k, "EventPartyDeleted 1001 conn=c8 type=Internal state=Ok other=1003 third=1003 thirdRole=DeletedBy agent=agent1 ref=513"},
		want{k, "EventPartyDeleted 1002 conn=c8 type=Internal state=Ok other=1003 third=1003 thirdRole=DeletedBy agent=agent2 ref=513"},
		want{a3, "EventOnHook 1003 agent=agent3 ref=513"})
	f.step("POST", "/calls/$c8/single-step-conference", `{"dn":"1001","to":"1004"}`,
		want{k, "EventPartyAdded 1001 conn=c8 type=Internal state=Conferenced other=1004 third=1001 thirdRole=AddedBy agent=agent1"},
		want{k, "EventPartyAdded 1002 conn=c8 type=Internal state=Conferenced other=1004 third=1001 thirdRole=AddedBy agent=agent2"},
		want{k, "EventRinging 1004 conn=c8 type=Internal state=Ok other=1001 third=1001 thirdRole=AddedBy"})
	f.step("POST", "/calls/$c8/answer", `{"dn":"1004"}`,
		want{"demo:1004", "EventOffHook 1004"},
		want{k, "EventEstablished 1004 conn=c8 type=Internal state=Ok other=1001"})
	f.step("POST", "/calls/$c8/delete-from-conference", `{"dn":"1002","party":"1004"}`,
		want{k, "EventReleased 1004 conn=c8 type=Internal state=Ok"},
		want{k, "EventPartyDeleted 1001 conn=c8 type=Internal state=Ok other=1004 third=1002 thirdRole=DeletedBy agent=agent1"},
		want{k, "EventPartyDeleted 1002 conn=c8 type=Internal state=Ok other=1004 third=1002 thirdRole=DeletedBy agent=agent2"},
		want{"demo:1004", "EventOnHook 1004"})

	// Calls kept for the refusals: c10 rings at 1006; c11 (1007-1008) has
	// the consultation call c12 to 1009; c13 (1010-1011) is unrelated.
	f.create("/calls", `{"from":"1005","to":"1006"}`,
		want{"demo:1005", "EventOffHook 1005"},
		want{T, "EventDialing 1005 conn=c10 type=Internal other=1006"},
		want{T, "EventRinging 1006 conn=c10 type=Internal state=Ok other=1005"})
	for _, p := range [][2]string{{"1007", "1008"}, {"1010", "1011"}} {
		a := f.create("/calls", `{"from":"`+p[0]+`","to":"`+p[1]+`"}`,
			want{"demo:" + p[0], "EventOffHook " + p[0]},
			want{T, "EventDialing " + p[0] + " conn=c" + fmt.Sprint(len(f.conns)+1) + " type=Internal other=" + p[1]},
			want{T, "EventRinging " + p[1] + " conn=c" + fmt.Sprint(len(f.conns)+1) + " type=Internal state=Ok other=" + p[0]})
		f.step("POST", "/calls/$"+a+"/answer", `{"dn":"`+p[1]+`"}`,
			want{"demo:" + p[1], "EventOffHook " + p[1]},
			want{f.key(a), "EventEstablished " + p[1] + " conn=" + a + " type=Internal state=Ok other=" + p[0]},
			want{f.key(a), "EventEstablished " + p[0] + " conn=" + a + " type=Internal state=Ok other=" + p[1]})
		if p[0] == "1007" {
			f.create("/calls/$"+a+"/initiate-transfer", `{"dn":"1008","to":"1009"}`,
				want{f.key(a), "EventHeld 1008 conn=" + a + " type=Internal other=1007"},
				want{f.key(a), "EventDialing 1008 conn=c12 prev=c11 type=Consult other=1009"},
				want{f.key(a), "EventRinging 1009 conn=c12 prev=c11 type=Consult state=Ok other=1008"})
		}
	}

	// 5.14 service observing: 1100 monitors agent3's next call; the
	// network calls 1003, which answers: the supervisor joins (PartyAdded
	// Bridged to 1003 first, then its OffHook, Ringing and Established,
	// Bridged); the caller hangs up: 1100 is released after 1003, and the
	// OneCall monitoring ends.
	sup := "demo:1100"
	f.step("POST", "/dns/1100/monitor", `{"target":"1003","type":"OneCall"}`,
		want{a3, "EventMonitoringNextCall 1003 other=1100 agent=agent3"},
		want{sup, "EventMonitoringNextCall 1100 other=1003"})
	c14 := f.create("/network/calls", `{"trunk":"pstn","ani":"+33140000010","dnis":"1003"}`,
		want{T, "EventRinging 1003 conn=c14 type=Inbound state=Ok other=+33140000010 trunk=pstn agent=agent3"})
	k = f.key(c14)
	f.step("POST", "/calls/$c14/answer", `{"dn":"1003"}`,
		want{a3, "EventOffHook 1003 agent=agent3"},
		want{k, "EventEstablished 1003 conn=c14 type=Inbound state=Ok other=+33140000010 trunk=pstn agent=agent3"},
		want{k, "EventPartyAdded 1003 conn=c14 type=Inbound state=Bridged other=1100 agent=agent3"},
		want{sup, "EventOffHook 1100"},
		want{k, "EventRinging 1100 conn=c14 type=Inbound state=Bridged other=1003"},
		want{k, "EventEstablished 1100 conn=c14 type=Inbound state=Bridged other=1003"})
	f.step("POST", "/network/calls/$c14/release", ``,
		want{k, "EventReleased 1003 conn=c14 type=Inbound state=Ok agent=agent3"},
		want{k, "EventReleased 1100 conn=c14 type=Inbound state=Ok"},
		want{a3, "EventOnHook 1003 agent=agent3"},
		want{sup, "EventOnHook 1100"},
		want{a3, "EventMonitoringCancelled 1003 other=1100 agent=agent3"},
		want{sup, "EventMonitoringCancelled 1100 other=1003"})

	// 5.15 external consultation and transfer: 1003 answers a network
	// call, consults an external number through the trunk (Dialing,
	// NetworkReached of the Consult call), the network answers, 1003
	// completes the transfer: the call is then between two external
	// parties, with no further event; its caller hangs up.
	c15 := f.create("/network/calls", `{"trunk":"pstn","ani":"+33140000012","dnis":"1003"}`,
		want{T, "EventRinging 1003 conn=c15 type=Inbound state=Ok other=+33140000012 trunk=pstn agent=agent3"})
	k = f.key(c15)
	f.step("POST", "/calls/$c15/answer", `{"dn":"1003"}`,
		want{a3, "EventOffHook 1003 agent=agent3"},
		want{k, "EventEstablished 1003 conn=c15 type=Inbound state=Ok other=+33140000012 trunk=pstn agent=agent3"})
	f.create("/calls/$c15/initiate-transfer", `{"dn":"1003","to":"+33140000013"}`,
		want{k, "EventHeld 1003 conn=c15 type=Inbound other=+33140000012 agent=agent3"},
		want{k, "EventDialing 1003 conn=c16 prev=c15 type=Consult other=+33140000013 agent=agent3"},
		want{k, "EventNetworkReached 1003 conn=c16 prev=c15 type=Consult other=+33140000013 trunk=pstn agent=agent3"})
	f.step("POST", "/network/calls/$c16/answer", ``,
		want{k, "EventEstablished 1003 conn=c16 prev=c15 type=Consult state=Ok other=+33140000013 trunk=pstn agent=agent3"})
	f.step("POST", "/calls/$c15/complete-transfer", `{"dn":"1003","consultConnId":"$c16"}`,
		want{k, "EventReleased 1003 conn=c16 prev=c15 type=Consult state=Transferred agent=agent3"},
		want{k, "EventReleased 1003 conn=c15 type=Inbound state=Transferred third=+33140000013 agent=agent3"},
		want{a3, "EventOnHook 1003 agent=agent3"})
	f.step("POST", "/network/calls/$c15/release", `{"party":"+33140000012"}`)

	topics := []string{prefix + event.AgentStateTopic, prefix + event.CallThreadTopic}
	r.waitPublished(t) // a reply means journaled; Kafka follows
	if n := kafkatest.CommittedCount(t, r.addrs.Kafka, topics...); n != int64(len(f.expect)) {
		t.Fatalf("Kafka holds %d records right after the replies, want %d", n, len(f.expect))
	}
	recs := kafkatest.Consume(t, r.addrs.Kafka, topics, len(f.expect), 30*time.Second)
	gotByKey, wantByKey := map[string][]string{}, map[string][]string{}
	for _, w := range f.expect {
		wantByKey[w.key] = append(wantByKey[w.key], w.summary)
	}
	values := map[string][]byte{}
	for _, rec := range recs {
		var ev event.Event
		if err := event.Unmarshal(rec.Value, &ev); err != nil {
			t.Fatalf("record %s/%d@%d: %v", rec.Topic, rec.Partition, rec.Offset, err)
		}
		if err := ev.Validate(); err != nil {
			t.Errorf("record %s/%d@%d: %v", rec.Topic, rec.Partition, rec.Offset, err)
		}
		key := string(rec.Key)
		if key != ev.Key() || rec.Topic != prefix+ev.Topic() {
			t.Errorf("%s: key %q topic %s, want %q %s", ev.ID, key, rec.Topic, ev.Key(), prefix+ev.Topic())
		}
		if int64(len(gotByKey[key])+1) != ev.Seq {
			t.Errorf("key %s: Seq %d after %d events", key, ev.Seq, len(gotByKey[key]))
		}
		gotByKey[key] = append(gotByKey[key], f.callSummary(&ev))
		values[fmt.Sprintf("%s/%d", key, ev.Seq)] = rec.Value
	}
	for k, w := range wantByKey {
		if g := gotByKey[k]; strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("key %s:\n got\n  %s\n want\n  %s", k, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
		}
	}
	for k := range gotByKey {
		if _, ok := wantByKey[k]; !ok {
			t.Errorf("unexpected key %s: %v", k, gotByKey[k])
		}
	}
	checkEvents(t, recs)

	// The WebSocket stream carried the same records, in step order.
	readWS := func(n int) []*event.Event {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var out []*event.Event
		for i := 0; i < n; i++ {
			_, msg, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("event stream message %d: %v", i, err)
			}
			ev := &event.Event{}
			if err := event.Unmarshal(msg, ev); err != nil {
				t.Fatalf("event stream message %d: %v", i, err)
			}
			id := fmt.Sprintf("%s/%d", ev.Key(), ev.Seq)
			if v, ok := values[id]; ok && !bytes.Equal(msg, v) {
				t.Errorf("event stream message %d (%s):\n%s\nKafka has\n%s", i, id, msg, v)
			}
			out = append(out, ev)
		}
		return out
	}
	calls := 0
	for _, ev := range readWS(len(recs)) {
		if ev.Topic() == event.CallThreadTopic {
			calls++
		}
		if _, ok := values[fmt.Sprintf("%s/%d", ev.Key(), ev.Seq)]; !ok {
			t.Errorf("event stream: %s %s/%d is not in Kafka", ev.ID, ev.Key(), ev.Seq)
		}
	}
	if calls == 0 {
		t.Error("the event stream carried no call event")
	}

	// Refusals: the right status, and nothing reaches Kafka or the stream.
	// A sentinel request afterwards must be the very next event on both.
	refusals := []struct {
		name, path, body string
		status           int
	}{
		{"a DN not on the call", "/calls/$c10/answer", `{"dn":"1001"}`, http.StatusConflict},
		{"a released ConnID", "/calls/$c1/release", `{"dn":"1001"}`, http.StatusConflict},
		{"completing a transfer with the wrong consult call", "/calls/$c11/complete-transfer", `{"dn":"1008","consultConnId":"$c13"}`, http.StatusConflict},
		{"answering a call that does not ring there", "/calls/$c10/answer", `{"dn":"1005"}`, http.StatusConflict},
		{"hold of a ringing call", "/calls/$c10/hold", `{"dn":"1006"}`, http.StatusConflict},
		{"an unknown ConnID", "/calls/0123456789abcdef/release", `{"dn":"1005"}`, http.StatusNotFound},
		{"a ConnID of the wrong form", "/calls/c10/release", `{"dn":"1005"}`, http.StatusNotFound},
		{"an unknown field", "/calls/$c10/answer", `{"dn":"1006","line":2}`, http.StatusBadRequest},
		{"network answer of an internal call", "/network/calls/$c10/answer", ``, http.StatusConflict},
	}
	for _, rf := range refusals {
		status, out := r.post(t, "POST", f.fill("/v1/tenants/demo"+rf.path), f.fill(rf.body))
		if status != rf.status || !strings.Contains(out, `"error"`) {
			t.Errorf("%s: %d %s, want %d", rf.name, status, out, rf.status)
		}
	}
	if status, out := r.post(t, "POST", "/v1/tenants/demo/dns/1020/dnd", `{"on":true,"referenceId":999}`); status != http.StatusOK {
		t.Fatalf("sentinel: %d %s", status, out)
	}
	r.waitPublished(t) // a reply means journaled; Kafka follows
	if n := kafkatest.CommittedCount(t, r.addrs.Kafka, topics...); n != int64(len(recs)+1) {
		t.Errorf("Kafka holds %d records after the refusals and the sentinel, want %d", n, len(recs)+1)
	}
	if next := readWS(1)[0]; next.ID != event.EventDNDOn || next.ThisDN != "1020" || next.ReferenceID != 999 {
		t.Errorf("the event after the refusals is %s %s ref=%d, want the sentinel EventDNDOn 1020", next.ID, next.ThisDN, next.ReferenceID)
	}
	wsNothingMore(t, ws)
}

// wsNothingMore checks the stream has nothing else for a moment. It cannot
// prove a negative by itself; the sentinel above does, this catches an
// event recorded late.
func wsNothingMore(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, msg, err := ws.Read(ctx); err == nil {
		t.Errorf("unexpected event on the stream: %s", msg)
	}
}

// TestCallForwardOnNoAnswerEndToEnd: with a configuration file whose 1002
// forwards on no answer to 1003 after 200ms, a call to 1002 is diverted
// by the runtime's timer in a running serve (5.11); the events reach Kafka
// in order and pass the checker.
func TestCallForwardOnNoAnswerEndToEnd(t *testing.T) {
	path := t.TempDir() + "/fwd.yaml"
	yaml := `tenants:
  - id: demo
    tokens: [` + e2eToken + `]
    defaults:
      no-answer-timeout: 200ms
    dns:
      - {number: "1001", type: extension}
      - {number: "1002", type: extension, forward: {to: "1003", mode: OnNoAnswer}}
      - {number: "1003", type: extension}
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startMainWith(t, nil, "", func(c *Config) { c.ConfigFile = path })
	ws := dialEvents(t, r)
	f := &callFlow{t: t, r: r, conns: map[string]string{}, ids: map[string]string{}, thread: map[string]string{}}
	c1 := f.create("/calls", `{"from":"1001","to":"1002"}`,
		want{"demo:1001", "EventOffHook 1001"},
		want{"T", "EventDialing 1001 conn=c1 type=Internal other=1002"},
		want{"T", "EventRinging 1002 conn=c1 type=Internal state=Ok other=1001"})
	k := f.key(c1)
	// The timer's events come without a request: wait for them on the
	// stream (OffHook, Dialing, Ringing, then Diverted and Ringing).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for seen := 0; seen < 5; seen++ {
		if _, _, err := ws.Read(ctx); err != nil {
			t.Fatalf("event stream after %d events: %v", seen, err)
		}
	}
	f.expect = append(f.expect,
		want{k, "EventDiverted 1002 conn=c1 type=Internal state=Forwarded other=1001 third=1003"},
		want{k, "EventRinging 1003 conn=c1 type=Internal state=Forwarded other=1001 third=1002"})
	f.step("POST", "/calls/$c1/answer", `{"dn":"1003"}`,
		want{"demo:1003", "EventOffHook 1003"},
		want{k, "EventEstablished 1003 conn=c1 type=Internal state=Ok other=1001"},
		want{k, "EventEstablished 1001 conn=c1 type=Internal state=Ok other=1003"})
	f.step("POST", "/calls/$c1/release", `{"dn":"1001"}`,
		want{k, "EventReleased 1001 conn=c1 type=Internal state=Ok"},
		want{k, "EventReleased 1003 conn=c1 type=Internal state=Ok"},
		want{"demo:1001", "EventOnHook 1001"},
		want{"demo:1003", "EventOnHook 1003"})

	topics := []string{event.AgentStateTopic, event.CallThreadTopic}
	r.waitPublished(t) // a reply means journaled; Kafka follows
	if n := kafkatest.CommittedCount(t, r.addrs.Kafka, topics...); n != int64(len(f.expect)) {
		t.Fatalf("Kafka holds %d records, want %d", n, len(f.expect))
	}
	recs := kafkatest.Consume(t, r.addrs.Kafka, topics, len(f.expect), 30*time.Second)
	got, wantBy := map[string][]string{}, map[string][]string{}
	for _, w := range f.expect {
		wantBy[w.key] = append(wantBy[w.key], w.summary)
	}
	for _, rec := range recs {
		var ev event.Event
		if err := event.Unmarshal(rec.Value, &ev); err != nil {
			t.Fatal(err)
		}
		got[string(rec.Key)] = append(got[string(rec.Key)], f.callSummary(&ev))
	}
	for key, w := range wantBy {
		if strings.Join(got[key], "\n") != strings.Join(w, "\n") {
			t.Errorf("key %s:\n got\n  %s\n want\n  %s", key, strings.Join(got[key], "\n  "), strings.Join(w, "\n  "))
		}
	}
	checkEvents(t, recs)
}
