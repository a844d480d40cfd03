package relay_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/relay"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// lateFailure is a Publisher between the relay and the real one. Once
// armed, the first batch handed over gets a one-request produce fault on
// the partition of its first agent-state event (the broker refuses it,
// UNKNOWN_SERVER_ERROR), and the relay hears of that failure late: only
// once a later batch is acknowledged, or after hold. That is what the relay
// sees when the refused batch also has records on a slower partition: the
// batch's done waits for all of them, and the producer has already failed
// the refused partition's records internally.
type lateFailure struct {
	relay.Publisher
	cluster *kfake.Cluster
	prefix  string
	hold    time.Duration

	mu      sync.Mutex
	armed   bool
	fault   *kfake.FaultHandle
	held    chan struct{} // closed once the refused batch's failure is held
	release chan struct{} // closed when a later batch is acknowledged
	heard   bool          // the refused batch's failure was delivered
	early   int           // batches handed over after the refused one before that
}

func (l *lateFailure) arm() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = true
	l.held = make(chan struct{})
	l.release = make(chan struct{})
}

func (l *lateFailure) Publish(evs []event.Event, done func(error)) {
	l.mu.Lock()
	first := false
	if l.armed && l.fault == nil {
		for i := range evs {
			if evs[i].Topic() == event.AgentStateTopic {
				p := event.Partition([]byte(evs[i].Key()), partitions)
				l.fault = l.cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce},
					Topic: l.prefix + event.AgentStateTopic, Partitions: []int32{p}, Err: kerr.UnknownServerError, Count: 1})
				first = true
				break
			}
		}
	} else if l.fault != nil && !l.heard {
		l.early++
	}
	held, release := l.held, l.release
	l.mu.Unlock()
	if !first {
		l.Publisher.Publish(evs, func(err error) {
			if err == nil && release != nil {
				l.mu.Lock()
				select {
				case <-release:
				default:
					close(release)
				}
				l.mu.Unlock()
			}
			done(err)
		})
		return
	}
	l.Publisher.Publish(evs, func(err error) {
		if err == nil {
			done(nil)
			return
		}
		close(held)
		go func() {
			select {
			case <-release:
			case <-time.After(l.hold):
			}
			l.mu.Lock()
			l.heard = true
			l.mu.Unlock()
			done(err)
		}()
	})
}

// TestNothingLandsAfterRefusal: the broker refuses one produce request for
// the partition of an agent's key (Seq n) and the relay hears of it late.
// Meanwhile the agent's next event (Seq n+1) is journaled. Kafka must never
// get n+1 without n: the relay hands nothing over while a batch is
// unresolved, so after the pause and rewind Kafka holds every event once,
// gapless and in order per key.
func TestNothingLandsAfterRefusal(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	lf := &lateFailure{cluster: tg.Cluster, prefix: prefix, hold: time.Second}
	n := startNodeWrapped(t, tg.Brokers, t.TempDir(), prefix, &config.Demo("tok", "pw").Tenants[0], 50,
		func(p relay.Publisher) relay.Publisher { lf.Publisher = p; return lf })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var evs int64
	do := func(c engine.Command) {
		t.Helper()
		out, err := n.tn.Do(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", c.Kind(), err)
		}
		evs += int64(out.Events)
	}
	do(engine.Login{DN: "1001", AgentID: "agent1"})
	if err := n.rl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	lf.arm()
	do(engine.NotReady{DN: "1001"}) // Seq n: its produce is refused
	select {
	case <-lf.held:
	case <-ctx.Done():
		t.Fatal("the armed batch was not refused")
	}
	do(engine.Ready{DN: "1001"}) // Seq n+1, journaled while n is refused
	if err := n.rl.Flush(ctx); err != nil {
		t.Fatalf("relay did not publish after the refusal: %v (%+v)", err, n.rl.Stats())
	}
	st := n.rl.Stats()
	n.close()
	lf.mu.Lock()
	hits, early := lf.fault.Hits(), lf.early
	lf.mu.Unlock()
	if hits != 1 || st.Pauses == 0 {
		t.Fatalf("fault answered %d requests, relay paused %d times: the refusal did not happen", hits, st.Pauses)
	}
	t.Logf("%d events; %d pauses, %d skipped at the rewind", evs, st.Pauses, st.EventsSkipped)
	checkKafka(t, tg.Brokers, prefix, evs)
	if early > 0 {
		t.Errorf("%d batches handed over while a batch was unresolved, before its refusal was heard", early)
	}
}
