package ctiapi

import (
	"errors"
	"fmt"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// TestRefusalStatus: every engine reason has an HTTP status, the one of its
// code (a finer reason changes what SIP answers, not HTTP), and the error
// body keeps the engine's code, also for an Error that has no reason.
func TestRefusalStatus(t *testing.T) {
	codeOf := map[engine.Reason]engine.Code{
		engine.ReasonInvalid: engine.CodeInvalid, engine.ReasonNotFound: engine.CodeNotFound,
		engine.ReasonConflict: engine.CodeConflict, engine.ReasonBusy: engine.CodeConflict,
		engine.ReasonOutOfService: engine.CodeConflict, engine.ReasonAlready: engine.CodeConflict,
	}
	for _, r := range engine.Reasons() {
		code, ok := codeOf[r]
		if !ok {
			t.Errorf("reason %q: no code known to this test", r)
			continue
		}
		if _, ok := refusalStatus[r]; !ok {
			t.Errorf("reason %q has no HTTP status", r)
		}
		e := toError(fmt.Errorf("wrapped: %w", &engine.Error{Code: code, Reason: r, Msg: "m"}))
		if e.Code != string(code) || e.Status() != statusOf[string(code)] || e.Message != "m" {
			t.Errorf("reason %q: %+v status %d, want code %q status %d", r, e, e.Status(), code, statusOf[string(code)])
		}
		bare := toError(&engine.Error{Code: code, Msg: "m"})
		if bare.Code != string(code) || bare.Status() != statusOf[string(code)] {
			t.Errorf("code %q without reason: %+v status %d", code, bare, bare.Status())
		}
	}
	if e := toError(&engine.Error{Code: "odd", Msg: "m"}); e.Code != CodeInternal || e.Status() != 500 {
		t.Errorf("unknown engine code: %+v status %d, want internal 500", e, e.Status())
	}
	if e := toError(errors.New("x")); e.Status() != 500 {
		t.Errorf("plain error: status %d", e.Status())
	}
}
