package publisher_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kfakeProduceFault fails every produce request with err until removed.
func kfakeProduceFault(err *kerr.Error) kfake.Fault {
	return kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: err, Count: -1}
}

// While the embedded broker fails produce requests for a while, publishing
// goes on; once the fault clears everything is delivered exactly once and in
// per-key order. REQUEST_TIMED_OUT is the duplicate-risk case: the broker
// appends the batch and still answers with an error, so the retry must be
// deduplicated by the idempotent producer.
func TestPublishThroughProduceFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault kfake.Fault
	}{
		{"not-leader", kfakeProduceFault(kerr.NotLeaderForPartition)},
		{"timed-out-after-append", kfakeProduceFault(kerr.RequestTimedOut)},
		{"not-enough-replicas-after-append", kfakeProduceFault(kerr.NotEnoughReplicasAfterAppend)},
		{"some-partitions-down", kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotLeaderForPartition, Count: -1,
			Partitions: []int32{0, 3, 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const (
				keys       = 60
				perKey     = 40
				partitions = 6
				minHits    = 8 // produce requests refused before the fault clears
			)
			tg := kafkatest.Embedded(t)
			prefix := kafkatest.UniqueTopicPrefix(t)
			p := newPublisher(t, tg.Brokers, publisher.Config{TopicPrefix: prefix, Partitions: partitions, CreateTopics: true, Linger: time.Millisecond})

			h := tg.Cluster.Fault(tc.fault)
			defer h.Remove()
			cleared := make(chan struct{})
			go func() {
				// Faults last until enough produce requests have
				// been refused, while publishing goes on.
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := h.Wait(ctx, minHits); err != nil {
					t.Errorf("fault was hit %d times only", h.Hits())
				}
				h.Remove()
				close(cleared)
			}()
			got := publishMany(t, p, "acme", 3, keys, perKey, 16)
			<-cleared
			if h.Hits() < minHits {
				t.Fatalf("fault hit %d times, want >= %d", h.Hits(), minHits)
			}
			as, ct := p.Topics()
			recs := kafkatest.Consume(t, tg.Brokers, []string{as, ct}, keys*perKey, 30*time.Second)
			if n := kafkatest.RecordCount(t, tg.Brokers, as, ct); n != keys*perKey {
				t.Fatalf("topics hold %d records, want exactly %d", n, keys*perKey)
			}
			checkRecords(t, recs, got, prefix, partitions)
		})
	}
}
