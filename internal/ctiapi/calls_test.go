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

	ud := `ud={"Order":42,"Customer":{"Tier":"gold"}}`
	c.step("POST", "/calls/$c1/answer", `{"dn":"1002","referenceId":12}`,
		"EventOffHook 1002 ref=12",
		"EventEstablished 1002 conn=c1 type=Internal state=Ok other=1001 ref=12 "+ud,
		"EventEstablished 1001 conn=c1 type=Internal state=Ok other=1002 agent=agent1 ref=12 "+ud)
	c.step("POST", "/calls/$c1/hold", `{"dn":"1002"}`,
		"EventHeld 1002 conn=c1 type=Internal other=1001 "+ud)
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
	c.get("/dns/1002", &dn)
	if len(dn.Calls) != 0 {
		t.Errorf("GET dns/1002 after release: calls %v", dn.Calls)
	}
	if r := c.do("GET", "/calls/$c1", ""); r.status != 404 || r.errCode() != CodeNotFound {
		t.Errorf("GET released call: %d %s", r.status, r.body)
	}
}
