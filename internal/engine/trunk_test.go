package engine

import (
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

// TestTrunkOutOfServiceFailover: an external number leaves through the
// first trunk that takes it and is in service: with trunk a out of service
// (its SIP keepalive failed) a call goes out through b; with both out of
// service, through a again (it may be back); a back in service takes the
// calls again.
func TestTrunkOutOfServiceFailover(t *testing.T) {
	tn := &config.Tenant{ID: "f", Tokens: []string{"t"}}
	tn.DNs = []config.DN{
		{Number: "101", Type: config.Extension},
		{Number: "a", Type: config.Trunk, Trunk: &config.TrunkSettings{Prefixes: []string{"0"}}},
		{Number: "b", Type: config.Trunk, Trunk: &config.TrunkSettings{Prefixes: []string{"0"}}},
	}
	e, err := New(tn, Options{Server: "n"})
	if err != nil {
		t.Fatal(err)
	}
	at := goldenStart
	step := func(c Command) Result {
		t.Helper()
		at += 1000
		r, err := e.Step(at, c)
		if err != nil {
			t.Fatalf("%s: %v", c.Kind(), err)
		}
		return r
	}
	through := func() string {
		t.Helper()
		r := step(MakeCall{From: "101", To: "0612345678"})
		trunk := ""
		for _, ev := range r.Events {
			if ev.ID == event.EventNetworkReached {
				trunk = ev.OtherTrunk
			}
		}
		step(Release{ConnID: r.Reply.(CallReply).ConnID, DN: "101"})
		return trunk
	}
	for _, c := range []struct {
		service *SetService
		want    string
	}{
		{nil, "a"},
		{&SetService{DN: "a", InService: false}, "b"},
		{&SetService{DN: "b", InService: false}, "a"},
		{&SetService{DN: "a", InService: true}, "a"},
		{&SetService{DN: "b", InService: true}, "a"},
	} {
		if c.service != nil {
			step(*c.service)
		}
		if got := through(); got != c.want {
			t.Fatalf("after %+v the call left through %q, want %q", c.service, got, c.want)
		}
	}
}
