package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/cluster"
	"github.com/twmb/franz-go/pkg/kgo"
)

// FloorFigures are what KafkaFloor measured: the cost of the transactions
// alone, no switchboard.
type FloorFigures struct {
	Requests, Txns int
	Rate           float64 // requests per second achieved
	// P50 and P99 of a request: from its hand-over to the commit of
	// the transaction that holds it (what a cluster reply waits for at
	// the least).
	P50, P99 time.Duration
	// Per transaction: begin to commit, the produce (first record to the
	// last acknowledgement) and EndTxn.
	TxnP50, TxnP99, ProduceP50, ProduceP99, EndP50, EndP99 time.Duration
	RequestsPerTxn                                         float64
	Shards, EventsPerRequest                               int
	// A lone transaction (one request's records, nothing else in flight
	// from this process), before the load: p50 begin to commit, and its
	// produce and EndTxn p50.
	LoneP50, LoneProduceP50, LoneEndP50 time.Duration
	// The same records produced outside a transaction (idempotent, acks
	// all), one after the other: the replicated write alone; the rest of
	// a lone transaction's produce is adding its partitions to it.
	LonePlainP50 time.Duration
}

// floorLone is how many lone transactions KafkaFloor measures.
const floorLone = 30

// floorReq is one request of the floor's load.
type floorReq struct {
	at   time.Time // handed over
	key  []byte    // its output records' key (tenant:agent)
	done chan struct{}
}

// KafkaFloor measures the floor under the cluster's API latency on
// brokers: the same paced load as ClusterAPI (8 tenants x 20 DNs, rate
// requests per second for d), each request handed to its tenant's shard
// (of cluster.DefaultShards), whose bare franz-go transactional producers
// (as many ids as a cluster shard's, used in turn; the shards' options:
// acks all, no linger) commit what is waiting in one transaction: per
// request one journal record (partition = shard) and events output
// records to the agent-state topic (partition = murmur2 of the key, of 12,
// as the cluster's events), then EndTxn; the next transaction begins when
// the last committed. Before the load, floorLone lone transactions of one
// request each, one after the other. No HTTP, no engine, no switchboard
// code but the topic names and partitioning.
func KafkaFloor(ctx context.Context, brokers []string, rate, events int, d time.Duration) (FloorFigures, error) {
	out := FloorFigures{EventsPerRequest: events}
	cfg := &cluster.Config{Cluster: "floor", Brokers: brokers, OutputPartitions: 12,
		TopicPrefix: fmt.Sprintf("bench-floor-%d.", time.Now().UnixNano())}
	parts, err := cluster.EnsureTopics(ctx, cfg)
	if err != nil {
		return out, err
	}
	tp := cluster.TopicsOf(cfg)
	shards := map[int]chan *floorReq{}
	for i := 0; i < clusterTenants; i++ {
		shards[cluster.ShardOf(fmt.Sprint("t", i), cluster.DefaultShards)] = nil
	}
	out.Shards = len(shards)
	var mu sync.Mutex
	var txn, produce, end []time.Duration
	var wg sync.WaitGroup
	var firstErr error
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lone []*kgo.Client
	var loneShard int
	for n := range shards {
		// As many transactional ids per shard as a cluster shard has,
		// used in turn (so a transaction does not wait for the markers of
		// its id's previous one), with the shards' producer options
		// (shard.go): acks all, no linger, short retry backoff and
		// metadata age.
		var cls []*kgo.Client
		for i := range cluster.TransactionalIDs(cfg, n) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(fmt.Sprint(cfg.TopicPrefix, "floor-", n, ".", i)),
				kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
				kgo.MetadataMinAge(250*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
			if err != nil {
				return out, err
			}
			defer cl.Close()
			if err := floorWarmUp(ctx, cl, tp, parts, n); err != nil {
				return out, fmt.Errorf("bench: floor: warm-up transaction: %w", err)
			}
			cls = append(cls, cl)
		}
		if lone == nil {
			lone, loneShard = cls, n
		}
		q := make(chan *floorReq, 4096)
		shards[n] = q
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; {
				var batch []*floorReq
				select {
				case r := <-q:
					batch = append(batch, r)
				case <-lctx.Done():
					return
				}
			more:
				for {
					select {
					case r := <-q:
						batch = append(batch, r)
					default:
						break more
					}
				}
				t0, t1, t2, err := floorTxn(ctx, cls[k%len(cls)], tp, parts, n, events, batch)
				k++
				for _, r := range batch {
					close(r.done)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				txn, produce, end = append(txn, t2.Sub(t0)), append(produce, t1.Sub(t0)), append(end, t2.Sub(t1))
				mu.Unlock()
			}
		}()
	}
	// Lone transactions, one after the other, while the load has not
	// started: what one request costs at the least.
	var lt, lp, le []time.Duration
	for i := 0; i < floorLone; i++ {
		t0, t1, t2, err := floorTxn(ctx, lone[i%len(lone)], tp, parts, loneShard, events, []*floorReq{{key: []byte("t0:agent1")}})
		if err != nil {
			return out, fmt.Errorf("bench: floor: lone transaction: %w", err)
		}
		lt, lp, le = append(lt, t2.Sub(t0)), append(lp, t1.Sub(t0)), append(le, t2.Sub(t1))
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		return out, err
	}
	defer plain.Close()
	var pl []time.Duration
	for i := 0; i <= floorLone; i++ {
		recs := []*kgo.Record{{Topic: tp.Journal, Partition: int32(loneShard), Key: []byte("t0:agent1"), Value: make([]byte, 64)}}
		for e := 0; e < events; e++ {
			recs = append(recs, &kgo.Record{Topic: tp.AgentState, Partition: event.Partition([]byte("t0:agent1"), parts[tp.AgentState]),
				Key: []byte("t0:agent1"), Value: make([]byte, 300)})
		}
		t0 := time.Now()
		if err := plain.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return out, fmt.Errorf("bench: floor: plain produce: %w", err)
		}
		if i > 0 { // the first one initialises the producer id
			pl = append(pl, time.Since(t0))
		}
	}
	out.LonePlainP50, _ = pct(pl)
	out.LoneP50, _ = pct(lt)
	out.LoneProduceP50, _ = pct(lp)
	out.LoneEndP50, _ = pct(le)
	lat, elapsed := paced(ctx, rate, d, func(l int) func() time.Duration {
		tn := fmt.Sprint("t", l%clusterTenants)
		q := shards[cluster.ShardOf(tn, cluster.DefaultShards)]
		key := []byte(fmt.Sprint(tn, ":agent", 1+l/clusterTenants))
		return func() time.Duration {
			r := &floorReq{at: time.Now(), key: key, done: make(chan struct{})}
			q <- r
			<-r.done
			return time.Since(r.at)
		}
	})
	cancel()
	wg.Wait()
	if firstErr != nil {
		return out, fmt.Errorf("bench: floor: %w", firstErr)
	}
	if len(lat) == 0 || len(txn) == 0 {
		return out, fmt.Errorf("bench: floor: nothing committed")
	}
	out.Requests, out.Txns = len(lat), len(txn)
	out.Rate = float64(len(lat)) / elapsed.Seconds()
	out.RequestsPerTxn = float64(len(lat)) / float64(len(txn))
	out.P50, out.P99 = pct(lat)
	out.TxnP50, out.TxnP99 = pct(txn)
	out.ProduceP50, out.ProduceP99 = pct(produce)
	out.EndP50, out.EndP99 = pct(end)
	return out, nil
}

// floorWarmUp commits a first transaction on cl to every partition shard n
// may touch, not measured: the topics were just created, and the
// cluster's shards are serving before their load starts too. It retries
// until every broker knows the topics (UNKNOWN_TOPIC_ID meanwhile).
func floorWarmUp(ctx context.Context, cl *kgo.Client, tp cluster.Topics, parts map[string]int32, n int) error {
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		recs := []*kgo.Record{{Topic: tp.Journal, Partition: int32(n)}}
		for p := int32(0); p < parts[tp.AgentState]; p++ {
			recs = append(recs, &kgo.Record{Topic: tp.AgentState, Partition: p})
		}
		err := cl.ProduceSync(ctx, recs...).FirstErr()
		if err == nil {
			return cl.EndTransaction(ctx, kgo.TryCommit)
		}
		if aerr := cl.EndTransaction(ctx, kgo.TryAbort); aerr != nil || time.Now().After(deadline) {
			return err
		}
	}
}

// floorTxn commits one transaction of KafkaFloor on cl: per request of
// batch, one journal record and events output records; it returns when it
// began, when the last record was acknowledged and when EndTxn returned.
func floorTxn(ctx context.Context, cl *kgo.Client, tp cluster.Topics, parts map[string]int32, n, events int, batch []*floorReq) (t0, t1, t2 time.Time, err error) {
	t0 = time.Now()
	var mu sync.Mutex
	var perr error
	promise := func(_ *kgo.Record, err error) {
		mu.Lock()
		if err != nil && perr == nil {
			perr = err
		}
		mu.Unlock()
	}
	err = cl.BeginTransaction()
	if err == nil {
		for _, r := range batch {
			cl.Produce(ctx, &kgo.Record{Topic: tp.Journal, Partition: int32(n), Key: r.key, Value: make([]byte, 64)}, promise)
			for e := 0; e < events; e++ {
				cl.Produce(ctx, &kgo.Record{Topic: tp.AgentState, Partition: event.Partition(r.key, parts[tp.AgentState]),
					Key: r.key, Value: make([]byte, 300)}, promise)
			}
		}
		err = cl.Flush(ctx)
		mu.Lock()
		if perr != nil {
			err = perr
		}
		mu.Unlock()
	}
	t1 = time.Now()
	if err == nil {
		err = cl.EndTransaction(ctx, kgo.TryCommit)
	} else {
		cl.EndTransaction(context.Background(), kgo.TryAbort)
	}
	return t0, t1, time.Now(), err
}

// pct returns the p50 and p99 of ds (sorting it).
func pct(ds []time.Duration) (time.Duration, time.Duration) {
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*99/100]
}
