package sipfront

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// TestStatusOf: every engine reason has a SIP status; a busy or
// out-of-service DN is 486 for the caller, any other conflict 403, and an
// error that is no refusal (the runtime closing, a timeout) 503.
func TestStatusOf(t *testing.T) {
	for _, r := range engine.Reasons() {
		if _, ok := sipStatus[r]; !ok {
			t.Errorf("reason %q has no SIP status", r)
		}
	}
	for _, c := range []struct {
		err  error
		code int
	}{
		{&engine.Error{Code: engine.CodeConflict, Reason: engine.ReasonBusy, Msg: `DN "1002" is busy`}, 486},
		{fmt.Errorf("w: %w", &engine.Error{Code: engine.CodeConflict, Reason: engine.ReasonOutOfService}), 486},
		// The message does not decide: a conflict that says "busy" is
		// not a busy DN.
		{&engine.Error{Code: engine.CodeConflict, Reason: engine.ReasonConflict, Msg: `cannot answer: call "x" is busy at DN "1002"`}, 403},
		{&engine.Error{Code: engine.CodeConflict}, 403},
		{&engine.Error{Code: engine.CodeNotFound, Reason: engine.ReasonNotFound}, 404},
		{&engine.Error{Code: engine.CodeInvalid}, 400},
		{context.DeadlineExceeded, 503},
	} {
		if code, _ := statusOf(c.err); code != c.code {
			t.Errorf("statusOf(%v) = %d, want %d", c.err, code, c.code)
		}
	}
}
