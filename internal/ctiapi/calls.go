package ctiapi

import (
	"net/http"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// Request bodies of the calls and network-side endpoints (CTI-API.md,
// "Calls" and "The network side"). The tags work as in agents.go; a
// `pattern:"..."` tag is a regular expression a string must match (400
// invalid otherwise).

// connIDPattern is the form of a ConnID (EVENTS.md 2.2): 16 lowercase hex
// digits. A {connId} path segment of another form names no call (404); a
// consultConnId of another form is an invalid body (400).
const connIDPattern = `^[0-9a-f]{16}$`

// MakeCallBody is POST /calls.
type MakeCallBody struct {
	Common
	From     *string `json:"from" required:"true" doc:"the calling DN"`
	To       *string `json:"to" required:"true" doc:"a DN of the tenant, or an external number (leaves through a trunk)"`
	UserData KV      `json:"userData,omitempty" doc:"attached to the call; carried on its events"`
}

// DNBody is the body of answer, release, hold and retrieve.
type DNBody struct {
	Common
	DN *string `json:"dn" required:"true" doc:"the DN on the call that makes the request"`
}

// DNToBody is the body of redirect, single-step-transfer and
// single-step-conference.
type DNToBody struct {
	Common
	DN *string `json:"dn" required:"true" doc:"the DN on the call that makes the request"`
	To *string `json:"to" required:"true" doc:"the destination: a DN, or an external number"`
}

// ConsultBody is the body of initiate-transfer and initiate-conference.
type ConsultBody struct {
	Common
	DN       *string `json:"dn" required:"true" doc:"the DN on the call that consults (its call is put on hold)"`
	To       *string `json:"to" required:"true" doc:"the DN or external number consulted"`
	UserData KV      `json:"userData,omitempty" doc:"merged over the main call's user data for the consultation call"`
}

// DNConsultBody is the body of complete-transfer, complete-conference,
// alternate and reconnect.
type DNConsultBody struct {
	Common
	DN            *string `json:"dn" required:"true" doc:"the DN holding the main call and the consultation call"`
	ConsultConnID *string `json:"consultConnId" required:"true" pattern:"^[0-9a-f]{16}$" doc:"the ConnID of the consultation call"`
}

// PartyBody is the body of delete-from-conference.
type PartyBody struct {
	Common
	DN    *string `json:"dn" required:"true" doc:"the DN on the conference that removes the party"`
	Party *string `json:"party" required:"true" doc:"the party to remove: a DN, or an external party's number"`
}

// MuteBody is POST /calls/{connId}/mute.
type MuteBody struct {
	Common
	DN *string `json:"dn" required:"true" doc:"the party muted or unmuted"`
	On *bool   `json:"on" required:"true" doc:"true mutes (EventMuteOn), false unmutes (EventMuteOff)"`
}

// ListenBody is POST /calls/{connId}/listen.
type ListenBody struct {
	Common
	DN    *string `json:"dn" required:"true" doc:"the DN on the conference that asks"`
	Party *string `json:"party" required:"true" doc:"the party that stops (on false) or resumes (on true) hearing and being heard"`
	On    *bool   `json:"on" required:"true" doc:"false: EventListenDisconnected; true: EventListenReconnected"`
}

// UserDataBody is POST /calls/{connId}/user-data.
type UserDataBody struct {
	Common
	UserData KV `json:"userData" required:"true" doc:"merged into the call's user data (a key already there takes the new value); no event, carried on the call's later events"`
}

// NetworkCallBody is POST /network/calls.
type NetworkCallBody struct {
	Common
	Trunk    *string `json:"trunk" required:"true" doc:"the trunk DN the call arrives on"`
	ANI      *string `json:"ani" required:"true" doc:"the calling number"`
	DNIS     *string `json:"dnis" required:"true" doc:"the dialed number: a DN of the tenant"`
	UserData KV      `json:"userData,omitempty" doc:"attached to the call"`
}

// CallCreated is the 201 body of a request that creates a call (make call,
// network call) or a consultation call (initiate transfer or conference).
type CallCreated struct {
	ConnID       string `json:"connId"`
	CallThreadID string `json:"callThreadId"`
	// Events is how many events the request caused.
	Events int `json:"events"`
}

// CallList is GET /calls.
type CallList struct {
	Calls []engine.CallView `json:"calls"`
}

const (
	callsBase   = "/v1/tenants/{tenant}/calls"
	callBase    = callsBase + "/{connId}"
	networkBase = "/v1/tenants/{tenant}/network/calls"
)

func callRoutes() []route {
	conn := func(r *http.Request) string { return r.PathValue("connId") }
	return []route{
		creating("POST", callsBase, "Make a call from a DN to a DN or an external number (EventDialing, EventRinging or EventNetworkReached)",
			func(r *http.Request, b *MakeCallBody, q engine.Request) (engine.MakeCall, error) {
				return engine.MakeCall{Request: q, From: *b.From, To: *b.To, UserData: event.KV(b.UserData)}, nil
			}),
		command("POST", callBase+"/answer", "Answer the call ringing at dn (EventEstablished)",
			func(r *http.Request, b *DNBody, q engine.Request) (engine.Answer, error) {
				return engine.Answer{Request: q, ConnID: conn(r), DN: *b.DN}, nil
			}),
		command("POST", callBase+"/release", "dn hangs up (EventReleased; EventAbandoned when the call was not answered)",
			func(r *http.Request, b *DNBody, q engine.Request) (engine.Release, error) {
				return engine.Release{Request: q, ConnID: conn(r), DN: *b.DN}, nil
			}),
		command("POST", callBase+"/hold", "dn puts the call on hold (EventHeld)",
			func(r *http.Request, b *DNBody, q engine.Request) (engine.Hold, error) {
				return engine.Hold{Request: q, ConnID: conn(r), DN: *b.DN}, nil
			}),
		command("POST", callBase+"/retrieve", "dn takes the call back from hold (EventRetrieved)",
			func(r *http.Request, b *DNBody, q engine.Request) (engine.Retrieve, error) {
				return engine.Retrieve{Request: q, ConnID: conn(r), DN: *b.DN}, nil
			}),
		command("POST", callBase+"/redirect", "Send the call ringing at dn to another destination (EventDiverted, EventRinging)",
			func(r *http.Request, b *DNToBody, q engine.Request) (engine.Redirect, error) {
				return engine.Redirect{Request: q, ConnID: conn(r), DN: *b.DN, To: *b.To}, nil
			}),
		command("POST", callBase+"/single-step-transfer", "dn transfers its call to another destination in one step (EventReleased, EventPartyChanged, EventRinging)",
			func(r *http.Request, b *DNToBody, q engine.Request) (engine.SingleStepTransfer, error) {
				return engine.SingleStepTransfer{Request: q, ConnID: conn(r), DN: *b.DN, To: *b.To}, nil
			}),
		creating("POST", callBase+"/initiate-transfer", "dn holds the call and makes a consultation call for a transfer; the reply is the consultation call (EventHeld, EventDialing, EventRinging)",
			func(r *http.Request, b *ConsultBody, q engine.Request) (engine.InitiateTransfer, error) {
				return engine.InitiateTransfer{Request: q, ConnID: conn(r), DN: *b.DN, To: *b.To, UserData: event.KV(b.UserData)}, nil
			}),
		command("POST", callBase+"/complete-transfer", "dn completes the transfer: its two calls become one between the other parties (EventReleased x2, EventPartyChanged)",
			func(r *http.Request, b *DNConsultBody, q engine.Request) (engine.CompleteTransfer, error) {
				return engine.CompleteTransfer{Request: q, ConnID: conn(r), DN: *b.DN, ConsultConnID: *b.ConsultConnID}, nil
			}),
		creating("POST", callBase+"/initiate-conference", "dn holds the call and makes a consultation call for a conference; the reply is the consultation call (EventHeld, EventDialing, EventRinging)",
			func(r *http.Request, b *ConsultBody, q engine.Request) (engine.InitiateConference, error) {
				return engine.InitiateConference{Request: q, ConnID: conn(r), DN: *b.DN, To: *b.To, UserData: event.KV(b.UserData)}, nil
			}),
		command("POST", callBase+"/complete-conference", "dn completes the conference: the consulted party joins the call (EventReleased, EventRetrieved, EventPartyAdded, EventPartyChanged)",
			func(r *http.Request, b *DNConsultBody, q engine.Request) (engine.CompleteConference, error) {
				return engine.CompleteConference{Request: q, ConnID: conn(r), DN: *b.DN, ConsultConnID: *b.ConsultConnID}, nil
			}),
		command("POST", callBase+"/single-step-conference", "dn adds a destination to the call in one step (EventRinging, then EventPartyAdded on answer)",
			func(r *http.Request, b *DNToBody, q engine.Request) (engine.SingleStepConference, error) {
				return engine.SingleStepConference{Request: q, ConnID: conn(r), DN: *b.DN, To: *b.To}, nil
			}),
		command("POST", callBase+"/delete-from-conference", "dn removes a party from the conference (EventReleased, EventPartyDeleted)",
			func(r *http.Request, b *PartyBody, q engine.Request) (engine.DeleteFromConference, error) {
				return engine.DeleteFromConference{Request: q, ConnID: conn(r), DN: *b.DN, Party: *b.Party}, nil
			}),
		command("POST", callBase+"/alternate", "dn swaps between the call and its consultation call (EventHeld, EventRetrieved)",
			func(r *http.Request, b *DNConsultBody, q engine.Request) (engine.Alternate, error) {
				return engine.Alternate{Request: q, ConnID: conn(r), DN: *b.DN, ConsultConnID: *b.ConsultConnID}, nil
			}),
		command("POST", callBase+"/reconnect", "dn releases the consultation call and retrieves the call (EventReleased, EventRetrieved)",
			func(r *http.Request, b *DNConsultBody, q engine.Request) (engine.Reconnect, error) {
				return engine.Reconnect{Request: q, ConnID: conn(r), DN: *b.DN, ConsultConnID: *b.ConsultConnID}, nil
			}),
		command("POST", callBase+"/mute", "Mute or unmute the party dn (EventMuteOn, EventMuteOff)",
			func(r *http.Request, b *MuteBody, q engine.Request) (engine.Mute, error) {
				return engine.Mute{Request: q, ConnID: conn(r), DN: *b.DN, On: *b.On}, nil
			}),
		command("POST", callBase+"/listen", "At dn's request, disconnect a conference party from listening or reconnect it (EventListenDisconnected, EventListenReconnected)",
			func(r *http.Request, b *ListenBody, q engine.Request) (engine.Listen, error) {
				return engine.Listen{Request: q, ConnID: conn(r), DN: *b.DN, Party: *b.Party, On: *b.On}, nil
			}),
		command("POST", callBase+"/user-data", "Merge key-value data into the call's user data (no event; carried on the call's later events)",
			func(r *http.Request, b *UserDataBody, q engine.Request) (engine.AttachUserData, error) {
				return engine.AttachUserData{Request: q, ConnID: conn(r), UserData: event.KV(b.UserData)}, nil
			}),
		query("GET", callsBase, "The active calls: parties, roles, states, call thread", CallList{},
			func(r *http.Request, v views) (any, error) {
				list := v.Calls()
				if list == nil {
					list = []engine.CallView{}
				}
				return CallList{Calls: list}, nil
			}),
		query("GET", callBase, "One active call: parties, roles, states, call thread", engine.CallView{},
			func(r *http.Request, v views) (any, error) { return v.Call(conn(r)) }),

		// The network side: what a carrier would do.
		creating("POST", networkBase, "An inbound call arrives from the network on a trunk (EventRinging, CallType Inbound)",
			func(r *http.Request, b *NetworkCallBody, q engine.Request) (engine.NetworkCall, error) {
				return engine.NetworkCall{Request: q, Trunk: *b.Trunk, ANI: *b.ANI, DNIS: *b.DNIS, UserData: event.KV(b.UserData)}, nil
			}),
		command("POST", networkBase+"/{connId}/answer", "The external party of an outbound call answers (EventEstablished)",
			func(r *http.Request, b *NetworkPartyBody, q engine.Request) (engine.NetworkAnswer, error) {
				return engine.NetworkAnswer{Request: q, ConnID: conn(r), Party: str(b.Party)}, nil
			}),
		command("POST", networkBase+"/{connId}/busy", "The external party of an outbound call is busy (EventDestinationBusy)",
			func(r *http.Request, b *NetworkPartyBody, q engine.Request) (engine.NetworkBusy, error) {
				return engine.NetworkBusy{Request: q, ConnID: conn(r), Party: str(b.Party)}, nil
			}),
		command("POST", networkBase+"/{connId}/release", "The external party hangs up (EventReleased, or EventAbandoned before an answer)",
			func(r *http.Request, b *NetworkPartyBody, q engine.Request) (engine.NetworkRelease, error) {
				return engine.NetworkRelease{Request: q, ConnID: conn(r), Party: str(b.Party)}, nil
			}),
	}
}

// str is *s, or "" when absent.
func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
