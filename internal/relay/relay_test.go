package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/switchboard-cc/switchboard/internal/relay"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const partitions = 6

// node is one tenant's runtime, journal, publisher and relay, as serve
// wires them.
type node struct {
	t      testing.TB
	dir    string
	prefix string
	jr     *journal.Journal
	tn     *tenant.Tenant
	pub    *publisher.Publisher
	rl     *relay.Relay
}

func startNode(t testing.TB, brokers []string, dir, prefix string) *node {
	t.Helper()
	return startNodeWith(t, brokers, dir, prefix, &config.Demo("tok", "pw").Tenants[0], 50)
}

func startNodeWith(t testing.TB, brokers []string, dir, prefix string, tc *config.Tenant, snapshotEvery int) *node {
	t.Helper()
	return startNodeWrapped(t, brokers, dir, prefix, tc, snapshotEvery, nil)
}

// startNodeWrapped is startNodeWith with the relay handing its events to
// wrap(publisher) (wrap nil: the publisher itself).
func startNodeWrapped(t testing.TB, brokers []string, dir, prefix string, tc *config.Tenant, snapshotEvery int,
	wrap func(relay.Publisher) relay.Publisher) *node {
	t.Helper()
	return startNodeConfig(t, brokers, dir, prefix, tc, snapshotEvery, wrap, nil)
}

// startNodeConfig is startNodeWrapped with set (unless nil) changing the
// relay's configuration before it starts. The relay lingers as serve's
// does (relay.DefaultLinger) unless set changes it.
func startNodeConfig(t testing.TB, brokers []string, dir, prefix string, tc *config.Tenant, snapshotEvery int,
	wrap func(relay.Publisher) relay.Publisher, set func(*relay.Config)) *node {
	t.Helper()
	return startNodePublisher(t, brokers, dir, prefix, tc, snapshotEvery, wrap, set, nil, slog.LevelWarn)
}

// startNodePublisher is startNodeConfig with setPub (unless nil) changing
// the publisher's configuration, logging at level and above.
func startNodePublisher(t testing.TB, brokers []string, dir, prefix string, tc *config.Tenant, snapshotEvery int,
	wrap func(relay.Publisher) relay.Publisher, set func(*relay.Config), setPub func(*publisher.Config), level slog.Level) *node {
	t.Helper()
	log := kafkatest.Logger(t, level)
	n := &node{t: t, dir: dir, prefix: prefix}
	var err error
	n.jr, err = journal.Open(filepath.Join(dir, "journal"), journal.Options{SegmentSize: 1 << 20, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(tc, engine.Options{Server: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	n.tn, err = tenant.Start(tenant.Config{Engine: eng, Journal: n.jr, Logger: log, SnapshotEvery: snapshotEvery})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pc := publisher.Config{Brokers: brokers, TopicPrefix: prefix, Partitions: partitions,
		CreateTopics: true, Linger: -1, Logger: log}
	if setPub != nil {
		setPub(&pc)
	}
	n.pub, err = publisher.New(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	var pub relay.Publisher = n.pub
	if wrap != nil {
		pub = wrap(n.pub)
	}
	rc := relay.Config{Tenant: "demo", Journal: n.jr, Publisher: pub,
		Checkpoint: filepath.Join(dir, "relay.ckpt"), Kafka: []kgo.Opt{kgo.SeedBrokers(brokers...)},
		TopicPrefix: prefix, SnapshotLSN: n.tn.SnapshotLSN, CheckpointEvery: 20 * time.Millisecond,
		Linger: relay.DefaultLinger, Logger: log}
	if set != nil {
		set(&rc)
	}
	n.rl, err = relay.Start(rc)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// close shuts the node down gracefully: every event in Kafka first.
func (n *node) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.tn.Close(ctx); err != nil {
		n.t.Error(err)
	}
	if err := n.rl.Close(ctx); err != nil {
		n.t.Error(err)
	}
	n.pub.Close()
	n.jr.Close()
}

// crash stops the node as a crash would as far as Kafka and the
// checkpoint are concerned: the relay stops without waiting for Kafka and
// the producer is dropped with records in flight.
func (n *node) crash() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n.tn.Close(ctx)
	n.pub.Close() // unblocks a Publish waiting for buffer space
	n.rl.Close(ctx)
	n.jr.Close()
}

// load runs workers that log in, go ready and not ready, and make and
// release calls until stop is closed; it returns the events of the
// commands answered without error.
func load(t testing.TB, tn *tenant.Tenant, workers int, stop <-chan struct{}) (events int64, requests int64) {
	var wg sync.WaitGroup
	var evs, reqs atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dn := fmt.Sprint(1001 + w)
			peer := fmt.Sprint(1011 + w)
			ctx := context.Background()
			do := func(c engine.Command) (tenant.Outcome, bool) {
				out, err := tn.Do(ctx, c)
				if err != nil {
					var ee *engine.Error
					if !errors.As(err, &ee) && !errors.Is(err, tenant.ErrClosed) {
						t.Errorf("%s: %v", c.Kind(), err)
					}
					return out, false
				}
				evs.Add(int64(out.Events))
				reqs.Add(1)
				return out, true
			}
			do(engine.Login{DN: dn, AgentID: fmt.Sprint("agent", 1+w)})
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				switch i % 3 {
				case 0:
					do(engine.Ready{DN: dn})
				case 1:
					do(engine.NotReady{DN: dn})
				case 2:
					if out, ok := do(engine.MakeCall{From: dn, To: peer}); ok {
						do(engine.Release{ConnID: out.Reply.(engine.CallReply).ConnID, DN: dn})
					}
				}
			}
		}()
	}
	wg.Wait()
	return evs.Load(), reqs.Load()
}

// checkKafka consumes both topics and checks that they hold exactly want
// events, each (key, Seq) once, Seq gapless from 1 per key.
func checkKafka(t testing.TB, brokers []string, prefix string, want int64) {
	t.Helper()
	topics := []string{prefix + event.AgentStateTopic, prefix + event.CallThreadTopic}
	recs := kafkatest.Consume(t, brokers, topics, int(want), 60*time.Second)
	if n := kafkatest.RecordCount(t, brokers, topics...); n != want {
		t.Fatalf("topics hold %d records, want exactly %d (the events of the 2xx replies)", n, want)
	}
	last := map[string]int64{}
	bad := 0
	for _, r := range recs {
		var e event.Event
		if err := event.Unmarshal(r.Value, &e); err != nil {
			t.Fatal(err)
		}
		k := string(r.Key)
		if e.Seq != last[k]+1 {
			if bad++; bad < 10 {
				t.Errorf("key %s: Seq %d after %d (offset %d)", k, e.Seq, last[k], r.Offset)
			}
		}
		last[k] = e.Seq
	}
	if bad > 0 {
		t.Fatalf("%d records out of order or duplicated", bad)
	}
	t.Logf("%d events in Kafka over %d keys, exactly once and gapless", len(recs), len(last))
}

func produceFault(err *kerr.Error) kfake.Fault {
	return kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: err, Count: -1}
}

// TestKafkaOutage: the embedded broker refuses every produce request for a
// while; requests go on being answered (the journal holds the events) and
// afterwards Kafka has every event once, in order.
func TestKafkaOutage(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	n := startNode(t, tg.Brokers, t.TempDir(), prefix)
	h := tg.Cluster.Fault(produceFault(kerr.NotLeaderForPartition))
	stop := make(chan struct{})
	var evs, reqs int64
	done := make(chan struct{})
	go func() { evs, reqs = load(t, n.tn, 8, stop); close(done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Wait(ctx, 8); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	st := n.rl.Stats()
	if st.LagRecords == 0 || st.AckedLSN >= st.DurableLSN {
		t.Fatalf("Kafka down but nothing lags: %+v", st)
	}
	h.Remove()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	// Once Kafka has the records and snapshots cover them, the journal
	// sheds its old segments.
	if err := n.rl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for n.jr.FirstLSN() == 1 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	end := n.rl.Stats()
	if end.FirstLSN <= 1 || n.tn.SnapshotLSN() == 0 {
		t.Fatalf("journal not truncated after Kafka caught up: %+v, snapshot at %d", end, n.tn.SnapshotLSN())
	}
	n.close()
	t.Logf("%d requests answered, %d events; during the outage: %+v; after: %+v", reqs, evs, st, end)
	checkKafka(t, tg.Brokers, prefix, evs)
}

// TestCrashAfterAppend: produce requests are appended by the broker but
// answered REQUEST_TIMED_OUT (the duplicate-risk case) and the node
// crashes before Kafka's acknowledgement is recorded. The restarted node
// publishes the unacknowledged events again, skipping those Kafka already
// has: every event once.
func TestCrashAfterAppend(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	dir := t.TempDir()
	n := startNode(t, tg.Brokers, dir, prefix)
	var total int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { total, _ = load(t, n.tn, 4, stop); close(done) }()
	time.Sleep(200 * time.Millisecond)
	h := tg.Cluster.Fault(produceFault(kerr.RequestTimedOut))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Wait(ctx, 10); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-done
	before := n.rl.Stats()
	n.crash()
	h.Remove()
	appended := kafkatest.RecordCount(t, tg.Brokers, prefix+event.AgentStateTopic, prefix+event.CallThreadTopic)
	t.Logf("crash: %+v; Kafka holds %d records", before, appended)
	if before.LagRecords == 0 {
		t.Fatal("nothing was unacknowledged at the crash")
	}

	n = startNode(t, tg.Brokers, dir, prefix)
	stop = make(chan struct{})
	done = make(chan struct{})
	var more int64
	go func() { more, _ = load(t, n.tn, 4, stop); close(done) }()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	// The resume (reading the partition tails) may outlast the load on a
	// slow machine (-race): the skips are counted once it has finished.
	if err := n.rl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := n.rl.Stats()
	n.close()
	if st.EventsSkipped == 0 {
		t.Fatalf("no event skipped: the test did not produce the duplicate-risk case (%+v)", st)
	}
	t.Logf("restart skipped %d events Kafka already had", st.EventsSkipped)
	checkKafka(t, tg.Brokers, prefix, total+more)
}

// TestKeepFrom: while Kafka refuses the events the relay holds steps beyond
// its checkpoint, and KeepFrom names the checkpoint's offsets (a restart
// reads the tails from there); once Kafka has everything and the
// checkpoint covers the journal, KeepFrom holds nothing back.
func TestKeepFrom(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	dir := t.TempDir()
	n := startNode(t, tg.Brokers, dir, prefix)
	defer n.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics := []string{prefix + event.AgentStateTopic, prefix + event.CallThreadTopic}
	idle := func() bool {
		for _, topic := range topics {
			for p := range int32(partitions) {
				if n.rl.KeepFrom(topic, p) != math.MaxInt64 {
					return false
				}
			}
		}
		return true
	}
	if _, err := n.tn.Do(ctx, engine.Login{DN: "1001", AgentID: "agent1"}); err != nil {
		t.Fatal(err)
	}
	for !idle() {
		if ctx.Err() != nil {
			t.Fatal("KeepFrom holds records back although Kafka has every event")
		}
		time.Sleep(10 * time.Millisecond)
	}

	h := tg.Cluster.Fault(produceFault(kerr.NotLeaderForPartition))
	for i, dn := range []string{"1002", "1003"} {
		if _, err := n.tn.Do(ctx, engine.Login{DN: dn, AgentID: fmt.Sprint("agent", 2+i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "relay.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	var ck struct {
		Offsets map[string]map[int32]int64 `json:"offsets"`
	}
	if err := json.Unmarshal(b, &ck); err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics {
		for p := range int32(partitions) {
			want, ok := ck.Offsets[topic][p]
			if !ok {
				t.Fatalf("checkpoint without %s/%d: %s", topic, p, b)
			}
			if got := n.rl.KeepFrom(topic, p); got != want {
				t.Errorf("KeepFrom(%s, %d) = %d with steps not in Kafka, want the checkpoint's %d", topic, p, got, want)
			}
		}
	}
	h.Remove()
	for !idle() {
		if ctx.Err() != nil {
			t.Fatal("KeepFrom still holds records back after Kafka took everything")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBrokerRefusesWrites: the embedded broker refuses every produce
// request with UNKNOWN_SERVER_ERROR (what a broker whose disk is full
// answers, and which a producer may not retry) for a while under load. The
// relay pauses instead of stopping for good, retries with backoff, and once
// the broker takes writes again it resumes by itself: Kafka then has every
// event of the answered requests once, gapless, without a restart.
func TestBrokerRefusesWrites(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	n := startNode(t, tg.Brokers, t.TempDir(), prefix)
	stop := make(chan struct{})
	var evs, reqs int64
	done := make(chan struct{})
	go func() { evs, reqs = load(t, n.tn, 8, stop); close(done) }()
	time.Sleep(200 * time.Millisecond) // some published before the fault
	h := tg.Cluster.Fault(produceFault(kerr.UnknownServerError))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := h.Wait(ctx, 4); err != nil {
		t.Fatal(err)
	}
	for n.rl.Stats().Paused == "" && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	during := n.rl.Stats()
	if during.Paused == "" || during.Err != "" {
		t.Fatalf("broker refusing writes: relay %+v, want paused, not stopped", during)
	}
	time.Sleep(500 * time.Millisecond) // retries are refused too
	h.Remove()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	if err := n.rl.Flush(ctx); err != nil {
		t.Fatalf("relay did not resume after the broker took writes again: %v (%+v)", err, n.rl.Stats())
	}
	after := n.rl.Stats()
	if after.Paused != "" || after.Err != "" || after.Pauses == 0 {
		t.Fatalf("after the broker recovered: %+v", after)
	}
	n.close()
	t.Logf("%d requests answered, %d events; %d pauses; skipped %d already in Kafka", reqs, evs, after.Pauses, after.EventsSkipped)
	checkKafka(t, tg.Brokers, prefix, evs)
}
