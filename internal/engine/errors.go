package engine

import "strconv"

// Code is the stable code of a refusal. Edges map it to a status, one table
// per edge (HTTP in ctiapi, SIP in sipfront).
type Code string

// The codes.
const (
	CodeInvalid  Code = "invalid"   // 400: the command itself is wrong (bad work mode, missing field)
	CodeNotFound Code = "not_found" // 404: unknown DN, agent or ConnID
	CodeConflict Code = "conflict"  // 409: the command does not fit the current state
)

// Error is a refused command. Nothing changed and no event was produced.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return "engine: " + e.Msg }

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

func invalid(msg string) error  { return &Error{Code: CodeInvalid, Msg: msg} }
func notFound(msg string) error { return &Error{Code: CodeNotFound, Msg: msg} }
func conflict(msg string) error { return &Error{Code: CodeConflict, Msg: msg} }

// q quotes s for messages without fmt.
func q(s string) string { return strconv.Quote(s) }
