package verify

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadTopicsIsolation: ReadTopics reads read_committed, so a record of
// an aborted transaction (a fenced cluster node's) is not read, and it
// stops although the partition ends with a transaction marker;
// ReadTopicsUncommitted reads the aborted record too.
func TestReadTopicsIsolation(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			topic := kafkatest.UniqueTopicPrefix(t) + "iso"
			adm := kadm.NewClient(kafkatest.Client(t, tg.Brokers))
			if _, err := adm.CreateTopic(ctx, 1, -1, nil, topic); err != nil {
				t.Fatal(err)
			}
			pr := kafkatest.Client(t, tg.Brokers, kgo.TransactionalID(topic+"-txn"), kgo.DefaultProduceTopic(topic))
			for _, v := range []string{"committed", "aborted"} {
				if err := pr.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				if err := pr.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
					t.Fatal(err)
				}
				end := kgo.TryCommit
				if v == "aborted" {
					end = kgo.TryAbort
				}
				if err := pr.EndTransaction(ctx, end); err != nil {
					t.Fatal(err)
				}
			}
			read := func(f func(context.Context, []string, []string, string, time.Duration, func(Snapshot), func(Record)) (Snapshot, error)) []string {
				var got []string
				if _, err := f(ctx, tg.Brokers, []string{topic}, "verify-test", 10*time.Second, nil, func(r Record) {
					got = append(got, string(r.Value))
				}); err != nil {
					t.Fatal(err)
				}
				return got
			}
			if got := read(ReadTopics); !slices.Equal(got, []string{"committed"}) {
				t.Fatalf("read_committed: %q, want [committed]", got)
			}
			if got := read(ReadTopicsUncommitted); !slices.Equal(got, []string{"committed", "aborted"}) {
				t.Fatalf("read_uncommitted: %q, want [committed aborted]", got)
			}
		})
	}
}
