package cluster

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSnapshotChunks: on brokers that take at most 4 KiB per message, a
// tenant whose snapshots are several times that is snapshotted in chunks
// (no record over the limit), first growing then shrinking (so compaction
// leaves chunks of older snapshots behind); after the snapshot topic is
// compacted, a new owner reassembles the latest snapshot, replays the
// steps after it and reaches the same views; and so does a third owner
// after that one's own (recovery) snapshot.
func TestSnapshotChunks(t *testing.T) {
	const limit = 4096
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(limit)}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	cfg := testConfig(t, brokers)
	cfg.MaxMessageBytes = limit
	parts := ensure(t, cfg)
	ctx := context.Background()
	n := ShardOf(demoTenant, cfg.Shards)
	ten := bigTenant(100)
	start := func(s *Shard, st *tenant.LogState) *tenant.Tenant { return startTenantOf(t, ten, s, st, 40) }
	open := func(node string) (*Shard, *tenant.LogState) {
		s, states, err := OpenShard(ctx, cfg, parts, n, Owner{Node: node}, []string{demoTenant})
		if err != nil {
			t.Fatal(err)
		}
		return s, states[demoTenant]
	}
	a, st := open("a")
	ta := start(a, st)
	do := func(tn *tenant.Tenant, cmd engine.Command) {
		t.Helper()
		if _, err := tn.Do(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		do(ta, engine.Login{DN: fmt.Sprint(20001 + i), AgentID: fmt.Sprint("a", i+1)})
	}
	for i := 0; i < 90; i++ { // smaller snapshots: fewer chunks
		do(ta, engine.Logout{DN: fmt.Sprint(20001 + i)})
	}
	do(ta, engine.Login{DN: "20001", AgentID: "a1"}) // step 191: replayed after the snapshot at 160
	a0, c0 := views(t, ta)
	if st := a.Stats(); st.Aborts != 0 || st.Snapshots < 4 {
		t.Fatalf("A: %+v, want 4 snapshots and no abort", st)
	}
	c.Compact()

	// Crash of A; B takes over.
	b, stB := open("b")
	rs := b.Stats().Replay
	if rs.SnapshotChunks < 2 || len(stB.Snapshot) <= limit || stB.SnapshotStep != 160 || len(stB.Steps) != 31 {
		t.Fatalf("B read %d chunks, a snapshot of %d bytes at step %d and %d steps; want chunks of a snapshot over %d bytes at step 160, and 31 steps",
			rs.SnapshotChunks, len(stB.Snapshot), stB.SnapshotStep, len(stB.Steps), limit)
	}
	tb := start(b, stB)
	if a1, c1 := views(t, tb); !reflect.DeepEqual(a0, a1) || !reflect.DeepEqual(c0, c1) {
		t.Fatalf("views differ after the takeover:\n%+v\n%+v", a0, a1)
	}
	ta.Close(ctx)
	a.Abandon()
	do(tb, engine.Login{DN: "20002", AgentID: "a2"})
	a0, c0 = views(t, tb)
	c.Compact()

	// B snapshotted at recovery (step 191); C reads that one.
	cs, stC := open("c")
	if stC.SnapshotStep != 191 || len(stC.Steps) != 1 {
		t.Fatalf("C read a snapshot at step %d and %d steps, want 191 and 1", stC.SnapshotStep, len(stC.Steps))
	}
	tc := start(cs, stC)
	defer tc.Close(ctx)
	defer cs.Close(ctx, false)
	if a1, c1 := views(t, tc); !reflect.DeepEqual(a0, a1) || !reflect.DeepEqual(c0, c1) {
		t.Fatal("views differ after the second takeover")
	}
	tb.Close(ctx)
	b.Abandon()

	var chunks int
	for _, r := range readAll(t, brokers, false, TopicsOf(cfg).Snapshots) {
		if size := recordOverhead + len(r.Key) + headersLen(r.Headers) + len(r.Value); size > limit {
			t.Fatalf("snapshot record of %d bytes at offset %d, over the %d limit", size, r.Offset, limit)
		}
		if header(r, hType) == typChunk {
			chunks++
		}
	}
	if chunks == 0 {
		t.Fatal("no chunk in the snapshot topic")
	}
}

// TestSnapshotReaderLeftovers: the reader takes the last complete snapshot
// in offset order, whole or chunked, whatever older chunks compaction
// left before it; a chunk that contradicts its siblings is an error.
func TestSnapshotReaderLeftovers(t *testing.T) {
	chunk := func(id, snap string, step, i, n int, v string) *kgo.Record {
		return &kgo.Record{Key: []byte(id + "\x00" + strconv.Itoa(i)), Value: []byte(v), Headers: []kgo.RecordHeader{
			{Key: hType, Value: []byte(typChunk)}, {Key: hStep, Value: []byte(strconv.Itoa(step))}, {Key: hFrom, Value: []byte("7")},
			{Key: hSnap, Value: []byte(snap)}, {Key: hChunk, Value: []byte(fmt.Sprintf("%d/%d", i, n))}}}
	}
	whole := func(id string, step int, v string) *kgo.Record {
		return &kgo.Record{Key: []byte(id), Value: []byte(v), Headers: []kgo.RecordHeader{
			{Key: hType, Value: []byte(typSnap)}, {Key: hStep, Value: []byte(strconv.Itoa(step))}, {Key: hFrom, Value: []byte("5")}}}
	}
	for _, tc := range []struct {
		name string
		recs []*kgo.Record
		want string
		step uint64
	}{
		// A (3 chunks) then B (2 chunks); compaction kept A's chunk 2.
		{"leftover before", []*kgo.Record{chunk("t", "A", 1, 2, 3, "a2"), chunk("t", "B", 2, 0, 2, "b0"), chunk("t", "B", 2, 1, 2, "b1")}, "b0b1", 2},
		// B chunked, then C whole: C is the latest.
		{"whole after chunks", []*kgo.Record{chunk("t", "B", 2, 0, 2, "b0"), chunk("t", "B", 2, 1, 2, "b1"), whole("t", 3, "c")}, "c", 3},
		// C whole, then D chunked.
		{"chunks after whole", []*kgo.Record{whole("t", 3, "c"), chunk("t", "D", 4, 0, 2, "d0"), chunk("t", "D", 4, 1, 2, "d1")}, "d0d1", 4},
		// Another tenant's chunks are not taken.
		{"other tenant", []*kgo.Record{whole("t", 3, "c"), chunk("u", "E", 5, 0, 1, "e0")}, "c", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sr := newSnapshotReader(map[string]bool{"t": true}, &ReplayStats{})
			for _, r := range tc.recs {
				if err := sr.record(r); err != nil {
					t.Fatal(err)
				}
			}
			st := sr.states["t"]
			if st == nil || string(st.Snapshot) != tc.want || st.SnapshotStep != tc.step {
				t.Fatalf("got %+v, want %q at step %d", st, tc.want, tc.step)
			}
		})
	}
	sr := newSnapshotReader(map[string]bool{"t": true}, &ReplayStats{})
	if err := sr.record(chunk("t", "A", 1, 0, 2, "a0")); err != nil {
		t.Fatal(err)
	}
	if err := sr.record(chunk("t", "A", 1, 0, 2, "a0")); err == nil {
		t.Fatal("a repeated chunk was taken")
	}
	if err := sr.record(chunk("t", "B", 1, 3, 2, "x")); err == nil {
		t.Fatal("chunk 3 of 2 was taken")
	}
}

// BenchmarkSnapshotRead: a new owner's read of a tenant of 5,000 agents,
// all logged in, whose snapshot (about 1.2 MB) is over Apache Kafka's
// default message limit: as one record (the snapshot topic's limit raised
// to 16 MiB) and in chunks of the default 1 MB limit. Each op claims the shard
// and reads the snapshot back (no step to replay). Reports the snapshot's
// size and the chunks read; compare ns/op of the two for the cost of the
// chunks. Kafka: $SWITCHBOARD_TEST_KAFKA if set, else kfake.
func BenchmarkSnapshotRead(b *testing.B) {
	var brokers []string
	if r := kafkatest.RealKafka(b); r != nil {
		brokers = r.Brokers
	} else {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		brokers = c.ListenAddrs()
	}
	const agents = 5000
	ten := bigTenant(agents)
	for _, bc := range []struct {
		name string
		max  int
	}{{"whole", 16 << 20}, {"chunks-1MB", DefaultMaxMessageBytes}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			cfg := &Config{Cluster: "bench", Brokers: brokers, Shards: 1, OutputPartitions: 1, TopicPrefix: kafkatest.UniqueTopicPrefix(b),
				MaxMessageBytes: bc.max}
			if bc.max > DefaultMaxMessageBytes {
				// The snapshot topic takes the whole snapshot.
				compact, max := "compact", strconv.Itoa(bc.max+1024)
				adm := kadm.NewClient(kafkatest.Client(b, brokers))
				if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": &compact, "max.message.bytes": &max},
					TopicsOf(cfg).Snapshots); err != nil {
					b.Fatal(err)
				}
			}
			parts, err := EnsureTopics(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			s, states, err := OpenShard(ctx, cfg, parts, 0, Owner{Node: "a"}, []string{demoTenant})
			if err != nil {
				b.Fatal(err)
			}
			tn := startTenantOf(b, ten, s, states[ten.ID], -1)
			sem := make(chan struct{}, 50)
			errs := make(chan error, agents)
			for a := 0; a < agents; a++ {
				sem <- struct{}{}
				go func() {
					_, err := tn.Do(ctx, engine.Login{DN: fmt.Sprint(20001 + a), AgentID: fmt.Sprint("a", a+1)})
					errs <- err
					<-sem
				}()
			}
			for a := 0; a < agents; a++ {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			tn.Close(ctx) // the snapshot
			if err := s.Close(ctx, true); err != nil {
				b.Fatal(err)
			}
			var rs ReplayStats
			var read time.Duration
			b.ResetTimer()
			for b.Loop() {
				s, states, err := OpenShard(ctx, cfg, parts, 0, Owner{Node: "b"}, []string{demoTenant})
				if err != nil {
					b.Fatal(err)
				}
				if states[demoTenant] == nil || states[demoTenant].SnapshotStep != agents || len(states[demoTenant].Steps) != 0 {
					b.Fatalf("read %+v, want the snapshot at step %d", states[demoTenant], agents)
				}
				rs = s.Stats().Replay
				read += rs.Read
				s.Close(ctx, false)
			}
			b.ReportMetric(float64(rs.SnapshotBytes), "snapshot-bytes")
			b.ReportMetric(float64(rs.SnapshotChunks), "chunks")
			b.ReportMetric(float64(read.Microseconds())/1000/float64(b.N), "read-ms")
		})
	}
}

// startTenantOf starts the tenant ten (server id s1) on the shard s from
// the state st.
func startTenantOf(tb testing.TB, ten *config.Tenant, s *Shard, st *tenant.LogState, snapEvery int) *tenant.Tenant {
	tb.Helper()
	eng, err := engine.New(ten, engine.Options{Server: "s1"})
	if err != nil {
		tb.Fatal(err)
	}
	tn, err := tenant.Start(tenant.Config{Engine: eng, Log: s.Log(ten.ID), LogState: st, SnapshotEvery: snapEvery})
	if err != nil {
		tb.Fatal(err)
	}
	return tn
}
