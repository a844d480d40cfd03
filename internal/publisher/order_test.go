package publisher_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestNothingOfABatchLandsAfterARefusal: the broker refuses the first
// produce request of a partition (UNKNOWN_SERVER_ERROR, which a client may
// not retry) while one Publish hands over a batch of one key's events far
// larger than one produce request, with no linger. That request holds the
// batch's first record, so no record of the batch may land after it: the
// records of one key that reach Kafka from one Publish must be a prefix of
// it, here none. A producer handed the batch record by record sends the
// first request before the Produce loop ends and writes the records given
// to it after the refusal under a new producer epoch: Seq 2..N without 1.
//
// "warm": an acknowledged batch of the key comes first, so the client has
// had a successful answer from the partition and pipelines the big batch's
// requests; the broker then holds the producer's sequence and must refuse
// the requests that follow the refused one.
func TestNothingOfABatchLandsAfterARefusal(t *testing.T) {
	for _, warm := range []bool{false, true} {
		name := "first-write"
		if warm {
			name = "warm"
		}
		t.Run(name, func(t *testing.T) { testNothingLandsAfterRefusal(t, warm) })
	}
}

func testNothingLandsAfterRefusal(t *testing.T, warm bool) {
	const (
		partitions = 3
		n          = 20_000
	)
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	p := newPublisher(t, tg.Brokers, publisher.Config{TopicPrefix: prefix, Partitions: partitions, CreateTopics: true,
		Linger: -1, MaxBufferedRecords: 2 * n})
	as, _ := p.Topics()
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = agentReady("acme", "agent-7", "1007", int64(i+1))
	}
	var before int64
	if warm {
		errc := make(chan error, 1)
		p.Publish([]event.Event{agentReady("acme", "agent-7", "1007", 0)}, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		before = 1
	}
	part := event.Partition([]byte(evs[0].Key()), partitions)
	// Produce requests carrying the partition, counted at the broker
	// (only the agent-state topic is written; newer requests name it by
	// ID).
	var reqs atomic.Int64
	tg.Cluster.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		tg.Cluster.KeepControl()
		for _, tp := range r.(*kmsg.ProduceRequest).Topics {
			for _, pp := range tp.Partitions {
				if pp.Partition == part {
					reqs.Add(1)
				}
			}
		}
		return nil, nil, false
	})
	h := tg.Cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: as, Partitions: []int32{part},
		Err: kerr.UnknownServerError, Count: 1})
	defer h.Remove()

	errc := make(chan error, 1)
	p.Publish(evs, func(err error) { errc <- err })
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("the batch was acknowledged: the refusal did not happen")
		}
		t.Logf("Publish done: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatalf("the batch did not finish (%+v)", p.Stats())
	}
	if h.Hits() != 1 {
		t.Fatalf("fault answered %d produce requests, want 1", h.Hits())
	}
	t.Logf("%d produce requests for the partition reached the broker after the refused one", reqs.Load())
	if got := kafkatest.RecordCount(t, tg.Brokers, as) - before; got != 0 {
		recs := kafkatest.Consume(t, tg.Brokers, []string{as}, int(before)+1, 10*time.Second)
		v := recs[before].Value
		t.Fatalf("%d of the batch's %d records landed after its first was refused (first landed: %s): that key's order is broken",
			got, n, v[:min(len(v), 120)])
	}
}
