package ctiapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// Error codes of the error body {"error": {"code", "message"}}. The engine's
// codes (engine.CodeInvalid, CodeNotFound, CodeConflict) are passed through
// as they are.
const (
	CodeMalformed        = "malformed"     // not JSON, or not an object
	CodeUnknownField     = "unknown_field" // a field the endpoint does not take
	CodeWrongType        = "wrong_type"    // a field of the wrong JSON type
	CodeMissingField     = "missing_field" // a required field is absent
	CodeBadEnum          = "bad_enum"      // a value outside an enumeration
	CodeInvalid          = string(engine.CodeInvalid)
	CodeNotFound         = string(engine.CodeNotFound)
	CodeConflict         = string(engine.CodeConflict)
	CodeUnauthorized     = "unauthorized"       // no valid bearer token
	CodeForbidden        = "forbidden"          // a token of another tenant
	CodeTooLarge         = "too_large"          // body over the limit
	CodeUnavailable      = "unavailable"        // shutting down, events not recorded
	CodeNoRoute          = "no_route"           // no endpoint at this path
	CodeMethodNotAllowed = "method_not_allowed" // the path exists, not with this method
	CodeInternal         = "internal"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[string]int{
	CodeMalformed:        http.StatusBadRequest,
	CodeUnknownField:     http.StatusBadRequest,
	CodeWrongType:        http.StatusBadRequest,
	CodeMissingField:     http.StatusBadRequest,
	CodeBadEnum:          http.StatusBadRequest,
	CodeInvalid:          http.StatusBadRequest,
	CodeNotFound:         http.StatusNotFound,
	CodeNoRoute:          http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeConflict:         http.StatusConflict,
	CodeUnauthorized:     http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeUnavailable:      http.StatusServiceUnavailable,
	CodeInternal:         http.StatusInternalServerError,
}

// refusalStatus is the one table from an engine refusal's reason to the
// HTTP status. The error body's code is the refusal's engine code.
var refusalStatus = map[engine.Reason]int{
	engine.ReasonInvalid:      http.StatusBadRequest,
	engine.ReasonNotFound:     http.StatusNotFound,
	engine.ReasonConflict:     http.StatusConflict,
	engine.ReasonBusy:         http.StatusConflict,
	engine.ReasonOutOfService: http.StatusConflict,
	engine.ReasonAlready:      http.StatusConflict,
}

// Error is an API error: a stable code and a message in words.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	status  int    // an engine refusal's (refusalStatus); else statusOf[Code]
}

func (e *Error) Error() string { return "ctiapi: " + e.Message }

// Status is the HTTP status of the error: by its reason for an engine
// refusal, else by its code.
func (e *Error) Status() int {
	if e.status != 0 {
		return e.status
	}
	if s, ok := statusOf[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func apiErr(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// toError maps any error of a handler to an API error.
func toError(err error) *Error {
	var ae *Error
	var ee *engine.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ee):
		msg := ee.Msg
		if msg == "" {
			msg = ee.Error()
		}
		status, ok := refusalStatus[ee.Why()]
		if !ok {
			return &Error{Code: CodeInternal, Message: msg}
		}
		return &Error{Code: string(ee.Code), Message: msg, status: status}
	case errors.Is(err, tenant.ErrClosed):
		return apiErr(CodeUnavailable, "switchboard is shutting down")
	case errors.Is(err, tenant.ErrNotRecorded):
		return apiErr(CodeUnavailable, "the events could not be recorded: %v", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return apiErr(CodeUnavailable, "request abandoned: %v", err)
	}
	return apiErr(CodeInternal, "%v", err)
}

type errorBody struct {
	Error *Error `json:"error"`
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status(), errorBody{e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"cannot encode the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
