package ctiapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
)

// take sends a request that must answer status and returns the events it
// caused.
func (c *calls) take(status int, method, path, body string) []event.Event {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != status {
		c.t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, r.status, r.body, status)
	}
	evs := c.f.sink.take()
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			c.t.Errorf("%s %s: %v", method, path, err)
		}
	}
	return evs
}

func names(evs []event.Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, ev.ID.String()+"("+ev.ThisDN+")")
	}
	return strings.Join(s, " ")
}

// TestRouteAndTreatment drives routing point 5000 of the demo tenant
// through the API: a treatment, collected digits, a router's decision to a
// queue; and the refusals each endpoint maps to a status.
func TestRouteAndTreatment(t *testing.T) {
	c := newCalls(t)
	c.create("POST", "/network/calls", `{"trunk":"pstn","ani":"+3312","dnis":"5000"}`,
		"EventRouteRequest 5000 conn=c1 type=Inbound other=+3312 trunk=pstn")

	evs := c.take(200, "POST", "/calls/$c1/treatment", `{"dn":"5000","type":"PlayAnnouncement","parms":{"DURATION":5,"ANNOUNCEMENT":"hello"},"referenceId":4}`)
	if names(evs) != "EventTreatmentApplied(5000)" || evs[0].TreatmentType != event.TreatmentPlayAnnouncement ||
		evs[0].ReferenceID != 4 || evs[0].ThisQueue != "5000" {
		t.Fatalf("treatment: %s %+v", names(evs), evs)
	}
	if p, _ := evs[0].TreatmentParms.Get("DURATION"); p.Int != 5 {
		t.Errorf("TreatmentParms %v", evs[0].TreatmentParms)
	}
	evs = c.take(200, "POST", "/calls/$c1/treatment", `{"dn":"5000","type":"Whistle"}`)
	if names(evs) != "EventTreatmentNotApplied(5000)" || evs[0].ErrorCode == 0 || evs[0].ErrorMessage == "" {
		t.Fatalf("unknown treatment: %s %+v", names(evs), evs)
	}
	evs = c.take(200, "POST", "/calls/$c1/treatment", `{"dn":"5000","type":"CollectDigits"}`)
	// The announcement is interrupted first.
	if names(evs) != "EventTreatmentEnd(5000) EventTreatmentApplied(5000)" {
		t.Fatalf("collect digits: %s", names(evs))
	}
	evs = c.take(200, "POST", "/calls/$c1/digits", `{"dn":"5000","digits":"42#"}`)
	if names(evs) != "EventTreatmentEnd(5000)" || evs[0].CollectedDigits != "42#" || evs[0].LastCollectedDigit != "#" {
		t.Fatalf("digits: %s %+v", names(evs), evs)
	}

	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"route: missing to", "/calls/$c1/route", `{"routingPoint":"5000"}`, 400, CodeMissingField},
		{"route: not a routing point", "/calls/$c1/route", `{"routingPoint":"1001","to":"7000"}`, 400, CodeInvalid},
		{"route: not waiting there", "/calls/$c1/route", `{"routingPoint":"5001","to":"7000"}`, 409, CodeConflict},
		{"route: unknown destination", "/calls/$c1/route", `{"routingPoint":"5000","to":"nobody"}`, 404, CodeNotFound},
		{"route: unknown call", "/calls/0123456789abcdef/route", `{"routingPoint":"5000","to":"7000"}`, 404, CodeNotFound},
		{"treatment: missing type", "/calls/$c1/treatment", `{"dn":"5000"}`, 400, CodeMissingField},
		{"treatment: parms not an object", "/calls/$c1/treatment", `{"dn":"5000","type":"Music","parms":3}`, 400, CodeWrongType},
		{"treatment: a phone", "/calls/$c1/treatment", `{"dn":"1001","type":"Music"}`, 409, CodeConflict},
		{"digits: not digits", "/calls/$c1/digits", `{"dn":"5000","digits":"12a"}`, 400, CodeInvalid},
		{"digits: nothing collecting", "/calls/$c1/digits", `{"dn":"5000","digits":"1"}`, 409, CodeConflict},
	} {
		r := c.do("POST", tc.path, tc.body)
		if r.status != tc.status || r.errCode() != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
		if evs := c.f.sink.take(); len(evs) != 0 {
			t.Errorf("%s: refused with %d events", tc.name, len(evs))
		}
	}

	evs = c.take(200, "POST", "/calls/$c1/route", `{"routingPoint":"5000","to":"7000","referenceId":9}`)
	if names(evs) != "EventRouteUsed(5000) EventQueued(7000)" || evs[0].ThirdPartyDN != "7000" ||
		evs[0].ThirdPartyDNRole != event.RoleDestination || evs[1].ThisQueue != "7000" || evs[1].ReferenceID != 9 {
		t.Fatalf("route: %s %+v", names(evs), evs)
	}
	// The queue's music, then the caller hangs up: Abandoned(7000).
	c.take(200, "POST", "/calls/$c1/treatment", `{"dn":"7000","type":"Music"}`)
	evs = c.take(http.StatusOK, "POST", "/network/calls/$c1/release", `{}`)
	if names(evs) != "EventAbandoned(7000)" {
		t.Fatalf("abandon: %s", names(evs))
	}
}
