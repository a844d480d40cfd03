package engine

import (
	"errors"
	"testing"
)

// TestRefusalReasons: the refusals an edge answers differently carry their
// reason (a SIP caller hears 486 for them, 403 for other conflicts), the
// others their code's own; Why falls back on the code for an Error built
// outside the engine.
func TestRefusalReasons(t *testing.T) {
	e := newDemoEngine(t)
	at := goldenStart
	step := func(cmd Command) error {
		t.Helper()
		at += 1000
		_, err := e.Step(at, cmd)
		return err
	}
	if err := step(SetDND{DN: "1002", On: true}); err != nil {
		t.Fatal(err)
	}
	if err := step(SetService{DN: "1003", InService: false}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cmd  Command
		code Code
		why  Reason
	}{
		{"inbound call to a DN on DND", NetworkCall{Trunk: "pstn", ANI: "+3377", DNIS: "1002"}, CodeConflict, ReasonBusy},
		{"call from a DN out of service", MakeCall{From: "1003", To: "1001"}, CodeConflict, ReasonOutOfService},
		{"answer of an unknown call", Answer{ConnID: "0123456789abcdef", DN: "1001"}, CodeNotFound, ReasonNotFound},
		{"cancel of a forwarding not set", CancelForward{DN: "1001"}, CodeConflict, ReasonConflict},
		{"call to itself", MakeCall{From: "1001", To: "1001"}, CodeInvalid, ReasonInvalid},
	} {
		err := step(c.cmd)
		var ee *Error
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %v is not an *Error", c.name, err)
		}
		if ee.Code != c.code || ee.Why() != c.why || ee.Reason != c.why {
			t.Errorf("%s: %v: code %q reason %q, want %q %q", c.name, err, ee.Code, ee.Why(), c.code, c.why)
		}
	}
	if got := (&Error{Code: CodeNotFound, Msg: "x"}).Why(); got != ReasonNotFound {
		t.Errorf("Why of an Error without a reason = %q, want %q", got, ReasonNotFound)
	}
}
