package event

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Validation errors. Every problem Validate reports wraps one of these or
// ErrBadValue.
var (
	// ErrUnknownEvent: the event has no id, or one this package does not know.
	ErrUnknownEvent = errors.New("event: unknown event")
	// ErrMissingField: a field the contract makes mandatory is absent.
	ErrMissingField = errors.New("event: missing field")
)

// FieldError is one problem with one field of an event.
type FieldError struct {
	Event  Name   // the event's id (zero if unknown)
	Field  string // the wire name, e.g. "ConnID", "time", "Extensions.ForwardMode"
	Err    error  // ErrMissingField, ErrBadValue or ErrUnknownEvent
	Detail string // for ErrBadValue: what is wrong with the value
}

func (fe *FieldError) Error() string {
	return "event: " + eventLabel(fe.Event) + ": " + fe.problem()
}

// Unwrap returns the sentinel: errors.Is(err, ErrMissingField) works.
func (fe *FieldError) Unwrap() error { return fe.Err }

func (fe *FieldError) problem() string {
	switch fe.Err {
	case ErrMissingField:
		return "missing " + fe.Field
	case ErrUnknownEvent:
		return "unknown event (" + fe.Field + ")"
	}
	s := "bad " + fe.Field
	if fe.Detail != "" {
		s += ": " + fe.Detail
	}
	return s
}

func eventLabel(n Name) string {
	if s := n.String(); s != "" {
		return s
	}
	return "event"
}

// ValidationError is the error Validate returns: every problem of one event,
// in field order. errors.Is finds each problem's sentinel and errors.As each
// *FieldError.
type ValidationError struct {
	Event    Name
	Problems []*FieldError
}

func (ve *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(eventLabel(ve.Event))
	b.WriteString(": ")
	for i, p := range ve.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.problem())
	}
	return b.String()
}

// Unwrap returns the problems.
func (ve *ValidationError) Unwrap() []error {
	out := make([]error, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p
	}
	return out
}

// mandatory lists, per event, the fields of the M column of EVENTS.md
// section 4 beyond the common ones of 2.1 and CallThreadID. Tests check it
// against the page itself and against contract.py's table M. Conditional
// rules (PreviousConnID for Consult calls, Extensions.ForwardMode) are in
// Validate.
var mandatory = [numNames + 1][]string{
	EventAgentLogin:          {"ThisDN", "AgentID"},
	EventQueueLogout:         {"ThisDN", "AgentID", "ThisQueue"},
	EventAgentLogout:         {"ThisDN", "AgentID"},
	EventAgentReady:          {"ThisDN", "AgentID", "AgentWorkMode"},
	EventAgentNotReady:       {"ThisDN", "AgentID", "AgentWorkMode"},
	EventDNOutOfService:      {"ThisDN"},
	EventDNBackInService:     {"ThisDN"},
	EventDNDOn:               {"ThisDN"},
	EventDNDOff:              {"ThisDN"},
	EventForwardSet:          {"ThisDN", "OtherDN", "Extensions"},
	EventForwardCancel:       {"ThisDN"},
	EventMonitoringNextCall:  {"ThisDN", "OtherDN", "MonitorNextCallType"},
	EventMonitoringCancelled: {"ThisDN", "OtherDN"},
	EventOffHook:             {"ThisDN"},
	EventOnHook:              {"ThisDN"},
	EventMuteOn:              {"ThisDN", "ConnID"},
	EventMuteOff:             {"ThisDN", "ConnID"},
	EventListenDisconnected:  {"ThisDN", "ConnID", "CallState"},
	EventListenReconnected:   {"ThisDN", "ConnID"},
	EventMessageWaitingOn:    {"ThisDN"},
	EventMessageWaitingOff:   {"ThisDN"},

	EventDialing:         {"ConnID", "CallID", "CallType", "ThisDN", "ThisDNRole"},
	EventNetworkReached:  {"ConnID", "CallID", "CallType", "ThisDN", "OtherDN", "OtherTrunk"},
	EventRinging:         {"ConnID", "CallID", "CallType", "CallState", "ThisDN", "ThisDNRole"},
	EventEstablished:     {"ConnID", "CallID", "CallType", "CallState", "ThisDN", "ThisDNRole", "OtherDN"},
	EventDestinationBusy: {"ConnID", "CallID", "CallType", "CallState", "ThisDN", "ThisDNRole", "OtherDN"},
	EventAbandoned:       {"ConnID", "CallID", "CallType", "CallState", "ThisDN", "ThisDNRole"},
	EventDiverted:        {"ConnID", "CallID", "CallType", "ThisDN", "ThirdPartyDN", "CallState"},
	EventQueued:          {"ConnID", "CallID", "CallType", "ThisDN", "ThisQueue"},
	EventHeld:            {"ConnID", "CallID", "CallType", "ThisDN", "OtherDN"},
	EventRetrieved:       {"ConnID", "CallID", "CallType", "CallState", "ThisDN", "OtherDN"},
	EventPartyAdded:      {"ConnID", "CallID", "CallType", "CallState", "ThisDN", "OtherDN", "OtherDNRole"},
	EventPartyChanged: {"ConnID", "PreviousConnID", "CallID", "CallType", "CallState", "ThisDN",
		"ThirdPartyDN", "ThirdPartyDNRole"},
	EventPartyDeleted: {"ConnID", "CallID", "CallType", "CallState", "ThisDN", "OtherDN", "OtherDNRole"},
	EventBridged:      {"ConnID", "CallID", "CallType", "ThisDN", "OtherDN"},
	EventReleased:     {"ConnID", "CallID", "CallType", "CallState", "ThisDN"},

	EventRouteRequest: {"ConnID", "CallID", "CallType", "ThisDN", "ThisQueue"},
	EventRouteUsed:    {"ConnID", "CallID", "CallType", "ThisDN", "ThisQueue", "ThirdPartyDN"},

	EventTreatmentRequired:   {"ConnID", "CallID", "CallType", "ThisDN"},
	EventTreatmentApplied:    {"ConnID", "CallID", "CallType", "ThisDN", "ThisDNRole", "TreatmentType"},
	EventTreatmentEnd:        {"ConnID", "CallID", "CallType", "ThisDN", "TreatmentType"},
	EventTreatmentNotApplied: {"ConnID", "CallID", "CallType", "ThisDN", "TreatmentType", "ErrorCode", "ErrorMessage"},
}

// Mandatory returns the wire names of the fields event n must carry
// according to the M column of EVENTS.md section 4, besides the common
// fields of section 2.1 and, on voice-callthread, CallThreadID. Conditional
// rules are not listed (see Validate). It returns nil for an unknown name.
func (n Name) Mandatory() []string {
	if n == 0 || n > numNames {
		return nil
	}
	return append([]string(nil), mandatory[n]...)
}

// has reports whether the field with the given wire name is present in e.
func (e *Event) has(field string) bool {
	switch field {
	case "ConnID":
		return e.ConnID != ""
	case "PreviousConnID":
		return e.PreviousConnID != ""
	case "CallID":
		return e.CallID != 0
	case "CallType":
		return e.CallType != 0
	case "CallState":
		return e.CallState != 0
	case "ThisDN":
		return e.ThisDN != ""
	case "ThisDNRole":
		return e.ThisDNRole != 0
	case "OtherDN":
		return e.OtherDN != ""
	case "OtherDNRole":
		return e.OtherDNRole != 0
	case "ThirdPartyDN":
		return e.ThirdPartyDN != ""
	case "ThirdPartyDNRole":
		return e.ThirdPartyDNRole != 0
	case "ThisQueue":
		return e.ThisQueue != ""
	case "OtherTrunk":
		return e.OtherTrunk != ""
	case "AgentID":
		return e.AgentID != ""
	case "AgentWorkMode":
		return e.AgentWorkMode != 0
	case "Extensions":
		return len(e.Extensions) > 0
	case "MonitorNextCallType":
		return e.MonitorNextCallType != 0
	case "TreatmentType":
		return e.TreatmentType != 0
	case "ErrorCode":
		return e.ErrorCode != 0
	case "ErrorMessage":
		return e.ErrorMessage != ""
	}
	panic("event: no presence test for field " + field) // the table and this switch disagree
}

// Values of EventTreatmentEnd's Extensions (EVENTS.md 2.3):
// COMPLETION_STATUS says how the treatment ended, INTERRUPTED what cut it
// short.
const (
	TreatmentCompletedNormal   = "NORMAL"  // it ran to its end
	TreatmentCompletedTimeout  = "TIMEOUT" // digit collection timed out
	TreatmentCompletedError    = "ERROR"   // otherwise
	TreatmentNotInterrupted    = "NO"
	TreatmentInterruptedKeypad = "KEYPAD"
	TreatmentInterruptedVoice  = "VOICE"
)

// Forward modes of Extensions.ForwardMode on EventForwardSet.
const (
	ForwardUnconditional     = "Unconditional"
	ForwardOnBusy            = "OnBusy"
	ForwardOnNoAnswer        = "OnNoAnswer"
	ForwardOnBusyAndNoAnswer = "OnBusyAndNoAnswer"
)

// Validate checks e against the contract: the common fields of EVENTS.md
// section 2.1 (a known id, Server, time, CustomerID, Seq >= 1,
// SchemaVersion 2, or 1 for records written before schema 2), CallThreadID
// on every voice-callthread event, the mandatory fields of the event's row
// in section 4, and the rules those rows and section 2 state:
//   - PreviousConnID on EventDialing, EventRinging and EventRouteRequest of
//     a Consult call;
//   - Extensions.ForwardMode on EventForwardSet, one of Unconditional, OnBusy,
//     OnNoAnswer, OnBusyAndNoAnswer;
//   - the values the rows fix: AgentWorkMode of EventAgentReady (ManualIn,
//     AutoIn, ReturnBack), CallType of EventNetworkReached (Outbound;
//     Consult for a consultation through a trunk, 5.15),
//     ThisDNRole of EventRinging (Destination, ConferenceMember, Observer),
//     CallState of EventListenDisconnected (Held), EventDestinationBusy
//     (Busy or Sit*), EventDiverted (Ok, Forwarded, Redirected,
//     ConverseOn), EventPartyAdded (Conferenced, Bridged), EventPartyChanged
//     (Transferred, Conferenced) and EventReleased (never Redirected);
//   - Reasons.RouteTimeout on EventRouteUsed, when present, is the string
//     "true"; on a schema 2 EventTreatmentEnd, Extensions.COMPLETION_STATUS
//     is NORMAL, TIMEOUT or ERROR and Extensions.INTERRUPTED is NO, KEYPAD or
//     VOICE, when present (schema 1 gave them no values);
//   - ConnID, PreviousConnID and TransferConnID, when present, are 16
//     lowercase hex digits, optionally followed by "@" and metainformation
//     (Voice Microservices' form; no white space, no second "@"); CallID,
//     when present, is positive; time's useconds is in [0, 999999]; every
//     present enumeration has a name.
//
// Fields a row does not list are never flagged: section 4 lets every call
// event carry the role, trunk, queue, ANI, DNIS and CallID fields where they
// apply. What an event alone cannot show is not checked either: ThisQueue
// on EventAbandoned of an ACD call, the CallThreadID being a UUID v7, the
// key order and Seq continuity. The AgentWorkMode checked is the one the
// encoder writes (see AgentWorkMode). It returns nil or a *ValidationError
// listing every problem; each wraps ErrUnknownEvent, ErrMissingField or
// ErrBadValue.
func (e *Event) Validate() error {
	v := validation{e: e}
	if e.ID == 0 || e.ID > numNames {
		v.add("id", ErrUnknownEvent, "")
		return v.err()
	}
	if e.Server == "" {
		v.missing("Server")
	}
	if e.Time.IsZero() {
		v.missing("time")
	} else if e.Time.USeconds < 0 || e.Time.USeconds >= 1_000_000 {
		v.bad("time", "useconds "+strconv.Itoa(int(e.Time.USeconds))+" is not in [0, 999999]")
	}
	if e.CustomerID == "" {
		v.missing("CustomerID")
	}
	switch {
	case e.Seq == 0:
		v.missing("Seq")
	case e.Seq < 0:
		v.bad("Seq", strconv.FormatInt(e.Seq, 10)+" is not positive")
	}
	switch {
	case e.SchemaVersion == 0:
		v.missing("SchemaVersion")
	case e.SchemaVersion < oldestSchemaVersion || e.SchemaVersion > SchemaVersion:
		v.bad("SchemaVersion", strconv.Itoa(e.SchemaVersion)+", want "+strconv.Itoa(oldestSchemaVersion)+
			" to "+strconv.Itoa(SchemaVersion))
	}
	if e.ID.Topic() == CallThreadTopic && e.CallThreadID == "" {
		v.missing("CallThreadID")
	}
	for _, f := range mandatory[e.ID] {
		if !e.has(f) {
			v.missing(f)
		}
	}

	// Conditional and value rules of section 4.
	switch e.ID {
	case EventDialing, EventRinging, EventRouteRequest:
		if e.CallType == CallTypeConsult && e.PreviousConnID == "" {
			v.add("PreviousConnID", ErrMissingField, "")
		}
	}
	switch e.ID {
	case EventForwardSet:
		p, ok := e.Extensions.Get("ForwardMode")
		switch {
		case !ok:
			if len(e.Extensions) > 0 { // else Extensions is reported missing
				v.missing("Extensions.ForwardMode")
			}
		case p.Kind != KindString || !isForwardMode(p.Str):
			v.bad("Extensions.ForwardMode", "want Unconditional, OnBusy, OnNoAnswer or OnBusyAndNoAnswer")
		}
	case EventAgentReady:
		v.oneOf("AgentWorkMode", uint8(wireWorkMode(e.ID, e.AgentWorkMode)), workModeNamesAll,
			uint8(WorkModeManualIn), uint8(WorkModeAutoIn), uint8(WorkModeReturnBack))
	case EventRinging:
		v.oneOf("ThisDNRole", uint8(e.ThisDNRole), dnRoleNames,
			uint8(RoleDestination), uint8(RoleConferenceMember), uint8(RoleObserver))
	case EventReleased:
		if e.CallState == CallStateRedirected {
			v.bad("CallState", "Redirected: a ringing call redirected away gives EventDiverted, not EventReleased")
		}
	case EventRouteUsed:
		if p, ok := e.Reasons.Get("RouteTimeout"); ok && (p.Kind != KindString || p.Str != "true") {
			v.bad("Reasons.RouteTimeout", "want the string \"true\"")
		}
	case EventTreatmentEnd:
		if e.SchemaVersion >= 2 {
			v.extension("COMPLETION_STATUS", TreatmentCompletedNormal, TreatmentCompletedTimeout, TreatmentCompletedError)
			v.extension("INTERRUPTED", TreatmentNotInterrupted, TreatmentInterruptedKeypad, TreatmentInterruptedVoice)
		}
	case EventNetworkReached:
		// Consult: a consultation through a trunk (5.15) keeps its type.
		v.oneOf("CallType", uint8(e.CallType), callTypeNames, uint8(CallTypeOutbound), uint8(CallTypeConsult))
	case EventListenDisconnected:
		v.oneOf("CallState", uint8(e.CallState), callStateNames, uint8(CallStateHeld))
	case EventDestinationBusy:
		if s := e.CallState; s != 0 && s != CallStateBusy && !strings.HasPrefix(s.String(), "Sit") {
			v.bad("CallState", valueName(uint8(s), callStateNames)+", want Busy or a Sit* state")
		}
	case EventDiverted:
		v.oneOf("CallState", uint8(e.CallState), callStateNames, uint8(CallStateOk),
			uint8(CallStateForwarded), uint8(CallStateRedirected), uint8(CallStateConverseOn))
	case EventPartyAdded:
		v.oneOf("CallState", uint8(e.CallState), callStateNames, uint8(CallStateConferenced), uint8(CallStateBridged))
	case EventPartyChanged:
		v.oneOf("CallState", uint8(e.CallState), callStateNames,
			uint8(CallStateTransferred), uint8(CallStateConferenced))
	}

	// Formats of section 2.
	v.connID("ConnID", e.ConnID)
	v.connID("PreviousConnID", e.PreviousConnID)
	v.connID("TransferConnID", e.TransferConnID)
	if e.CallID < 0 {
		v.bad("CallID", strconv.FormatInt(e.CallID, 10)+" is not positive")
	}
	v.named("CallType", uint8(e.CallType), callTypeNames)
	v.named("CallState", uint8(e.CallState), callStateNames)
	v.named("ThisDNRole", uint8(e.ThisDNRole), dnRoleNames)
	v.named("OtherDNRole", uint8(e.OtherDNRole), dnRoleNames)
	v.named("ThirdPartyDNRole", uint8(e.ThirdPartyDNRole), dnRoleNames)
	v.named("Cause", uint8(e.Cause), callStateNames)
	v.named("AgentWorkMode", uint8(e.AgentWorkMode), workModeNamesAll)
	v.named("MonitorNextCallType", uint8(e.MonitorNextCallType), monitorNames)
	v.named("TreatmentType", uint8(e.TreatmentType), treatmentNames)
	return v.err()
}

func isForwardMode(s string) bool {
	switch s {
	case ForwardUnconditional, ForwardOnBusy, ForwardOnNoAnswer, ForwardOnBusyAndNoAnswer:
		return true
	}
	return false
}

type validation struct {
	e        *Event
	problems []*FieldError
}

func (v *validation) add(field string, err error, detail string) {
	v.problems = append(v.problems, &FieldError{Event: v.e.ID, Field: field, Err: err, Detail: detail})
}

func (v *validation) missing(field string)            { v.add(field, ErrMissingField, "") }
func (v *validation) bad(field string, detail string) { v.add(field, ErrBadValue, detail) }

func (v *validation) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Event: v.e.ID, Problems: v.problems}
}

// oneOf reports a present enumeration value that is not one of want. An
// absent one is reported by the mandatory check.
func (v *validation) oneOf(field string, got uint8, names []string, want ...uint8) {
	if got == 0 || enumString(names, got) == "" { // absent, or reported by named
		return
	}
	for _, w := range want {
		if got == w {
			return
		}
	}
	ws := make([]string, len(want))
	for i, w := range want {
		ws[i] = enumString(names, w)
	}
	v.bad(field, valueName(got, names)+", want "+strings.Join(ws, " or "))
}

// named reports a present enumeration value that has no name.
func (v *validation) named(field string, got uint8, names []string) {
	if got != 0 && enumString(names, got) == "" {
		v.bad(field, valueName(got, names)+" is not a known value")
	}
}

func valueName(got uint8, names []string) string {
	if s := enumString(names, got); s != "" {
		return s
	}
	return "T-Library value " + strconv.Itoa(int(got)-1)
}

// extension reports Extensions.key when present with a value not in want.
func (v *validation) extension(key string, want ...string) {
	p, ok := v.e.Extensions.Get(key)
	if !ok {
		return
	}
	if p.Kind == KindString && slices.Contains(want, p.Str) {
		return
	}
	v.bad("Extensions."+key, "want "+strings.Join(want, ", "))
}

func (v *validation) connID(field, id string) {
	if id != "" && !isConnID(id) {
		v.bad(field, strconv.Quote(id)+" is not 16 lowercase hex digits, optionally followed by @metainformation")
	}
}

// isConnID reports whether s is a ConnID as EVENTS.md 2.2 lets validators
// accept: 16 lowercase hex digits (what switchboard writes), optionally
// followed by "@" and non-empty metainformation without white space or a
// second "@" (Voice Microservices' <ConnID>@<metainformation>).
func isConnID(s string) bool {
	if len(s) < 16 {
		return false
	}
	for i := 0; i < 16; i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	if len(s) == 16 {
		return true
	}
	meta := s[17:]
	if s[16] != '@' || meta == "" {
		return false
	}
	for _, r := range meta {
		// As contract.py's [^\s@]: Python's white space includes the
		// ASCII separators U+001C to U+001F.
		if r == '@' || unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f {
			return false
		}
	}
	return true
}
