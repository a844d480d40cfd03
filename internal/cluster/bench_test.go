package cluster

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kfake"
)

// bigTenant is the demo tenant with n extensions 20001.. and n agents a1..
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
