package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

const e2eToken = "e2e-token"

// running is an app.Main started in-process.
type running struct {
	addrs  Addrs
	cancel context.CancelFunc
	done   chan error
	out    *bytes.Buffer
}

// waitPublished waits until Kafka has acknowledged every journaled event
// of every tenant.
func (r *running) waitPublished(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lag := uint64(0)
		for _, s := range r.addrs.Durability() {
			lag += s.LagRecords
		}
		if lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d step records still not in Kafka after 30s", lag)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startMain(t testing.TB, brokers []string, prefix string) *running {
	t.Helper()
	return startMainWith(t, brokers, prefix, nil)
}

// startMainWith is startMain with a change to the configuration (mod may
// be nil).
func startMainWith(t testing.TB, brokers []string, prefix string, mod func(*Config)) *running {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.KafkaListen = "127.0.0.1:0"
	cfg.SIP = "127.0.0.1:0" // never the default 5060: tests run in parallel packages
	cfg.KafkaBrokers = brokers
	cfg.TopicPrefix = prefix
	cfg.Partitions = 3
	if mod != nil {
		mod(&cfg)
	}
	ready := make(chan Addrs, 1)
	r := &running{done: make(chan error, 1), out: &bytes.Buffer{}}
	m := Main{
		Config: cfg,
		Stdout: r.out,
		Logger: kafkatest.Logger(t, slog.LevelWarn),
		Getenv: func(k string) string {
			if k == EnvDemoToken {
				return e2eToken
			}
			return ""
		},
		OnReady: func(a Addrs) { ready <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- m.Run(ctx) }()
	select {
	case r.addrs = <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("Main.Run: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("Main did not become ready")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Main.Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("Main.Run did not return after cancel")
	}
}

func (r *running) post(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+r.addrs.HTTP+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// want is an expected event: its key and the fields that identify it.
type want struct {
	key     string
	summary string
}

func summary(ev *event.Event) string {
	s := ev.ID.String() + " " + ev.ThisDN
	add := func(k, v string) {
		if v != "" {
			s += " " + k + "=" + v
		}
	}
	add("agent", ev.AgentID)
	add("other", ev.OtherDN)
	add("queue", ev.ThisQueue)
	add("mode", ev.AgentWorkMode.String())
	add("type", ev.MonitorNextCallType.String())
	if ev.ReferenceID != 0 {
		add("ref", fmt.Sprint(ev.ReferenceID))
	}
	if len(ev.Reasons) > 0 {
		b, _ := ev.Reasons.MarshalJSON()
		add("reasons", string(b))
	}
	if len(ev.Extensions) > 0 {
		b, _ := ev.Extensions.MarshalJSON()
		add("ext", string(b))
	}
	return s
}

// TestEndToEnd runs serve with the embedded broker (and against the real
// Apache Kafka when the test run provides one), drives the API, and reads
// the events back from Kafka: fields and order per key, Seq, headers,
// partition, and the independent checker.
func TestEndToEnd(t *testing.T) {
	t.Run(kafkatest.NameEmbedded, func(t *testing.T) {
		e2e(t, nil, "")
	})
	if real := kafkatest.RealKafka(t); real != nil {
		t.Run(kafkatest.NameReal, func(t *testing.T) {
			e2e(t, real.Brokers, kafkatest.UniqueTopicPrefix(t))
		})
	}
}

func e2e(t *testing.T, brokers []string, prefix string) {
	r := startMain(t, brokers, prefix)
	if len(brokers) == 0 && !r.addrs.Embedded {
		t.Fatal("no --kafka-brokers but the embedded broker is not in use")
	}
	if !strings.Contains(r.out.String(), e2eToken) || !strings.Contains(r.out.String(), "curl") {
		t.Errorf("start-up banner lacks the token or the curl example:\n%s", r.out)
	}
	ws := dialEvents(t, r)
	const dn = "/v1/tenants/demo/dns/"
	a1, a2 := "demo:agent1", "demo:agent2"
	steps := []struct {
		method, path, body string
		want               []want
	}{
		{"POST", dn + "1001/login", `{"agentId":"agent1","queues":["7000","7001"],"referenceId":1}`, []want{
			{a1, "EventAgentLogin 1001 agent=agent1 queue=7000 ref=1"},
			{a1, "EventAgentLogin 1001 agent=agent1 queue=7001 ref=1"},
		}},
		{"POST", dn + "1002/login", `{"agentId":"agent2","queues":["7000"],"workMode":"AutoIn"}`, []want{
			{a2, "EventAgentLogin 1002 agent=agent2 queue=7000 mode=AutoIn"},
		}},
		{"POST", dn + "1001/ready", `{"referenceId":2}`, []want{
			{a1, "EventAgentReady 1001 agent=agent1 mode=ManualIn ref=2"},
		}},
		{"POST", dn + "1001/not-ready", `{"workMode":"AuxWork","reasons":{"ReasonCode":"Lunch","Minutes":30},"extensions":{"Site":{"City":"Lyon"}},"referenceId":3}`, []want{
			{a1, `EventAgentNotReady 1001 agent=agent1 mode=AuxWork ref=3 reasons={"ReasonCode":"Lunch","Minutes":30} ext={"Site":{"City":"Lyon"}}`},
		}},
		{"POST", dn + "1001/dnd", `{"on":true}`, []want{{a1, "EventDNDOn 1001 agent=agent1"}}},
		{"POST", dn + "1003/dnd", `{"on":true,"referenceId":4}`, []want{{"demo:1003", "EventDNDOn 1003 ref=4"}}},
		{"POST", dn + "1001/forward", `{"to":"1003","mode":"OnNoAnswer"}`, []want{
			{a1, `EventForwardSet 1001 agent=agent1 other=1003 ext={"ForwardMode":"OnNoAnswer"}`},
		}},
		{"DELETE", dn + "1001/forward", ``, []want{{a1, "EventForwardCancel 1001 agent=agent1"}}},
		{"POST", dn + "1100/monitor", `{"target":"1001","type":"OneCall"}`, []want{
			{a1, "EventMonitoringNextCall 1001 agent=agent1 other=1100 type=MonitorOneCall"},
			{"demo:1100", "EventMonitoringNextCall 1100 other=1001 type=MonitorOneCall"},
		}},
		{"POST", dn + "1002/ready", `{}`, []want{{a2, "EventAgentReady 1002 agent=agent2 mode=ManualIn"}}},
		{"POST", dn + "1001/logout", `{"queues":["7001"]}`, []want{{a1, "EventQueueLogout 1001 agent=agent1 queue=7001"}}},
		// The last logout ends the monitoring: cancelled twice, then the logout.
		{"POST", dn + "1001/logout", `{"referenceId":5}`, nil},
		{"POST", dn + "1001/ready", `{}`, nil}, // 409: logged out
	}
	var expect []want
	for i, s := range steps {
		status, body := r.post(t, s.method, s.path, s.body)
		switch {
		case i == len(steps)-1:
			if status != http.StatusConflict {
				t.Fatalf("ready after logout: %d %s, want 409", status, body)
			}
		case status != http.StatusOK:
			t.Fatalf("%s %s: %d %s", s.method, s.path, status, body)
		}
		expect = append(expect, s.want...)
	}
	// The final logout's events are checked by set and order below: the
	// engine decides the order of the monitoring cancellation and the
	// logout; per key it must be cancellation first on agent1's key.
	lastLogout := []want{
		{a1, "EventMonitoringCancelled 1001 agent=agent1 other=1100 ref=5"},
		{"demo:1100", "EventMonitoringCancelled 1100 other=1001 ref=5"},
		{a1, "EventAgentLogout 1001 agent=agent1 queue=7000 ref=5"},
	}
	expect = append(expect, lastLogout...)

	topics := []string{prefix + event.AgentStateTopic, prefix + event.CallThreadTopic}
	// Replies are sent only once Kafka acknowledged: everything is there now.
	r.waitPublished(t) // a reply means journaled; Kafka follows
	// With --kafka-brokers serve writes transactions: read_committed,
	// markers left out.
	recs := kafkatest.ConsumeCommitted(t, r.addrs.Kafka, topics, 30*time.Second)
	if len(recs) != len(expect) {
		t.Fatalf("Kafka holds %d records right after the replies, want %d", len(recs), len(expect))
	}

	gotByKey := map[string][]string{}
	wantByKey := map[string][]string{}
	for _, w := range expect {
		wantByKey[w.key] = append(wantByKey[w.key], w.summary)
	}
	for _, rec := range recs {
		var ev event.Event
		if err := event.Unmarshal(rec.Value, &ev); err != nil {
			t.Fatalf("record %s/%d@%d: %v", rec.Topic, rec.Partition, rec.Offset, err)
		}
		if err := ev.Validate(); err != nil {
			t.Errorf("record %s/%d@%d: %v", rec.Topic, rec.Partition, rec.Offset, err)
		}
		key := string(rec.Key)
		if key != ev.Key() {
			t.Errorf("record key %q, event key %q", key, ev.Key())
		}
		if rec.Topic != prefix+ev.Topic() {
			t.Errorf("%s on topic %s", ev.ID, rec.Topic)
		}
		if ev.Server != DefaultServerID || ev.CustomerID != "demo" || ev.SchemaVersion != event.SchemaVersion {
			t.Errorf("%s: Server %q CustomerID %q SchemaVersion %d", ev.ID, ev.Server, ev.CustomerID, ev.SchemaVersion)
		}
		if int64(len(gotByKey[key])+1) != ev.Seq {
			t.Errorf("key %s: Seq %d after %d events", key, ev.Seq, len(gotByKey[key]))
		}
		h := map[string]string{}
		for _, hd := range rec.Headers {
			h[hd.Key] = string(hd.Value)
		}
		if h["event"] != ev.ID.String() || h["tenant"] != "demo" || h["schema"] != fmt.Sprint(event.SchemaVersion) {
			t.Errorf("%s headers %v", ev.ID, h)
		}
		gotByKey[key] = append(gotByKey[key], summary(&ev))
	}
	for k, w := range wantByKey {
		if g := gotByKey[k]; strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("key %s:\n got\n  %s\n want\n  %s", k, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
		}
	}
	for k := range gotByKey {
		if _, ok := wantByKey[k]; !ok {
			t.Errorf("unexpected key %s: %v", k, gotByKey[k])
		}
	}
	checkEvents(t, recs)

	// The WebSocket stream carried the same events, each message exactly
	// the Kafka record value, in step order (so in Seq order per key).
	values := map[string][]byte{}
	for _, rec := range recs {
		var ev event.Event
		event.Unmarshal(rec.Value, &ev)
		values[fmt.Sprintf("%s/%d", rec.Key, ev.Seq)] = rec.Value
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lastSeq := map[string]int64{}
	for i := range expect {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("event stream message %d: %v", i, err)
		}
		var ev event.Event
		if err := event.Unmarshal(msg, &ev); err != nil {
			t.Fatalf("event stream message %d: %v", i, err)
		}
		id := fmt.Sprintf("%s/%d", ev.Key(), ev.Seq)
		if !bytes.Equal(msg, values[id]) {
			t.Errorf("event stream message %d (%s):\n%s\nKafka has\n%s", i, id, msg, values[id])
		}
		if ev.Seq != lastSeq[ev.Key()]+1 {
			t.Errorf("event stream: key %s Seq %d after %d", ev.Key(), ev.Seq, lastSeq[ev.Key()])
		}
		lastSeq[ev.Key()] = ev.Seq
	}
}

func dialEvents(t *testing.T, r *running) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+r.addrs.HTTP+"/v1/tenants/demo/events", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + e2eToken}},
	})
	if err != nil {
		t.Fatalf("event stream: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// checkEvents pipes the records through the independent checker
// ../shared/tools/check-events and expects exit 0.
func checkEvents(t *testing.T, recs []*kgo.Record) { t.Helper(); kafkatest.CheckEvents(t, recs) }

// repoRoot is the directory holding go.mod.
func repoRoot(t testing.TB) string { return kafkatest.RepoRoot(t) }
