package stats

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestStartAtDayRace: a partition that is empty when its start is looked up
// by time, and gets its first records before the lookup's second request
// (the end offset asked for when no record is stamped after the time), must
// start at those records, not after them. Listing the end offsets by time
// alone (what the consumer's AfterMilli reset and kadm do) starts at 2 here.
func TestStartAtDayRace(t *testing.T) {
	const topic = "voice-callthread"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addrs := c.ListenAddrs()
	producer, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	lister, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer lister.Close()

	endListings := 0
	c.ControlKey(int16(kmsg.ListOffsets), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.ListOffsetsRequest)
		if req.Topics[0].Partitions[0].Timestamp != -1 {
			return nil, nil, false
		}
		if endListings++; endListings == 2 { // the by-time lookup's second request
			c.SleepControl(func() {
				for range 2 {
					if err := producer.ProduceSync(context.Background(), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
						t.Error(err)
					}
				}
			})
		}
		return nil, nil, false
	})

	s := &Service{log: slog.New(slog.DiscardHandler)}
	m := map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset()}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.startAtDay(ctx, kadm.NewClient(lister), time.Now().Add(-time.Hour), map[string][]int32{topic: {0}}, m)
	if endListings != 2 {
		t.Fatalf("%d end listings, want 2 (ours, then the lookup's)", endListings)
	}
	if got := m[topic][0].EpochOffset().Offset; got != 0 {
		t.Fatalf("start offset %d, want 0: the records appended during the lookup are skipped", got)
	}
}
