package publisher_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
)

// TestDisableClientMetrics: with DisableClientMetrics the client never asks
// the broker for a KIP-714 metrics subscription (so never collects or pushes
// metrics); without it, against the same kind of broker and with the same
// traffic, it does, so the test can see the difference.
func TestDisableClientMetrics(t *testing.T) {
	run := func(disable bool) (*atomic.Int64, *publisher.Publisher) {
		tg := kafkatest.Embedded(t)
		var asked atomic.Int64
		tg.Cluster.ControlKey(int16(kmsg.GetTelemetrySubscriptions), func(kmsg.Request) (kmsg.Response, error, bool) {
			asked.Add(1)
			return nil, nil, false // observe only: the broker answers
		})
		p := newPublisher(t, tg.Brokers, publisher.Config{TopicPrefix: kafkatest.UniqueTopicPrefix(t),
			Partitions: 1, CreateTopics: true, Linger: -1, DisableClientMetrics: disable})
		publishAcked(t, p)
		return &asked, p
	}
	on, _ := run(false)
	off, p := run(true)
	deadline := time.Now().Add(20 * time.Second)
	for on.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if on.Load() == 0 {
		t.Fatal("control: a client with client metrics on never asked for a subscription in 20s")
	}
	// The disabled client has had as long, and publishes once more.
	publishAcked(t, p)
	if off.Load() != 0 {
		t.Fatalf("client metrics disabled: the client asked for a subscription %d times", off.Load())
	}
}

func publishAcked(t *testing.T, p *publisher.Publisher) {
	t.Helper()
	done := make(chan error, 1)
	p.Publish([]event.Event{ringing("t", "thread-1", 1)}, func(err error) { done <- err })
	awaitDone(t, done)
}
