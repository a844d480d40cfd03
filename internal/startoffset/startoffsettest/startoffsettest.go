package startoffsettest

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// RacyPartition returns an admin client of an embedded cluster holding
// topic (one partition, empty), on which the second request for an end
// offset (ListOffsets at timestamp -1: the caller's own listing first,
// then the one a lookup by time makes when it finds no record) is
// answered only after two records were appended to the partition; and a
// count of the end listings answered. A start by time alone is 2 there;
// the records appended during the lookup start at 0.
func RacyPartition(t testing.TB, topic string) (adm *kadm.Client, endListings func() int) {
	t.Helper()
	c, producer, adm := Cluster(t, topic)
	n := 0 // the control function runs on the cluster's one goroutine
	c.ControlKey(int16(kmsg.ListOffsets), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.ListOffsetsRequest)
		if req.Topics[0].Partitions[0].Timestamp != -1 {
			return nil, nil, false
		}
		if n++; n == 2 { // the by-time lookup's second request
			c.SleepControl(func() {
				for range 2 {
					if err := producer.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
						t.Error(err)
					}
				}
			})
		}
		return nil, nil, false
	})
	return adm, func() int { return n }
}

// Cluster is an embedded cluster (closed when the test ends) holding
// topics, one partition each, with a producer and an admin client of its
// own for listing.
func Cluster(t testing.TB, topics ...string) (*kfake.Cluster, *kgo.Client, *kadm.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	producer, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	lister, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lister.Close)
	return c, producer, kadm.NewClient(lister)
}
