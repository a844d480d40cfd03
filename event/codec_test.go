package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// trickyStrings exercise the string escaping of both directions.
var trickyStrings = []string{
	"", "plain", `quote " and backslash \`, "tab\tnewline\nreturn\r",
	"\x00\x01\x1f\x7f", "\b\f", "<script>&amp;</script>", "é ü ß 日本語 😀",
	"line\u2028separator\u2029para", "bad utf8 \xff\xfe end", "\xc3", "trunc \xe6\x97",
	"surrogate-ish \xed\xa0\x80", "/slash/", "\ufffd", "emoji 🇨🇦 flag",
}

// TestEscapingMatchesEncodingJSON: appendString writes exactly what
// encoding/json writes for every string.
func TestEscapingMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	strs := append([]string(nil), trickyStrings...)
	for range 2000 {
		strs = append(strs, randomBytes(r))
	}
	for _, s := range strs {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// randomBytes returns a short string of bytes biased toward the ones that
// need care: ASCII specials, control characters and broken UTF-8.
func randomBytes(r *rand.Rand) string {
	const pool = "a\"\\<>&\n\t\x00\x1f\x7f\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80\xff\xed\xa0\x80"
	b := make([]byte, r.IntN(12))
	for i := range b {
		b[i] = pool[r.IntN(len(pool))]
	}
	return string(b)
}

// TestDecodeStringsMatchesEncodingJSON: the decoder reads JSON strings as
// encoding/json does (escapes, surrogate pairs, unpaired surrogates and
// invalid UTF-8 replaced by U+FFFD).
func TestDecodeStringsMatchesEncodingJSON(t *testing.T) {
	lits := []string{
		`"plain"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u65E5"`, `"\ud83d\ude00"`, `"\ud800"`, `"\ud800x"`,
		`"\udc00\ud800"`, `"\ud800\u0041"`, `"\ud800\ud800\udc00"`, "\"raw \xff bytes\"", "\"\xed\xa0\x80\"",
		`"\u0000"`, "\"é😀\"", `"\u2028"`, "\"a\xc3\"",
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		b, _ := json.Marshal(randomBytes(r))
		lits = append(lits, string(b))
	}
	for _, lit := range lits {
		var want string
		if err := json.Unmarshal([]byte(lit), &want); err != nil {
			t.Fatalf("encoding/json rejects %s: %v", lit, err)
		}
		var e Event
		if err := Unmarshal([]byte(`{"Server":`+lit+`}`), &e); err != nil {
			t.Errorf("Unmarshal(%s): %v", lit, err)
			continue
		}
		if e.Server != want {
			t.Errorf("Unmarshal(%s) = %q, want %q", lit, e.Server, want)
		}
		if !utf8.ValidString(e.Server) {
			t.Errorf("Unmarshal(%s) gives invalid UTF-8", lit)
		}
	}
}

// randomEvent returns an event with each field present with probability 1/2
// and every value drawn from its whole domain (not necessarily valid per
// Validate). Strings are valid UTF-8 so that the event survives a round trip
// unchanged.
func randomEvent(r *rand.Rand) Event {
	var e Event
	v := reflect.ValueOf(&e).Elem()
	for i := range v.NumField() {
		if r.IntN(2) == 0 {
			continue
		}
		f := v.Field(i)
		switch f.Interface().(type) {
		case string:
			f.SetString(randomString(r))
		case int64:
			f.SetInt(randomInt(r))
		case int:
			f.SetInt(int64(r.IntN(5)))
		case Time:
			f.Set(reflect.ValueOf(Time{Seconds: randomInt(r), USeconds: int32(r.IntN(1_000_000))}))
		case KV:
			f.Set(reflect.ValueOf(randomKV(r, 3)))
		case Name:
			f.SetUint(uint64(1 + r.IntN(int(numNames))))
		case CallState:
			f.SetUint(uint64(callStateValues[r.IntN(len(callStateValues))]))
		case CallType:
			f.SetUint(uint64(1 + r.IntN(len(callTypeNames))))
		case DNRole:
			f.SetUint(uint64(1 + r.IntN(len(dnRoleNames))))
		case AgentWorkMode:
			f.SetUint(uint64(1 + r.IntN(len(workModeNamesAll))))
		case MonitorNextCallType:
			f.SetUint(uint64(1 + r.IntN(len(monitorNames))))
		case TreatmentType:
			f.SetUint(uint64(1 + r.IntN(len(treatmentNames))))
		default:
			panic("randomEvent: no generator for field " + v.Type().Field(i).Name)
		}
	}
	return e
}

var callStateValues = func() (vs []CallState) {
	for i, n := range callStateNames {
		if n != "" {
			vs = append(vs, CallState(i+1))
		}
	}
	return vs
}()

func randomInt(r *rand.Rand) int64 {
	switch r.IntN(4) {
	case 0:
		return int64(r.Uint64()) // any, including negative and extremes
	case 1:
		return -int64(r.IntN(1000)) - 1
	}
	return int64(r.IntN(100000)) + 1
}

func randomString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return strings.ToValidUTF8(trickyStrings[r.IntN(len(trickyStrings))], "?") + "x"
	}
	return strings.ToValidUTF8(randomBytes(r), "") + strconv.Itoa(r.IntN(10000))
}

// randomKV returns a non-empty list (nil at depth 0 or by chance).
func randomKV(r *rand.Rand, depth int) KV {
	n := r.IntN(5)
	if depth == 0 || n == 0 {
		return nil
	}
	kv := make(KV, n)
	for i := range kv {
		key := randomString(r)
		switch r.IntN(4) {
		case 0:
			kv[i] = I(key, randomInt(r))
		case 1:
			kv[i] = L(key, randomKV(r, depth-1))
		default:
			kv[i] = S(key, strings.ToValidUTF8(randomBytes(r), ""))
		}
	}
	return kv
}

// canonical is e as the wire carries it: the work mode value 2 is
// WorkModeLegalGuard in EventAgentNotReady and WorkModeAutoIn elsewhere,
// whichever of the two e holds (EVENTS.md 2.4).
func canonical(e Event) Event {
	if e.AgentWorkMode.Int() == 2 {
		e.AgentWorkMode = WorkModeAutoIn
		if e.ID == EventAgentNotReady {
			e.AgentWorkMode = WorkModeLegalGuard
		}
	}
	return e
}

// TestRoundTrip: Marshal then Unmarshal gives the event back (canonical),
// for the goldens and for random events.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var events []Event
	for _, n := range Names() {
		events = append(events, goldenEvents[n]())
	}
	for range 3000 {
		events = append(events, randomEvent(r))
	}
	for _, e := range events {
		b := Marshal(&e)
		var got Event
		if err := Unmarshal(b, &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if want := canonical(e); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", b, got, want)
		}
	}
}

// TestEncodingJSONAgrees: json.Marshal of an Event gives the same bytes as
// Marshal, and json.Unmarshal the same Event as Unmarshal; the types also
// work as fields of a consumer's struct.
func TestEncodingJSONAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 500 {
		e := randomEvent(r)
		got, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if want := Marshal(&e); !bytes.Equal(got, want) {
			t.Fatalf("json.Marshal = %s\n    Marshal = %s", got, want)
		}
		var back Event
		if err := json.Unmarshal(got, &back); err != nil || !reflect.DeepEqual(back, canonical(e)) {
			t.Fatalf("json.Unmarshal(%s) = %+v, %v", got, back, err)
		}
	}

	type envelope struct {
		Event     Event
		When      Time
		Data      KV
		State     CallState
		Type      CallType `json:",omitempty"`
		EventName Name
	}
	in := envelope{Event: ringing(), When: Time{Seconds: 5, USeconds: 6}, Data: gUserData,
		State: CallStateHeld, EventName: EventHeld}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"Event":` + "%s" + `,"When":{"seconds":5,"useconds":6},` +
		`"Data":{"CustomerSegment":"Gold","AccountNumber":"4711-0815","Priority":5,"IVR":{"Language":"en-US","Intent":"billing"}},` +
		`"State":"Held","EventName":"EventHeld"}`
	r0 := ringing()
	if w := strings.Replace(want, "%s", string(Marshal(&r0)), 1); string(b) != w {
		t.Fatalf("json.Marshal(envelope) =\n%s\nwant\n%s", b, w)
	}
	var out envelope
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("envelope round trip:\n got %+v\nwant %+v", out, in)
	}
	// null leaves each value as it was.
	if err := json.Unmarshal([]byte(`{"Event":null,"When":null,"Data":null,"State":null,"EventName":null}`), &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("null changed the envelope: %+v", out)
	}
	// An empty KV is {} for encoding/json users.
	if b, _ := json.Marshal(KV(nil)); string(b) != "{}" {
		t.Errorf("json.Marshal(nil KV) = %s", b)
	}
}

// refValue is an independent model of the encoding: the value encoding/json
// gives when it decodes the record, built from the Event by reflection.
func refValue(e *Event) map[string]any {
	m := map[string]any{}
	c := canonical(*e)
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if f.IsZero() || (f.Kind() == reflect.Slice && f.Len() == 0) {
			continue
		}
		name := sf.Name
		switch name {
		case "ID":
			name = "id"
		case "Time":
			name = "time"
		}
		switch x := f.Interface().(type) {
		case string:
			m[name] = x
		case int64:
			m[name] = json.Number(strconv.FormatInt(x, 10))
		case int:
			m[name] = json.Number(strconv.Itoa(x))
		case Time:
			m[name] = map[string]any{"seconds": json.Number(strconv.FormatInt(x.Seconds, 10)),
				"useconds": json.Number(strconv.Itoa(int(x.USeconds)))}
		case KV:
			m[name] = refKV(x)
		case interface{ String() string }:
			m[name] = x.String()
		default:
			panic("refValue: field " + name)
		}
	}
	return m
}

func refKV(kv KV) map[string]any {
	m := map[string]any{}
	for _, p := range kv { // last duplicate wins, as in encoding/json
		switch p.Kind {
		case KindInt:
			m[p.Key] = json.Number(strconv.FormatInt(p.Int, 10))
		case KindList:
			m[p.Key] = refKV(p.List)
		default:
			m[p.Key] = p.Str
		}
	}
	return m
}

// TestEncoderAgainstGenericJSON: the encoder's output is valid JSON, decodes
// with encoding/json to the value the reference model gives, and has its
// top-level members in Event declaration order.
func TestEncoderAgainstGenericJSON(t *testing.T) {
	order := map[string]int{}
	et := reflect.TypeFor[Event]()
	for i := range et.NumField() {
		order[et.Field(i).Name] = i
	}
	order["id"], order["time"] = order["ID"], order["Time"]

	r := rand.New(rand.NewPCG(9, 10))
	for i := range 3000 {
		var e Event
		if i < len(Names()) {
			e = goldenEvents[Names()[i]]()
		} else {
			e = randomEvent(r)
		}
		b := Marshal(&e)
		if !json.Valid(b) {
			t.Fatalf("not valid JSON: %s", b)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var got map[string]any
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if want := refValue(&e); !reflect.DeepEqual(got, want) {
			t.Fatalf("encoding/json reads %s as\n%v\nwant\n%v", b, got, want)
		}
		// Member order: walk the top-level tokens.
		dec = json.NewDecoder(bytes.NewReader(b))
		dec.Token() // {
		last := -1
		for dec.More() {
			tok, _ := dec.Token()
			k := tok.(string)
			if order[k] <= last {
				t.Fatalf("%s: member %s out of declaration order", b, k)
			}
			last = order[k]
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestMarshalEmpty(t *testing.T) {
	var e Event
	if got := string(Marshal(&e)); got != "{}" {
		t.Errorf("Marshal(zero) = %s", got)
	}
	if got := string(e.AppendJSON([]byte("prefix "))); got != "prefix {}" {
		t.Errorf("AppendJSON appends wrongly: %s", got)
	}
	e = Event{Server: "s", UserData: KV{}, Reasons: KV{L("x", nil)}}
	if got := string(Marshal(&e)); got != `{"Server":"s","Reasons":{"x":{}}}` {
		t.Errorf("Marshal = %s", got)
	}
	// An enumeration value without a name is written as its integer.
	e = Event{CallState: 40}
	if got := string(Marshal(&e)); got != `{"CallState":39}` {
		t.Errorf("Marshal = %s", got)
	}
}

// TestDecodeCases covers what the decoder accepts beyond the encoder's own
// output, and what it refuses.
func TestDecodeCases(t *testing.T) {
	ok := func(in string, want Event) struct {
		in   string
		want Event
		err  error
	} {
		return struct {
			in   string
			want Event
			err  error
		}{in, want, nil}
	}
	fail := func(in string, err error) struct {
		in   string
		want Event
		err  error
	} {
		return struct {
			in   string
			want Event
			err  error
		}{in: in, err: err}
	}
	deep := strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth)
	tooDeep := strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1)
	tests := []struct {
		in   string
		want Event
		err  error
	}{
		ok(`{}`, Event{}),
		ok(" \t\r\n{ \"Seq\" : 3 , \"id\" :\"EventHeld\" } \n", Event{ID: EventHeld, Seq: 3}),
		ok(`{"Seq":3,"id":"EventHeld","Server":"a"}`, Event{ID: EventHeld, Seq: 3, Server: "a"}),
		// Unknown fields, of every JSON type, are skipped.
		ok(`{"New":[1,{"a":[true,false,null,"x",-1.5e3]},[]],"X":{},"Y":null,"Z":"s","W":true,"Seq":2}`,
			Event{Seq: 2}),
		ok(`{"server":"lower case is another field","Server":"s"}`, Event{Server: "s"}),
		// An unknown event name is absent, the rest decodes.
		ok(`{"id":"EventFromTheFuture","Server":"s","Seq":1}`, Event{Server: "s", Seq: 1}),
		// null is absent.
		ok(`{"id":null,"Server":null,"Seq":null,"CallType":null,"UserData":null,"time":null}`, Event{}),
		ok(`{"Server":"a","Server":null}`, Event{Server: "a"}),
		// Duplicates: the last wins.
		ok(`{"Server":"a","Server":"b","UserData":{"x":1},"UserData":{"y":2}}`,
			Event{Server: "b", UserData: KV{I("y", 2)}}),
		// Integral numbers in any notation.
		ok(`{"Seq":2.0,"CallID":1e3,"ReferenceID":-0,"ErrorCode":120E-1,"UserData":{"n":30.0}}`,
			Event{Seq: 2, CallID: 1000, ErrorCode: 12, UserData: KV{I("n", 30)}}),
		fail(`{"ErrorCode":12E-2}`, ErrBadValue),
		ok(`{"Seq":9223372036854775807,"CallID":-9223372036854775808}`,
			Event{Seq: 1<<63 - 1, CallID: -1 << 63}),
		fail(`{"Seq":9223372036854775808}`, ErrBadValue),
		fail(`{"Seq":1e19}`, ErrBadValue),
		fail(`{"Seq":1.5}`, ErrBadValue),
		fail(`{"Seq":"5"}`, ErrBadValue),
		fail(`{"Server":5}`, ErrBadValue),
		fail(`{"id":3}`, ErrBadValue),
		fail(`{"UserData":[]}`, ErrBadValue),
		fail(`{"UserData":"x"}`, ErrBadValue),
		// Key-value lists: order and duplicates kept, booleans as strings,
		// null members dropped, {} absent, arrays and fractions refused.
		ok(`{"UserData":{"b":"1","a":2,"b":{"c":"d","e":{}},"t":true,"f":false,"n":null}}`,
			Event{UserData: KV{S("b", "1"), I("a", 2), L("b", KV{S("c", "d"), L("e", nil)}),
				S("t", "true"), S("f", "false")}}),
		ok(`{"UserData":{},"Reasons":{"n":null}}`, Event{}),
		fail(`{"UserData":{"a":[1]}}`, ErrBadValue),
		fail(`{"TreatmentParms":{"DURATION":1.5}}`, ErrBadValue),
		ok(`{"UserData":`+deep+`}`, func() Event {
			var e Event
			Unmarshal([]byte(`{"UserData":`+deep+`}`), &e)
			return e
		}()),
		fail(`{"UserData":`+tooDeep+`}`, ErrSyntax),
		fail(`{"Unknown":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)+`}`, ErrSyntax),
		// time.
		ok(`{"time":{"useconds":7,"seconds":-3,"nanos":1}}`, Event{Time: Time{Seconds: -3, USeconds: 7}}),
		ok(`{"time":{}}`, Event{}),
		fail(`{"time":{"seconds":1,"useconds":1000000}}`, ErrBadValue),
		fail(`{"time":{"seconds":1,"useconds":-1}}`, ErrBadValue),
		fail(`{"time":1795599000}`, ErrBadValue),
		// Enumerations: names and T-Library integers.
		ok(`{"CallState":"Held","Cause":50,"CallType":4,"ThisDNRole":"Observer"}`,
			Event{CallState: CallStateHeld, Cause: CallStateHeld, CallType: CallTypeConsult, ThisDNRole: RoleObserver}),
		fail(`{"CallState":"held"}`, ErrBadValue),
		fail(`{"CallState":32}`, ErrBadValue),
		fail(`{"CallState":true}`, ErrBadValue),
		// Malformed JSON.
		fail(``, ErrSyntax),
		fail(`null`, ErrSyntax),
		fail(`[]`, ErrSyntax),
		fail(`{`, ErrSyntax),
		fail(`{}x`, ErrSyntax),
		fail(`{}{}`, ErrSyntax),
		fail(`{"Seq":}`, ErrSyntax),
		fail(`{"Seq" 1}`, ErrSyntax),
		fail(`{"Seq":1,}`, ErrSyntax),
		fail(`{,}`, ErrSyntax),
		fail(`{"Seq":01}`, ErrSyntax),
		fail(`{"Seq":-}`, ErrSyntax),
		fail(`{"Seq":1.}`, ErrSyntax),
		fail(`{"Seq":1e}`, ErrSyntax),
		fail(`{"Seq":+1}`, ErrSyntax),
		fail("{\"Server\":\"a\tb\"}", ErrSyntax),
		fail(`{"Server":"\x"}`, ErrSyntax),
		fail(`{"Server":"\u12"}`, ErrSyntax),
		fail(`{"Server":"abc`, ErrSyntax),
		fail(`{"Server":"abc\`, ErrSyntax),
		fail(`{"X":tru}`, ErrSyntax),
		fail(`{"X":[1 2]}`, ErrSyntax),
		fail(`{"X":{"a" 1}}`, ErrSyntax),
		fail(`{"UserData":{"a":}}`, ErrSyntax),
		fail(`{"UserData":{"a":nul}}`, ErrSyntax),
		fail(`{"UserData":{1:2}}`, ErrSyntax),
		fail(`{'Seq':1}`, ErrSyntax),
	}
	for _, tt := range tests {
		e := Event{Server: "stale", UserData: gUserData} // Unmarshal resets it
		err := Unmarshal([]byte(tt.in), &e)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Unmarshal(%.80s) = %v, want %v", tt.in, err, tt.err)
			}
			if tt.err == ErrBadValue && !json.Valid([]byte(tt.in)) {
				t.Errorf("%.80s: not valid JSON, want ErrSyntax", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("Unmarshal(%.80s): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(e, tt.want) {
			t.Errorf("Unmarshal(%.80s) =\n%+v\nwant\n%+v", tt.in, e, tt.want)
		}
	}
}

func TestDecodeDeepKV(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth)
	var e Event
	if err := Unmarshal([]byte(`{"UserData":`+deep+`}`), &e); err != nil {
		t.Fatal(err)
	}
	n := 0
	for kv := e.UserData; ; n++ {
		if kv[0].Kind != KindList {
			if kv[0].Int != 1 {
				t.Fatalf("innermost value %+v", kv[0])
			}
			break
		}
		kv = kv[0].List
	}
	if n != maxDepth-1 {
		t.Fatalf("depth %d, want %d", n, maxDepth-1)
	}
}

func TestErrorsSayWhere(t *testing.T) {
	for in, want := range map[string]string{
		`{"Seq":"5"}`:                      "Seq: want an integer, got a string",
		`{"CallState":"Later"}`:            `CallState: unknown value "Later"`,
		`{"UserData":{"list":[1]}}`:        `UserData["list"]: an array is not allowed`,
		`{"Extensions":{"WrapUpTime":.5}}`: "offset 28",
		`{"Server":"x"}junk`:               "offset 14: data after the object",
	} {
		var e Event
		err := Unmarshal([]byte(in), &e)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Unmarshal(%s) = %v, want it to say %q", in, err, want)
		}
	}
}

// TestAllocs: the encoder does not allocate into a buffer that is large
// enough; the decoder allocates one copy of the input and one slice per
// key-value list.
func TestAllocs(t *testing.T) {
	e := ringing()
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = e.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Marshal(&e) }); n != 1 {
		t.Errorf("Marshal: %v allocations, want 1", n)
	}
	data := Marshal(&e)
	var d Event
	// the input copy, UserData and its nested IVR list
	if n := testing.AllocsPerRun(100, func() { _ = Unmarshal(data, &d) }); n != 3 {
		t.Errorf("Unmarshal: %v allocations, want 3", n)
	}
}

// TestKVUnmarshalJSON: a KV read by encoding/json (as an API body's
// "userData" would be) follows the rules of Unmarshal.
func TestKVUnmarshalJSON(t *testing.T) {
	var kv KV
	in := `{"Segment":"Gold","Priority":5,"VIP":true,"Gone":null,"Nested":{"a":"b"},"Big":9007199254740993}`
	if err := json.Unmarshal([]byte(in), &kv); err != nil {
		t.Fatal(err)
	}
	want := KV{S("Segment", "Gold"), I("Priority", 5), S("VIP", "true"), L("Nested", KV{S("a", "b")}),
		I("Big", 9007199254740993)}
	if !reflect.DeepEqual(kv, want) {
		t.Fatalf("got %+v\nwant %+v", kv, want)
	}
	for _, bad := range []string{`{"a":[1]}`, `{"a":0.5}`, `[]`, `"x"`, `{"a":1}x`} {
		var kv KV
		err := kv.UnmarshalJSON([]byte(bad))
		if !errors.Is(err, ErrBadValue) && !errors.Is(err, ErrSyntax) {
			t.Errorf("UnmarshalJSON(%s) = %v, want an error", bad, err)
		}
	}
	var tm Time
	if err := json.Unmarshal([]byte(`{"seconds":1,"useconds":2000000}`), &tm); !errors.Is(err, ErrBadValue) {
		t.Errorf("Time with useconds 2000000: %v", err)
	}
	if b, _ := json.Marshal(Time{}); string(b) != `{"seconds":0,"useconds":0}` {
		t.Errorf("json.Marshal(Time{}) = %s", b)
	}
}
