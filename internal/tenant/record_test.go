package tenant

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/steprec"
)

// fixtureCommands are the commands of testdata/steprecords_v1.txt, stepped
// in order on the demo tenant: HTML-escaped and non-ASCII strings in
// reasons and user data, nested lists.
var fixtureCommands = []engine.Command{
	engine.Login{Request: engine.Request{ReferenceID: 3, Reasons: event.KV{event.S("Why", "<start> & \u00e9t\u00e9")}}, DN: "1001", AgentID: "agent1", Queues: []string{"7001"}},
	engine.MakeCall{Request: engine.Request{ReferenceID: 4}, From: "1001", To: "1002", UserData: event.KV{event.S("Order", "A<1>&\"x\""), event.I("Amount", 12), event.L("Cart", event.KV{event.S("sku", "\u2028z")})}},
}

type fixtureRecord struct {
	at  int64
	rec []byte
}

func readFixture(t testing.TB) []fixtureRecord {
	t.Helper()
	f, err := os.Open("testdata/steprecords_v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fixtureRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		atS, hexS, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad fixture line %q", line)
		}
		at, err := strconv.ParseInt(atS, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := hex.DecodeString(hexS)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fixtureRecord{at, rec})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(fixtureCommands) {
		t.Fatalf("%d fixture records, %d commands", len(out), len(fixtureCommands))
	}
	return out
}

// TestStepRecordsOfPreviousVersion: records written by the earlier encoder
// (engine.EncodeCommand marshalling twice, then steprec.Append) still
// decode to their commands, and a StepEncoder writes the same bytes for
// the same steps: the format did not change.
func TestStepRecordsOfPreviousVersion(t *testing.T) {
	fix := readFixture(t)
	e := demoEngine(t)
	var buf []byte
	var enc StepEncoder
	for i, f := range fix {
		sr, err := steprec.Decode(f.rec)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if sr.At != f.at {
			t.Errorf("record %d: At %d, want %d", i, sr.At, f.at)
		}
		c, err := engine.DecodeCommand(sr.Command)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !reflect.DeepEqual(c, fixtureCommands[i]) {
			t.Errorf("record %d: command\n got %#v\nwant %#v", i, c, fixtureCommands[i])
		}
		res, err := e.Step(f.at, c)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if len(res.Events) != len(sr.Events) {
			t.Fatalf("record %d: replay gave %d events, record has %d", i, len(res.Events), len(sr.Events))
		}
		// The fixture's events are of event schema 1; the engine writes
		// schema 2, whose spellings these events do not use. Written with
		// the recorded version, they must give the recorded bytes.
		for k := range res.Events {
			var was event.Event
			if err := event.Unmarshal(sr.Events[k], &was); err != nil {
				t.Fatalf("record %d event %d: %v", i, k, err)
			}
			if res.Events[k].SchemaVersion != event.SchemaVersion || was.SchemaVersion != 1 {
				t.Fatalf("record %d event %d: schema %d replayed, %d recorded", i, k, res.Events[k].SchemaVersion, was.SchemaVersion)
			}
			res.Events[k].SchemaVersion = was.SchemaVersion
		}
		for k := range res.Events {
			if got := event.Marshal(&res.Events[k]); !bytes.Equal(got, sr.Events[k]) {
				t.Errorf("record %d event %d: replay\n%s\nrecord\n%s", i, k, got, sr.Events[k])
			}
		}
		// A reused, non-empty buffer: what is before the record stays.
		// A reused buffer: what is before the record stays.
		buf = append(buf[:0], "keep"...)
		buf, err = enc.Append(buf, f.at, c, res.Events)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:4]) != "keep" || !bytes.Equal(buf[4:], f.rec) {
			t.Errorf("record %d: StepEncoder wrote\n%x\nthe previous version wrote\n%x", i, buf[4:], f.rec)
		}
	}
}

// TestStepEncoderRefusesUnknownCommand: a command the engine cannot
// encode is an error and leaves dst as it was.
func TestStepEncoderRefusesUnknownCommand(t *testing.T) {
	var enc StepEncoder
	got, err := enc.Append([]byte("keep"), 1, cmd{name: "x"}, nil)
	if err == nil {
		t.Fatal("an unknown kind was encoded")
	}
	if string(got) != "keep" {
		t.Errorf("dst changed to %q", got)
	}
}

// previousStepRecord is how a step record was written before the
// StepEncoder: the command marshalled, marshalled again in its envelope,
// then copied into the record.
func previousStepRecord(dst []byte, at int64, c engine.Command, evs []event.Event) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return dst, err
	}
	cb, err := json.Marshal(struct {
		Kind string          `json:"kind"`
		Cmd  json.RawMessage `json:"cmd"`
	}{c.Kind(), b})
	if err != nil {
		return dst, err
	}
	return steprec.Append(dst, at, cb, evs), nil
}

// BenchmarkStepRecord: encoding the step records of a basic call (MakeCall
// with user data, Answer, Release: 3 records, 10 events) into a reused
// buffer, the previous way and with a StepEncoder (as a tenant does). One op is one call.
func BenchmarkStepRecord(b *testing.B) {
	e := demoEngine(b)
	at := int64(1_767_225_600_000_000)
	type stepped struct {
		c   engine.Command
		evs []event.Event
	}
	var steps []stepped
	do := func(c engine.Command) engine.Result {
		at++
		res, err := e.Step(at, c)
		if err != nil {
			b.Fatal(err)
		}
		steps = append(steps, stepped{c, res.Events})
		return res
	}
	r := do(engine.MakeCall{Request: engine.Request{ReferenceID: 9}, From: "1001", To: "1002",
		UserData: event.KV{event.S("Order", "A-1"), event.I("Amount", 12)}}).Reply.(engine.CallReply)
	do(engine.Answer{Request: engine.Request{ReferenceID: 10}, ConnID: r.ConnID, DN: "1002"})
	do(engine.Release{Request: engine.Request{ReferenceID: 11}, ConnID: r.ConnID, DN: "1001"})
	for name, enc := range map[string]func([]byte, int64, engine.Command, []event.Event) ([]byte, error){
		"previous": previousStepRecord, "StepEncoder": new(StepEncoder).Append} {
		b.Run(name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range steps {
					var err error
					if buf, err = enc(buf[:0], at, s.c, s.evs); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
