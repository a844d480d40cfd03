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
)

// countingPublisher is a Publisher between the relay and the real one
// that notes when each Publish call came and how many events it carried.
type countingPublisher struct {
	relay.Publisher
	mu    sync.Mutex
	calls []publishCall
}

type publishCall struct {
	at     time.Time
	events int
}

func (c *countingPublisher) Publish(evs []event.Event, done func(error)) {
	c.mu.Lock()
	c.calls = append(c.calls, publishCall{time.Now(), len(evs)})
	c.mu.Unlock()
	c.Publisher.Publish(evs, done)
}

// since returns the calls made at or after t.
func (c *countingPublisher) since(t time.Time) []publishCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []publishCall
	for _, pc := range c.calls {
		if !pc.at.Before(t) {
			out = append(out, pc)
		}
	}
	return out
}

// startLingering starts a node whose relay lingers linger and hands
// batches of at most maxBatch step records (0: the default) to a
// countingPublisher; one agent is logged in and in Kafka already.
func startLingering(t *testing.T, linger time.Duration, maxBatch int) (*node, *countingPublisher) {
	t.Helper()
	tg := kafkatest.Embedded(t)
	cp := &countingPublisher{}
	n := startNodeConfig(t, tg.Brokers, t.TempDir(), kafkatest.UniqueTopicPrefix(t), &config.Demo("tok", "pw").Tenants[0], 50,
		func(p relay.Publisher) relay.Publisher { cp.Publisher = p; return cp },
		func(c *relay.Config) { c.Linger, c.MaxBatch = linger, maxBatch })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := n.tn.Do(ctx, engine.Login{DN: "1001", AgentID: "agent1"}); err != nil {
		t.Fatal(err)
	}
	if err := n.rl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return n, cp
}

// toggle makes count steps of agent 1001 (not ready, ready, ...), one
// after the other, each answered once durable.
func toggle(t *testing.T, n *node, count int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range count {
		var c engine.Command = engine.NotReady{DN: "1001"}
		if i%2 == 1 {
			c = engine.Ready{DN: "1001"}
		}
		if _, err := n.tn.Do(ctx, c); err != nil {
			t.Fatalf("%s: %v", c.Kind(), err)
		}
	}
}

// waitAcked waits, without Flush (which does not linger), until Kafka has
// every step record up to lsn, failing the test after within.
func waitAcked(t *testing.T, n *node, lsn uint64, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for n.rl.AckedLSN() < lsn {
		if time.Since(start) > within {
			t.Fatalf("Kafka has step records up to lsn %d only, %v after lsn %d was durable (%+v)",
				n.rl.AckedLSN(), within, lsn, n.rl.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// TestLingerGathersSteps: steps journaled one after the other within the
// relay's linger reach the publisher as one batch, handed over no sooner
// than the linger after the first; without lingering each step is a batch
// of its own (the relay is idle when it is read).
func TestLingerGathersSteps(t *testing.T) {
	const linger, steps = 500 * time.Millisecond, 6
	n, cp := startLingering(t, linger, 0)
	defer n.close()
	start := time.Now()
	toggle(t, n, steps)
	took := time.Since(start)
	waitAcked(t, n, n.jr.DurableLSN(), 30*time.Second)
	calls := cp.since(start)
	events := 0
	for _, c := range calls {
		events += c.events
	}
	t.Logf("%d steps in %v: %d Publish calls, %d events", steps, took.Round(time.Millisecond), len(calls), events)
	if len(calls) == 0 || events < steps {
		t.Fatalf("%d Publish calls with %d events for %d steps", len(calls), events, steps)
	}
	// A batch holds every record read within the linger of its first, so
	// steps spread over took make at most 1 + took/linger batches (1 unless
	// the machine is very slow).
	if most := 1 + int(took/linger); len(calls) > most {
		t.Errorf("%d steps within %v made %d Publish calls, want at most %d with a linger of %v",
			steps, took.Round(time.Millisecond), len(calls), most, linger)
	}
	if held := calls[0].at.Sub(start); held < linger {
		t.Errorf("first batch handed over %v after its first step began, before the linger of %v", held, linger)
	}
}

// TestLingerFullBatchNotHeld: a batch that reaches MaxBatch step records
// is handed over at once, whatever the linger.
func TestLingerFullBatchNotHeld(t *testing.T) {
	const maxBatch = 4
	n, cp := startLingering(t, time.Minute, maxBatch)
	defer n.close()
	from := n.jr.DurableLSN()
	start := time.Now()
	toggle(t, n, maxBatch)
	if got := n.jr.DurableLSN() - from; got != maxBatch {
		t.Fatalf("%d steps made %d step records, want one each", maxBatch, got)
	}
	took := waitAcked(t, n, from+maxBatch, 20*time.Second)
	calls := cp.since(start)
	t.Logf("full batch of %d step records in Kafka %v after the last was durable; %d Publish calls", maxBatch, took.Round(time.Millisecond), len(calls))
	if len(calls) != 1 {
		t.Errorf("%d Publish calls for one full batch, want 1", len(calls))
	}
}

// TestFlushAndCloseDoNotLinger: with a linger of a minute, Flush and Close
// hand over what the relay holds at once.
func TestFlushAndCloseDoNotLinger(t *testing.T) {
	n, _ := startLingering(t, time.Minute, 0)
	for _, how := range []string{"Flush", "Close"} {
		toggle(t, n, 3)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		start := time.Now()
		var err error
		if how == "Flush" {
			err = n.rl.Flush(ctx)
		} else {
			err = n.rl.Close(ctx)
		}
		cancel()
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s with a linger of a minute: %v after %v", how, err, took)
		}
		if st := n.rl.Stats(); st.AckedLSN != st.DurableLSN {
			t.Fatalf("%s returned with Kafka at lsn %d of %d", how, st.AckedLSN, st.DurableLSN)
		}
		t.Logf("%s returned after %v", how, took.Round(time.Millisecond))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n.tn.Close(ctx)
	n.pub.Close()
	n.jr.Close()
}
