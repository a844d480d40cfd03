package ctiapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/event"
)

// wsMsg is one message of the event stream: an event (it has "id") or a
// route result.
type wsMsg struct {
	ID          *string      `json:"id"`
	RouteResult *RouteResult `json:"routeResult"`
	raw         []byte
}

func readMsg(t *testing.T, c *websocket.Conn) wsMsg {
	t.Helper()
	b := readN(t, c, 1)[0]
	var m wsMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("message %s: %v", b, err)
	}
	if (m.ID == nil) == (m.RouteResult == nil) {
		t.Fatalf("message %s is neither an event nor a route result", b)
	}
	m.raw = b
	return m
}

func sendWS(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("send %s: %v", msg, err)
	}
}

// TestEventStreamRoute: a router gets EventRouteRequest on the event
// stream, answers on the same socket and gets the route result and
// EventRouteUsed; refused decisions give the HTTP error codes and no event.
func TestEventStreamRoute(t *testing.T) {
	f := newFixture(t, nil)
	ws := dial(t, f, demoToken, "?topic=voice-callthread")
	r := f.do(t, demoToken, "POST", "/v1/tenants/demo/network/calls", `{"trunk":"pstn","ani":"+3312","dnis":"5000"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("network call: %d %s", r.status, r.body)
	}
	var cr CallCreated
	json.Unmarshal(r.body, &cr)
	f.sink.take()
	var ev event.Event
	m := readMsg(t, ws)
	if err := event.Unmarshal(m.raw, &ev); err != nil || ev.ID != event.EventRouteRequest || ev.ConnID != cr.ConnID {
		t.Fatalf("first message %s (%v), want EventRouteRequest of %s", m.raw, err, cr.ConnID)
	}

	for _, tc := range []struct{ name, msg, code string }{
		{"not a routing point", `{"route":{"connId":"` + cr.ConnID + `","routingPoint":"1001","to":"7000"}}`, CodeInvalid},
		{"not waiting there", `{"route":{"connId":"` + cr.ConnID + `","routingPoint":"5001","to":"7000"}}`, CodeConflict},
		{"unknown destination", `{"route":{"connId":"` + cr.ConnID + `","routingPoint":"5000","to":"nobody"}}`, CodeNotFound},
		{"missing to", `{"route":{"connId":"` + cr.ConnID + `","routingPoint":"5000"}}`, CodeMissingField},
		{"unknown field", `{"route":{"connId":"` + cr.ConnID + `","routingPoint":"5000","to":"7000"},"x":1}`, CodeUnknownField},
		{"unknown field in route", `{"route":{"connId":"` + cr.ConnID + `","routingPoint":"5000","to":"7000","x":1}}`, CodeUnknownField},
		{"bad connId", `{"route":{"connId":"XYZ","routingPoint":"5000","to":"7000"}}`, CodeNotFound},
		{"bad referenceId", `{"route":{"connId":"` + cr.ConnID + `","routingPoint":"5000","to":"7000"},"referenceId":0}`, CodeInvalid},
		{"not JSON", `route 7000`, CodeMalformed},
	} {
		sendWS(t, ws, tc.msg)
		m := readMsg(t, ws)
		if m.RouteResult == nil || m.RouteResult.OK || m.RouteResult.Error == nil || m.RouteResult.Error.Code != tc.code {
			t.Errorf("%s: got %s, want ok:false code %s", tc.name, m.raw, tc.code)
		}
		if evs := f.sink.take(); len(evs) != 0 {
			t.Errorf("%s: refused with %d events", tc.name, len(evs))
		}
	}

	sendWS(t, ws, `{"route":{"connId":"`+cr.ConnID+`","routingPoint":"5000","to":"7000"},"referenceId":123}`)
	// The result and the route's events may come in either order.
	var res *RouteResult
	var got []event.Event
	for res == nil || len(got) < 2 {
		m := readMsg(t, ws)
		if m.RouteResult != nil {
			if res != nil {
				t.Fatalf("second route result %s", m.raw)
			}
			res = m.RouteResult
			continue
		}
		var ev event.Event
		if err := event.Unmarshal(m.raw, &ev); err != nil {
			t.Fatalf("event %s: %v", m.raw, err)
		}
		got = append(got, ev)
	}
	if !res.OK || res.Error != nil || res.ConnID != cr.ConnID {
		t.Errorf("route result %+v, want ok for %s", res, cr.ConnID)
	}
	if names(got) != "EventRouteUsed(5000) EventQueued(7000)" || got[0].ThirdPartyDN != "7000" || got[1].ReferenceID != 123 {
		t.Errorf("events %s %+v", names(got), got)
	}
	if recorded := f.sink.take(); names(recorded) != names(got) {
		t.Errorf("recorded %s, streamed %s", names(recorded), names(got))
	}
}
