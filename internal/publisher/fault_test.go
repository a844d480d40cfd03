package publisher_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/broker"
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

// The embedded broker stops (gracefully) in the middle of publishing and
// comes back a moment later on the same address and data: nothing is lost,
// nothing duplicated, per-key order holds.
func TestPublishThroughBrokerRestart(t *testing.T) {
	const (
		keys       = 60
		perKey     = 60
		partitions = 6
	)
	dir := t.TempDir()
	start := func(listen string) *broker.Broker {
		b, err := broker.Start(context.Background(), broker.Config{Dir: dir, Listen: listen,
			Logger: kafkatest.Logger(t, slog.LevelWarn)})
		if err != nil {
			t.Fatalf("start broker on %s: %v", listen, err)
		}
		return b
	}
	b := start("127.0.0.1:0")
	addr := b.Addr()
	prefix := kafkatest.UniqueTopicPrefix(t)
	p := newPublisher(t, []string{addr}, publisher.Config{TopicPrefix: prefix, Partitions: partitions, CreateTopics: true, Linger: time.Millisecond})

	restarted := make(chan *broker.Broker, 1)
	go func() {
		// Let publishing get going, then stop the broker for a while.
		for p.Stats().Acked < keys*perKey/4 {
			time.Sleep(time.Millisecond)
		}
		b.Close()
		stoppedAt := p.Stats().Acked
		time.Sleep(700 * time.Millisecond)
		if n := p.Stats().Acked; n != stoppedAt {
			t.Errorf("acknowledgements while the broker was down: %d -> %d", stoppedAt, n)
		}
		if stoppedAt >= keys*perKey*3/4 {
			t.Errorf("broker stopped with %d of %d events acknowledged: not in the middle of publishing", stoppedAt, keys*perKey)
		}
		restarted <- start(addr)
	}()
	got := publishPaced(t, p, "acme", 2, keys, perKey, 8, 2*time.Millisecond)
	b2 := <-restarted
	defer b2.Close()
	if s := p.Stats(); s.Acked != keys*perKey || s.Failed != 0 {
		t.Fatalf("Stats() = %+v", s)
	}
	as, ct := p.Topics()
	recs := kafkatest.Consume(t, []string{addr}, []string{as, ct}, keys*perKey, 30*time.Second)
	if n := kafkatest.RecordCount(t, []string{addr}, as, ct); n != keys*perKey {
		t.Fatalf("topics hold %d records, want exactly %d", n, keys*perKey)
	}
	checkRecords(t, recs, got, prefix, partitions)
}

// With the broker refusing produce requests, Publish blocks once
// MaxBufferedRecords records are waiting, and goes on when they are
// acknowledged; Ping still answers meanwhile. A batch is accepted whole:
// the first, twice the bound, is accepted; the second waits.
func TestBackpressure(t *testing.T) {
	const limit = 50
	tg := kafkatest.Embedded(t)
	p := newPublisher(t, tg.Brokers, publisher.Config{CreateTopics: true, Partitions: 2, MaxBufferedRecords: limit, Linger: -1})
	h := tg.Cluster.Fault(kfakeProduceFault(kerr.NotLeaderForPartition))
	defer h.Remove()

	evs := make([]event.Event, 2*limit)
	for i := range evs {
		evs[i] = ringing("t", "thread", int64(i+1))
	}
	acked := make(chan error, 2)
	p.Publish(evs[:limit+limit/2], func(err error) { acked <- err })
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		p.Publish(evs[limit+limit/2:], func(err error) { acked <- err })
	}()
	time.Sleep(100 * time.Millisecond) // Publish would have returned by now if it did not block
	select {
	case <-returned:
		t.Fatal("Publish returned while MaxBufferedRecords records were waiting")
	default:
	}
	if s := p.Stats(); s.Buffered != limit+limit/2 || s.Produced != limit+limit/2 || s.BufferLimit != limit || s.Acked != 0 {
		t.Fatalf("Stats() = %+v, want %d produced and buffered (the first batch; limit %d), none acknowledged", s, limit+limit/2, limit)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Ping during the produce fault: %v", err)
	}

	h.Remove()
	for range 2 {
		select {
		case err := <-acked:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("not acknowledged after the fault cleared")
		}
	}
	<-returned
	as, ct := p.Topics()
	if n := kafkatest.RecordCount(t, tg.Brokers, as, ct); n != 2*limit {
		t.Fatalf("topics hold %d records, want %d", n, 2*limit)
	}
}
