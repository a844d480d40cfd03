package engine

import (
	"errors"
	"testing"
)

// TestRefusalReasons: the refusals an edge answers differently carry their
// reason (a SIP caller hears 486 for a busy DN, 403 for other conflicts; a
// phone's refresh re-INVITE gets 200 when the call is in that state
// already), the others their code's own; Why falls back on the code for an
// Error built outside the engine.
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
	res, err := e.Step(at+500, MakeCall{From: "1001", To: "1004"})
	if err != nil {
		t.Fatal(err)
	}
	conn := res.Reply.(CallReply).ConnID
	if err := step(Answer{ConnID: conn, DN: "1004"}); err != nil {
		t.Fatal(err)
	}
	if err := step(Hold{ConnID: conn, DN: "1001"}); err != nil {
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
		{"hold while held", Hold{ConnID: conn, DN: "1001"}, CodeConflict, ReasonAlready},
		{"retrieve while talking", Retrieve{ConnID: conn, DN: "1004"}, CodeConflict, ReasonAlready},
		{"cancel of a forwarding not set", CancelForward{DN: "1001"}, CodeConflict, ReasonConflict},
		{"call to itself", MakeCall{From: "1001", To: "1001"}, CodeInvalid, ReasonInvalid},
	} {
		err := step(c.cmd)
		var ee *Error
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %v is not an *Error", c.name, err)
		}
		if ee.Code != c.code || ee.Why() != c.why || ee.Reason != c.why || ee.Msg == "" {
			t.Errorf("%s: %v: code %q reason %q, want %q %q", c.name, err, ee.Code, ee.Why(), c.code, c.why)
		}
	}
	// The message is the one of any other state refusal.
	if _, err := e.Step(at+1000, Hold{ConnID: conn, DN: "1001"}); err == nil ||
		err.Error() != `engine: cannot hold: call "`+conn+`" is held at DN "1001"` {
		t.Errorf("hold while held: %v", err)
	}
	if got := (&Error{Code: CodeNotFound, Msg: "x"}).Why(); got != ReasonNotFound {
		t.Errorf("Why of an Error without a reason = %q, want %q", got, ReasonNotFound)
	}
}
