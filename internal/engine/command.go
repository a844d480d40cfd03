package engine

import (
	"bytes"
	"encoding/json"

	"github.com/switchboard-cc/switchboard/event"
)

// Command is one input to Step. Commands are plain values with exported
// fields; pass them by value (Login{...}, not &Login{...}). Kind is a stable
// name used by the journal. Each kind registers itself (request.go): Step
// accepts only registered kinds.
type Command interface{ Kind() string }

// Request carries what every client request may give: ReferenceID, Reasons
// and Extensions, copied to every event the request causes. The engine keeps
// references to Reasons and Extensions: do not modify them after Step.
type Request struct {
	ReferenceID int64    `json:"referenceId,omitempty"`
	Reasons     event.KV `json:"reasons,omitempty"`
	Extensions  event.KV `json:"extensions,omitempty"`
}

// Login logs AgentID in on DN, to each of Queues (none: a login without a
// queue). WorkMode is optional and echoed on the events.
type Login struct {
	Request
	DN       string              `json:"dn"`
	AgentID  string              `json:"agentId"`
	Queues   []string            `json:"queues,omitempty"`
	WorkMode event.AgentWorkMode `json:"workMode,omitempty"`
}

// Logout logs the agent on DN out of Queues; nil or empty: of everything.
type Logout struct {
	Request
	DN     string   `json:"dn"`
	Queues []string `json:"queues,omitempty"`
}

// Ready makes the agent on DN ready: WorkMode ManualIn (default), AutoIn
// or ReturnBack.
type Ready struct {
	Request
	DN       string              `json:"dn"`
	WorkMode event.AgentWorkMode `json:"workMode,omitempty"`
}

// NotReady makes the agent on DN not ready: WorkMode AuxWork (default),
// AfterCallWork, WalkAway, NoCallDisconnect or LegalGuard (T-Library
// AgentLegalGuard, which shares AutoIn's value). With AfterCallWork,
// Extensions.WrapUpTime (integer seconds, or "untimed", the default) makes
// it timed: the agent becomes Ready again when it runs out.
type NotReady struct {
	Request
	DN       string              `json:"dn"`
	WorkMode event.AgentWorkMode `json:"workMode,omitempty"`
}

// SetDND switches do-not-disturb of DN on or off.
type SetDND struct {
	Request
	DN string `json:"dn"`
	On bool   `json:"on"`
}

// SetForward forwards DN's calls to To (a DN of the tenant or an external
// number) with Mode (Unconditional when zero).
type SetForward struct {
	Request
	DN   string      `json:"dn"`
	To   string      `json:"to"`
	Mode ForwardMode `json:"mode,omitempty"`
}

// CancelForward cancels DN's forwarding.
type CancelForward struct {
	Request
	DN string `json:"dn"`
}

// MonitorNextCall: the supervisor at DN Supervisor monitors the next call
// (Type OneCall, the default) or all calls (AllCalls) of the agent at DN
// Target.
type MonitorNextCall struct {
	Request
	Supervisor string                    `json:"supervisor"`
	Target     string                    `json:"target"`
	Type       event.MonitorNextCallType `json:"type,omitempty"`
}

// CancelMonitoring ends the monitoring requested by DN Supervisor.
type CancelMonitoring struct {
	Request
	Supervisor string `json:"supervisor"`
}

// Hook reports DN's phone going off hook (OffHook) or on hook.
type Hook struct {
	Request
	DN      string `json:"dn"`
	OffHook bool   `json:"offHook"`
}

// SetService takes DN out of service (which logs its agent out) or puts it
// back in service.
type SetService struct {
	Request
	DN        string `json:"dn"`
	InService bool   `json:"inService"`
}

// MessageWaiting turns DN's message-waiting indicator on or off, with the
// counts of new and old messages.
type MessageWaiting struct {
	Request
	DN  string `json:"dn"`
	On  bool   `json:"on"`
	New int    `json:"newMessages,omitempty"`
	Old int    `json:"oldMessages,omitempty"`
}

// Mute mutes or unmutes DN on call ConnID (EventMuteOn / EventMuteOff).
type Mute struct {
	Request
	DN     string `json:"dn"`
	ConnID string `json:"connId"`
	On     bool   `json:"on"`
}

// Listen disconnects (On false: EventListenDisconnected) or reconnects (On
// true: EventListenReconnected) Party from conference ConnID at the request
// of DN.
type Listen struct {
	Request
	DN     string `json:"dn"`
	ConnID string `json:"connId"`
	Party  string `json:"party"`
	On     bool   `json:"on"`
}

// TimerFired tells the engine that the timer of a StartTimer effect ran out.
// A timer that was cancelled or already fired is ignored (no events, no
// error): the runtime may race a cancel.
type TimerFired struct {
	ID string `json:"id"`
}

// RouteCall is a router's decision for call ConnID waiting at routing
// point RoutingPoint: send it to To (a phone DN, an acd-queue, another
// routing point or an external number). EventRouteUsed, then the
// destination's EventRinging (ThisQueue the routing point), EventQueued or
// EventRouteRequest. A busy phone or a full queue is refused (conflict):
// the call stays at the routing point.
type RouteCall struct {
	Request
	ConnID       string `json:"connId"`
	RoutingPoint string `json:"routingPoint"`
	To           string `json:"to"`
}

// ApplyTreatment starts a treatment on call ConnID waiting at DN (a
// routing point or an acd-queue): Type is a TreatmentType name; Music,
// RingBack, Silence, Busy, PlayAnnouncement and CollectDigits are
// supported. Parms are copied to TreatmentParms; DURATION (integer
// seconds) ends the treatment (EventTreatmentEnd) after that time; it is
// required for PlayAnnouncement and ignored for Silence and RingBack. An
// unknown or unsupported type or bad parameters are not refusals: the
// step produces EventTreatmentNotApplied.
type ApplyTreatment struct {
	Request
	ConnID string   `json:"connId"`
	DN     string   `json:"dn"`
	Type   string   `json:"type"`
	Parms  event.KV `json:"parms,omitempty"`
}

// CollectDigits supplies the digits the caller of call ConnID keyed in for
// the CollectDigits treatment running at DN: EventTreatmentEnd with
// CollectedDigits, LastCollectedDigit and Extensions COMPLETION_STATUS
// NORMAL, INTERRUPTED NO.
type CollectDigits struct {
	Request
	ConnID string `json:"connId"`
	DN     string `json:"dn"`
	Digits string `json:"digits"`
}

// CallReply is the Reply of the commands that create a call: MakeCall,
// NetworkCall, and (the consultation call) InitiateTransfer and
// InitiateConference.
type CallReply struct {
	ConnID       string `json:"connId"`
	CallThreadID string `json:"callThreadId"`
}

// MakeCall: DN From calls To, a phone DN of the tenant or an external
// number (through the trunk whose prefixes match). UserData is attached to
// the call. Reply: CallReply. A busy destination is not a refusal: the call
// gets EventDestinationBusy (flow 5.4).
type MakeCall struct {
	Request
	From     string   `json:"from"`
	To       string   `json:"to"`
	UserData event.KV `json:"userData,omitempty"`
}

// Answer: DN answers call ConnID ringing there.
type Answer struct {
	Request
	ConnID string `json:"connId"`
	DN     string `json:"dn"`
}

// Release: DN hangs up call ConnID.
type Release struct {
	Request
	ConnID string `json:"connId"`
	DN     string `json:"dn"`
}

// Hold: DN puts call ConnID on hold.
type Hold struct {
	Request
	ConnID string `json:"connId"`
	DN     string `json:"dn"`
}

// Retrieve: DN takes call ConnID back from hold.
type Retrieve struct {
	Request
	ConnID string `json:"connId"`
	DN     string `json:"dn"`
}

// Redirect sends call ConnID, ringing at DN, to DN To.
type Redirect struct {
	Request
	ConnID string `json:"connId"`
	DN     string `json:"dn"`
	To     string `json:"to"`
}

// SingleStepTransfer: DN transfers its two-party call ConnID to To.
type SingleStepTransfer struct {
	Request
	ConnID string `json:"connId"`
	DN     string `json:"dn"`
	To     string `json:"to"`
}

// InitiateTransfer: DN puts call ConnID on hold and makes a consultation
// call to To (in the same call thread; UserData merged over the main
// call's). Reply: CallReply of the consultation call.
type InitiateTransfer struct {
	Request
	ConnID   string   `json:"connId"`
	DN       string   `json:"dn"`
	To       string   `json:"to"`
	UserData event.KV `json:"userData,omitempty"`
}

// CompleteTransfer: DN leaves call ConnID and its consultation call
// ConsultConnID, connecting their other parties on ConnID. Allowed before
// or after the consulted party answers.
type CompleteTransfer struct {
	Request
	ConnID        string `json:"connId"`
	DN            string `json:"dn"`
	ConsultConnID string `json:"consultConnId"`
}

// InitiateConference is InitiateTransfer with a conference in mind.
type InitiateConference struct {
	Request
	ConnID   string   `json:"connId"`
	DN       string   `json:"dn"`
	To       string   `json:"to"`
	UserData event.KV `json:"userData,omitempty"`
}

// CompleteConference: the consulted party (who must have answered) joins
// call ConnID; the consultation call ends.
type CompleteConference struct {
	Request
	ConnID        string `json:"connId"`
	DN            string `json:"dn"`
	ConsultConnID string `json:"consultConnId"`
}

// SingleStepConference: DN adds To to call ConnID; To rings.
type SingleStepConference struct {
	Request
	ConnID string `json:"connId"`
	DN     string `json:"dn"`
	To     string `json:"to"`
}

// DeleteFromConference: DN removes Party (a DN or external number) from
// conference ConnID.
type DeleteFromConference struct {
	Request
	ConnID string `json:"connId"`
	DN     string `json:"dn"`
	Party  string `json:"party"`
}

// Alternate: DN, established on one of ConnID and its consultation call
// ConsultConnID and holding the other, swaps them.
type Alternate struct {
	Request
	ConnID        string `json:"connId"`
	DN            string `json:"dn"`
	ConsultConnID string `json:"consultConnId"`
}

// Reconnect: DN releases consultation call ConsultConnID and retrieves
// ConnID.
type Reconnect struct {
	Request
	ConnID        string `json:"connId"`
	DN            string `json:"dn"`
	ConsultConnID string `json:"consultConnId"`
}

// AttachUserData merges UserData into call ConnID's (a key already there
// takes the new value). No event: the data is carried on the call's later
// events.
type AttachUserData struct {
	Request
	ConnID   string   `json:"connId"`
	UserData event.KV `json:"userData"`
}

// NetworkCall: an inbound call arrives on trunk Trunk from ANI for DNIS (a
// phone DN). Reply: CallReply. Refused (conflict) when the DN is busy and
// not forwarded: the carrier gets busy and no call exists.
type NetworkCall struct {
	Request
	Trunk    string   `json:"trunk"`
	ANI      string   `json:"ani"`
	DNIS     string   `json:"dnis"`
	UserData event.KV `json:"userData,omitempty"`
}

// NetworkAnswer: the external party of outbound call ConnID answers.
// Party is its number when the call has several external parties (a call
// transferred out through a trunk); empty: the one being called.
type NetworkAnswer struct {
	Request
	ConnID string `json:"connId"`
	Party  string `json:"party,omitempty"`
}

// NetworkBusy: the external party of outbound call ConnID is busy. Party
// as for NetworkAnswer.
type NetworkBusy struct {
	Request
	ConnID string `json:"connId"`
	Party  string `json:"party,omitempty"`
}

// NetworkRelease: the external party of call ConnID hangs up. Party is its
// number when the call has several external parties; empty: the first.
type NetworkRelease struct {
	Request
	ConnID string `json:"connId"`
	Party  string `json:"party,omitempty"`
}

func decodeAs[T Command](b []byte) (Command, error) {
	var c T
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return nil, err
	}
	return c, nil
}

type envelope struct {
	Kind string          `json:"kind"`
	Cmd  json.RawMessage `json:"cmd"`
}

// EncodeCommand encodes a command for the journal as
// {"kind": "...", "cmd": {...}} (compact, as encoding/json writes it).
// A CommandEncoder writes the same bytes without allocating its own.
func EncodeCommand(c Command) ([]byte, error) {
	var ce CommandEncoder
	return ce.Append(nil, c)
}

// CommandEncoder appends commands as EncodeCommand encodes them, through
// an encoder and buffer it keeps, so an encoding costs no allocation of its
// own once warm (marshallers of the command's fields may still allocate).
// The zero value is ready to use; it is not safe for concurrent use.
type CommandEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// maxKeptBuffer: a CommandEncoder drops a buffer grown larger than this
// after use, so one huge command does not pin memory.
const maxKeptBuffer = 64 << 10

// Append appends what EncodeCommand returns for c to dst. On error dst is
// returned unchanged.
func (ce *CommandEncoder) Append(dst []byte, c Command) ([]byte, error) {
	prefix, err := commandPrefix(c)
	if err != nil {
		return dst, err
	}
	if ce.enc == nil {
		ce.enc = json.NewEncoder(&ce.buf) // escapes HTML, as json.Marshal does
	}
	ce.buf.Reset()
	if err := ce.enc.Encode(c); err != nil {
		return dst, err
	}
	body := ce.buf.Bytes()
	body = body[:len(body)-1] // Encode ends with a newline
	dst = append(dst, prefix...)
	dst = append(dst, body...)
	dst = append(dst, '}')
	if ce.buf.Cap() > maxKeptBuffer {
		ce.buf = bytes.Buffer{} // same address: enc still writes here
	}
	return dst, nil
}

// commandPrefix returns the start of c's encoding, or why c cannot be
// encoded.
func commandPrefix(c Command) ([]byte, error) {
	if c == nil {
		return nil, invalid("cannot encode a nil command")
	}
	r := requests[c.Kind()]
	if r == nil {
		return nil, invalid("cannot encode command of kind " + q(c.Kind()))
	}
	return r.prefix, nil
}

// DecodeCommand decodes what EncodeCommand wrote. Unknown kinds and unknown
// fields are refused.
func DecodeCommand(b []byte) (Command, error) {
	var env envelope
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&env); err != nil {
		return nil, invalid("decode command: " + err.Error())
	}
	r := requests[env.Kind]
	if r == nil {
		return nil, invalid("decode command: unknown kind " + q(env.Kind))
	}
	c, err := r.decode(env.Cmd)
	if err != nil {
		return nil, invalid("decode " + env.Kind + " command: " + err.Error())
	}
	return c, nil
}

// ForwardMode is the forwarding mode of SetForward, written as
// Extensions.ForwardMode. The zero value is absent.
type ForwardMode uint8

// The forwarding modes.
const (
	ForwardUnconditional ForwardMode = iota + 1
	ForwardOnBusy
	ForwardOnNoAnswer
	ForwardOnBusyAndNoAnswer
)

var forwardModeNames = [...]string{"", "Unconditional", "OnBusy", "OnNoAnswer", "OnBusyAndNoAnswer"}

// String returns the mode's name ("Unconditional", ...), "" if absent or
// unknown.
func (m ForwardMode) String() string {
	if int(m) >= len(forwardModeNames) {
		return ""
	}
	return forwardModeNames[m]
}

// ParseForwardMode returns the mode of a name; "" gives the zero mode.
func ParseForwardMode(s string) (ForwardMode, bool) {
	for i, n := range forwardModeNames {
		if n == s {
			return ForwardMode(i), true
		}
	}
	return 0, false
}

// MarshalText writes the mode's name.
func (m ForwardMode) MarshalText() ([]byte, error) {
	if int(m) >= len(forwardModeNames) {
		return nil, invalid("unknown forward mode")
	}
	return []byte(m.String()), nil
}

// UnmarshalText reads a mode's name.
func (m *ForwardMode) UnmarshalText(b []byte) error {
	v, ok := ParseForwardMode(string(b))
	if !ok {
		return invalid("unknown forward mode " + q(string(b)) + " (want Unconditional, OnBusy, OnNoAnswer or OnBusyAndNoAnswer)")
	}
	*m = v
	return nil
}
