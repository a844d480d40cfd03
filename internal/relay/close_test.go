package relay_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCloseBoundedWhenKafkaHangs: Kafka stops answering (every request
// swallowed, connections left open) with step records not yet in Kafka.
// Once its context has ended and the publisher is closed, Close must
// return promptly (not wait out the final checkpoint round's end offsets,
// nor the client's telemetry push), report the records not in Kafka, and
// leave them in the journal for the next start.
func TestCloseBoundedWhenKafkaHangs(t *testing.T) {
	tg := kafkatest.Embedded(t)
	var frozen atomic.Bool
	tg.Cluster.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		tg.Cluster.KeepControl()
		return nil, nil, frozen.Load() // handled with no answer: swallowed
	})
	n := startNode(t, tg.Brokers, t.TempDir(), kafkatest.UniqueTopicPrefix(t))
	stop := make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() { close(stop) })
	load(t, n.tn, 2, stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.rl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	frozen.Store(true)
	stop = make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() { close(stop) })
	if evs, _ := load(t, n.tn, 2, stop); evs == 0 {
		t.Fatal("no command answered while Kafka hangs")
	}
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	n.tn.Close(done)
	n.pub.Close()
	start := time.Now()
	err := n.rl.Close(done)
	took := time.Since(start)
	defer n.jr.Close()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Close with records not in Kafka: %v, want context.Canceled", err)
	}
	if st := n.rl.Stats(); st.LagRecords == 0 {
		t.Errorf("no record left for the next start: %+v", st)
	}
	// The bound is the final round's wait plus closing the client, with
	// room for a loaded machine; it is well under the 5s round it replaces.
	if bound := 4 * time.Second; took > bound {
		t.Errorf("Close took %v with Kafka hanging, want under %v", took, bound)
	}
	t.Logf("Close returned after %v with Kafka hanging: %v", took.Round(time.Millisecond), err)
}
