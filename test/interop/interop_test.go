package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/publisher"

	"github.com/switchboard-cc/switchboard/internal/testenv"
)

const partitions = 6

// ---------------------------------------------------------------- tools

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

func kcat(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		testenv.Missing(t, "kcat not found in PATH")
	}
	return p
}

// python returns a Python with confluent-kafka: $SWITCHBOARD_PYTHON, or the
// venv scripts/test makes.
func python(t *testing.T) string {
	t.Helper()
	p := os.Getenv("SWITCHBOARD_PYTHON")
	if p == "" {
		p = filepath.Join(repoRoot(t), ".cache", "venv", "bin", "python")
	}
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, "no Python with confluent-kafka: SWITCHBOARD_PYTHON unset and %s missing", p)
	}
	return p
}

// checkEvents returns the path of shared/tools/check-events:
// $SWITCHBOARD_CHECK_EVENTS, or ../shared beside the repository.
func checkEvents(t *testing.T) string {
	t.Helper()
	p := os.Getenv("SWITCHBOARD_CHECK_EVENTS")
	if p == "" {
		p = filepath.Join(repoRoot(t), "..", "shared", "tools", "check-events")
	}
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, "check-events not found at %s", p)
	}
	return p
}

// run runs a command with stdin and returns its stdout, stderr and exit code
// (-1 and a fatal error if it could not run or timed out).
func run(t *testing.T, stdin []byte, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v timed out; stderr:\n%s", name, args, errb.String())
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), errb.String(), ee.ExitCode()
		}
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out.String(), errb.String(), 0
}

// ---------------------------------------------------------------- events

// stream builds a contract-valid stream: two tenants whose agents log in,
// get ready, make internal calls to each other (flow 5.1 of EVENTS.md),
// go not ready and log out, plus DND on DNs without an agent. Seq runs per
// key; every event passes event.Validate.
type stream struct {
	evs  []event.Event
	seq  map[string]int64
	now  int64 // microseconds
	conn int64
}

func newStream(t *testing.T) *stream {
	s := &stream{seq: map[string]int64{}, now: time.Date(2026, 11, 25, 8, 0, 0, 123456000, time.UTC).UnixMicro()}
	rng := rand.New(rand.NewPCG(7, 11))
	for _, tenant := range []string{"acme", "globex"} {
		const agents = 12
		dn := func(i int) string { return fmt.Sprint(1001 + i) }
		agent := func(i int) string { return fmt.Sprintf("agent%02d", i+1) }
		for i := range agents {
			s.add(t, event.Event{ID: event.EventAgentLogin, CustomerID: tenant, ThisDN: dn(i), AgentID: agent(i),
				ThisQueue: "7000", AgentWorkMode: event.WorkModeManualIn})
			if i%2 == 0 {
				s.add(t, event.Event{ID: event.EventAgentLogin, CustomerID: tenant, ThisDN: dn(i), AgentID: agent(i), ThisQueue: "7001"})
			}
			s.add(t, event.Event{ID: event.EventAgentReady, CustomerID: tenant, ThisDN: dn(i), AgentID: agent(i),
				AgentWorkMode: event.WorkModeManualIn})
		}
		for c := range 15 {
			a := rng.IntN(agents)
			b := (a + 1 + rng.IntN(agents-1)) % agents
			s.call(t, tenant, c, dn(a), agent(a), dn(b), agent(b))
		}
		for i := range 3 {
			s.add(t, event.Event{ID: event.EventDNDOn, CustomerID: tenant, ThisDN: fmt.Sprint(2001 + i),
				Reasons: event.KV{event.S("ReasonCode", "Maintenance")}})
		}
		for i := range agents {
			s.add(t, event.Event{ID: event.EventAgentNotReady, CustomerID: tenant, ThisDN: dn(i), AgentID: agent(i),
				AgentWorkMode: event.WorkModeAuxWork, Reasons: event.KV{event.S("ReasonCode", "End of shift")}})
			s.add(t, event.Event{ID: event.EventAgentLogout, CustomerID: tenant, ThisDN: dn(i), AgentID: agent(i)})
		}
	}
	return s
}

// call adds flow 5.1: A calls B, B answers, A hangs up.
func (s *stream) call(t *testing.T, tenant string, n int, a, agentA, b, agentB string) {
	s.conn++
	thread := fmt.Sprintf("%08x-%04x-7%03x-8%03x-%012x", s.now/1000>>16, s.now/1000&0xffff, n, s.conn, s.conn*7919)
	c := event.Event{CustomerID: tenant, CallThreadID: thread, ConnID: fmt.Sprintf("%016x", uint64(s.conn)<<20|0xabc),
		CallID: s.conn, CallType: event.CallTypeInternal}
	with := func(id event.Name, f func(e *event.Event)) event.Event {
		e := c
		e.ID = id
		f(&e)
		return e
	}
	s.add(t, event.Event{ID: event.EventOffHook, CustomerID: tenant, ThisDN: a, AgentID: agentA})
	s.add(t, with(event.EventDialing, func(e *event.Event) {
		e.ThisDN, e.ThisDNRole, e.OtherDN, e.OtherDNRole, e.AgentID = a, event.RoleOrigination, b, event.RoleDestination, agentA
	}))
	s.add(t, with(event.EventRinging, func(e *event.Event) {
		e.CallState, e.ThisDN, e.ThisDNRole, e.OtherDN, e.OtherDNRole, e.AgentID = event.CallStateOk, b, event.RoleDestination, a, event.RoleOrigination, agentB
	}))
	s.add(t, event.Event{ID: event.EventOffHook, CustomerID: tenant, ThisDN: b, AgentID: agentB, ConnID: c.ConnID, CallID: c.CallID})
	s.add(t, with(event.EventEstablished, func(e *event.Event) {
		e.CallState, e.ThisDN, e.ThisDNRole, e.OtherDN, e.AgentID = event.CallStateOk, b, event.RoleDestination, a, agentB
	}))
	s.add(t, with(event.EventEstablished, func(e *event.Event) {
		e.CallState, e.ThisDN, e.ThisDNRole, e.OtherDN, e.AgentID = event.CallStateOk, a, event.RoleOrigination, b, agentA
	}))
	s.add(t, with(event.EventReleased, func(e *event.Event) {
		e.CallState, e.ThisDN, e.OtherDN, e.AgentID = event.CallStateOk, a, b, agentA
	}))
	s.add(t, with(event.EventReleased, func(e *event.Event) {
		e.CallState, e.ThisDN, e.OtherDN, e.AgentID = event.CallStateOk, b, a, agentB
	}))
	s.add(t, event.Event{ID: event.EventOnHook, CustomerID: tenant, ThisDN: a, AgentID: agentA, ConnID: c.ConnID, CallID: c.CallID})
	s.add(t, event.Event{ID: event.EventOnHook, CustomerID: tenant, ThisDN: b, AgentID: agentB, ConnID: c.ConnID, CallID: c.CallID})
}

func (s *stream) add(t *testing.T, e event.Event) {
	t.Helper()
	e.Server = "sb-interop"
	e.SchemaVersion = event.SchemaVersion
	s.now += 1733 // microseconds
	e.Time = event.TimeFromUnixMicro(s.now)
	s.seq[e.Topic()+"|"+e.Key()]++
	e.Seq = s.seq[e.Topic()+"|"+e.Key()]
	if err := e.Validate(); err != nil {
		t.Fatalf("generated an invalid %s: %v", e.ID, err)
	}
	s.evs = append(s.evs, e)
}

// counts returns the number of events per name.
func (s *stream) counts() map[string]int {
	m := map[string]int{}
	for i := range s.evs {
		m[s.evs[i].ID.String()]++
	}
	return m
}

// publish writes the stream with switchboard's publisher and waits until
// Kafka has acknowledged all of it.
func publish(t *testing.T, brokers []string, prefix string, evs []event.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := publisher.New(ctx, publisher.Config{
		Brokers: brokers, TopicPrefix: prefix, Partitions: partitions, CreateTopics: true,
		Logger: kafkatest.Logger(t, slog.LevelWarn),
	})
	if err != nil {
		t.Fatalf("publisher.New: %v", err)
	}
	defer p.Close()
	const chunk = 37
	errs := make(chan error, len(evs)/chunk+1)
	n := 0
	for i := 0; i < len(evs); i += chunk {
		n++
		p.Publish(evs[i:min(i+chunk, len(evs))], func(err error) { errs <- err })
	}
	for range n {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("publish: no acknowledgement within a minute")
		}
	}
}

func topics(prefix string) []string {
	return []string{prefix + event.AgentStateTopic, prefix + event.CallThreadTopic}
}

// ---------------------------------------------------------------- tests

// TestKcatReadsWhatSwitchboardWrote publishes the stream and reads it back
// with kcat; shared/tools/check-events must accept it, and must reject a
// copy with one record dropped and a copy with one record altered.
func TestKcatReadsWhatSwitchboardWrote(t *testing.T) {
	kc, checker, py := kcat(t), checkEvents(t), python(t)
	s := newStream(t)
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			publish(t, tg.Brokers, prefix, s.evs)
			// kcat -C reads one topic per run (given two -t, it reads
			// only the last), so each topic is read on its own.
			var recs []string
			for _, topic := range topics(prefix) {
				out, errs, code := run(t, nil, kc, "-b", strings.Join(tg.Brokers, ","), "-C", "-J", "-e", "-q",
					"-o", "beginning", "-t", topic)
				if code != 0 {
					t.Fatalf("kcat -t %s: exit %d: %s", topic, code, errs)
				}
				for _, l := range strings.Split(out, "\n") {
					if strings.HasPrefix(l, "{") {
						recs = append(recs, l)
					}
				}
			}
			if len(recs) != len(s.evs) {
				t.Fatalf("kcat read %d records, want %d", len(recs), len(s.evs))
			}
			// kcat's record layout, and the partition the publisher chose.
			for _, l := range recs {
				var r struct {
					Topic     string  `json:"topic"`
					Partition int32   `json:"partition"`
					Key       *string `json:"key"`
					Payload   *string `json:"payload"`
				}
				if err := json.Unmarshal([]byte(l), &r); err != nil || r.Key == nil || r.Payload == nil {
					t.Fatalf("kcat line %q: %v", l, err)
				}
				if want := event.Partition([]byte(*r.Key), partitions); r.Partition != want {
					t.Errorf("key %s on partition %d, want %d", *r.Key, r.Partition, want)
				}
			}

			all := []byte(strings.Join(recs, "\n") + "\n")
			out, errs, code := run(t, all, py, checker)
			wantSummary := fmt.Sprintf("%d records, %d keys, 0 problems", len(s.evs), len(s.seq))
			if code != 0 || !strings.Contains(out, wantSummary) {
				t.Fatalf("check-events exit %d, want 0 and %q:\n%s%s", code, wantSummary, out, errs)
			}

			// The checker can fail: drop the first record of a key that has
			// more (a Seq gap), then alter one record's SchemaVersion.
			dropped := dropFirstOfKey(t, recs)
			out, _, code = run(t, []byte(strings.Join(dropped, "\n")+"\n"), py, checker)
			if code != 1 || !strings.Contains(out, "Seq 2 after 0") {
				t.Fatalf("check-events on a stream with a gap: exit %d, want 1 and a Seq problem:\n%s", code, out)
			}
			altered := append([]string(nil), recs...)
			altered[len(altered)/2] = alterPayload(t, altered[len(altered)/2], "SchemaVersion", event.SchemaVersion+1)
			out, _, code = run(t, []byte(strings.Join(altered, "\n")+"\n"), py, checker)
			if code != 1 || !strings.Contains(out, fmt.Sprintf("SchemaVersion %d", event.SchemaVersion+1)) {
				t.Fatalf("check-events on an altered record: exit %d, want 1 and a SchemaVersion problem:\n%s", code, out)
			}
		})
	}
}

// dropFirstOfKey removes the Seq 1 record of the first key that has a Seq 2.
func dropFirstOfKey(t *testing.T, recs []string) []string {
	t.Helper()
	type rec struct {
		Topic   string `json:"topic"`
		Key     string `json:"key"`
		Payload string `json:"payload"`
	}
	seqOf := func(l string) (string, int) {
		var r rec
		var ev struct{ Seq int }
		if json.Unmarshal([]byte(l), &r) != nil || json.Unmarshal([]byte(r.Payload), &ev) != nil {
			t.Fatalf("bad kcat line %q", l)
		}
		return r.Topic + "|" + r.Key, ev.Seq
	}
	second := map[string]bool{}
	for _, l := range recs {
		if k, seq := seqOf(l); seq == 2 {
			second[k] = true
		}
	}
	for i, l := range recs {
		if k, seq := seqOf(l); seq == 1 && second[k] {
			return append(append([]string(nil), recs[:i]...), recs[i+1:]...)
		}
	}
	t.Fatal("no key with two events")
	return nil
}

// alterPayload sets field of the event in a kcat line to v.
func alterPayload(t *testing.T, line, field string, v any) string {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(r["payload"].(string)), &ev); err != nil {
		t.Fatal(err)
	}
	ev[field] = v
	p, _ := json.Marshal(ev)
	r["payload"] = string(p)
	b, _ := json.Marshal(r)
	return string(b)
}

// pySummary is the last line consume.py prints.
type pySummary struct {
	Records    int            `json:"records"`
	Keys       int            `json:"keys"`
	Partitions map[string]int `json:"partitions"`
	Events     map[string]int `json:"events"`
	Problems   map[string]int `json:"problems"`
	Examples   map[string]any `json:"examples"`
	Error      string         `json:"error"`
}

func consumePy(t *testing.T, brokers []string, ts []string) (pySummary, int, string) {
	t.Helper()
	args := []string{"consume.py", "--brokers", strings.Join(brokers, ","), "--verbose"}
	for _, tp := range ts {
		args = append(args, "--topic", tp)
	}
	out, errs, code := run(t, nil, python(t), args...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s pySummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("consume.py exit %d, last line not a JSON summary: %v\nstdout:\n%s\nstderr:\n%s", code, err, out, errs)
	}
	return s, code, errs
}

// TestPythonConsumerDecodesAndChecks reads the published stream with
// confluent-kafka and checks key, Java murmur2 partition and Seq per key.
func TestPythonConsumerDecodesAndChecks(t *testing.T) {
	python(t)
	s := newStream(t)
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			publish(t, tg.Brokers, prefix, s.evs)
			ts := topics(prefix)
			sum, code, errs := consumePy(t, tg.Brokers, ts)
			if code != 0 || sum.Error != "" {
				t.Fatalf("consume.py exit %d: %+v\n%s", code, sum, errs)
			}
			if sum.Records != len(s.evs) || sum.Keys != len(s.seq) {
				t.Errorf("consume.py read %d records of %d keys, want %d of %d", sum.Records, sum.Keys, len(s.evs), len(s.seq))
			}
			for _, tp := range ts {
				if sum.Partitions[tp] != partitions {
					t.Errorf("consume.py saw %d partitions in %s, want %d", sum.Partitions[tp], tp, partitions)
				}
			}
			for name, n := range s.counts() {
				if sum.Events[name] != n {
					t.Errorf("consume.py decoded %d %s, want %d", sum.Events[name], name, n)
				}
			}
			for kind, n := range sum.Problems {
				if n != 0 {
					t.Errorf("consume.py found %d %s problems: %v", n, kind, sum.Examples[kind])
				}
			}
			if len(sum.Problems) == 0 {
				t.Errorf("consume.py reported no problem counts: %+v", sum)
			}
		})
	}
}

// TestPythonConsumerFindsFaults writes records that break the contract on
// purpose (one on the wrong partition, one with a wrong key, one Seq gap)
// and expects the Python consumer to report exactly those.
func TestPythonConsumerFindsFaults(t *testing.T) {
	python(t)
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	ts := topics(prefix)
	cl := kafkatest.Client(t, tg.Brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 4, 1, nil, ts...); err != nil {
		t.Fatal(err)
	}
	evs := newStream(t).evs
	var lone, gapKey, wrongKey int = -1, -1, -1
	perKey := map[string]int{}
	for i := range evs {
		perKey[evs[i].Topic()+"|"+evs[i].Key()]++
	}
	var recs []*kgo.Record
	for i := range evs {
		e := &evs[i]
		key := e.Key()
		n := perKey[e.Topic()+"|"+key]
		p := event.Partition([]byte(key), 4)
		switch {
		case lone < 0 && n == 1: // a key with one event: put it on the wrong partition
			lone, p = i, (p+1)%4
		case gapKey < 0 && n > 2 && e.Seq == 2: // skip Seq 2 of a key
			gapKey = i
			continue
		case wrongKey < 0 && n == 1 && i != lone && e.Topic() == event.AgentStateTopic: // a key that is not the event's
			wrongKey = i
			key = e.CustomerID + ":someone-else"
			p = event.Partition([]byte(key), 4)
		}
		r := &kgo.Record{Topic: prefix + e.Topic(), Partition: p, Key: []byte(key), Value: event.Marshal(e)}
		for _, h := range e.Headers() {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
		}
		recs = append(recs, r)
	}
	if lone < 0 || gapKey < 0 || wrongKey < 0 {
		t.Fatalf("stream lacks the keys to break: lone %d, gap %d, wrong key %d", lone, gapKey, wrongKey)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	sum, code, _ := consumePy(t, tg.Brokers, ts)
	want := map[string]int{"partition": 1, "key": 1, "seq": 1, "header": 0, "decode": 0}
	if code != 1 || sum.Records != len(recs) {
		t.Fatalf("consume.py exit %d after %d records, want exit 1 after %d: %+v", code, sum.Records, len(recs), sum)
	}
	for kind, n := range want {
		if sum.Problems[kind] != n {
			t.Errorf("consume.py found %d %s problems, want %d: %v", sum.Problems[kind], kind, n, sum.Examples)
		}
	}
}
