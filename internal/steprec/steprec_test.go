package steprec

import (
	"errors"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
)

func testEvents() []event.Event {
	return []event.Event{{ID: event.EventAgentLogin, CustomerID: "t", ThisDN: "1001", Seq: 1},
		{ID: event.EventAgentReady, CustomerID: "t", ThisDN: "1001", Seq: 2, Reasons: event.KV{event.S("a", string(make([]byte, 300)))}}}
}

// TestRoundTrip: a record decodes to its time, command and the events' wire
// JSON, and no proper prefix of it decodes.
func TestRoundTrip(t *testing.T) {
	evs := testEvents()
	p := Append(nil, 42, []byte(`{"kind":"x"}`), evs)
	r, err := Decode(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.At != 42 || string(r.Command) != `{"kind":"x"}` || len(r.Events) != 2 {
		t.Fatalf("got %+v", r)
	}
	for i := range evs {
		if got, want := string(r.Events[i]), string(event.Marshal(&evs[i])); got != want {
			t.Fatalf("event %d: got %s want %s", i, got, want)
		}
	}
	for n := range len(p) {
		r, err := Decode(p[:n])
		if err == nil {
			t.Fatalf("prefix of %d bytes decoded", n)
		}
		if !errors.Is(err, ErrBad) || r.At != 0 || r.Command != nil || r.Events != nil {
			t.Fatalf("prefix of %d bytes: %+v, %v", n, r, err)
		}
	}
	if _, err := Decode(append(p, 0)); !errors.Is(err, ErrBad) {
		t.Fatalf("trailing byte: %v", err)
	}
}

// TestAppendWith: appending the command in place writes what Append writes
// (commands shorter and longer than one uvarint byte of length), after
// whatever dst held; an error from the command leaves dst as it was.
func TestAppendWith(t *testing.T) {
	evs := testEvents()
	for _, cmd := range []string{"", `{"kind":"x"}`, string(make([]byte, 200)), string(make([]byte, 20000))} {
		want := Append([]byte("keep"), 7, []byte(cmd), evs)
		got, err := AppendWith([]byte("keep"), 7, evs, func(b []byte) ([]byte, error) { return append(b, cmd...), nil })
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("command of %d bytes: AppendWith\n%x\nAppend\n%x", len(cmd), got, want)
		}
	}
	boom := errors.New("boom")
	got, err := AppendWith([]byte("keep"), 7, evs, func(b []byte) ([]byte, error) { return append(b, "half"...), boom })
	if err != boom || string(got) != "keep" {
		t.Errorf("failing command: %q, %v", got, err)
	}
}
