package tail

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

// base is the event time of the test events: records are stamped with it too.
var base = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

func ts(sec int) event.Time {
	return event.TimeFromUnixMicro(base.Add(time.Duration(sec) * time.Second).UnixMicro())
}

// sample returns a small stream of two tenants: agent and DN events on
// voice-agentstate, two call threads on voice-callthread, Seq per key.
func sample() []event.Event {
	const th1 = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
	const th2 = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"
	evs := []event.Event{
		{ID: event.EventAgentLogin, CustomerID: "t1", ThisDN: "1001", AgentID: "a1", ThisQueue: "7000", AgentWorkMode: event.WorkModeManualIn},
		{ID: event.EventAgentReady, CustomerID: "t1", ThisDN: "1001", AgentID: "a1", AgentWorkMode: event.WorkModeManualIn},
		{ID: event.EventDNDOn, CustomerID: "t1", ThisDN: "1002"},
		{ID: event.EventDialing, CustomerID: "t1", CallThreadID: th1, ConnID: "00000000000000a1", CallID: 1,
			CallType: event.CallTypeInternal, ThisDN: "1001", ThisDNRole: event.RoleOrigination, OtherDN: "1003", AgentID: "a1"},
		{ID: event.EventRinging, CustomerID: "t1", CallThreadID: th1, ConnID: "00000000000000a1", CallID: 1,
			CallType: event.CallTypeInternal, CallState: event.CallStateOk, ThisDN: "1003", ThisDNRole: event.RoleDestination,
			OtherDN: "1001", OtherDNRole: event.RoleOrigination},
		{ID: event.EventAgentNotReady, CustomerID: "t1", ThisDN: "1001", AgentID: "a1", AgentWorkMode: event.WorkModeAuxWork,
			Reasons: event.KV{event.S("ReasonCode", "Lunch break")}},
		{ID: event.EventAgentLogin, CustomerID: "t2", ThisDN: "2001", AgentID: "b1"},
		{ID: event.EventRinging, CustomerID: "t2", CallThreadID: th2, ConnID: "00000000000000b1", CallID: 7,
			CallType: event.CallTypeInbound, CallState: event.CallStateOk, ThisDN: "2001", ThisDNRole: event.RoleDestination,
			OtherDN: "5551234", ThisQueue: "7001", AgentID: "b1"},
		{ID: event.EventDiverted, CustomerID: "t2", CallThreadID: th2, ConnID: "00000000000000b1", CallID: 7,
			CallType: event.CallTypeInbound, CallState: event.CallStateRedirected, ThisDN: "2001", ThirdPartyDN: "7001", AgentID: "b1"},
	}
	seq := map[string]int64{}
	for i := range evs {
		e := &evs[i]
		e.Server = "sb1"
		e.SchemaVersion = event.SchemaVersion
		e.Time = ts(i)
		seq[e.Key()]++
		e.Seq = seq[e.Key()]
	}
	return evs
}

// produce writes evs to prefix+topic with their keys and headers, each record
// stamped with its event time (or at, when not zero), on 3-partition topics
// created if missing.
func produce(t *testing.T, brokers []string, prefix string, evs []event.Event, at time.Time) {
	t.Helper()
	ensureTopics(t, brokers, prefix)
	cl := kafkatest.Client(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range evs {
		e := &evs[i]
		r := &kgo.Record{Topic: prefix + e.Topic(), Key: []byte(e.Key()), Value: event.Marshal(e)}
		for _, h := range e.Headers() {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
		}
		r.Timestamp = time.UnixMicro(e.Time.UnixMicro())
		if !at.IsZero() {
			r.Timestamp = at
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", e.ID, err)
		}
	}
}

func ensureTopics(t *testing.T, brokers []string, prefix string) {
	t.Helper()
	adm := kadm.NewClient(kafkatest.Client(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := adm.CreateTopics(ctx, 3, 1, nil, prefix+event.AgentStateTopic, prefix+event.CallThreadTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Sorted() {
		if r.Err != nil && !strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS") {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
}

// run runs Main and returns its exit status, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := Main(ctx, args, &out, &errb)
	if ctx.Err() != nil {
		t.Fatalf("tail %v did not stop within its deadline; stdout:\n%s\nstderr:\n%s", args, out.String(), errb.String())
	}
	return code, out.String(), errb.String()
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// parsed is one text line split into its columns.
type parsed struct {
	time, topic, key string
	seq              int64
	name             string
	fields           map[string]string
}

func parseLine(t *testing.T, l string) parsed {
	t.Helper()
	// The time column holds one space (date and time); the rest split on runs of spaces.
	if len(l) < len(TimeLayout)+2 {
		t.Fatalf("short line %q", l)
	}
	p := parsed{time: l[:len(TimeLayout)], fields: map[string]string{}}
	cols := splitFields(l[len(TimeLayout):])
	if len(cols) < 4 {
		t.Fatalf("line %q: want topic, key, seq, name", l)
	}
	p.topic, p.key, p.name = cols[0], cols[1], cols[3]
	seq, err := strconv.ParseInt(cols[2], 10, 64)
	if err != nil {
		t.Fatalf("line %q: seq: %v", l, err)
	}
	p.seq = seq
	for _, f := range cols[4:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("line %q: field %q is not name=value", l, f)
		}
		p.fields[k] = v
	}
	return p
}

// splitFields splits on runs of spaces outside double quotes.
func splitFields(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, esc := false, false
	for _, r := range s {
		switch {
		case esc:
			esc = false
		case inQuote && r == '\\':
			esc = true
		case r == '"':
			inQuote = !inQuote
		case r == ' ' && !inQuote:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

type keySeq struct {
	key string
	seq int64
}

// printedEvents returns the (key, Seq) of every line, checking that each
// key's lines come in Seq order.
func printedEvents(t *testing.T, out string) []keySeq {
	t.Helper()
	var ks []keySeq
	last := map[string]int64{}
	for _, l := range lines(out) {
		p := parseLine(t, l)
		if p.seq <= last[p.key] {
			t.Errorf("key %s: Seq %d printed after %d", p.key, p.seq, last[p.key])
		}
		last[p.key] = p.seq
		ks = append(ks, keySeq{p.key, p.seq})
	}
	return ks
}

func sortedKS(ks []keySeq) []keySeq {
	ks = slices.Clone(ks)
	slices.SortFunc(ks, func(a, b keySeq) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return int(a.seq - b.seq)
	})
	return ks
}

func keysOf(evs []event.Event, keep func(*event.Event) bool) []keySeq {
	var ks []keySeq
	for i := range evs {
		if keep(&evs[i]) {
			ks = append(ks, keySeq{evs[i].Key(), evs[i].Seq})
		}
	}
	return sortedKS(ks)
}

func TestFromBeginningPrintsEveryEvent(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			evs := sample()
			produce(t, tg.Brokers, prefix, evs, time.Time{})
			code, out, errs := run(t, "--kafka-brokers", strings.Join(tg.Brokers, ","), "--topic-prefix", prefix,
				"--from-beginning", "--exit")
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, errs)
			}
			got := sortedKS(printedEvents(t, out))
			want := keysOf(evs, func(*event.Event) bool { return true })
			if !slices.Equal(got, want) {
				t.Fatalf("printed %v\nwant %v\noutput:\n%s", got, want, out)
			}
			// Every line shows its event's columns and main fields.
			byKS := map[keySeq]*event.Event{}
			for i := range evs {
				byKS[keySeq{evs[i].Key(), evs[i].Seq}] = &evs[i]
			}
			for _, l := range lines(out) {
				p := parseLine(t, l)
				e := byKS[keySeq{p.key, p.seq}]
				wantTime := time.UnixMicro(e.Time.UnixMicro()).Format(TimeLayout)
				if p.time != wantTime || p.name != e.ID.String() || "voice-"+p.topic != e.Topic() {
					t.Errorf("line %q: want time %s, topic %s, name %s", l, wantTime, e.Topic(), e.ID)
				}
				for name, v := range map[string]string{"ThisDN": e.ThisDN, "OtherDN": e.OtherDN, "ThirdPartyDN": e.ThirdPartyDN,
					"AgentID": e.AgentID, "ConnID": e.ConnID, "CallState": e.CallState.String(),
					"AgentWorkMode": e.AgentWorkMode.String(), "ThisQueue": e.ThisQueue, "CallType": e.CallType.String()} {
					if p.fields[name] != v {
						t.Errorf("line %q: %s=%q, want %q", l, name, p.fields[name], v)
					}
				}
			}
			if strings.Contains(out, "\x1b[") {
				t.Errorf("colour codes in output to a non-terminal:\n%q", out)
			}
		})
	}
}

// TestLineFormat pins the text format of one event: columns aligned, a
// value with a space quoted, KV lists in braces.
func TestLineFormat(t *testing.T) {
	evs := sample()
	e := &evs[5] // EventAgentNotReady with a reason
	p := &printer{}
	got := string(p.appendLine(nil, "agentstate", e.Key(), e))
	tm := time.UnixMicro(e.Time.UnixMicro()).Format(TimeLayout)
	want := tm + `  agentstate  t1:a1       3  EventAgentNotReady        ThisDN=1001 AgentID=a1 AgentWorkMode=AuxWork Reasons={ReasonCode:"Lunch break"}` + "\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	// A longer key widens the key column for later lines.
	r := &evs[4]
	got = string(p.appendLine(nil, "callthread", r.Key(), r))
	if !strings.Contains(got, "  callthread  "+r.Key()+"       2  EventRinging") {
		t.Fatalf("got %q", got)
	}
	got = string(p.appendLine(nil, "agentstate", e.Key(), e))
	if !strings.Contains(got, "  t1:a1"+strings.Repeat(" ", len(r.Key())-len("t1:a1"))+"       3  EventAgentNotReady") {
		t.Fatalf("key column not widened: %q", got)
	}
	p.color = true
	got = string(p.appendLine(nil, "agentstate", e.Key(), e))
	if !strings.Contains(got, ansiReset) || !strings.Contains(got, "EventAgentNotReady") {
		t.Fatalf("colour line %q", got)
	}
}

func TestJSONPrintsRecordValues(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	evs := sample()
	produce(t, tg.Brokers, prefix, evs, time.Time{})
	code, out, errs := run(t, "--kafka-brokers", tg.Brokers[0], "--topic-prefix", prefix, "--from-beginning", "--exit", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var want []string
	for i := range evs {
		want = append(want, string(event.Marshal(&evs[i])))
	}
	got := lines(out)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFilters(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	evs := sample()
	produce(t, tg.Brokers, prefix, evs, time.Time{})
	const th1, th2 = "t1:0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "t2:0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"
	for _, tc := range []struct {
		name string
		args []string
		want []keySeq
	}{
		{"tenant", []string{"--tenant", "t2"}, []keySeq{{"t2:b1", 1}, {th2, 1}, {th2, 2}}},
		{"dn this", []string{"--dn", "1002"}, []keySeq{{"t1:1002", 1}}},
		{"dn other and this", []string{"--dn", "1003"}, []keySeq{{th1, 1}, {th1, 2}}},
		{"dn third party", []string{"--dn", "7001"}, []keySeq{{th2, 2}}},
		{"dn list", []string{"--dn", "1002,2001"}, []keySeq{{"t1:1002", 1}, {"t2:b1", 1}, {th2, 1}, {th2, 2}}},
		{"agent", []string{"--agent", "a1"}, []keySeq{{"t1:a1", 1}, {"t1:a1", 2}, {"t1:a1", 3}, {th1, 1}}},
		{"event", []string{"--event", "EventRinging"}, []keySeq{{th1, 2}, {th2, 1}}},
		{"event short names", []string{"--event", "agentlogin,Diverted"}, []keySeq{{"t1:a1", 1}, {"t2:b1", 1}, {th2, 2}}},
		{"combined", []string{"--tenant", "t1", "--event", "EventRinging,EventAgentLogin"}, []keySeq{{"t1:a1", 1}, {th1, 2}}},
		{"topic agentstate", []string{"--topic", "agentstate"}, []keySeq{{"t1:1002", 1}, {"t1:a1", 1}, {"t1:a1", 2}, {"t1:a1", 3}, {"t2:b1", 1}}},
		{"topic callthread", []string{"--topic", "voice-callthread", "--agent", "b1"}, []keySeq{{th2, 1}, {th2, 2}}},
		{"nothing matches", []string{"--tenant", "t3"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--kafka-brokers", tg.Brokers[0], "--topic-prefix", prefix, "--from-beginning", "--exit"}, tc.args...)
			code, out, errs := run(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if got := sortedKS(printedEvents(t, out)); !slices.Equal(got, sortedKS(tc.want)) {
				t.Fatalf("got %v\nwant %v\n%s", got, tc.want, out)
			}
			// The same filter in JSON mode prints the same events.
			code, out, errs = run(t, append(args, "--json")...)
			if code != 0 {
				t.Fatalf("--json: exit %d: %s", code, errs)
			}
			var got []keySeq
			for _, l := range lines(out) {
				var e event.Event
				if err := event.Unmarshal([]byte(l), &e); err != nil {
					t.Fatalf("--json line %q: %v", l, err)
				}
				got = append(got, keySeq{e.Key(), e.Seq})
			}
			if !slices.Equal(sortedKS(got), sortedKS(tc.want)) {
				t.Fatalf("--json got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestCountStops(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	produce(t, tg.Brokers, prefix, sample(), time.Time{})
	// No --exit: only --count ends the run.
	code, out, errs := run(t, "--kafka-brokers", tg.Brokers[0], "--topic-prefix", prefix, "--from-beginning",
		"--count", "3", "--topic", "agentstate", "--agent", "a1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := []keySeq{{"t1:a1", 1}, {"t1:a1", 2}, {"t1:a1", 3}}
	if got := printedEvents(t, out); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestFromNow: without --from-beginning, records already there (stamped
// before the start) are not printed; records that arrive later are.
func TestFromNow(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			evs := sample()
			old, later := evs[:4], evs[4:]
			start := time.Now()
			produce(t, tg.Brokers, prefix, old, start.Add(-time.Hour))

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var out, errb bytes.Buffer
			done := make(chan error, 1)
			go func() {
				done <- Run(ctx, Config{Brokers: tg.Brokers, TopicPrefix: prefix, Since: start, Count: len(later)}, &out, &errb)
			}()
			produce(t, tg.Brokers, prefix, restamp(later), time.Time{})
			if err := <-done; err != nil || ctx.Err() != nil {
				t.Fatalf("Run: %v (ctx %v); stderr %s", err, ctx.Err(), errb.String())
			}
			want := keysOf(restamp(later), func(*event.Event) bool { return true })
			if got := sortedKS(printedEvents(t, out.String())); !slices.Equal(got, want) {
				t.Fatalf("got %v\nwant %v\n%s", got, want, out.String())
			}
		})
	}
}

// restamp returns copies of evs with Seq moved past the sample's and
// stamped now, so they are told apart from the earlier copies.
func restamp(evs []event.Event) []event.Event {
	out := slices.Clone(evs)
	for i := range out {
		out[i].Seq += 100
		out[i].Time = event.TimeFromUnixMicro(time.Now().UnixMicro())
	}
	return out
}

func TestTopicCreatedAfterStart(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var out, errb bytes.Buffer
			done := make(chan error, 1)
			evs := sample()
			go func() {
				done <- Run(ctx, Config{Brokers: tg.Brokers, TopicPrefix: prefix, Count: len(evs)}, &out, &errb)
			}()
			time.Sleep(200 * time.Millisecond) // let tail look for the topics before they exist
			produce(t, tg.Brokers, prefix, evs, time.Now())
			if err := <-done; err != nil || ctx.Err() != nil {
				t.Fatalf("Run: %v (ctx %v); stderr %s; stdout %s", err, ctx.Err(), errb.String(), out.String())
			}
			if got, want := sortedKS(printedEvents(t, out.String())), keysOf(evs, func(*event.Event) bool { return true }); !slices.Equal(got, want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		})
	}
}

func TestUndecodableRecordIsReportedAndSkipped(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	evs := sample()[:2]
	produce(t, tg.Brokers, prefix, evs[:1], time.Time{})
	cl := kafkatest.Client(t, tg.Brokers)
	bad := &kgo.Record{Topic: prefix + event.AgentStateTopic, Key: []byte(evs[0].Key()), Value: []byte(`{"id": "EventAgentLogin", "Seq": "x"`)}
	if err := cl.ProduceSync(context.Background(), bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produce(t, tg.Brokers, prefix, evs[1:], time.Time{})
	code, out, errs := run(t, "--kafka-brokers", tg.Brokers[0], "--topic-prefix", prefix, "--from-beginning", "--exit")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got, want := printedEvents(t, out), []keySeq{{"t1:a1", 1}, {"t1:a1", 2}}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if !strings.Contains(errs, "undecodable value") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("stderr %q: want one undecodable-value line", errs)
	}
	// --json without filters passes every value through, the bad one too.
	code, out, _ = run(t, "--kafka-brokers", tg.Brokers[0], "--topic-prefix", prefix, "--from-beginning", "--exit", "--json")
	if code != 0 || len(lines(out)) != 3 || !strings.Contains(out, `"Seq": "x"`) {
		t.Fatalf("--json: exit %d, output:\n%s", code, out)
	}
}

func TestEmptyOrMissingTopicsExitAtOnce(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	code, out, errs := run(t, "--kafka-brokers", tg.Brokers[0], "--topic-prefix", prefix, "--from-beginning", "--exit")
	if code != 0 || out != "" || !strings.Contains(errs, "does not exist") {
		t.Fatalf("missing topics: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	ensureTopics(t, tg.Brokers, prefix)
	code, out, errs = run(t, "--kafka-brokers", tg.Brokers[0], "--topic-prefix", prefix, "--from-beginning", "--exit")
	if code != 0 || out != "" || errs != "" {
		t.Fatalf("empty topics: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestUnreachableBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out, errb bytes.Buffer
	err = Run(context.Background(), Config{Brokers: []string{addr}, ConnectTimeout: time.Second}, &out, &errb)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want ErrUnreachable naming %s", err, addr)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"--help"}, 0, "usage: switchboard tail", ""},
		{[]string{"-h"}, 0, "--from-beginning", ""},
		{[]string{"--topic", "calls"}, 2, "", `--topic "calls"`},
		{[]string{"--event", "EventNope"}, 2, "", `unknown event "EventNope"`},
		{[]string{"--count", "-1"}, 2, "", "negative"},
		{[]string{"--color", "pink"}, 2, "", "--color"},
		{[]string{"--kafka-brokers", " , "}, 2, "", "empty"},
		{[]string{"extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"--no-such-flag"}, 2, "", "no-such-flag"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.inStdout) || !strings.Contains(errb.String(), tc.inStderr) {
				t.Fatalf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, tc.code,
					out.String(), tc.inStdout, errb.String(), tc.inStderr)
			}
		})
	}
}

func TestEnvironmentDefaults(t *testing.T) {
	env := map[string]string{"SWITCHBOARD_KAFKA_BROKERS": "h1:1, h2:2", "SWITCHBOARD_TOPIC_PREFIX": "prod."}
	getenv := func(k string) string { return env[k] }
	cfg, err := parse(nil, &bytes.Buffer{}, &bytes.Buffer{}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Brokers, []string{"h1:1", "h2:2"}) || cfg.TopicPrefix != "prod." || cfg.Color {
		t.Fatalf("from env: %+v", cfg)
	}
	cfg, err = parse([]string{"--kafka-brokers", "h3:3", "--topic-prefix", "", "--color", "always"}, &bytes.Buffer{}, &bytes.Buffer{}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Brokers, []string{"h3:3"}) || cfg.TopicPrefix != "" || !cfg.Color {
		t.Fatalf("flags over env: %+v", cfg)
	}
	cfg, err = parse(nil, &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" })
	if err != nil || !slices.Equal(cfg.Brokers, []string{DefaultBrokers}) {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
}

// tail reads what consumers of Voice Microservices and of schema 1 streams
// see: a ConnID with @metainformation is printed as it is (ConnIDs are
// opaque, EVENTS.md 2.2), and schema 1 spellings decode and are shown with
// their T-Library names (2.4), as is LegalGuard in EventAgentNotReady; --json
// prints the values untouched.
func TestOpaqueConnIDsAndSchema1(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	ensureTopics(t, tg.Brokers, prefix)
	const th = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d"
	at := base.Unix()
	values := []string{
		`{"id":"EventRinging","Server":"vm-1","time":{"seconds":` + strconv.FormatInt(at, 10) + `,"useconds":0},` +
			`"CustomerID":"t3","Seq":1,"SchemaVersion":2,"CallThreadID":"` + th + `",` +
			`"ConnID":"00000000000000c1@sipsrv-2.eu-west-1","CallID":9,"CallType":"Inbound","CallState":"Ok",` +
			`"ThisDN":"3001","ThisDNRole":"Destination","AgentID":"c1"}`,
		`{"id":"EventReleased","Server":"vm-1","time":{"seconds":` + strconv.FormatInt(at+1, 10) + `,"useconds":0},` +
			`"CustomerID":"t3","Seq":2,"SchemaVersion":1,"CallThreadID":"` + th + `",` +
			`"ConnID":"00000000000000c1@sipsrv-2.eu-west-1","CallID":9,"CallType":"Inbound","CallState":"DroppedNoAnswer",` +
			`"ThisDN":"3001","AgentID":"c1"}`,
		`{"id":"EventMonitoringNextCall","Server":"vm-1","time":{"seconds":` + strconv.FormatInt(at+2, 10) + `,"useconds":0},` +
			`"CustomerID":"t3","Seq":1,"SchemaVersion":1,"ThisDN":"3001","OtherDN":"3900","AgentID":"c1",` +
			`"MonitorNextCallType":"OneCall"}`,
		`{"id":"EventAgentNotReady","Server":"vm-1","time":{"seconds":` + strconv.FormatInt(at+3, 10) + `,"useconds":0},` +
			`"CustomerID":"t3","Seq":2,"SchemaVersion":2,"ThisDN":"3001","AgentID":"c1","AgentWorkMode":"LegalGuard"}`,
	}
	cl := kafkatest.Client(t, tg.Brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, v := range values {
		var e event.Event
		if err := event.Unmarshal([]byte(v), &e); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		r := &kgo.Record{Topic: prefix + e.Topic(), Key: []byte(e.Key()), Value: []byte(v),
			Timestamp: time.UnixMicro(e.Time.UnixMicro())}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--kafka-brokers", tg.Brokers[0], "--topic-prefix", prefix, "--from-beginning", "--exit"}
	code, out, errs := run(t, args...)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	want := map[string]map[string]string{
		"EventRinging":            {"ConnID": "00000000000000c1@sipsrv-2.eu-west-1", "CallState": "Ok"},
		"EventReleased":           {"ConnID": "00000000000000c1@sipsrv-2.eu-west-1", "CallState": "Droppednoanswer"},
		"EventMonitoringNextCall": {"MonitorNextCallType": "MonitorOneCall"},
		"EventAgentNotReady":      {"AgentWorkMode": "LegalGuard"},
	}
	ls := lines(out)
	if len(ls) != len(values) {
		t.Fatalf("%d lines for %d records:\n%s", len(ls), len(values), out)
	}
	for _, l := range ls {
		p := parseLine(t, l)
		for f, v := range want[p.name] {
			if p.fields[f] != v {
				t.Errorf("line %q: %s=%q, want %q", l, f, p.fields[f], v)
			}
		}
		delete(want, p.name)
	}
	if len(want) > 0 {
		t.Errorf("not printed: %v\n%s", want, out)
	}
	code, out, errs = run(t, append(args, "--json")...)
	if got := lines(out); code != 0 || errs != "" || !slices.Equal(sortedStrings(got), sortedStrings(values)) {
		t.Fatalf("--json: exit %d, stderr %q, printed\n%s\nwant\n%s", code, errs, out, strings.Join(values, "\n"))
	}
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
