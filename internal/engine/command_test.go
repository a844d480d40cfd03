package engine

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
)

// previousEncodeCommand is EncodeCommand as it was before it encoded once:
// the command marshalled, then marshalled again inside its envelope.
func previousEncodeCommand(c Command) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelope{Kind: c.Kind(), Cmd: b})
}

// TestEncodeCommandUnchanged: EncodeCommand and a CommandEncoder write the
// bytes the previous two-pass encoder wrote (journals stay comparable byte
// for byte), for the commands of the three property generators and for
// strings that encoding/json escapes.
func TestEncodeCommandUnchanged(t *testing.T) {
	odd := Request{ReferenceID: -1, Reasons: event.KV{event.S("<script>", "a&b \u2028 \u00e9 \"q\" \\ \x01")},
		Extensions: event.KV{event.L("l", event.KV{event.S("k", "</x>")}), event.I("n", -5)}}
	cmds := []Command{
		MakeCall{Request: odd, From: "1001", To: "<1002>", UserData: odd.Reasons},
		NotReady{Request: odd, DN: "1&1", WorkMode: event.WorkModeAfterCallWork},
		TimerFired{ID: "acw/a\u00e9/1"},
		// Larger than a CommandEncoder keeps: the next ones get a new buffer.
		AttachUserData{ConnID: "00000000000000a1", UserData: event.KV{event.S("big", strings.Repeat("<x>", 30<<10))}},
	}
	for seed := uint64(1); seed <= 3; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		e := newDemoEngine(t)
		g := &gen{rng: rng}
		cg := &callGen{gen: gen{rng: rng}}
		at := goldenStart
		for i := 0; i < 2000; i++ {
			var c Command
			switch i % 3 {
			case 0:
				c = g.command(e)
			case 1:
				c = cg.command(e)
			default:
				c = acdCommand(rng, e)
			}
			cmds = append(cmds, c)
			at += 1000
			_, _ = e.Step(at, c) // refusals too: the generators need state to vary
		}
	}
	dst := []byte("prefix")
	var ce CommandEncoder
	for _, c := range cmds {
		want, wantErr := previousEncodeCommand(c)
		got, err := EncodeCommand(c)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%#v: error %v, previous encoder %v", c, err, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%#v:\n got %s\nwant %s", c, got, want)
		}
		dst, err = ce.Append(dst[:6], c)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("CommandEncoder %#v: error %v, previous encoder %v", c, err, wantErr)
		}
		if err != nil {
			continue
		}
		if string(dst[:6]) != "prefix" || !bytes.Equal(dst[6:], want) {
			t.Fatalf("CommandEncoder wrote %q, want prefix%s", dst, want)
		}
	}
}

// TestCommandEncoderRefuses: nil and unknown kinds are invalid and leave
// dst unchanged.
func TestCommandEncoderRefuses(t *testing.T) {
	var ce CommandEncoder
	for _, c := range []Command{nil, unknownCommand{}} {
		got, err := ce.Append([]byte("x"), c)
		if err == nil || string(got) != "x" {
			t.Errorf("CommandEncoder.Append(%#v) = %q, %v; want x and an error", c, got, err)
		}
	}
}

type unknownCommand struct{}

func (unknownCommand) Kind() string { return "no-such-kind" }

// BenchmarkEncodeCommand: journal encoding of a MakeCall with user data
// by the previous two-pass encoder and by a CommandEncoder (as a tenant
// does), into a reused buffer.
func BenchmarkEncodeCommand(b *testing.B) {
	c := MakeCall{Request: Request{ReferenceID: 7}, From: "1001", To: "1002",
		UserData: event.KV{event.S("Order", "A-1"), event.I("Amount", 12)}}
	b.Run("previous", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := previousEncodeCommand(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CommandEncoder", func(b *testing.B) {
		var ce CommandEncoder
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = ce.Append(buf[:0], c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
