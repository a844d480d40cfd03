package ctiapi

import (
	"errors"
	"net/http"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// Request bodies of the routing and treatment endpoints (CTI-API.md,
// "Calls": route, treatment; digits is this server's addition for the
// CollectDigits treatment).

// RouteBody is POST /calls/{connId}/route: a router's decision.
type RouteBody struct {
	Common
	RoutingPoint *string `json:"routingPoint" required:"true" doc:"the routing point where the call waits"`
	To           *string `json:"to" required:"true" doc:"the destination: a DN (phone, acd-queue, routing point) or an external number"`
}

// TreatmentBody is POST /calls/{connId}/treatment.
type TreatmentBody struct {
	Common
	DN    *string `json:"dn" required:"true" doc:"the routing point or acd-queue where the call waits"`
	Type  *string `json:"type" required:"true" doc:"a TreatmentType name: Music, RingBack, Silence, Busy, PlayAnnouncement, CollectDigits, PlayAnnouncementAndDigits (others give EventTreatmentNotApplied)"`
	Parms KV      `json:"parms,omitempty" doc:"TreatmentParms; DURATION (integer seconds) ends the treatment after it, required for PlayAnnouncement"`
}

// DigitsBody is POST /calls/{connId}/digits.
type DigitsBody struct {
	Common
	DN     *string `json:"dn" required:"true" doc:"the routing point or acd-queue running the CollectDigits treatment"`
	Digits *string `json:"digits" required:"true" pattern:"^[0-9*#]{1,64}$" doc:"the digits the caller keyed in"`
}

// RecordingBody is POST /calls/{connId}/recording. It takes the common
// fields like every body; no event follows, so they are not used.
type RecordingBody struct {
	Common
	Action *string `json:"action" required:"true" enum:"pause,resume,stop" doc:"pause (what is said until resume is not recorded: a gap in the file), resume, or stop (the file is complete)"`
}

// ErrNotRecorded is what a Tenant's Recording returns (wrapped) for a
// call it does not record.
var ErrNotRecorded = errors.New("the call is not being recorded")

// recordingRoute is POST /calls/{connId}/recording: not an engine
// command, the media plane's (Tenant.Recording).
func recordingRoute() route {
	params := patternedParams(callBase + "/recording")
	return route{
		method: "POST", path: callBase + "/recording", auth: true, body: new(RecordingBody), reply: OK{},
		summary: "Pause, resume or stop a recorded call's recording (media.recording; keeps a card number out of the file)",
		handle: func(w http.ResponseWriter, r *http.Request, t *Tenant) error {
			var b RecordingBody
			if err := decode(w, r, &b); err != nil {
				return err
			}
			if err := validate(&b); err != nil {
				return err
			}
			if err := checkPath(r, params); err != nil {
				return err
			}
			conn := r.PathValue("connId")
			if t.Recording == nil {
				return apiErr(CodeNotFound, "call %s: %v", conn, ErrNotRecorded)
			}
			if err := t.Recording(conn, *b.Action); err != nil {
				if errors.Is(err, ErrNotRecorded) {
					return apiErr(CodeNotFound, "call %s: %v", conn, ErrNotRecorded)
				}
				return apiErr(CodeInternal, "recording %s: %v", *b.Action, err)
			}
			writeJSON(w, http.StatusOK, OK{OK: true})
			return nil
		},
	}
}

func routingRoutes() []route {
	conn := func(r *http.Request) string { return r.PathValue("connId") }
	return []route{
		command("POST", callBase+"/route", "A router's decision for a call waiting at a routing point (EventRouteUsed, then the destination's EventRinging, EventQueued or EventRouteRequest)",
			func(r *http.Request, b *RouteBody, q engine.Request) (engine.RouteCall, error) {
				return engine.RouteCall{Request: q, ConnID: conn(r), RoutingPoint: *b.RoutingPoint, To: *b.To}, nil
			}),
		command("POST", callBase+"/treatment", "Apply a treatment to a call waiting at a routing point or queue (EventTreatmentApplied or EventTreatmentNotApplied)",
			func(r *http.Request, b *TreatmentBody, q engine.Request) (engine.ApplyTreatment, error) {
				return engine.ApplyTreatment{Request: q, ConnID: conn(r), DN: *b.DN, Type: *b.Type, Parms: event.KV(b.Parms)}, nil
			}),
		command("POST", callBase+"/digits", "Digits the caller keyed in for a running CollectDigits treatment (EventTreatmentEnd with CollectedDigits)",
			func(r *http.Request, b *DigitsBody, q engine.Request) (engine.CollectDigits, error) {
				return engine.CollectDigits{Request: q, ConnID: conn(r), DN: *b.DN, Digits: *b.Digits}, nil
			}),
		recordingRoute(),
	}
}
