package engine

import "strconv"

// Code is the stable code of a refusal: the class of error an edge reports
// (the CTI API's error body carries it as it is).
type Code string

// The codes.
const (
	CodeInvalid  Code = "invalid"   // 400: the command itself is wrong (bad work mode, missing field)
	CodeNotFound Code = "not_found" // 404: unknown DN, agent or ConnID
	CodeConflict Code = "conflict"  // 409: the command does not fit the current state
)

// Reason says why a command was refused, as finely as an edge needs to
// answer it: a SIP caller hears 486 Busy Here for a busy or out-of-service
// DN and 403 for any other conflict, where HTTP says 409 for both. Edges map
// it to a status, one table per edge (SIP in sipfront, HTTP in ctiapi).
// Most refusals carry their code's own reason (ReasonInvalid,
// ReasonNotFound, ReasonConflict); the refusal sites that know better set
// a finer one, always of the same code.
type Reason string

// The reasons.
const (
	ReasonInvalid      Reason = Reason(CodeInvalid)  // CodeInvalid
	ReasonNotFound     Reason = Reason(CodeNotFound) // CodeNotFound
	ReasonConflict     Reason = Reason(CodeConflict) // CodeConflict, nothing finer known
	ReasonBusy         Reason = "busy"               // CodeConflict: the DN called is busy
	ReasonOutOfService Reason = "out_of_service"     // CodeConflict: the DN is out of service
	ReasonAlready      Reason = "already"            // CodeConflict: the party is in the state asked for already (hold while held, retrieve while talking)
)

// Reasons lists every Reason, so that an edge's test can check its table
// covers them all.
func Reasons() []Reason {
	return []Reason{ReasonInvalid, ReasonNotFound, ReasonConflict, ReasonBusy, ReasonOutOfService, ReasonAlready}
}

// Error is a refused command. Nothing changed and no event was produced.
type Error struct {
	Code   Code
	Reason Reason // empty in an Error built outside the engine: Why falls back on Code
	Msg    string
}

func (e *Error) Error() string { return "engine: " + e.Msg }

// Why is the refusal's reason: Reason, or the code's own reason when the
// Error has none.
func (e *Error) Why() Reason {
	if e.Reason != "" {
		return e.Reason
	}
	return Reason(e.Code)
}

// Is makes errors.Is(err, ErrConflict) (and the other sentinels) match any
// *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == "" && t.Code == e.Code
}

// Sentinels for errors.Is by code.
var (
	ErrInvalid  error = &Error{Code: CodeInvalid}
	ErrNotFound error = &Error{Code: CodeNotFound}
	ErrConflict error = &Error{Code: CodeConflict}
)

func invalid(msg string) error  { return &Error{Code: CodeInvalid, Reason: ReasonInvalid, Msg: msg} }
func notFound(msg string) error { return &Error{Code: CodeNotFound, Reason: ReasonNotFound, Msg: msg} }
func conflict(msg string) error { return &Error{Code: CodeConflict, Reason: ReasonConflict, Msg: msg} }

// refuseBusy refuses a call to (or a move of a call to) a busy DN.
func refuseBusy(d *dnState) error {
	return &Error{Code: CodeConflict, Reason: ReasonBusy, Msg: "DN " + q(d.number) + " is busy"}
}

// refuseOutOfService refuses a command on a DN that is out of service.
func refuseOutOfService(d *dnState) error {
	return &Error{Code: CodeConflict, Reason: ReasonOutOfService, Msg: "DN " + q(d.number) + " is out of service"}
}

// refuseAlready refuses a command that would change nothing: party p is
// in the state it asks for already. The message is needState's.
func refuseAlready(p *party, what string) error {
	err := needState(p, what).(*Error) // no state given: always a refusal
	err.Reason = ReasonAlready
	return err
}

// q quotes s for messages without fmt.
func q(s string) string { return strconv.Quote(s) }
