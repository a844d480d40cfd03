package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kfake"
)

// bigTenant is the demo tenant with n extensions 2001.. and n agents a1..
func bigTenant(n int) *config.Tenant {
	ten := config.Demo("tok", "pw").Tenants[0]
	for i := 0; i < n; i++ {
		ten.DNs = append(ten.DNs, config.DN{Number: fmt.Sprint(20001 + i), Type: config.Extension})
		ten.Agents = append(ten.Agents, config.Agent{ID: fmt.Sprint("a", i+1)})
	}
	return &ten
}

func benchBrokers(b *testing.B) []string {
	if r := kafkatest.RealKafka(b); r != nil {
		return r.Brokers
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c.ListenAddrs()
}

// BenchmarkShardCommit: one tenant, one request at a time, so each op is
// one transaction (produce + flush, EndTxn) on the shard's producer.
// Kafka: $SWITCHBOARD_TEST_KAFKA if set, else kfake.
func BenchmarkShardCommit(b *testing.B) {
	brokers := benchBrokers(b)
	cfg := &Config{Cluster: "bench", Brokers: brokers, Shards: 4, OutputPartitions: 3, TopicPrefix: kafkatest.UniqueTopicPrefix(b)}
	ctx := context.Background()
	parts, err := EnsureTopics(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	s, states, err := OpenShard(ctx, cfg, parts, ShardOf(demoTenant, 4), Owner{Node: "b"}, []string{demoTenant})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(ctx, false)
	eng, _ := engine.New(&config.Demo("tok", "pw").Tenants[0], engine.Options{Server: "b"})
	tn, err := tenant.Start(tenant.Config{Engine: eng, Log: s.Log(demoTenant), LogState: states[demoTenant], SnapshotEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer tn.Close(ctx)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var cmd engine.Command = engine.Login{DN: "1001", AgentID: "agent1"}
		if i%2 == 1 {
			cmd = engine.Logout{DN: "1001"}
		}
		if _, err := tn.Do(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := s.Stats()
	if st.Commits > 0 {
		b.ReportMetric(float64(st.FlushTime.Microseconds())/1000/float64(st.Commits), "flush-ms/txn")
		b.ReportMetric(float64(st.EndTime.Microseconds())/1000/float64(st.Commits), "endtxn-ms/txn")
	}
}

// BenchmarkTakeover: a tenant of 1,000 agents, all logged in, then 5,000
// more steps (logouts and logins) with no snapshot after the first; the
// new owner claims the shard, reads it back and replays. Reports the
// replay speed (steps/s, the read of the topics and the engine's replay
// together) and the snapshot size per 1,000 agents.
func BenchmarkTakeover(b *testing.B) {
	brokers := benchBrokers(b)
	const agents, steps = 1000, 5000
	ten := bigTenant(agents)
	for i := 0; i < b.N; i++ {
		cfg := &Config{Cluster: "bench", Brokers: brokers, Shards: 4, OutputPartitions: 3, TopicPrefix: kafkatest.UniqueTopicPrefix(b)}
		ctx := context.Background()
		parts, err := EnsureTopics(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		n := ShardOf(demoTenant, 4)
		s, states, err := OpenShard(ctx, cfg, parts, n, Owner{Node: "a"}, []string{demoTenant})
		if err != nil {
			b.Fatal(err)
		}
		eng, _ := engine.New(ten, engine.Options{Server: "a"})
		tn, err := tenant.Start(tenant.Config{Engine: eng, Log: s.Log(demoTenant), LogState: states[demoTenant], SnapshotEvery: -1})
		if err != nil {
			b.Fatal(err)
		}
		do := func(cmd engine.Command) {
			if _, err := tn.Do(ctx, cmd); err != nil {
				b.Fatal(err)
			}
		}
		for a := 0; a < agents; a++ {
			do(engine.Login{DN: fmt.Sprint(20001 + a), AgentID: fmt.Sprint("a", a+1)})
		}
		// A snapshot with every agent logged in: close and reopen.
		tn.Close(ctx)
		s.Close(ctx, true)
		s, states, err = OpenShard(ctx, cfg, parts, n, Owner{Node: "a"}, []string{demoTenant})
		if err != nil {
			b.Fatal(err)
		}
		snapBytes := len(states[demoTenant].Snapshot)
		eng, _ = engine.New(ten, engine.Options{Server: "a"})
		tn, err = tenant.Start(tenant.Config{Engine: eng, Log: s.Log(demoTenant), LogState: states[demoTenant], SnapshotEvery: -1})
		if err != nil {
			b.Fatal(err)
		}
		// Steps in batches, as under load: 50 requests in flight.
		sem := make(chan struct{}, 50)
		errs := make(chan error, steps)
		for k := 0; k < steps; k++ {
			a := k % agents
			var cmd engine.Command = engine.Logout{DN: fmt.Sprint(20001 + a)}
			if (k/agents)%2 == 1 {
				cmd = engine.Login{DN: fmt.Sprint(20001 + a), AgentID: fmt.Sprint("a", a+1)}
			}
			sem <- struct{}{}
			go func() {
				_, err := tn.Do(ctx, cmd)
				errs <- err
				<-sem
			}()
		}
		for k := 0; k < steps; k++ {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		// Crash: the new owner takes over.
		start := time.Now()
		s2, states2, err := OpenShard(ctx, cfg, parts, n, Owner{Node: "b"}, []string{demoTenant})
		if err != nil {
			b.Fatal(err)
		}
		// The same Server: it is in the events, which replay reproduces.
		eng2, _ := engine.New(ten, engine.Options{Server: "a"})
		tn2, err := tenant.Start(tenant.Config{Engine: eng2, Log: s2.Log(demoTenant), LogState: states2[demoTenant], SnapshotEvery: -1})
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		rec := tn2.Recovery()
		if rec.Steps != steps {
			b.Fatalf("replayed %d steps, want %d", rec.Steps, steps)
		}
		b.ReportMetric(float64(rec.Steps)/took.Seconds(), "steps/s")
		b.ReportMetric(float64(took.Milliseconds()), "takeover-ms")
		b.ReportMetric(float64(snapBytes)*1000/agents, "snapshot-bytes/1000-agents")
		rs := s2.Stats().Replay
		b.Logf("takeover: fence %v, claim %v, read %v (%d journal records, %d snapshot bytes), engine replay %v",
			rs.Fence, rs.Claim, rs.Read, rs.JournalRecords, rs.SnapshotBytes, rec.Duration)
		tn2.Close(ctx)
		s2.Close(ctx, false)
		tn.Close(ctx)
		s.Abandon()
	}
}
