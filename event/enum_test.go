package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// specEnums are the enumerations as EVENTS.md sections 2.2-2.4 list them:
// T-Library integer value -> name. Written out here from the spec, not from
// the package's tables, so that the two are checked against each other.
var specEnums = []struct {
	field string // the Event field (Go and wire name)
	typ   reflect.Type
	parse func(string) (uint64, bool)
	names map[int]string
}{
	{"CallType", reflect.TypeFor[CallType](), wrapParse(ParseCallType),
		seq("Unknown", "Internal", "Inbound", "Outbound", "Consult")},
	{"CallState", reflect.TypeFor[CallState](), wrapParse(ParseCallState), callStateSpec()},
	{"Cause", reflect.TypeFor[Cause](), wrapParse(ParseCallState), callStateSpec()},
	{"ThisDNRole", reflect.TypeFor[DNRole](), wrapParse(ParseDNRole), roleSpec()},
	{"OtherDNRole", reflect.TypeFor[DNRole](), wrapParse(ParseDNRole), roleSpec()},
	{"ThirdPartyDNRole", reflect.TypeFor[DNRole](), wrapParse(ParseDNRole), roleSpec()},
	{"AgentWorkMode", reflect.TypeFor[AgentWorkMode](), wrapParse(ParseAgentWorkMode),
		seq("Unknown", "ManualIn", "AutoIn", "AfterCallWork", "AuxWork", "NoCallDisconnect", "WalkAway", "ReturnBack")},
	{"MonitorNextCallType", reflect.TypeFor[MonitorNextCallType](), wrapParse(ParseMonitorNextCallType),
		seq("MonitorOneCall", "MonitorAllCalls")},
	{"TreatmentType", reflect.TypeFor[TreatmentType](), wrapParse(ParseTreatmentType),
		seq("Unknown", "IVR", "Music", "RingBack", "Silence", "Busy", "CollectDigits", "PlayAnnouncement",
			"PlayAnnouncementAndDigits", "VerifyDigits", "RecordUserAnnouncement", "DeleteUserAnnouncement",
			"CancelCall", "PlayApplication", "SetDefaultRoute", "TextToSpeech", "TextToSpeechAndDigits",
			"FastBusy", "RAN")},
}

func wrapParse[T ~uint8](f func(string) (T, bool)) func(string) (uint64, bool) {
	return func(s string) (uint64, bool) {
		v, ok := f(s)
		return uint64(v), ok
	}
}

func seq(names ...string) map[int]string {
	m := map[int]string{}
	for i, n := range names {
		m[i] = n
	}
	return m
}

func roleSpec() map[int]string {
	return seq("Unknown", "Origination", "Destination", "ConferenceMember", "NewParty", "AddedBy",
		"DeletedBy", "TransferredBy", "DeletedParty", "ConferencedBy", "Observer")
}

func callStateSpec() map[int]string {
	m := seq("Ok", "Transferred", "Conferenced", "GeneralError", "SystemError", "RemoteRelease", "Busy",
		"NoAnswer", "SitDetected", "AnsweringMachineDetected", "AllTrunksBusy", "SitInvalidnum", "SitVacant",
		"SitIntercept", "SitUnknown", "SitNocircuit", "SitReorder", "FaxDetected", "QueueFull", "Cleared",
		"Overflowed", "Abandoned", "Redirected", "Forwarded", "Consult", "Pickedup", "Dropped",
		"Droppednoanswer", "Unknown", "Covered", "ConverseOn", "Bridged")
	m[49], m[50] = "Deafened", "Held"
	return m
}

// TestEnumValues checks, for every enumeration field and every T-Library
// value from -1 to 60: decoding from the name and from the integer, encoding
// to the name, String, Int and Parse; and that values without a name are
// refused.
func TestEnumValues(t *testing.T) {
	for _, en := range specEnums {
		t.Run(en.field, func(t *testing.T) {
			for v := -1; v <= 60; v++ {
				name, named := en.names[v]
				byInt := fmt.Sprintf(`{"id":"EventRinging",%q:%d}`, en.field, v)
				var e Event
				err := Unmarshal([]byte(byInt), &e)
				if !named {
					if !errors.Is(err, ErrBadValue) {
						t.Errorf("%s: Unmarshal = %v, want ErrBadValue", byInt, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", byInt, err)
				}
				f := reflect.ValueOf(&e).Elem().FieldByName(en.field)
				if got := f.Uint(); got != uint64(v+1) {
					t.Errorf("%s: decoded %d, want %d", byInt, got, v+1)
				}
				byName := fmt.Sprintf(`{"id":"EventRinging",%q:%q}`, en.field, name)
				var e2 Event
				if err := Unmarshal([]byte(byName), &e2); err != nil {
					t.Fatalf("%s: %v", byName, err)
				}
				if !reflect.DeepEqual(e, e2) {
					t.Errorf("%s and %s decode differently", byInt, byName)
				}
				if got := string(Marshal(&e)); got != byName {
					t.Errorf("Marshal = %s, want %s", got, byName)
				}
				if got := f.Interface().(fmt.Stringer).String(); got != name {
					t.Errorf("String() of %d = %q, want %q", v, got, name)
				}
				if got := f.MethodByName("Int").Call(nil)[0].Int(); got != int64(v) {
					t.Errorf("%s.Int() = %d, want %d", name, got, v)
				}
				if got, ok := en.parse(name); !ok || got != uint64(v+1) {
					t.Errorf("Parse(%q) = %d, %v", name, got, ok)
				}
				// The encoding/json interfaces of the enumeration type.
				p := reflect.New(en.typ)
				for _, in := range []string{strconv.Quote(name), strconv.Itoa(v)} {
					p.Elem().SetZero()
					if err := json.Unmarshal([]byte(in), p.Interface()); err != nil || p.Elem().Uint() != uint64(v+1) {
						t.Errorf("json.Unmarshal(%s) = %d, %v", in, p.Elem().Uint(), err)
					}
				}
				if b, err := json.Marshal(p.Elem().Interface()); err != nil || string(b) != strconv.Quote(name) {
					t.Errorf("json.Marshal = %s, %v; want %q", b, err, name)
				}
			}
			for _, bad := range []string{"Bogus", strings.ToLower(en.names[0]), ""} {
				in := fmt.Sprintf(`{"id":"EventRinging",%q:%q}`, en.field, bad)
				var e Event
				if err := Unmarshal([]byte(in), &e); !errors.Is(err, ErrBadValue) {
					t.Errorf("%s: Unmarshal = %v, want ErrBadValue", in, err)
				}
				if _, ok := en.parse(bad); ok {
					t.Errorf("Parse(%q) succeeded", bad)
				}
			}
			p := reflect.New(en.typ)
			for _, in := range []string{`"Bogus"`, `99`, `true`, `1.5`, `{}`} {
				if err := json.Unmarshal([]byte(in), p.Interface()); err == nil {
					t.Errorf("json.Unmarshal(%s) into %v succeeded", in, en.typ)
				}
			}
			// The zero value is absent: null, and null leaves a value alone.
			if b, err := json.Marshal(reflect.Zero(en.typ).Interface()); err != nil || string(b) != "null" {
				t.Errorf("json.Marshal(zero) = %s, %v", b, err)
			}
			p.Elem().SetUint(1)
			if err := json.Unmarshal([]byte("null"), p.Interface()); err != nil || p.Elem().Uint() != 1 {
				t.Errorf("json.Unmarshal(null) changed the value or failed: %v", err)
			}
			p.Elem().SetUint(200)
			if _, err := json.Marshal(p.Elem().Interface()); err == nil {
				t.Errorf("json.Marshal of a value without a name succeeded")
			}
		})
	}
}

// TestEnumAnchors pins a few constants to their T-Library values.
func TestEnumAnchors(t *testing.T) {
	for _, c := range []struct {
		got, want int
	}{
		{CallStateOk.Int(), 0}, {CallStateBridged.Int(), 31}, {CallStateDeafened.Int(), 49},
		{CallStateHeld.Int(), 50}, {CallTypeConsult.Int(), 4}, {RoleObserver.Int(), 10},
		{WorkModeReturnBack.Int(), 7}, {WorkModeLegalGuard.Int(), 2}, {MonitorAllCalls.Int(), 1}, {TreatmentRAN.Int(), 18},
		{CallStateSitInvalidnum.Int(), 11}, {CallStateSitNocircuit.Int(), 15}, {CallStatePickedup.Int(), 25},
		{CallStateDroppednoanswer.Int(), 27},
		{CallType(0).Int(), -1},
	} {
		if c.got != c.want {
			t.Errorf("got %d, want %d", c.got, c.want)
		}
	}
}

// TestSchema1Spellings: the spellings schema version 1 wrote decode, in an
// event and through the Parse functions and encoding/json, to the same value
// as the T-Library spelling, which is what the encoder writes back.
func TestSchema1Spellings(t *testing.T) {
	for _, c := range []struct {
		field, old, now string
		parse           func(string) (uint64, bool)
		typ             reflect.Type
	}{
		{"CallState", "SitInvalidNum", "SitInvalidnum", wrapParse(ParseCallState), reflect.TypeFor[CallState]()},
		{"CallState", "SitNoCircuit", "SitNocircuit", wrapParse(ParseCallState), reflect.TypeFor[CallState]()},
		{"CallState", "PickedUp", "Pickedup", wrapParse(ParseCallState), reflect.TypeFor[CallState]()},
		{"CallState", "DroppedNoAnswer", "Droppednoanswer", wrapParse(ParseCallState), reflect.TypeFor[CallState]()},
		{"Cause", "PickedUp", "Pickedup", wrapParse(ParseCallState), reflect.TypeFor[CallState]()},
		{"MonitorNextCallType", "OneCall", "MonitorOneCall", wrapParse(ParseMonitorNextCallType),
			reflect.TypeFor[MonitorNextCallType]()},
		{"MonitorNextCallType", "AllCalls", "MonitorAllCalls", wrapParse(ParseMonitorNextCallType),
			reflect.TypeFor[MonitorNextCallType]()},
	} {
		oldJSON := fmt.Sprintf(`{"id":"EventReleased",%q:%q}`, c.field, c.old)
		nowJSON := fmt.Sprintf(`{"id":"EventReleased",%q:%q}`, c.field, c.now)
		var e1, e2 Event
		if err := Unmarshal([]byte(oldJSON), &e1); err != nil {
			t.Fatalf("%s: %v", oldJSON, err)
		}
		if err := Unmarshal([]byte(nowJSON), &e2); err != nil {
			t.Fatalf("%s: %v", nowJSON, err)
		}
		if !reflect.DeepEqual(e1, e2) || reflect.ValueOf(e1).FieldByName(c.field).IsZero() {
			t.Errorf("%s decodes to %+v, %s to %+v", oldJSON, e1, nowJSON, e2)
		}
		if got := string(Marshal(&e1)); got != nowJSON {
			t.Errorf("Marshal after decoding %s = %s, want %s", oldJSON, got, nowJSON)
		}
		vOld, okOld := c.parse(c.old)
		vNow, okNow := c.parse(c.now)
		if !okOld || !okNow || vOld != vNow {
			t.Errorf("Parse(%q) = %d, %v; Parse(%q) = %d, %v", c.old, vOld, okOld, c.now, vNow, okNow)
		}
		p := reflect.New(c.typ)
		if err := json.Unmarshal([]byte(strconv.Quote(c.old)), p.Interface()); err != nil || p.Elem().Uint() != vNow {
			t.Errorf("json.Unmarshal(%q) = %d, %v", c.old, p.Elem().Uint(), err)
		}
		if s := p.Elem().Interface().(fmt.Stringer).String(); s != c.now {
			t.Errorf("String() = %q, want %q", s, c.now)
		}
	}
	// The deprecated Go names are the same values.
	if CallStateSitInvalidNum != CallStateSitInvalidnum || CallStateSitNoCircuit != CallStateSitNocircuit ||
		CallStatePickedUp != CallStatePickedup || CallStateDroppedNoAnswer != CallStateDroppednoanswer {
		t.Error("a deprecated CallState constant differs from its T-Library spelling")
	}
}

// TestLegalGuard: the work mode value 2 is written LegalGuard in
// EventAgentNotReady and AutoIn elsewhere, whichever constant the Event
// holds, and decodes (from either name or the integer) to WorkModeLegalGuard
// in EventAgentNotReady and WorkModeAutoIn elsewhere.
func TestLegalGuard(t *testing.T) {
	if WorkModeLegalGuard.String() != "LegalGuard" || WorkModeLegalGuard.Int() != 2 || WorkModeAutoIn.Int() != 2 {
		t.Fatalf("LegalGuard is %q/%d, AutoIn %d", WorkModeLegalGuard, WorkModeLegalGuard.Int(), WorkModeAutoIn.Int())
	}
	if v, ok := ParseAgentWorkMode("LegalGuard"); !ok || v != WorkModeLegalGuard {
		t.Errorf("ParseAgentWorkMode(LegalGuard) = %v, %v", v, ok)
	}
	for _, c := range []struct {
		id   Name
		name string
		want AgentWorkMode
	}{
		{EventAgentNotReady, "LegalGuard", WorkModeLegalGuard},
		{EventAgentReady, "AutoIn", WorkModeAutoIn},
		{EventAgentLogin, "AutoIn", WorkModeAutoIn},
	} {
		for _, held := range []AgentWorkMode{WorkModeAutoIn, WorkModeLegalGuard} {
			e := Event{ID: c.id, AgentWorkMode: held}
			want := fmt.Sprintf(`{"id":%q,"AgentWorkMode":%q}`, c.id, c.name)
			if got := string(Marshal(&e)); got != want {
				t.Errorf("Marshal(%v holding %v) = %s, want %s", c.id, held, got, want)
			}
			if b, _ := json.Marshal(e); string(b) != want {
				t.Errorf("json.Marshal(%v holding %v) = %s, want %s", c.id, held, b, want)
			}
		}
		// Members in both orders: the id may come after the work mode.
		for _, in := range []string{
			fmt.Sprintf(`{"id":%q,"AgentWorkMode":"AutoIn"}`, c.id),
			fmt.Sprintf(`{"AgentWorkMode":"LegalGuard","id":%q}`, c.id),
			fmt.Sprintf(`{"AgentWorkMode":2,"id":%q}`, c.id),
		} {
			var e Event
			if err := Unmarshal([]byte(in), &e); err != nil || e.AgentWorkMode != c.want {
				t.Errorf("Unmarshal(%s) = %v, %v; want %v", in, e.AgentWorkMode, err, c.want)
			}
		}
	}
	// Other values are not touched by the event.
	e := Event{ID: EventAgentNotReady, AgentWorkMode: WorkModeAuxWork}
	if got := string(Marshal(&e)); got != `{"id":"EventAgentNotReady","AgentWorkMode":"AuxWork"}` {
		t.Errorf("Marshal = %s", got)
	}
	// Integer 8 is not a T-Library work mode, even though Go has a constant
	// after ReturnBack.
	if err := Unmarshal([]byte(`{"id":"EventAgentNotReady","AgentWorkMode":8}`), &e); !errors.Is(err, ErrBadValue) {
		t.Errorf("work mode 8: %v, want ErrBadValue", err)
	}
}

func TestNames(t *testing.T) {
	names := Names()
	if len(names) != 42 {
		t.Fatalf("%d names", len(names))
	}
	for _, n := range names {
		s := n.String()
		if !strings.HasPrefix(s, "Event") {
			t.Errorf("name %d is %q", n, s)
		}
		if p, ok := ParseName(s); !ok || p != n {
			t.Errorf("ParseName(%q) = %v, %v", s, p, ok)
		}
		b, err := json.Marshal(n)
		if err != nil || string(b) != strconv.Quote(s) {
			t.Errorf("json.Marshal(%v) = %s, %v", n, b, err)
		}
		var back Name
		if err := json.Unmarshal(b, &back); err != nil || back != n {
			t.Errorf("json.Unmarshal(%s) = %v, %v", b, back, err)
		}
	}
	var n Name = EventRinging
	if err := json.Unmarshal([]byte(`"EventFromTheFuture"`), &n); err != nil || n != 0 {
		t.Errorf("unknown name: %v, %v; want 0, nil", n, err)
	}
	if err := json.Unmarshal([]byte(`3`), &n); !errors.Is(err, ErrBadValue) {
		t.Errorf("integer name: %v, want ErrBadValue", err)
	}
	if _, err := json.Marshal(Name(numNames + 1)); err == nil {
		t.Errorf("json.Marshal of an unknown name succeeded")
	}
}
