package ctiapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

var (
	connIDRe = regexp.MustCompile(`^[0-9a-f]{16}$`)
	uuidV7Re = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// calls drives the calls endpoints of a fixture and names the ConnIDs it
// sees (c1, c2, ... in order of appearance) so expected events can be
// written without knowing them.
type calls struct {
	t     *testing.T
	f     *fixture
	alias map[string]string
	byAli map[string]string
}

func newCalls(t *testing.T) *calls {
	return &calls{t: t, f: newFixture(t, nil), alias: map[string]string{}, byAli: map[string]string{}}
}

func (c *calls) name(conn string) string {
	if conn == "" {
		return ""
	}
	if a, ok := c.alias[conn]; ok {
		return a
	}
	a := fmt.Sprintf("c%d", len(c.alias)+1)
	c.alias[conn], c.byAli[a] = a, conn
	return a
}

// path replaces $c1, $c2, ... by the ConnIDs so named.
func (c *calls) path(p string) string {
	for a, conn := range c.byAli {
		p = strings.ReplaceAll(p, "$"+a+"/", conn+"/")
		if strings.HasSuffix(p, "$"+a) {
			p = strings.TrimSuffix(p, "$"+a) + conn
		}
		p = strings.ReplaceAll(p, `"$`+a+`"`, `"`+conn+`"`)
	}
	return p
}

func (c *calls) do(method, path, body string) response {
	c.t.Helper()
	return c.f.do(c.t, demoToken, method, c.path("/v1/tenants/demo"+path), c.path(body))
}

// ok sends a request that must succeed with status and returns the
// summaries of the events it caused.
func (c *calls) ok(status int, method, path, body string) []string {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != status {
		c.t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, r.status, r.body, status)
	}
	evs := c.f.sink.take()
	var n struct {
		Events       *int   `json:"events"`
		ConnID       string `json:"connId"`
		CallThreadID string `json:"callThreadId"`
	}
	if err := json.Unmarshal(r.body, &n); err != nil || n.Events == nil || *n.Events != len(evs) {
		c.t.Errorf("%s %s: body %s, want events %d", method, path, r.body, len(evs))
	}
	if status == http.StatusCreated {
		if !connIDRe.MatchString(n.ConnID) || !uuidV7Re.MatchString(n.CallThreadID) {
			c.t.Errorf("%s %s: reply %s: want a ConnID and a UUIDv7 call thread", method, path, r.body)
		}
		c.name(n.ConnID)
	}
	var out []string
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			c.t.Errorf("%s %s: %s: %v", method, path, ev.ID, err)
		}
		out = append(out, c.summary(ev))
	}
	return out
}

// create is ok for a request that makes a call: it returns the new call's
// alias.
func (c *calls) create(method, path, body string, want ...string) string {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != http.StatusCreated {
		c.t.Fatalf("%s %s: %d %s, want 201", method, path, r.status, r.body)
	}
	var cr CallCreated
	json.Unmarshal(r.body, &cr)
	if !connIDRe.MatchString(cr.ConnID) || !uuidV7Re.MatchString(cr.CallThreadID) {
		c.t.Fatalf("%s %s: reply %s: want a ConnID and a UUIDv7 call thread", method, path, r.body)
	}
	alias := c.name(cr.ConnID)
	evs := c.f.sink.take()
	if cr.Events != len(evs) {
		c.t.Errorf("%s %s: reply says %d events, %d recorded", method, path, cr.Events, len(evs))
	}
	var got []string
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			c.t.Errorf("%s %s: %s: %v", method, path, ev.ID, err)
		}
		if ev.CallThreadID != "" && ev.ConnID == cr.ConnID && ev.CallThreadID != cr.CallThreadID {
			c.t.Errorf("%s %s: %s has thread %s, reply %s", method, path, ev.ID, ev.CallThreadID, cr.CallThreadID)
		}
		got = append(got, c.summary(ev))
	}
	c.expect(method+" "+path, got, want)
	return alias
}

// step sends a request that must succeed with 200 and the events want.
func (c *calls) step(method, path, body string, want ...string) {
	c.t.Helper()
	c.expect(method+" "+path, c.ok(http.StatusOK, method, path, body), want)
}

func (c *calls) expect(what string, got, want []string) {
	c.t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		c.t.Errorf("%s: events\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// summary renders the main fields of an event, ConnIDs by alias. It
// leaves out optional fields that say nothing about the request: the
// ConnID of OffHook/OnHook, the OtherDN of Released, MuteOn/Off and
// ListenDisconnected/Reconnected (the engine's goldens pin them).
func (c *calls) summary(ev event.Event) string {
	s := ev.ID.String() + " " + ev.ThisDN
	add := func(k, v string) {
		if v != "" {
			s += " " + k + "=" + v
		}
	}
	switch ev.ID {
	case event.EventOffHook, event.EventOnHook:
		ev.ConnID = ""
	case event.EventReleased, event.EventMuteOn, event.EventMuteOff, event.EventListenDisconnected, event.EventListenReconnected:
		ev.OtherDN = ""
	}
	add("conn", c.name(ev.ConnID))
	add("prev", c.name(ev.PreviousConnID))
	add("type", ev.CallType.String())
	add("state", ev.CallState.String())
	if ev.ThisDNRole == event.RoleObserver {
		add("role", ev.ThisDNRole.String())
	}
	add("other", ev.OtherDN)
	if ev.OtherDNRole == event.RoleNewParty || ev.OtherDNRole == event.RoleObserver || ev.OtherDNRole == event.RoleDeletedParty {
		add("otherRole", ev.OtherDNRole.String())
	}
	add("trunk", ev.OtherTrunk)
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

func (c *calls) get(path string, v any) {
	c.t.Helper()
	r := c.do("GET", path, "")
	if r.status != 200 {
		c.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
}

// parties renders a call's parties as "dn:role:state" in join order.
func parties(v engine.CallView) string {
	var out []string
	for _, p := range v.Parties {
		out = append(out, p.DN+":"+p.Role+":"+p.State)
	}
	return strings.Join(out, " ")
}

// TestCallBasic: make call (5.1) with user data, the GET views, answer,
// hold/retrieve (5.6), mute, user data, release.
func TestCallBasic(t *testing.T) {
	c := newCalls(t)
	c.step("POST", "/dns/1001/login", `{"agentId":"agent1"}`, "EventAgentLogin 1001 agent=agent1")
	c1 := c.create("POST", "/calls", `{"from":"1001","to":"1002","userData":{"Order":42,"Customer":{"Tier":"gold"}},"referenceId":11}`,
		"EventOffHook 1001 agent=agent1 ref=11",
		`EventDialing 1001 conn=c1 type=Internal other=1002 agent=agent1 ref=11 ud={"Order":42,"Customer":{"Tier":"gold"}}`,
		`EventRinging 1002 conn=c1 type=Internal state=Ok other=1001 ref=11 ud={"Order":42,"Customer":{"Tier":"gold"}}`)

	var v engine.CallView
	c.get("/calls/$"+c1, &v)
	if v.ConnID != c.byAli[c1] || v.CallType != "Internal" || parties(v) != "1001:Origination:Dialing 1002:Destination:Ringing" {
		t.Errorf("GET call: %+v", v)
	}
	var list CallList
	c.get("/calls", &list)
	if len(list.Calls) != 1 || list.Calls[0].ConnID != c.byAli[c1] || list.Calls[0].CallThreadID != v.CallThreadID {
		t.Errorf("GET calls: %+v", list)
	}
	var dn engine.DNView
	c.get("/dns/1002", &dn)
	if fmt.Sprint(dn.Calls) != "["+c.byAli[c1]+"]" {
		t.Errorf("GET dns/1002: calls %v, want [%s]", dn.Calls, c.byAli[c1])
	}

	var ag engine.AgentView
	c.get("/agents/agent1", &ag)
	if !ag.OnCall {
		t.Errorf("GET agents/agent1 while dialing: %+v, want onCall", ag)
	}
	ud := `ud={"Order":42,"Customer":{"Tier":"gold"}}`
	c.step("POST", "/calls/$c1/answer", `{"dn":"1002","referenceId":12}`,
		"EventOffHook 1002 ref=12",
		"EventEstablished 1002 conn=c1 type=Internal state=Ok other=1001 ref=12 "+ud,
		"EventEstablished 1001 conn=c1 type=Internal state=Ok other=1002 agent=agent1 ref=12 "+ud)
	// Reasons and extensions of a call request reach its events.
	if r := c.do("POST", "/calls/$c1/hold", `{"dn":"1002","reasons":{"Why":"ask"},"extensions":{"Music":{"Track":3}}}`); r.status != 200 {
		t.Fatalf("hold: %d %s", r.status, r.body)
	}
	held := c.f.sink.take()
	if len(held) != 1 || held[0].ID != event.EventHeld || c.summary(held[0]) != "EventHeld 1002 conn=c1 type=Internal other=1001 "+ud ||
		string(must(held[0].Reasons.MarshalJSON())) != `{"Why":"ask"}` || string(must(held[0].Extensions.MarshalJSON())) != `{"Music":{"Track":3}}` {
		t.Fatalf("hold events: %+v", held)
	}
	c.get("/calls/$c1", &v)
	if parties(v) != "1001:Origination:Established 1002:Destination:Held" {
		t.Errorf("after hold: %s", parties(v))
	}
	c.step("POST", "/calls/$c1/retrieve", `{"dn":"1002"}`,
		"EventRetrieved 1002 conn=c1 type=Internal state=Ok other=1001 "+ud)
	c.step("POST", "/calls/$c1/mute", `{"dn":"1001","on":true}`, "EventMuteOn 1001 conn=c1 agent=agent1")
	c.step("POST", "/calls/$c1/mute", `{"dn":"1001","on":false,"referenceId":3}`, "EventMuteOff 1001 conn=c1 agent=agent1 ref=3")
	// User data: no event now; merged (Order replaced, Case added) and
	// carried on the next events.
	c.step("POST", "/calls/$c1/user-data", `{"userData":{"Order":43,"Case":"A-1"}}`)
	c.get("/calls/$c1", &v)
	if b, _ := v.UserData.MarshalJSON(); string(b) != `{"Order":43,"Customer":{"Tier":"gold"},"Case":"A-1"}` {
		t.Errorf("user data after merge: %s", b)
	}
	ud = `ud={"Order":43,"Customer":{"Tier":"gold"},"Case":"A-1"}`
	c.step("POST", "/calls/$c1/release", `{"dn":"1001","referenceId":13}`,
		"EventReleased 1001 conn=c1 type=Internal state=Ok agent=agent1 ref=13 "+ud,
		"EventReleased 1002 conn=c1 type=Internal state=Ok ref=13 "+ud,
		"EventOnHook 1001 agent=agent1 ref=13",
		"EventOnHook 1002 ref=13")
	c.get("/calls", &list)
	if len(list.Calls) != 0 {
		t.Errorf("GET calls after release: %+v", list)
	}
	ag = engine.AgentView{}
	c.get("/agents/agent1", &ag)
	if ag.AgentID != "agent1" || ag.OnCall {
		t.Errorf("GET agents/agent1 after release: %+v, want not onCall", ag)
	}
	c.get("/dns/1002", &dn)
	if len(dn.Calls) != 0 {
		t.Errorf("GET dns/1002 after release: calls %v", dn.Calls)
	}
	if r := c.do("GET", "/calls/$c1", ""); r.status != 404 || r.errCode() != CodeNotFound {
		t.Errorf("GET released call: %d %s", r.status, r.body)
	}
}

// talk makes an established call from a to b and returns its alias.
func (c *calls) talk(a, b string) string {
	c.t.Helper()
	c.ok(http.StatusCreated, "POST", "/calls", `{"from":"`+a+`","to":"`+b+`"}`)
	alias := fmt.Sprintf("c%d", len(c.alias))
	c.ok(http.StatusOK, "POST", "/calls/$"+alias+"/answer", `{"dn":"`+b+`"}`)
	return alias
}

// TestCallTransfers: redirect, single-step transfer (5.7), two-step
// transfer (5.8), through the API.
func TestCallTransfers(t *testing.T) {
	c := newCalls(t)
	// Redirect a ringing call: it leaves 1002 for 1003.
	c.create("POST", "/calls", `{"from":"1001","to":"1002"}`,
		"EventOffHook 1001",
		"EventDialing 1001 conn=c1 type=Internal other=1002",
		"EventRinging 1002 conn=c1 type=Internal state=Ok other=1001")
	c.step("POST", "/calls/$c1/redirect", `{"dn":"1002","to":"1003","referenceId":4}`,
		"EventDiverted 1002 conn=c1 type=Internal state=Redirected other=1001 third=1003 ref=4",
		"EventRinging 1003 conn=c1 type=Internal state=Redirected other=1001 third=1002 ref=4")
	c.step("POST", "/calls/$c1/release", `{"dn":"1001"}`,
		"EventReleased 1001 conn=c1 type=Internal state=Ok",
		"EventAbandoned 1003 conn=c1 type=Internal state=Ok other=1001",
		"EventOnHook 1001")

	// 5.7: A (1001) and B (1002) talk; B transfers A to C (1003).
	c2 := c.talk("1001", "1002")
	c.step("POST", "/calls/$"+c2+"/single-step-transfer", `{"dn":"1002","to":"1003","referenceId":7}`,
		"EventReleased 1002 conn=c2 type=Internal state=Transferred third=1003 ref=7",
		"EventPartyChanged 1001 conn=c2 prev=c2 type=Internal state=Transferred other=1003 third=1002 thirdRole=TransferredBy ref=7",
		"EventRinging 1003 conn=c2 type=Internal state=Ok other=1001 third=1002 thirdRole=TransferredBy ref=7",
		"EventOnHook 1002 ref=7")
	c.step("POST", "/calls/$c2/answer", `{"dn":"1003"}`,
		"EventOffHook 1003",
		"EventEstablished 1003 conn=c2 type=Internal state=Ok other=1001") // 5.7: only C's: A was established
	c.ok(http.StatusOK, "POST", "/calls/$c2/release", `{"dn":"1003"}`)

	// 5.8: A and B talk on c3; B consults C on c4 and completes the
	// transfer after C answered. The consultation call is in the main
	// call's thread.
	c3 := c.talk("1001", "1002")
	var main engine.CallView
	c.get("/calls/$"+c3, &main)
	r := c.do("POST", "/calls/$"+c3+"/initiate-transfer", `{"dn":"1002","to":"1003","userData":{"Topic":"refund"}}`)
	var cr CallCreated
	if json.Unmarshal(r.body, &cr); r.status != http.StatusCreated || cr.CallThreadID != main.CallThreadID || cr.ConnID == main.ConnID || cr.Events != 3 {
		t.Fatalf("initiate-transfer: %d %s, want 201 with a new ConnID in thread %s", r.status, r.body, main.CallThreadID)
	}
	c4 := c.name(cr.ConnID)
	c.expect("initiate-transfer", c.eventsNow(), []string{
		"EventHeld 1002 conn=c3 type=Internal other=1001",
		`EventDialing 1002 conn=c4 prev=c3 type=Consult other=1003 ud={"Topic":"refund"}`,
		`EventRinging 1003 conn=c4 prev=c3 type=Consult state=Ok other=1002 ud={"Topic":"refund"}`,
	})
	var consult engine.CallView
	c.get("/calls/$"+c4, &consult)
	if consult.PreviousConnID != main.ConnID || consult.CallType != "Consult" {
		t.Errorf("consultation call view: %+v", consult)
	}
	c.ok(http.StatusOK, "POST", "/calls/$"+c4+"/answer", `{"dn":"1003"}`)
	c.step("POST", "/calls/$"+c3+"/complete-transfer", `{"dn":"1002","consultConnId":"$`+c4+`","referenceId":8}`,
		`EventReleased 1002 conn=c4 prev=c3 type=Consult state=Transferred ref=8 ud={"Topic":"refund"}`,
		"EventReleased 1002 conn=c3 type=Internal state=Transferred third=1003 ref=8",
		"EventPartyChanged 1001 conn=c3 prev=c3 type=Internal state=Transferred other=1003 third=1002 thirdRole=TransferredBy ref=8",
		"EventPartyChanged 1003 conn=c3 prev=c4 type=Internal state=Transferred other=1001 third=1002 thirdRole=TransferredBy ref=8",
		"EventOnHook 1002 ref=8")
	c.get("/calls/$"+c3, &main)
	if parties(main) != "1001:Origination:Established 1003:Destination:Established" {
		t.Errorf("after the transfer: %s", parties(main))
	}
	if r := c.do("GET", "/calls/$"+c4, ""); r.status != 404 {
		t.Errorf("the consultation call is still there: %d %s", r.status, r.body)
	}
}

// eventsNow summarises the events recorded since the last take.
func (c *calls) eventsNow() []string {
	var out []string
	for _, ev := range c.f.sink.take() {
		out = append(out, c.summary(ev))
	}
	return out
}

// TestCallConferences: two-step conference (5.8), listen, delete from
// conference and a party leaving (5.13), single-step conference,
// alternate and reconnect.
func TestCallConferences(t *testing.T) {
	c := newCalls(t)
	c1 := c.talk("1001", "1002")
	c.create("POST", "/calls/$"+c1+"/initiate-conference", `{"dn":"1002","to":"1003"}`,
		"EventHeld 1002 conn=c1 type=Internal other=1001",
		"EventDialing 1002 conn=c2 prev=c1 type=Consult other=1003",
		"EventRinging 1003 conn=c2 prev=c1 type=Consult state=Ok other=1002")
	c.ok(http.StatusOK, "POST", "/calls/$c2/answer", `{"dn":"1003"}`)
	c.step("POST", "/calls/$c1/complete-conference", `{"dn":"1002","consultConnId":"$c2"}`,
		"EventReleased 1002 conn=c2 prev=c1 type=Consult state=Conferenced",
		"EventRetrieved 1002 conn=c1 type=Internal state=Ok other=1001",
		"EventPartyAdded 1002 conn=c1 type=Internal state=Conferenced other=1003 otherRole=NewParty third=1002 thirdRole=AddedBy",
		"EventPartyAdded 1001 conn=c1 type=Internal state=Conferenced other=1003 otherRole=NewParty third=1002 thirdRole=AddedBy",
		"EventPartyChanged 1003 conn=c1 prev=c2 type=Internal state=Conferenced third=1002 thirdRole=ConferencedBy")
	var v engine.CallView
	c.get("/calls/$c1", &v)
	if len(v.Parties) != 3 {
		t.Fatalf("conference parties: %s", parties(v))
	}
	c.step("POST", "/calls/$c1/listen", `{"dn":"1002","party":"1003","on":false}`,
		"EventListenDisconnected 1003 conn=c1 state=Held")
	c.step("POST", "/calls/$c1/listen", `{"dn":"1002","party":"1003","on":true}`,
		"EventListenReconnected 1003 conn=c1")
	// 5.13, removed by B: C released, the others told, B as DeletedBy.
	c.step("POST", "/calls/$c1/delete-from-conference", `{"dn":"1002","party":"1003","referenceId":9}`,
		"EventReleased 1003 conn=c1 type=Internal state=Ok ref=9",
		"EventPartyDeleted 1001 conn=c1 type=Internal state=Ok other=1003 otherRole=DeletedParty third=1002 thirdRole=DeletedBy ref=9",
		"EventPartyDeleted 1002 conn=c1 type=Internal state=Ok other=1003 otherRole=DeletedParty third=1002 thirdRole=DeletedBy ref=9",
		"EventOnHook 1003 ref=9")

	// Single-step conference: the parties learn of 1004 (the one that
	// asked first), then 1004 rings on c1 (a party joining comes last).
	c.step("POST", "/calls/$c1/single-step-conference", `{"dn":"1001","to":"1004"}`,
		"EventPartyAdded 1001 conn=c1 type=Internal state=Conferenced other=1004 otherRole=NewParty third=1001 thirdRole=AddedBy",
		"EventPartyAdded 1002 conn=c1 type=Internal state=Conferenced other=1004 otherRole=NewParty third=1001 thirdRole=AddedBy",
		"EventRinging 1004 conn=c1 type=Internal state=Ok other=1001 third=1001 thirdRole=AddedBy")
	c.ok(http.StatusOK, "POST", "/calls/$c1/answer", `{"dn":"1004"}`)
	c.get("/calls/$c1", &v)
	if len(v.Parties) != 3 {
		t.Fatalf("after the single-step conference: %s", parties(v))
	}
	c.ok(http.StatusOK, "POST", "/calls/$c1/release", `{"dn":"1004"}`)

	// Alternate and reconnect: 1002 consults 1005 on c3.
	c.create("POST", "/calls/$c1/initiate-transfer", `{"dn":"1002","to":"1005"}`,
		"EventHeld 1002 conn=c1 type=Internal other=1001",
		"EventDialing 1002 conn=c3 prev=c1 type=Consult other=1005",
		"EventRinging 1005 conn=c3 prev=c1 type=Consult state=Ok other=1002")
	c.ok(http.StatusOK, "POST", "/calls/$c3/answer", `{"dn":"1005"}`)
	c.step("POST", "/calls/$c1/alternate", `{"dn":"1002","consultConnId":"$c3"}`,
		"EventHeld 1002 conn=c3 prev=c1 type=Consult other=1005",
		"EventRetrieved 1002 conn=c1 type=Internal state=Ok other=1001")
	c.step("POST", "/calls/$c1/alternate", `{"dn":"1002","consultConnId":"$c3"}`,
		"EventHeld 1002 conn=c1 type=Internal other=1001",
		"EventRetrieved 1002 conn=c3 prev=c1 type=Consult state=Ok other=1005")
	c.step("POST", "/calls/$c1/reconnect", `{"dn":"1002","consultConnId":"$c3"}`,
		"EventReleased 1002 conn=c3 prev=c1 type=Consult state=Ok",
		"EventReleased 1005 conn=c3 prev=c1 type=Consult state=Ok",
		"EventRetrieved 1002 conn=c1 type=Internal state=Ok other=1001",
		"EventOnHook 1005")
}

// TestNetworkCalls: inbound (5.2), outbound answered (5.3), outbound busy
// and the external party hanging up, through the network-side API.
func TestNetworkCalls(t *testing.T) {
	c := newCalls(t)
	c.create("POST", "/network/calls", `{"trunk":"pstn","ani":"+33123456789","dnis":"1002","userData":{"Customer":"C-7"},"referenceId":1}`,
		`EventRinging 1002 conn=c1 type=Inbound state=Ok other=+33123456789 trunk=pstn ref=1 ud={"Customer":"C-7"}`)
	var v engine.CallView
	c.get("/calls/$c1", &v)
	if v.CallType != "Inbound" || v.ANI != "+33123456789" || v.DNIS != "1002" || len(v.Parties) != 2 ||
		!v.Parties[0].External || v.Parties[0].Trunk != "pstn" {
		t.Errorf("inbound call view: %+v", v)
	}
	c.step("POST", "/calls/$c1/answer", `{"dn":"1002"}`,
		"EventOffHook 1002",
		`EventEstablished 1002 conn=c1 type=Inbound state=Ok other=+33123456789 trunk=pstn ud={"Customer":"C-7"}`)
	c.step("POST", "/network/calls/$c1/release", `{"referenceId":2}`,
		`EventReleased 1002 conn=c1 type=Inbound state=Ok trunk=pstn ref=2 ud={"Customer":"C-7"}`,
		"EventOnHook 1002 ref=2")

	c.create("POST", "/calls", `{"from":"1001","to":"+4930123456"}`,
		"EventOffHook 1001",
		"EventDialing 1001 conn=c2 type=Outbound other=+4930123456",
		"EventNetworkReached 1001 conn=c2 type=Outbound other=+4930123456 trunk=pstn")
	c.step("POST", "/network/calls/$c2/answer", ``,
		"EventEstablished 1001 conn=c2 type=Outbound state=Ok other=+4930123456 trunk=pstn")
	c.step("POST", "/calls/$c2/release", `{"dn":"1001"}`,
		"EventReleased 1001 conn=c2 type=Outbound state=Ok trunk=pstn",
		"EventOnHook 1001")

	c.create("POST", "/calls", `{"from":"1001","to":"+4930999"}`,
		"EventOffHook 1001",
		"EventDialing 1001 conn=c3 type=Outbound other=+4930999",
		"EventNetworkReached 1001 conn=c3 type=Outbound other=+4930999 trunk=pstn")
	c.step("POST", "/network/calls/$c3/busy", `{}`,
		"EventDestinationBusy 1001 conn=c3 type=Outbound state=Busy other=+4930999 trunk=pstn")
	c.step("POST", "/calls/$c3/release", `{"dn":"1001"}`,
		"EventReleased 1001 conn=c3 type=Outbound state=Busy",
		"EventOnHook 1001")
}

// TestCallErrors: every calls and network endpoint refuses a bad body, a
// ConnID of the wrong form or unknown or released, a DN not on the call
// and a request that does not fit the call's state, with the status of
// CTI-API.md and the engine's code; a refused request produces no event and
// changes no call.
func TestCallErrors(t *testing.T) {
	c := newCalls(t)
	c.ok(http.StatusCreated, "POST", "/calls", `{"from":"1001","to":"1002"}`) // c1: ringing at 1002
	est := c.talk("1003", "1004")                                             // c2: established
	rel := c.talk("1005", "1006")                                             // c3: released below
	c.ok(http.StatusOK, "POST", "/calls/$"+rel+"/release", `{"dn":"1005"}`)
	main := c.talk("1007", "1008") // c4, with consultation call c5 from 1008 to 1009
	c.ok(http.StatusCreated, "POST", "/calls/$"+main+"/initiate-transfer", `{"dn":"1008","to":"1009"}`)
	other := c.talk("1010", "1011")                                               // c6: an unrelated call
	c.ok(http.StatusCreated, "POST", "/calls", `{"from":"1012","to":"+4930123"}`) // c7: outbound, the network is called
	if est != "c2" || rel != "c3" || main != "c4" || other != "c6" {
		t.Fatalf("aliases %s %s %s %s", est, rel, main, other)
	}
	c.f.sink.take()
	var before CallList
	c.get("/calls", &before)

	const unknown = "0123456789abcdef"
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		// make call
		{"make call: missing from", "POST", "/calls", `{"to":"1002"}`, 400, CodeMissingField},
		{"make call: unknown field", "POST", "/calls", `{"from":"1013","to":"1014","priority":1}`, 400, CodeUnknownField},
		{"make call: float in userData", "POST", "/calls", `{"from":"1013","to":"1014","userData":{"a":1.5}}`, 400, CodeWrongType},
		{"make call: userData not an object", "POST", "/calls", `{"from":"1013","to":"1014","userData":["a"]}`, 400, CodeWrongType},
		{"make call: to a trunk DN", "POST", "/calls", `{"from":"1013","to":"pstn"}`, 400, CodeInvalid},
		{"make call: unknown from", "POST", "/calls", `{"from":"9999","to":"1014"}`, 404, CodeNotFound},
		{"make call: to an unknown DN (not a number either)", "POST", "/calls", `{"from":"1013","to":"desk-9"}`, 404, CodeNotFound},
		{"make call: from a DN on a call", "POST", "/calls", `{"from":"1003","to":"1014"}`, 409, CodeConflict},
		// answer
		{"answer: missing dn", "POST", "/calls/$c1/answer", `{}`, 400, CodeMissingField},
		{"answer: dn not a string", "POST", "/calls/$c1/answer", `{"dn":1002}`, 400, CodeWrongType},
		{"answer: ConnID of the wrong form", "POST", "/calls/XYZ/answer", `{"dn":"1002"}`, 404, CodeNotFound},
		{"answer: ConnID in capitals", "POST", "/calls/" + strings.ToUpper(unknown) + "/answer", `{"dn":"1002"}`, 404, CodeNotFound},
		{"answer: unknown ConnID", "POST", "/calls/" + unknown + "/answer", `{"dn":"1002"}`, 404, CodeNotFound},
		{"answer: unknown DN", "POST", "/calls/$c1/answer", `{"dn":"9999"}`, 404, CodeNotFound},
		{"answer: released ConnID", "POST", "/calls/$c3/answer", `{"dn":"1006"}`, 409, CodeConflict},
		{"answer: DN not on the call", "POST", "/calls/$c1/answer", `{"dn":"1013"}`, 409, CodeConflict},
		{"answer: the call does not ring there", "POST", "/calls/$c1/answer", `{"dn":"1001"}`, 409, CodeConflict},
		{"answer: an established call", "POST", "/calls/$c2/answer", `{"dn":"1004"}`, 409, CodeConflict},
		// release, hold, retrieve
		{"release: released ConnID", "POST", "/calls/$c3/release", `{"dn":"1005"}`, 409, CodeConflict},
		{"release: DN not on the call", "POST", "/calls/$c2/release", `{"dn":"1001"}`, 409, CodeConflict},
		{"release: unknown ConnID", "POST", "/calls/" + unknown + "/release", `{"dn":"1001"}`, 404, CodeNotFound},
		{"hold: a ringing call", "POST", "/calls/$c1/hold", `{"dn":"1002"}`, 409, CodeConflict},
		{"hold: unknown field", "POST", "/calls/$c2/hold", `{"dn":"1003","music":"on"}`, 400, CodeUnknownField},
		{"retrieve: a call not held", "POST", "/calls/$c2/retrieve", `{"dn":"1003"}`, 409, CodeConflict},
		{"retrieve: released ConnID", "POST", "/calls/$c3/retrieve", `{"dn":"1005"}`, 409, CodeConflict},
		// redirect, single-step transfer and conference
		{"redirect: missing to", "POST", "/calls/$c1/redirect", `{"dn":"1002"}`, 400, CodeMissingField},
		{"redirect: an established call", "POST", "/calls/$c2/redirect", `{"dn":"1004","to":"1014"}`, 409, CodeConflict},
		{"redirect: to an unknown DN", "POST", "/calls/$c1/redirect", `{"dn":"1002","to":"desk-9"}`, 404, CodeNotFound},
		{"redirect: to a trunk", "POST", "/calls/$c1/redirect", `{"dn":"1002","to":"pstn"}`, 400, CodeInvalid},
		{"network release: not a network party", "POST", "/network/calls/$c7/release", `{"party":"+4930999"}`, 409, CodeConflict},
		{"redirect: to a busy DN", "POST", "/calls/$c1/redirect", `{"dn":"1002","to":"1003"}`, 409, CodeConflict},
		{"single-step transfer: to a trunk DN", "POST", "/calls/$c2/single-step-transfer", `{"dn":"1004","to":"pstn"}`, 400, CodeInvalid},
		{"single-step transfer: a ringing call", "POST", "/calls/$c1/single-step-transfer", `{"dn":"1002","to":"1014"}`, 409, CodeConflict},
		{"single-step transfer: DN not on the call", "POST", "/calls/$c2/single-step-transfer", `{"dn":"1013","to":"1014"}`, 409, CodeConflict},
		{"single-step conference: released ConnID", "POST", "/calls/$c3/single-step-conference", `{"dn":"1005","to":"1014"}`, 409, CodeConflict},
		{"single-step conference: missing dn", "POST", "/calls/$c2/single-step-conference", `{"to":"1014"}`, 400, CodeMissingField},
		// two-step transfer and conference
		{"initiate transfer: a ringing call", "POST", "/calls/$c1/initiate-transfer", `{"dn":"1002","to":"1014"}`, 409, CodeConflict},
		{"initiate transfer: to an unknown DN", "POST", "/calls/$c2/initiate-transfer", `{"dn":"1004","to":"desk-9"}`, 404, CodeNotFound},
		{"initiate transfer: ConnID of the wrong form", "POST", "/calls/c2/initiate-transfer", `{"dn":"1004","to":"1014"}`, 404, CodeNotFound},
		{"initiate conference: DN not on the call", "POST", "/calls/$c2/initiate-conference", `{"dn":"1013","to":"1014"}`, 409, CodeConflict},
		{"initiate conference: released ConnID", "POST", "/calls/$c3/initiate-conference", `{"dn":"1005","to":"1014"}`, 409, CodeConflict},
		{"complete transfer: wrong consultation call", "POST", "/calls/$c4/complete-transfer", `{"dn":"1008","consultConnId":"$c6"}`, 409, CodeConflict},
		{"complete transfer: the main call as its own consult", "POST", "/calls/$c4/complete-transfer", `{"dn":"1008","consultConnId":"$c4"}`, 400, CodeInvalid},
		{"complete transfer: consultConnId of the wrong form", "POST", "/calls/$c4/complete-transfer", `{"dn":"1008","consultConnId":"c5"}`, 400, CodeInvalid},
		{"complete transfer: unknown consultConnId", "POST", "/calls/$c4/complete-transfer", `{"dn":"1008","consultConnId":"` + unknown + `"}`, 404, CodeNotFound},
		{"complete transfer: released consultConnId", "POST", "/calls/$c4/complete-transfer", `{"dn":"1008","consultConnId":"$c3"}`, 409, CodeConflict},
		{"complete transfer: missing consultConnId", "POST", "/calls/$c4/complete-transfer", `{"dn":"1008"}`, 400, CodeMissingField},
		{"complete transfer: DN not the consulting one", "POST", "/calls/$c4/complete-transfer", `{"dn":"1007","consultConnId":"$c5"}`, 409, CodeConflict},
		{"complete conference: wrong consultation call", "POST", "/calls/$c4/complete-conference", `{"dn":"1008","consultConnId":"$c6"}`, 409, CodeConflict},
		{"complete conference: consulted party not answered", "POST", "/calls/$c4/complete-conference", `{"dn":"1008","consultConnId":"$c5"}`, 409, CodeConflict},
		{"alternate: wrong consultation call", "POST", "/calls/$c4/alternate", `{"dn":"1008","consultConnId":"$c6"}`, 409, CodeConflict},
		{"reconnect: wrong consultation call", "POST", "/calls/$c4/reconnect", `{"dn":"1008","consultConnId":"$c2"}`, 409, CodeConflict},
		{"reconnect: consultConnId not a string", "POST", "/calls/$c4/reconnect", `{"dn":"1008","consultConnId":5}`, 400, CodeWrongType},
		// conference parties
		{"delete from conference: not a conference", "POST", "/calls/$c2/delete-from-conference", `{"dn":"1003","party":"1004"}`, 409, CodeConflict},
		{"delete from conference: missing party", "POST", "/calls/$c2/delete-from-conference", `{"dn":"1003"}`, 400, CodeMissingField},
		{"listen: not a conference", "POST", "/calls/$c2/listen", `{"dn":"1003","party":"1004","on":false}`, 409, CodeConflict},
		{"listen: missing on", "POST", "/calls/$c2/listen", `{"dn":"1003","party":"1004"}`, 400, CodeMissingField},
		{"mute: DN not on the call", "POST", "/calls/$c2/mute", `{"dn":"1001","on":true}`, 409, CodeConflict},
		{"mute: released ConnID", "POST", "/calls/$c3/mute", `{"dn":"1005","on":true}`, 409, CodeConflict},
		{"mute: on not a boolean", "POST", "/calls/$c2/mute", `{"dn":"1003","on":"yes"}`, 400, CodeWrongType},
		// user data
		{"user data: missing userData", "POST", "/calls/$c2/user-data", `{}`, 400, CodeMissingField},
		{"user data: a boolean value", "POST", "/calls/$c2/user-data", `{"userData":{"vip":true}}`, 400, CodeWrongType},
		{"user data: released ConnID", "POST", "/calls/$c3/user-data", `{"userData":{"a":"b"}}`, 409, CodeConflict},
		{"user data: unknown ConnID", "POST", "/calls/" + unknown + "/user-data", `{"userData":{"a":"b"}}`, 404, CodeNotFound},
		// views
		{"get call: ConnID of the wrong form", "GET", "/calls/nope", ``, 404, CodeNotFound},
		{"get call: unknown ConnID", "GET", "/calls/" + unknown, ``, 404, CodeNotFound},
		{"get call: released ConnID", "GET", "/calls/$c3", ``, 404, CodeNotFound},
		{"calls: method not allowed", "DELETE", "/calls/$c2", ``, 405, CodeMethodNotAllowed},
		// the network side
		{"network call: missing dnis", "POST", "/network/calls", `{"trunk":"pstn","ani":"+331"}`, 400, CodeMissingField},
		{"network call: unknown field", "POST", "/network/calls", `{"trunk":"pstn","ani":"+331","dnis":"1014","dn":"1014"}`, 400, CodeUnknownField},
		{"network call: trunk not a trunk", "POST", "/network/calls", `{"trunk":"1001","ani":"+331","dnis":"1014"}`, 400, CodeInvalid},
		{"network call: unknown trunk", "POST", "/network/calls", `{"trunk":"isdn","ani":"+331","dnis":"1014"}`, 404, CodeNotFound},
		{"network call: unknown dnis", "POST", "/network/calls", `{"trunk":"pstn","ani":"+331","dnis":"9999"}`, 404, CodeNotFound},
		{"network call: busy dnis", "POST", "/network/calls", `{"trunk":"pstn","ani":"+331","dnis":"1003"}`, 409, CodeConflict},
		{"network answer: no network party", "POST", "/network/calls/$c2/answer", ``, 409, CodeConflict},
		{"network answer: unknown field", "POST", "/network/calls/$c7/answer", `{"dn":"1012"}`, 400, CodeUnknownField},
		{"network answer: ConnID of the wrong form", "POST", "/network/calls/1/answer", ``, 404, CodeNotFound},
		{"network busy: released ConnID", "POST", "/network/calls/$c3/busy", ``, 409, CodeConflict},
		{"network release: unknown ConnID", "POST", "/network/calls/" + unknown + "/release", ``, 404, CodeNotFound},
		{"network release: no network party", "POST", "/network/calls/$c1/release", ``, 409, CodeConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.f.do(t, demoToken, tc.method, c.path("/v1/tenants/demo"+tc.path), c.path(tc.body))
			if r.status != tc.status || r.errCode() != tc.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			var b struct {
				Error struct{ Code, Message string }
			}
			if json.Unmarshal(r.body, &b); b.Error.Message == "" {
				t.Errorf("no message in %s", r.body)
			}
			if evs := c.f.sink.take(); len(evs) != 0 {
				t.Errorf("a refused request produced %d events: %s", len(evs), evs[0].ID)
			}
		})
	}
	var after CallList
	c.get("/calls", &after)
	b1, _ := json.Marshal(before)
	b2, _ := json.Marshal(after)
	if string(b1) != string(b2) {
		t.Errorf("refused requests changed the calls:\n%s\n%s", b1, b2)
	}
	// The calls still work after all that.
	c.step("POST", "/network/calls/$c7/busy", ``,
		"EventDestinationBusy 1012 conn=c7 type=Outbound state=Busy other=+4930123 trunk=pstn")
}
