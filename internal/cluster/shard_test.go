package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const demoTenant = "demo"

func testConfig(t *testing.T, brokers []string) *Config {
	t.Helper()
	cfg := &Config{Cluster: "c1", Brokers: brokers, Shards: 4, OutputPartitions: 3,
		TopicPrefix: kafkatest.UniqueTopicPrefix(t), Logger: kafkatest.Logger(t, slog.LevelWarn),
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 500 * time.Millisecond}
	return cfg
}

func ensure(t *testing.T, cfg *Config) map[string]int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	parts, err := EnsureTopics(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

func demoEngine(t testing.TB) *engine.Engine {
	t.Helper()
	ten := config.Demo("tok", "pw").Tenants[0]
	eng, err := engine.New(&ten, engine.Options{Server: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func openShard(t *testing.T, cfg *Config, parts map[string]int32, node string) (*Shard, *tenant.LogState) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := ShardOf(demoTenant, cfg.Shards)
	s, states, err := OpenShard(ctx, cfg, parts, n, Owner{Node: node}, []string{demoTenant})
	if err != nil {
		t.Fatal(err)
	}
	return s, states[demoTenant]
}

func startTenant(t *testing.T, s *Shard, st *tenant.LogState, snapEvery int) *tenant.Tenant {
	t.Helper()
	tn, err := tenant.Start(tenant.Config{Engine: demoEngine(t), Log: s.Log(demoTenant), LogState: st, SnapshotEvery: snapEvery})
	if err != nil {
		t.Fatal(err)
	}
	if tn.ID() != demoTenant {
		t.Fatalf("demo tenant is %q", tn.ID())
	}
	return tn
}

func login(ctx context.Context, tn *tenant.Tenant, i int) error {
	_, err := tn.Do(ctx, engine.Login{DN: fmt.Sprint(1000 + i), AgentID: fmt.Sprint("agent", i)})
	return err
}

// readAll reads every record of topics with the given isolation: it first
// appends a plain end record to each partition, then reads until it has
// seen all of them (so the read is complete without waiting on a clock).
// The end records are not returned.
func readAll(t *testing.T, brokers []string, committed bool, topics ...string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pr := kafkatest.Client(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := 0
	nonce := fmt.Sprint(time.Now().UnixNano())
	for _, topic := range topics {
		n := partitionsOf(t, pr, topic)
		for p := int32(0); p < n; p++ {
			if err := pr.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Key: []byte("\x00end"), Value: []byte(nonce),
				Headers: []kgo.RecordHeader{{Key: hType, Value: []byte("test-end")}}}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			want++
		}
	}
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := kafkatest.Client(t, brokers, kgo.ConsumeTopics(topics...), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for seen := 0; seen < want; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v: %d of %d end records seen: %v", topics, seen, want, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if header(r, hType) == "test-end" {
				if string(r.Value) == nonce {
					seen++
				}
				return
			}
			out = append(out, r)
		})
	}
	return out
}

func partitionsOf(t *testing.T, cl *kgo.Client, topic string) int32 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || len(resp.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	return int32(len(resp.Topics[0].Partitions))
}

// eventsOf decodes the output records, checks that no (topic, key, Seq)
// repeats and that Seq is gapless per key, and returns the events.
func eventsOf(t *testing.T, recs []*kgo.Record) []event.Event {
	t.Helper()
	last := map[string]int64{}
	var evs []event.Event
	for _, r := range recs {
		var e event.Event
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("%s offset %d: %v", r.Topic, r.Offset, err)
		}
		k := r.Topic + "/" + string(r.Key)
		if p, ok := last[k]; ok && e.Seq != p+1 {
			t.Fatalf("%s: Seq %d after %d", k, e.Seq, p)
		}
		last[k] = e.Seq
		evs = append(evs, e)
	}
	return evs
}

// eventsOfUncommitted decodes records read read_uncommitted (where a
// fenced writer's aborted events repeat Seq).
func eventsOfUncommitted(t *testing.T, recs []*kgo.Record) []event.Event {
	t.Helper()
	var evs []event.Event
	for _, r := range recs {
		var e event.Event
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("%s offset %d: %v", r.Topic, r.Offset, err)
		}
		evs = append(evs, e)
	}
	return evs
}

func countDN(evs []event.Event, dn string) int {
	n := 0
	for _, e := range evs {
		if e.ThisDN == dn {
			n++
		}
	}
	return n
}

// TestFencingMidTransaction: node A's transaction is open (its records are
// in the log, its EndTxn held back), and the next one, on the shard's next
// transactional id, has its records produced too, when node B claims the
// shard. B's InitProducerID fences A: A's commit fails, the callers of
// both transactions get ErrNotRecorded, its shard fails with ErrFenced, every later command on A
// is refused, and nothing A wrote in that transaction is visible to a
// read_committed reader (a read_uncommitted one sees it). B continues the
// tenant from what was committed, Seq gapless. Runs on the embedded
// broker, whose request control holds A's EndTxn.
func TestFencingMidTransaction(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	cfg := testConfig(t, brokers)
	parts := ensure(t, cfg)
	ctx := context.Background()

	a, st := openShard(t, cfg, parts, "a")
	ta := startTenant(t, a, st, -1)
	if err := login(ctx, ta, 1); err != nil {
		t.Fatal(err)
	}

	// Hold A's next EndTxn until B has claimed the shard.
	var armed atomic.Bool
	armed.Store(true)
	caught, release := make(chan struct{}), make(chan struct{})
	c.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
		if armed.CompareAndSwap(true, false) {
			close(caught)
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	errA := make(chan error, 1)
	go func() { errA <- login(ctx, ta, 2) }()
	<-caught
	// The next batch goes into the transaction opened on the next id
	// while that commit is held: its records are produced (a
	// read_uncommitted reader sees them) before the fence.
	err3 := make(chan error, 1)
	go func() { err3 <- login(ctx, ta, 3) }()
	tp := TopicsOf(cfg)
	for countDN(eventsOfUncommitted(t, readAll(t, brokers, false, tp.AgentState)), "1003") == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	b, stB := openShard(t, cfg, parts, "b")
	close(release)
	if err := <-errA; !errors.Is(err, tenant.ErrNotRecorded) {
		t.Fatalf("A's command whose commit was fenced: %v, want ErrNotRecorded", err)
	}
	if err := <-err3; !errors.Is(err, tenant.ErrNotRecorded) {
		t.Fatalf("A's command produced behind the fenced commit: %v, want ErrNotRecorded", err)
	}
	<-a.Failed()
	if !errors.Is(a.Err(), ErrFenced) {
		t.Fatalf("A's shard failed with %v, want ErrFenced", a.Err())
	}
	if err := login(ctx, ta, 4); !errors.Is(err, tenant.ErrNotRecorded) {
		t.Fatalf("A after being fenced: %v, want ErrNotRecorded", err)
	}
	ta.Close(ctx)
	a.Close(ctx, false)

	if stB == nil || len(stB.Steps) != 1 {
		t.Fatalf("B read %+v, want the one committed step", stB)
	}
	tb := startTenant(t, b, stB, -1)
	if err := login(ctx, tb, 2); err != nil {
		t.Fatal(err)
	}
	tb.Close(ctx)
	if err := b.Close(ctx, true); err != nil {
		t.Fatal(err)
	}

	committed := eventsOf(t, readAll(t, brokers, true, tp.AgentState, tp.CallThread))
	if n := countDN(committed, "1002"); n == 0 || countDN(committed, "1001") == 0 || countDN(committed, "1003") != 0 || countDN(committed, "1004") != 0 {
		t.Fatalf("read_committed: 1001 %d, 1002 %d, 1003 %d, 1004 %d events", countDN(committed, "1001"), n, countDN(committed, "1003"), countDN(committed, "1004"))
	}
	uncommitted := readAll(t, brokers, false, tp.AgentState, tp.CallThread)
	if len(uncommitted) <= len(committed) {
		t.Fatalf("read_uncommitted sees %d records, read_committed %d: A's aborted records were never written", len(uncommitted), len(committed))
	}
	var login1002 int
	for _, e := range committed {
		if e.ThisDN == "1002" && e.ID == event.EventAgentLogin {
			login1002++
		}
	}
	if login1002 != 1 {
		t.Fatalf("EventAgentLogin for 1002 %d times read_committed, want once", login1002)
	}
	kafkatest.CheckEvents(t, readAll(t, brokers, true, tp.AgentState, tp.CallThread))
}

// TestFencedIdleWriter: a node fenced while idle fails at its next
// produce or commit; nothing of that batch reaches read_committed readers,
// and the new owner's state is the committed one.
func TestFencedIdleWriter(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			cfg := testConfig(t, tg.Brokers)
			parts := ensure(t, cfg)
			ctx := context.Background()
			a, st := openShard(t, cfg, parts, "a")
			ta := startTenant(t, a, st, -1)
			for i := 1; i <= 3; i++ {
				if err := login(ctx, ta, i); err != nil {
					t.Fatal(err)
				}
			}
			b, stB := openShard(t, cfg, parts, "b")
			defer b.Close(ctx, false)
			if err := login(ctx, ta, 4); !errors.Is(err, tenant.ErrNotRecorded) {
				t.Fatalf("fenced A: %v, want ErrNotRecorded", err)
			}
			<-a.Failed()
			if !errors.Is(a.Err(), ErrFenced) {
				t.Fatalf("A failed with %v, want ErrFenced", a.Err())
			}
			ta.Close(ctx)
			a.Close(ctx, false)
			if len(stB.Steps) != 3 {
				t.Fatalf("B read %d steps, want 3", len(stB.Steps))
			}
			tb := startTenant(t, b, stB, -1)
			defer tb.Close(ctx)
			if err := login(ctx, tb, 5); err != nil {
				t.Fatal(err)
			}
			tp := TopicsOf(cfg)
			committed := eventsOf(t, readAll(t, tg.Brokers, true, tp.AgentState, tp.CallThread))
			if countDN(committed, "1004") != 0 || countDN(committed, "1005") == 0 {
				t.Fatalf("read_committed: 1004 %d events (fenced), 1005 %d", countDN(committed, "1004"), countDN(committed, "1005"))
			}
		})
	}
}

// TestTakeoverReplay: a node crashes (its shard is never closed) after
// steps, calls and snapshots; the new owner restores the latest snapshot
// and replays the journal after it, reaching the same views, and its next
// events continue Seq and ConnIDs. The replay starts at the snapshot's
// offset, not at the start of the journal.
func TestTakeoverReplay(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			cfg := testConfig(t, tg.Brokers)
			parts := ensure(t, cfg)
			ctx := context.Background()
			a, st := openShard(t, cfg, parts, "a")
			ta := startTenant(t, a, st, 4)
			for i := 1; i <= 10; i++ {
				if err := login(ctx, ta, i); err != nil {
					t.Fatal(err)
				}
			}
			out, err := ta.Do(ctx, engine.MakeCall{From: "1001", To: "1002"})
			if err != nil {
				t.Fatal(err)
			}
			conn := out.Reply.(engine.CallReply).ConnID
			a0, c0 := views(t, ta)
			// Crash: A's shard and tenant are left as they are.
			b, stB := openShard(t, cfg, parts, "b")
			defer b.Close(ctx, false)
			if stB.Snapshot == nil || stB.SnapshotStep == 0 {
				t.Fatal("no snapshot read")
			}
			if got := stB.SnapshotStep + uint64(len(stB.Steps)); got != 11 {
				t.Fatalf("snapshot step %d + %d steps, want 11", stB.SnapshotStep, len(stB.Steps))
			}
			if b.Stats().Replay.From <= 0 {
				t.Fatalf("replay read the journal from %d, want the snapshot's offset", b.Stats().Replay.From)
			}
			tb := startTenant(t, b, stB, 4)
			defer tb.Close(ctx)
			a1, c1 := views(t, tb)
			if !reflect.DeepEqual(a0, a1) || !reflect.DeepEqual(c0, c1) {
				t.Fatalf("views differ after takeover:\n%+v\n%+v", c0, c1)
			}
			out, err = tb.Do(ctx, engine.MakeCall{From: "1003", To: "1004"})
			if err != nil {
				t.Fatal(err)
			}
			if out.Reply.(engine.CallReply).ConnID == conn {
				t.Fatal("ConnID repeated after takeover")
			}
			tp := TopicsOf(cfg)
			eventsOf(t, readAll(t, tg.Brokers, true, tp.AgentState, tp.CallThread))
			ta.Close(ctx)
			a.Abandon()
		})
	}
}

// TestGracefulHandover: the owner closes its tenant (final snapshot) and
// its shard with a release; the next owner replays no step and the owners
// topic shows the release then the new claim.
func TestGracefulHandover(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			cfg := testConfig(t, tg.Brokers)
			parts := ensure(t, cfg)
			ctx := context.Background()
			a, st := openShard(t, cfg, parts, "a")
			ta := startTenant(t, a, st, -1)
			for i := 1; i <= 5; i++ {
				if err := login(ctx, ta, i); err != nil {
					t.Fatal(err)
				}
			}
			a0, c0 := views(t, ta)
			if err := ta.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if err := a.Close(ctx, true); err != nil {
				t.Fatal(err)
			}
			b, stB := openShard(t, cfg, parts, "b")
			defer b.Close(ctx, false)
			if stB.SnapshotStep != 5 || len(stB.Steps) != 0 {
				t.Fatalf("after a handover B has snapshot step %d and %d steps to replay, want 5 and 0", stB.SnapshotStep, len(stB.Steps))
			}
			tb := startTenant(t, b, stB, -1)
			defer tb.Close(ctx)
			a1, c1 := views(t, tb)
			if !reflect.DeepEqual(a0, a1) || !reflect.DeepEqual(c0, c1) {
				t.Fatal("views differ after the handover")
			}
			var owners []Owner
			for _, r := range readAll(t, tg.Brokers, true, TopicsOf(cfg).Owners) {
				var o Owner
				if err := json.Unmarshal(r.Value, &o); err != nil {
					t.Fatal(err)
				}
				owners = append(owners, o)
			}
			if len(owners) != 3 || owners[0].Node != "a" || owners[1].Node != "a" || !owners[1].Release || owners[2].Node != "b" || owners[2].Release {
				t.Fatalf("owners topic: %+v, want a's claim, a's release, b's claim", owners)
			}
		})
	}
}

func views(t *testing.T, tn *tenant.Tenant) (agents []engine.AgentView, calls []engine.CallView) {
	t.Helper()
	if err := tn.Query(context.Background(), func(m tenant.Machine) {
		e := m.(*engine.Engine)
		agents, calls = e.Agents(), e.Calls()
	}); err != nil {
		t.Fatal(err)
	}
	return
}
