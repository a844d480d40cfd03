package engine

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

func TestNewRefusesInvalidTenant(t *testing.T) {
	if _, err := New(nil, Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil tenant: %v", err)
	}
	f := config.Demo("tok", "")
	f.Tenants[0].DNs[0].Number = "1002" // duplicate
	_, err := New(&f.Tenants[0], Options{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `duplicate DN "1002"`) {
		t.Errorf("duplicate DN: %v", err)
	}
}

func TestConfiguredForwarding(t *testing.T) {
	f := config.Demo("tok", "")
	f.Tenants[0].DNs[0].Forward = &config.Forward{To: "1002", Mode: "OnBusy"}
	f.Tenants[0].DNs[1].Forward = &config.Forward{To: "+3312"}
	e, err := New(&f.Tenants[0], Options{Server: "n"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ dn, to, mode string }{{"1001", "1002", "OnBusy"}, {"1002", "+3312", "Unconditional"}} {
		v, err := e.DN(tt.dn)
		if err != nil || v.Forward == nil || v.Forward.To != tt.to || v.Forward.Mode != tt.mode {
			t.Errorf("%s: %+v %v, want forward to %s %s", tt.dn, v.Forward, err, tt.to, tt.mode)
		}
	}
	if e.TenantID() != "demo" {
		t.Errorf("tenant %q", e.TenantID())
	}
}

func TestErrorCodes(t *testing.T) {
	e := newDemoEngine(t)
	tests := []struct {
		name string
		at   int64
		cmd  Command
		want error
	}{
		{"no time", -1, SetDND{DN: "1001"}, ErrInvalid},
		{"nil", 0, nil, ErrInvalid},
		{"pointer", 0, &Ready{DN: "1001"}, ErrInvalid},
		{"unknown DN", 0, Ready{DN: "9"}, ErrNotFound},
		{"no agent", 0, Ready{DN: "1001"}, ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := goldenStart
			if tt.at != 0 {
				at = tt.at
			}
			_, err := e.Step(at, tt.cmd)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want code of %v", err, tt.want)
			}
			for _, other := range []error{ErrInvalid, ErrNotFound, ErrConflict} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("%v also matches %v", err, other)
				}
			}
			if !strings.HasPrefix(err.Error(), "engine: ") {
				t.Errorf("%q lacks the package prefix", err)
			}
		})
	}
}

// TestCommandCodecRoundTrip: for every registered kind, a command with
// every field set (odd strings, nested and integer pairs) and every
// command of the golden files decode to what was encoded.
func TestCommandCodecRoundTrip(t *testing.T) {
	var cmds []Command
	for _, k := range Kinds() {
		c := filledCommand(requests[k])
		if c.Kind() != k {
			t.Fatalf("registration %q gives a command of kind %q", k, c.Kind())
		}
		cmds = append(cmds, c)
	}
	filled := len(cmds)
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, path := range files {
		blocks, _ := parseGolden(t, path)
		for _, b := range blocks {
			name, a := splitCommand(b.cmd)
			if r := goldenByName()[name]; r != nil {
				cmds = append(cmds, r.parse(a, a.request()))
			}
		}
	}
	if len(cmds) < filled+500 {
		t.Fatalf("only %d golden commands to round-trip", len(cmds)-filled)
	}
	unencodable := 0
	for i, c := range cmds {
		b, err := EncodeCommand(c)
		var me *json.MarshalerError
		if err != nil && i >= filled && errors.As(err, &me) {
			// A golden showing the refusal of an undefined enum value
			// (mode=Always): its MarshalText refuses it, so such a
			// command cannot be journaled.
			unencodable++
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.Kind(), err)
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip of %s:\n got %#v\nwant %#v", b, got, c)
		}
	}
	t.Logf("%d commands round-tripped; %d golden commands with an undefined enum value skipped", len(cmds)-unencodable, unencodable)
}

// filledCommand returns r's command with every field set to a value that
// is not zero.
func filledCommand(r *registered) Command {
	zero := r.parse(nil, Request{})
	v := reflect.New(reflect.TypeOf(zero)).Elem()
	fill(v, "")
	return v.Interface().(Command)
}

var kvType = reflect.TypeFor[event.KV]()

func fill(v reflect.Value, name string) {
	switch {
	case v.Type() == kvType:
		v.Set(reflect.ValueOf(event.KV{event.S(name, "<a&b> \u2028 \u00e9"), event.I("n", -5),
			event.L("l", event.KV{event.S("k", "</x>")})}))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fill(v.Field(i), v.Type().Field(i).Name)
		}
	case reflect.String:
		v.SetString(name + "-\"q\" \u00e9")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint8: // the enums: 1 is a named value of each
		v.SetUint(1)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.String {
			v.Set(reflect.ValueOf([]string{name + "1", name + "2"}))
			return
		}
		panic("fill: no value for " + v.Type().String())
	default:
		panic("fill: no value for " + v.Type().String())
	}
}

func TestDecodeCommandRefuses(t *testing.T) {
	for _, in := range []string{
		``,
		`{"kind":"fly","cmd":{}}`,
		`{"kind":"ready","cmd":{"dn":"1001","colour":"red"}}`,
		`{"kind":"ready","cmd":{"dn":1001}}`,
		`{"kind":"forward","cmd":{"dn":"1001","to":"1002","mode":"Always"}}`,
		`{"kind":"ready","cmd":{"dn":"1001"},"extra":1}`,
	} {
		if c, err := DecodeCommand([]byte(in)); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeCommand(%s) = %#v, %v; want an invalid error", in, c, err)
		}
	}
	if _, err := EncodeCommand(nil); err == nil {
		t.Error("EncodeCommand(nil) succeeded")
	}
}

func TestForwardModeText(t *testing.T) {
	for m := ForwardUnconditional; m <= ForwardOnBusyAndNoAnswer; m++ {
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got ForwardMode
		if err := got.UnmarshalText(b); err != nil || got != m {
			t.Errorf("%s: got %v %v", b, got, err)
		}
	}
	if _, err := ForwardMode(9).MarshalText(); err == nil {
		t.Error("mode 9 marshalled")
	}
}

// The views are copies: changing them does not change the engine.
func TestViewsAreCopies(t *testing.T) {
	e := newDemoEngine(t)
	if _, err := e.Step(goldenStart, Login{DN: "1001", AgentID: "agent1", Queues: []string{"7000", "7001"},
		Request: Request{Reasons: event.KV{event.S("ReasonCode", "x")}}}); err != nil {
		t.Fatal(err)
	}
	v, _ := e.Agent("agent1")
	v.Queues[0] = "changed"
	v.Reasons[0].Str = "changed"
	d, _ := e.DN("1001")
	d.Queues[1] = "changed"
	v2, _ := e.Agent("agent1")
	d2, _ := e.DN("1001")
	if v2.Queues[0] != "7000" || v2.Reasons[0].Str != "x" || d2.Queues[1] != "7001" {
		t.Errorf("views share memory with the engine: %+v %+v", v2, d2)
	}
	all := e.Agents()
	if len(all) != 21 || all[0].AgentID != "agent1" || all[0].State != "NotReady" || all[20].AgentID != "super1" || !all[20].Supervisor {
		t.Errorf("Agents() = %+v", all)
	}
}

// Call views are copies: changing them does not change the engine.
func TestCallViewsAreCopies(t *testing.T) {
	e := newDemoEngine(t)
	res, err := e.Step(goldenStart, MakeCall{From: "1001", To: "1002", UserData: event.KV{event.L("Cart", event.KV{event.S("sku", "x")})}})
	if err != nil {
		t.Fatal(err)
	}
	conn := res.Reply.(CallReply).ConnID
	v, err := e.Call(conn)
	if err != nil {
		t.Fatal(err)
	}
	v.UserData[0].List[0].Str = "changed"
	v.Parties[0].DN = "changed"
	all := e.Calls()
	if len(all) != 1 || all[0].UserData[0].List[0].Str != "x" || all[0].Parties[0].DN != "1001" {
		t.Errorf("call views share memory with the engine: %+v", all)
	}
	if _, err := e.Call(""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Call(\"\"): %v", err)
	}
	if _, err := e.Call("0123456789abcdef"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown ConnID: %v", err)
	}
}

// A step that outgrows its reservation copies its events, and the slots it
// had reserved are zero again for the next step; a failed step gives its
// slots back zeroed.
func TestArenaReservation(t *testing.T) {
	e := newDemoEngine(t)
	d := e.dns["1001"]
	e.now = event.TimeFromUnixMicro(goldenStart)
	e.begin(1)
	for i := 0; i < 3; i++ {
		e.emit(event.EventDNDOn, d, nil)
	}
	e.trim(false)
	if len(e.out) != 3 || cap(e.out) != 3 || e.out[2].Seq != 3 {
		t.Fatalf("overflowing step: %d events, cap %d", len(e.out), cap(e.out))
	}
	first := e.out
	e.begin(4)
	if e.next().ID != 0 {
		t.Fatal("reused slot not zero after an overflowing step")
	}
	e.emit(event.EventDNDOff, d, nil)
	e.trim(true)
	e.begin(4)
	if ev := e.next(); ev.ID != 0 || ev.Seq != 0 {
		t.Fatal("slot of a failed step not zero")
	}
	if first[0].ID != event.EventDNDOn || first[2].Seq != 3 {
		t.Fatal("events handed out changed")
	}
}
