package relay_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/switchboard-cc/switchboard/internal/relay"
)

// produceGate holds back, while closed, every Produce request written on
// the connections it dialled (each request is one Write of franz-go's).
type produceGate struct {
	mu     sync.Mutex
	closed bool
	open   chan struct{}
	held   int
}

func (g *produceGate) dial(ctx context.Context, network, host string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	return &gatedConn{Conn: c, g: g}, nil
}

func (g *produceGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed, g.open = true, make(chan struct{})
}

func (g *produceGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.closed = false
		close(g.open)
	}
}

func (g *produceGate) heldRequests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

type gatedConn struct {
	net.Conn
	g *produceGate
}

func (c *gatedConn) Write(b []byte) (int, error) {
	if len(b) >= 6 && int16(binary.BigEndian.Uint16(b[4:6])) == kmsg.Produce.Int16() {
		c.g.mu.Lock()
		if c.g.closed {
			c.g.held++
			open := c.g.open
			c.g.mu.Unlock()
			<-open
		} else {
			c.g.mu.Unlock()
		}
	}
	return c.Conn.Write(b)
}

// TestZombieProduceFenced reproduces the window of a kill -9 against an
// external Kafka: a produce request the old process had sent reaches the
// broker only after the restarted relay read the partition tails and
// published the same events. The old node's produce requests are held back
// (produceGate) while a new node starts on a copy of its journal and
// checkpoint (the disk as a crash leaves it) and publishes; then the held
// request is let go.
//   - transactional (serve with --kafka-brokers): the new node's
//     publisher initialised the same transactional id, so the held request
//     is refused, the old relay stops with publisher.ErrFenced, and
//     read_committed every event is in Kafka exactly once.
//   - idempotent (the publisher without a transactional id, as before the
//     fix and as with the embedded broker, where no request outlives the
//     process): the held request lands, and its events are in Kafka twice.
//     This is the defect, reproduced: it shows that the scenario reaches
//     the window.
func TestZombieProduceFenced(t *testing.T) {
	real := kafkatest.RealKafka(t)
	if real == nil {
		t.Skip("needs a real Kafka: set SWITCHBOARD_TEST_KAFKA")
	}
	for _, txn := range []bool{true, false} {
		name := "transactional"
		if !txn {
			name = "idempotent"
		}
		t.Run(name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			evs, dups, oldErr := zombie(t, real.Brokers, prefix, txn)
			if txn {
				if dups != 0 {
					t.Fatalf("%d events twice in Kafka read_committed: the old node's late produce request landed", dups)
				}
				if !strings.Contains(oldErr, "fenced") {
					t.Fatalf("the old node's relay: Err %q, want it stopped as fenced", oldErr)
				}
				t.Logf("%d events exactly once; the old relay stopped: %s", evs, oldErr)
			} else {
				if dups == 0 {
					t.Fatalf("no duplicate without transactions: the held request did not land after the new node published (%d events)", evs)
				}
				t.Logf("without transactions the held request landed: %d of %d events twice", dups, evs)
			}
		})
	}
}

// zombie runs the scenario of TestZombieProduceFenced and returns how many
// events the steps answered made, how many of them Kafka holds more than
// once (read_committed), and the old relay's Stats().Err at the end.
func zombie(t *testing.T, brokers []string, prefix string, txn bool) (events int64, dups int, oldErr string) {
	tc := &config.Demo("tok", "pw").Tenants[0]
	txnID := publisher.TransactionalID(prefix, "s1", "demo")
	gate := &produceGate{}
	old := startZombieNode(t, brokers, t.TempDir(), prefix, tc, txn, txnID, gate.dial)
	ctx := context.Background()
	do := func(n *node, c engine.Command) {
		t.Helper()
		out, err := n.tn.Do(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", c.Kind(), err)
		}
		events += int64(out.Events)
	}
	do(old, engine.Login{DN: "1001", AgentID: "agent1"})
	do(old, engine.Login{DN: "1002", AgentID: "agent2"})
	waitFor(t, "the first events in Kafka and checkpointed", func() bool {
		st := old.rl.Stats()
		return st.CheckpointLSN == st.DurableLSN
	})

	gate.close()
	for i := 0; i < 3; i++ {
		do(old, engine.Ready{DN: "1001"})
		do(old, engine.NotReady{DN: "1001"})
		do(old, engine.Ready{DN: "1002"})
	}
	waitFor(t, "the old node's produce request held", func() bool { return gate.heldRequests() > 0 })

	// The disk as kill -9 leaves it: every answered step is durable.
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", old.dir+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy the old node's data: %v\n%s", err, out)
	}
	t0 := time.Now()
	fresh := startZombieNode(t, brokers, dir, prefix, tc, txn, txnID, nil)
	waitFor(t, "the new node publishing every journaled event", func() bool {
		st := fresh.rl.Stats()
		return st.AckedLSN == st.DurableLSN && !st.Resolving
	})
	t.Logf("new node published the journal in %v (%d events skipped as in Kafka)", time.Since(t0).Round(time.Millisecond), fresh.rl.Stats().EventsSkipped)

	gate.release()
	waitFor(t, "the old node's held batch finished", func() bool {
		st := old.rl.Stats()
		return st.AckedLSN == st.DurableLSN || st.Err != "" || st.Paused != ""
	})
	oldErr = old.rl.Stats().Err
	fresh.close()
	old.crash()

	topics := []string{prefix + event.AgentStateTopic, prefix + event.CallThreadTopic}
	seen := map[string]int{}
	var n int64
	for _, r := range kafkatest.ConsumeCommitted(t, brokers, topics, time.Minute) {
		var e event.Event
		if err := event.Unmarshal(r.Value, &e); err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("%s/%s/%d", r.Topic, r.Key, e.Seq)
		if seen[k]++; seen[k] == 2 {
			dups++
		}
		n++
	}
	if int64(len(seen)) != events {
		t.Fatalf("Kafka holds %d distinct events (%d records), want %d", len(seen), n, events)
	}
	return events, dups, oldErr
}

// startZombieNode is a node of the zombie scenario, wired as serve wires
// it: with txn, a transactional publisher of id txnID and the tails read
// read_committed; dial (unless nil) opens the publisher's connections.
func startZombieNode(t *testing.T, brokers []string, dir, prefix string, tc *config.Tenant, txn bool, txnID string,
	dial func(context.Context, string, string) (net.Conn, error)) *node {
	t.Helper()
	wrap := func(p relay.Publisher) relay.Publisher {
		if !txn {
			return p
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tp, err := p.(*publisher.Publisher).Transactional(ctx, txnID)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	// Quiet (level 100): the old node's fence is logged as an error on
	// purpose.
	return startNodePublisher(t, brokers, dir, prefix, tc, 1000, wrap,
		func(c *relay.Config) { c.ReadCommitted, c.Linger = txn, 0 },
		func(c *publisher.Config) { c.Dial = dial }, 100)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
