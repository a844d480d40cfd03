package event

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// goField maps a wire name to the Event field that carries it.
func goField(wire string) string {
	switch wire {
	case "id":
		return "ID"
	case "time":
		return "Time"
	}
	return wire
}

// dropField returns e with the field of that wire name set to its zero value.
func dropField(t *testing.T, e Event, wire string) Event {
	t.Helper()
	f := reflect.ValueOf(&e).Elem().FieldByName(goField(wire))
	if !f.IsValid() {
		t.Fatalf("Event has no field for %q", wire)
	}
	f.SetZero()
	return e
}

// requiredFields lists every field Validate must require of event n: the
// common ones, CallThreadID on voice-callthread, and the M column.
func requiredFields(n Name) []string {
	fs := []string{"id", "Server", "time", "CustomerID", "Seq", "SchemaVersion"}
	if n.Topic() == CallThreadTopic {
		fs = append(fs, "CallThreadID")
	}
	return append(fs, n.Mandatory()...)
}

// TestValidateMissingField drops, from each golden event, each field the
// contract makes mandatory, and expects exactly one problem naming it.
func TestValidateMissingField(t *testing.T) {
	for _, n := range Names() {
		for _, f := range requiredFields(n) {
			t.Run(n.String()+"/"+f, func(t *testing.T) {
				e := dropField(t, goldenEvents[n](), f)
				err := e.Validate()
				if err == nil {
					t.Fatalf("Validate accepted %v without %s", n, f)
				}
				want := ErrMissingField
				if f == "id" {
					want = ErrUnknownEvent
				}
				if !errors.Is(err, want) {
					t.Errorf("error %q does not wrap %v", err, want)
				}
				var ve *ValidationError
				if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != f {
					t.Fatalf("error %#v, want one problem with field %s", err, f)
				}
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name %s", err, f)
				}
				if f != "id" && !strings.Contains(err.Error(), n.String()) {
					t.Errorf("error %q does not name the event", err)
				}
			})
		}
	}
}

// TestValidateRules covers the conditional and value rules of section 4 and
// the formats of section 2, each case a change to a valid golden event.
func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		event  Name
		change func(*Event)
		field  string // "" when the event must be valid
		want   error
	}{
		{"consult Dialing without PreviousConnID", EventDialing,
			func(e *Event) { e.PreviousConnID = "" }, "PreviousConnID", ErrMissingField},
		{"internal Dialing without PreviousConnID", EventDialing,
			func(e *Event) { e.PreviousConnID, e.CallType = "", CallTypeInternal }, "", nil},
		{"consult Ringing without PreviousConnID", EventRinging,
			func(e *Event) { e.CallType = CallTypeConsult }, "PreviousConnID", ErrMissingField},
		{"consult Ringing with PreviousConnID", EventRinging,
			func(e *Event) { e.CallType, e.PreviousConnID = CallTypeConsult, gConn2 }, "", nil},
		{"consult RouteRequest without PreviousConnID", EventRouteRequest,
			func(e *Event) { e.CallType = CallTypeConsult }, "PreviousConnID", ErrMissingField},
		{"consult Established needs no PreviousConnID", EventEstablished,
			func(e *Event) { e.CallType = CallTypeConsult }, "", nil},
		{"ForwardSet without ForwardMode", EventForwardSet,
			func(e *Event) { e.Extensions = KV{S("Other", "x")} }, "Extensions.ForwardMode", ErrMissingField},
		{"ForwardSet with unknown ForwardMode", EventForwardSet,
			func(e *Event) { e.Extensions = KV{S("ForwardMode", "Sometimes")} }, "Extensions.ForwardMode", ErrBadValue},
		{"ForwardSet with integer ForwardMode", EventForwardSet,
			func(e *Event) { e.Extensions = KV{I("ForwardMode", 1)} }, "Extensions.ForwardMode", ErrBadValue},
		{"ForwardSet Unconditional", EventForwardSet,
			func(e *Event) { e.Extensions = KV{S("ForwardMode", ForwardUnconditional)} }, "", nil},
		{"ForwardCancel needs no Extensions", EventForwardCancel, func(e *Event) {}, "", nil},
		{"ListenDisconnected not Held", EventListenDisconnected,
			func(e *Event) { e.CallState = CallStateOk }, "CallState", ErrBadValue},
		{"AgentReady in AfterCallWork", EventAgentReady,
			func(e *Event) { e.AgentWorkMode = WorkModeAfterCallWork }, "AgentWorkMode", ErrBadValue},
		{"AgentReady AutoIn", EventAgentReady,
			func(e *Event) { e.AgentWorkMode = WorkModeAutoIn }, "", nil},
		{"AgentReady ReturnBack", EventAgentReady,
			func(e *Event) { e.AgentWorkMode = WorkModeReturnBack }, "", nil},
		{"NetworkReached not Outbound", EventNetworkReached,
			func(e *Event) { e.CallType = CallTypeInbound }, "CallType", ErrBadValue},
		{"DestinationBusy SitVacant", EventDestinationBusy,
			func(e *Event) { e.CallState = CallStateSitVacant }, "", nil},
		{"DestinationBusy Ok", EventDestinationBusy,
			func(e *Event) { e.CallState = CallStateOk }, "CallState", ErrBadValue},
		{"Diverted Forwarded", EventDiverted,
			func(e *Event) { e.CallState = CallStateForwarded }, "", nil},
		{"Diverted Transferred", EventDiverted,
			func(e *Event) { e.CallState = CallStateTransferred }, "CallState", ErrBadValue},
		{"PartyAdded Ok", EventPartyAdded,
			func(e *Event) { e.CallState = CallStateOk }, "CallState", ErrBadValue},
		{"PartyChanged Conferenced", EventPartyChanged,
			func(e *Event) { e.CallState = CallStateConferenced }, "", nil},
		{"PartyChanged Ok", EventPartyChanged,
			func(e *Event) { e.CallState = CallStateOk }, "CallState", ErrBadValue},
		{"Abandoned without ThisQueue", EventAbandoned,
			func(e *Event) { e.ThisQueue = "" }, "", nil},
		{"ConnID upper case", EventRinging,
			func(e *Event) { e.ConnID = strings.ToUpper(gConn1) }, "ConnID", ErrBadValue},
		{"ConnID 15 digits", EventMuteOn,
			func(e *Event) { e.ConnID = gConn1[1:] }, "ConnID", ErrBadValue},
		{"PreviousConnID not hex", EventPartyChanged,
			func(e *Event) { e.PreviousConnID = "019ab9f26a4c000g" }, "PreviousConnID", ErrBadValue},
		{"TransferConnID not hex", EventReleased,
			func(e *Event) { e.TransferConnID = "xyz" }, "TransferConnID", ErrBadValue},
		{"TransferConnID valid", EventReleased,
			func(e *Event) { e.TransferConnID = gConn2 }, "", nil},
		{"ConnID with metainformation", EventRinging,
			func(e *Event) { e.ConnID = gConn1 + "@sipserver-2.eu-west:5060;x=1" }, "", nil},
		{"PreviousConnID with metainformation", EventPartyChanged,
			func(e *Event) { e.PreviousConnID = gConn2 + "@vm-7" }, "", nil},
		{"TransferConnID with metainformation", EventReleased,
			func(e *Event) { e.TransferConnID = gConn2 + "@é" }, "", nil},
		{"ConnID with empty metainformation", EventRinging,
			func(e *Event) { e.ConnID = gConn1 + "@" }, "ConnID", ErrBadValue},
		{"ConnID with two @", EventRinging,
			func(e *Event) { e.ConnID = gConn1 + "@a@b" }, "ConnID", ErrBadValue},
		{"ConnID with white space in metainformation", EventRinging,
			func(e *Event) { e.ConnID = gConn1 + "@a b" }, "ConnID", ErrBadValue},
		{"ConnID with a separator control in metainformation", EventRinging,
			func(e *Event) { e.ConnID = gConn1 + "@a\x1fb" }, "ConnID", ErrBadValue},
		{"ConnID with a no-break space in metainformation", EventRinging,
			func(e *Event) { e.ConnID = gConn1 + "@a\u00a0b" }, "ConnID", ErrBadValue},
		{"ConnID without the @", EventRinging,
			func(e *Event) { e.ConnID = gConn1 + "meta" }, "ConnID", ErrBadValue},
		{"ConnID 15 digits with metainformation", EventRinging,
			func(e *Event) { e.ConnID = gConn1[1:] + "@meta" }, "ConnID", ErrBadValue},
		{"ConnID upper case with metainformation", EventRinging,
			func(e *Event) { e.ConnID = strings.ToUpper(gConn1) + "@meta" }, "ConnID", ErrBadValue},
		{"CallID negative", EventRinging,
			func(e *Event) { e.CallID = -4 }, "CallID", ErrBadValue},
		{"Seq negative", EventRinging,
			func(e *Event) { e.Seq = -1 }, "Seq", ErrBadValue},
		{"SchemaVersion 3", EventOffHook,
			func(e *Event) { e.SchemaVersion = 3 }, "SchemaVersion", ErrBadValue},
		{"SchemaVersion 1 (older records)", EventOffHook,
			func(e *Event) { e.SchemaVersion = 1 }, "", nil},
		{"SchemaVersion -1", EventOffHook,
			func(e *Event) { e.SchemaVersion = -1 }, "SchemaVersion", ErrBadValue},
		{"useconds out of range", EventOffHook,
			func(e *Event) { e.Time.USeconds = 1_000_000 }, "time", ErrBadValue},
		{"CallType without a name", EventRinging,
			func(e *Event) { e.CallType = 99 }, "CallType", ErrBadValue},
		{"CallState without a name", EventListenDisconnected,
			func(e *Event) { e.CallState = CallState(40) }, "CallState", ErrBadValue},
		{"optional Cause without a name", EventReleased,
			func(e *Event) { e.Cause = Cause(35) }, "Cause", ErrBadValue},
		{"optional OtherDNRole without a name", EventRinging,
			func(e *Event) { e.OtherDNRole = 12 }, "OtherDNRole", ErrBadValue},
		{"TreatmentType without a name", EventTreatmentEnd,
			func(e *Event) { e.TreatmentType = 20 }, "TreatmentType", ErrBadValue},
		{"MonitorNextCallType without a name", EventMonitoringNextCall,
			func(e *Event) { e.MonitorNextCallType = 3 }, "MonitorNextCallType", ErrBadValue},
		{"AgentWorkMode without a name", EventAgentNotReady,
			func(e *Event) { e.AgentWorkMode = WorkModeLegalGuard + 1 }, "AgentWorkMode", ErrBadValue},
		{"AgentNotReady LegalGuard", EventAgentNotReady,
			func(e *Event) { e.AgentWorkMode, e.Extensions = WorkModeLegalGuard, nil }, "", nil},
		{"AgentReady holding LegalGuard is written AutoIn", EventAgentReady,
			func(e *Event) { e.AgentWorkMode = WorkModeLegalGuard }, "", nil},
		{"Ringing of a monitoring supervisor", EventRinging,
			func(e *Event) { e.ThisDNRole, e.CallState = RoleObserver, CallStateBridged }, "", nil},
		{"Ringing of a single-step conference party", EventRinging,
			func(e *Event) { e.ThisDNRole = RoleConferenceMember }, "", nil},
		{"Ringing as Origination", EventRinging,
			func(e *Event) { e.ThisDNRole = RoleOrigination }, "ThisDNRole", ErrBadValue},
		{"Released Redirected", EventReleased,
			func(e *Event) { e.CallState = CallStateRedirected }, "CallState", ErrBadValue},
		{"PartyAdded Bridged (monitoring supervisor)", EventPartyAdded,
			func(e *Event) { e.CallState, e.OtherDNRole = CallStateBridged, RoleObserver }, "", nil},
		{"RouteUsed without RouteTimeout", EventRouteUsed,
			func(e *Event) { e.Reasons = nil }, "", nil},
		{"RouteUsed RouteTimeout false", EventRouteUsed,
			func(e *Event) { e.Reasons = KV{S("RouteTimeout", "false")} }, "Reasons.RouteTimeout", ErrBadValue},
		{"RouteUsed RouteTimeout integer", EventRouteUsed,
			func(e *Event) { e.Reasons = KV{I("RouteTimeout", 1)} }, "Reasons.RouteTimeout", ErrBadValue},
		{"TreatmentEnd TIMEOUT", EventTreatmentEnd,
			func(e *Event) { e.Extensions = KV{S("COMPLETION_STATUS", TreatmentCompletedTimeout)} }, "", nil},
		{"TreatmentEnd ERROR, KEYPAD", EventTreatmentEnd, func(e *Event) {
			e.Extensions = KV{S("COMPLETION_STATUS", TreatmentCompletedError), S("INTERRUPTED", TreatmentInterruptedKeypad)}
		}, "", nil},
		{"TreatmentEnd without Extensions", EventTreatmentEnd,
			func(e *Event) { e.Extensions = nil }, "", nil},
		{"TreatmentEnd COMPLETION_STATUS OK", EventTreatmentEnd,
			func(e *Event) { e.Extensions = KV{S("COMPLETION_STATUS", "OK")} }, "Extensions.COMPLETION_STATUS", ErrBadValue},
		{"TreatmentEnd INTERRUPTED true", EventTreatmentEnd,
			func(e *Event) { e.Extensions = KV{S("INTERRUPTED", "true")} }, "Extensions.INTERRUPTED", ErrBadValue},
		{"TreatmentEnd INTERRUPTED 0", EventTreatmentEnd,
			func(e *Event) { e.Extensions = KV{I("INTERRUPTED", 0)} }, "Extensions.INTERRUPTED", ErrBadValue},
		{"schema 1 TreatmentEnd with its own Extensions", EventTreatmentEnd, func(e *Event) {
			e.SchemaVersion, e.Extensions = 1, KV{S("COMPLETION_STATUS", "Completed"), I("INTERRUPTED", 0)}
		}, "", nil},
		{"unknown event", EventRinging,
			func(e *Event) { e.ID = numNames + 1 }, "id", ErrUnknownEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := goldenEvents[tt.event]()
			tt.change(&e)
			err := e.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want an error wrapping %v", err, tt.want)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 {
				t.Fatalf("Validate = %v, want exactly one problem", err)
			}
			if p := ve.Problems[0]; p.Field != tt.field || p.Err != tt.want {
				t.Errorf("problem %+v, want field %s, %v", p, tt.field, tt.want)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %s", err, tt.field)
			}
		})
	}
}

// TestValidateSeveralProblems: every problem is reported, each findable.
func TestValidateSeveralProblems(t *testing.T) {
	e := goldenEvents[EventRinging]()
	e.ConnID, e.CallID, e.CallState = "", 0, CallStateHeld
	e.PreviousConnID = "BAD"
	err := e.Validate()
	const want = "event: EventRinging: missing ConnID; missing CallID; bad PreviousConnID: \"BAD\" is not 16 lowercase hex digits, optionally followed by @metainformation"
	if err == nil || err.Error() != want {
		t.Fatalf("Validate = %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrMissingField) || !errors.Is(err, ErrBadValue) {
		t.Errorf("error does not wrap both sentinels")
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "ConnID" || fe.Event != EventRinging {
		t.Errorf("errors.As gives %+v, want the ConnID problem", fe)
	}
	if got := fe.Error(); got != "event: EventRinging: missing ConnID" {
		t.Errorf("FieldError.Error() = %q", got)
	}
}

func TestValidateZeroEvent(t *testing.T) {
	var e Event
	err := e.Validate()
	if !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("Validate of the zero Event = %v, want ErrUnknownEvent", err)
	}
}

func TestMandatoryIsACopy(t *testing.T) {
	m := EventRinging.Mandatory()
	m[0] = "changed"
	if EventRinging.Mandatory()[0] != "ConnID" {
		t.Fatal("Mandatory returned the package's own slice")
	}
	if Name(0).Mandatory() != nil || Name(numNames+1).Mandatory() != nil {
		t.Fatal("Mandatory of an unknown name is not nil")
	}
}
