package engine

import (
	"bytes"
	"encoding/json"

	"github.com/switchboard-cc/switchboard/event"
)

// Command is one input to Step. Commands are plain values with exported
// fields; pass them by value (Login{...}, not &Login{...}). Kind is a stable
// name used by the journal.
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

// Ready makes the agent on DN ready: WorkMode ManualIn (default) or AutoIn.
type Ready struct {
	Request
	DN       string              `json:"dn"`
	WorkMode event.AgentWorkMode `json:"workMode,omitempty"`
}

// NotReady makes the agent on DN not ready: WorkMode AuxWork (default),
// AfterCallWork, WalkAway or NoCallDisconnect. With AfterCallWork,
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

// Mute mutes or unmutes DN on call ConnID. Refused (conflict) until calls
// exist (part 2).
type Mute struct {
	Request
	DN     string `json:"dn"`
	ConnID string `json:"connId"`
	On     bool   `json:"on"`
}

// Listen disconnects (On false) or reconnects (On true) Party from
// conference ConnID at the request of DN. Refused (conflict) until calls
// exist (part 2).
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

func (Login) Kind() string            { return "login" }
func (Logout) Kind() string           { return "logout" }
func (Ready) Kind() string            { return "ready" }
func (NotReady) Kind() string         { return "not-ready" }
func (SetDND) Kind() string           { return "dnd" }
func (SetForward) Kind() string       { return "forward" }
func (CancelForward) Kind() string    { return "cancel-forward" }
func (MonitorNextCall) Kind() string  { return "monitor" }
func (CancelMonitoring) Kind() string { return "cancel-monitoring" }
func (Hook) Kind() string             { return "hook" }
func (SetService) Kind() string       { return "service" }
func (MessageWaiting) Kind() string   { return "message-waiting" }
func (Mute) Kind() string             { return "mute" }
func (Listen) Kind() string           { return "listen" }
func (TimerFired) Kind() string       { return "timer" }

// decoders maps a Kind to a decoder of that command's JSON.
var decoders = map[string]func([]byte) (Command, error){
	"login":             decodeAs[Login],
	"logout":            decodeAs[Logout],
	"ready":             decodeAs[Ready],
	"not-ready":         decodeAs[NotReady],
	"dnd":               decodeAs[SetDND],
	"forward":           decodeAs[SetForward],
	"cancel-forward":    decodeAs[CancelForward],
	"monitor":           decodeAs[MonitorNextCall],
	"cancel-monitoring": decodeAs[CancelMonitoring],
	"hook":              decodeAs[Hook],
	"service":           decodeAs[SetService],
	"message-waiting":   decodeAs[MessageWaiting],
	"mute":              decodeAs[Mute],
	"listen":            decodeAs[Listen],
	"timer":             decodeAs[TimerFired],
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
// {"kind": "...", "cmd": {...}}.
func EncodeCommand(c Command) ([]byte, error) {
	if c == nil {
		return nil, invalid("cannot encode a nil command")
	}
	if _, ok := decoders[c.Kind()]; !ok {
		return nil, invalid("cannot encode command of kind " + q(c.Kind()))
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelope{Kind: c.Kind(), Cmd: b})
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
	dec, ok := decoders[env.Kind]
	if !ok {
		return nil, invalid("decode command: unknown kind " + q(env.Kind))
	}
	c, err := dec(env.Cmd)
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
