package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Snapshot is what ReadTopics found: the partition count of each topic
// that exists, the topics whose log no longer starts at 0, and the topics
// that do not exist.
type Snapshot struct {
	Partitions map[string]int32
	Truncated  map[string]bool
	Missing    []string
}

// ReadTopics reads every partition of topics from its log start to the end
// offset it had when ReadTopics started, calling fn for each record in
// offset order per partition. It assigns partitions directly (no consumer
// group, nothing committed). clientID names the client to the brokers.
// start, if not nil, is called with the snapshot before the first record.
// It reads with isolation.level=read_committed: records of aborted
// transactions (a fenced cluster node's) are not seen, and reading stops
// at the last stable offset; ReadTopicsUncommitted sees everything.
func ReadTopics(ctx context.Context, brokers, topics []string, clientID string, connectTimeout time.Duration,
	start func(Snapshot), fn func(Record)) (Snapshot, error) {
	return readTopics(ctx, brokers, nil, topics, clientID, connectTimeout, true, start, fn)
}

// ReadTopicsUncommitted is ReadTopics with isolation.level=read_uncommitted,
// up to the high watermark: it also returns records of open and aborted
// transactions.
func ReadTopicsUncommitted(ctx context.Context, brokers, topics []string, clientID string, connectTimeout time.Duration,
	start func(Snapshot), fn func(Record)) (Snapshot, error) {
	return readTopics(ctx, brokers, nil, topics, clientID, connectTimeout, false, start, fn)
}

// readTopics is ReadTopics (committed) or ReadTopicsUncommitted with kopts
// (TLS, SASL) added to its clients' options.
func readTopics(ctx context.Context, brokers []string, kopts []kgo.Opt, topics []string, clientID string, connectTimeout time.Duration,
	committed bool, start func(Snapshot), fn func(Record)) (Snapshot, error) {
	snap := Snapshot{Partitions: map[string]int32{}, Truncated: map[string]bool{}}
	if connectTimeout <= 0 {
		connectTimeout = 10 * time.Second
	}
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID(clientID)}, kopts...)...)
	if err != nil {
		return snap, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	defer admCl.Close()
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	err = admCl.Ping(pctx)
	cancel()
	if err != nil {
		return snap, fmt.Errorf("verify: kafka unreachable: %s: %v", strings.Join(brokers, ","), err)
	}
	adm := kadm.NewClient(admCl)
	list := adm.ListEndOffsets
	if committed {
		list = adm.ListCommittedOffsets // the last stable offset
	}
	ends, err := list(ctx, topics...)
	if err != nil {
		return snap, fmt.Errorf("verify: listing end offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return snap, fmt.Errorf("verify: listing start offsets: %w", err)
	}
	type tp struct {
		t string
		p int32
	}
	remaining := map[tp]int64{}
	assign := map[string]map[int32]kgo.Offset{}
	missing := map[string]bool{}
	var firstErr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			if errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				missing[o.Topic] = true
			} else if firstErr == nil {
				firstErr = fmt.Errorf("verify: end offset of %s[%d]: %w", o.Topic, o.Partition, o.Err)
			}
			return
		}
		snap.Partitions[o.Topic]++
		start := int64(0)
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && s.Err == nil && s.Offset > 0 {
			start = s.Offset
			snap.Truncated[o.Topic] = true
		}
		if o.Offset > start {
			remaining[tp{o.Topic, o.Partition}] = o.Offset
			if assign[o.Topic] == nil {
				assign[o.Topic] = map[int32]kgo.Offset{}
			}
			assign[o.Topic][o.Partition] = kgo.NewOffset().At(start)
		}
	})
	for t := range missing {
		snap.Missing = append(snap.Missing, t)
	}
	if firstErr != nil {
		return snap, firstErr
	}
	if start != nil {
		start(snap)
	}
	if len(remaining) == 0 {
		return snap, nil
	}
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	// Control records (transaction markers) are kept so that reading
	// reaches the end offset even when the last records are markers; they
	// are not handed to fn.
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID(clientID),
		kgo.ConsumePartitions(assign), kgo.FetchMaxBytes(64 << 20), kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords()}, kopts...)...)
	if err != nil {
		return snap, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	defer cl.Close()
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return snap, fmt.Errorf("verify: %w", err)
		}
		for _, fe := range fetches.Errors() {
			return snap, fmt.Errorf("verify: fetching %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			k := tp{r.Topic, r.Partition}
			end, ok := remaining[k]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				rec := Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value}
				for _, h := range r.Headers {
					rec.Headers = append(rec.Headers, Header{h.Key, string(h.Value)})
				}
				fn(rec)
			}
			if r.Offset >= end-1 {
				delete(remaining, k)
			}
		})
	}
	return snap, nil
}
