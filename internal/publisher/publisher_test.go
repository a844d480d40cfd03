package publisher_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ringing is a typical EventRinging: an inbound call routed to an agent's DN.
func ringing(tenant, thread string, seq int64) event.Event {
	return event.Event{
		ID:            event.EventRinging,
		Server:        "sb-node-1",
		Time:          event.TimeFromUnixMicro(1_764_000_000_123_456 + seq),
		CustomerID:    tenant,
		Seq:           seq,
		SchemaVersion: event.SchemaVersion,
		CallThreadID:  thread,
		ConnID:        "006e02b3c8a1f4d2",
		CallID:        123456,
		CallType:      event.CallTypeInbound,
		CallState:     event.CallStateOk,
		ThisDN:        "5001",
		ThisDNRole:    event.RoleDestination,
		OtherDN:       "+33123456789",
		OtherDNRole:   event.RoleOrigination,
		ThisQueue:     "8001",
		ANI:           "+33123456789",
		DNIS:          "+33987654321",
		AgentID:       "agent-0042",
		UserData:      event.KV{event.S("Language", "fr"), event.I("Priority", 3), event.S("Segment", "gold")},
	}
}

// agentReady is a voice-agentstate event; with agent "" it is keyed by DN.
func agentReady(tenant, agent, dn string, seq int64) event.Event {
	return event.Event{
		ID:            event.EventAgentReady,
		Server:        "sb-node-1",
		Time:          event.TimeFromUnixMicro(1_764_000_000_000_000 + seq),
		CustomerID:    tenant,
		Seq:           seq,
		SchemaVersion: event.SchemaVersion,
		ThisDN:        dn,
		AgentID:       agent,
		AgentWorkMode: event.WorkModeManualIn,
	}
}

func newPublisher(t testing.TB, brokers []string, cfg publisher.Config) *publisher.Publisher {
	t.Helper()
	cfg.Brokers = brokers
	if cfg.Logger == nil {
		cfg.Logger = kafkatest.Logger(t, slog.LevelWarn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := publisher.New(ctx, cfg)
	if err != nil {
		t.Fatalf("publisher.New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestValidate(t *testing.T) {
	ok := []string{"127.0.0.1:9092"}
	for _, tc := range []struct {
		name  string
		cfg   publisher.Config
		field string
	}{
		{"minimal", publisher.Config{Brokers: ok}, ""},
		{"full", publisher.Config{Brokers: []string{"a:1", "b:2"}, TopicPrefix: "prod.", Partitions: 24, ReplicationFactor: 3, CreateTopics: true,
			TLS:  publisher.TLSConfig{Enabled: true, CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "kafka"},
			SASL: publisher.SASLConfig{Mechanism: "SCRAM-SHA-512", User: "u", Password: "p"}, Linger: time.Millisecond, MaxBufferedRecords: 10, Compression: "zstd"}, ""},
		{"no brokers", publisher.Config{}, "Brokers"},
		{"broker not hostport", publisher.Config{Brokers: []string{"a:1", "kafka"}}, "Brokers[1]"},
		{"broker bad port", publisher.Config{Brokers: []string{"a:0"}}, "Brokers[0]"},
		{"bad prefix", publisher.Config{Brokers: ok, TopicPrefix: "a/b"}, "TopicPrefix"},
		{"long prefix", publisher.Config{Brokers: ok, TopicPrefix: strings.Repeat("p", 240)}, "TopicPrefix"},
		{"negative partitions", publisher.Config{Brokers: ok, Partitions: -1}, "Partitions"},
		{"bad replication", publisher.Config{Brokers: ok, ReplicationFactor: -2}, "ReplicationFactor"},
		{"tls options without tls", publisher.Config{Brokers: ok, TLS: publisher.TLSConfig{CAFile: "ca.pem"}}, "TLS.Enabled"},
		{"cert without key", publisher.Config{Brokers: ok, TLS: publisher.TLSConfig{Enabled: true, CertFile: "c.pem"}}, "TLS.KeyFile"},
		{"key without cert", publisher.Config{Brokers: ok, TLS: publisher.TLSConfig{Enabled: true, KeyFile: "k.pem"}}, "TLS.CertFile"},
		{"bad mechanism", publisher.Config{Brokers: ok, SASL: publisher.SASLConfig{Mechanism: "GSSAPI", User: "u", Password: "p"}}, "SASL.Mechanism"},
		{"user without mechanism", publisher.Config{Brokers: ok, SASL: publisher.SASLConfig{User: "u"}}, "SASL.Mechanism"},
		{"no user", publisher.Config{Brokers: ok, SASL: publisher.SASLConfig{Mechanism: "PLAIN", Password: "p"}}, "SASL.User"},
		{"no password", publisher.Config{Brokers: ok, SASL: publisher.SASLConfig{Mechanism: "PLAIN", User: "u"}}, "SASL.Password"},
		{"linger too long", publisher.Config{Brokers: ok, Linger: 2 * time.Minute}, "Linger"},
		{"negative buffer", publisher.Config{Brokers: ok, MaxBufferedRecords: -1}, "MaxBufferedRecords"},
		{"bad compression", publisher.Config{Brokers: ok, Compression: "gzip"}, "Compression"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, publisher.ErrInvalidConfig) || !strings.Contains(err.Error(), ": "+tc.field+": ") {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
}

// The topics are created with the prefix and partition count, creating them
// again is harmless, and without CreateTopics missing topics are an error.
func TestTopics(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			_, err := publisher.New(context.Background(), publisher.Config{Brokers: tg.Brokers, TopicPrefix: prefix})
			if !errors.Is(err, publisher.ErrTopics) {
				t.Fatalf("New without CreateTopics on missing topics: %v, want ErrTopics", err)
			}

			p := newPublisher(t, tg.Brokers, publisher.Config{TopicPrefix: prefix, Partitions: 5, CreateTopics: true})
			as, ct := p.Topics()
			if as != prefix+"voice-agentstate" || ct != prefix+"voice-callthread" {
				t.Fatalf("Topics() = %s, %s", as, ct)
			}
			adm := kadm.NewClient(kafkatest.Client(t, tg.Brokers))
			td, err := adm.ListTopics(context.Background(), as, ct)
			if err != nil {
				t.Fatal(err)
			}
			for _, topic := range []string{as, ct} {
				if d := td[topic]; d.Err != nil || len(d.Partitions) != 5 {
					t.Errorf("%s: err %v, %d partitions, want 5", topic, d.Err, len(d.Partitions))
				}
				if got := p.Partitions(topic); got != 5 {
					t.Errorf("Partitions(%s) = %d, want 5", topic, got)
				}
			}
			// Existing topics: a second publisher asking for another
			// count uses the topics as they are; so does one that does
			// not create.
			p2 := newPublisher(t, tg.Brokers, publisher.Config{TopicPrefix: prefix, Partitions: 8, CreateTopics: true})
			p3 := newPublisher(t, tg.Brokers, publisher.Config{TopicPrefix: prefix})
			if p2.Partitions(as) != 5 || p3.Partitions(ct) != 5 {
				t.Errorf("existing topics seen with %d and %d partitions, want 5", p2.Partitions(as), p3.Partitions(ct))
			}
		})
	}
}

// published is what one goroutine of the order test published.
type published struct {
	mu  sync.Mutex
	evs map[string][]event.Event // key -> events in publish order
}

// Many keys on both topics, published concurrently in batches by several
// goroutines, each goroutine owning its keys: every event arrives once, in
// per-key order, on the partition Java computes, with the three headers and
// the value event.Marshal gives.
func TestPublishOrderPlacementHeaders(t *testing.T) {
	const (
		goroutines   = 4
		keys         = 200 // over all goroutines
		perKey       = 50
		partitions   = 12
		maxBatchSize = 64
	)
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			p := newPublisher(t, tg.Brokers, publisher.Config{TopicPrefix: prefix, Partitions: partitions, CreateTopics: true})
			want := publishMany(t, p, "acme", goroutines, keys, perKey, maxBatchSize)
			as, ct := p.Topics()
			total := keys * perKey
			recs := kafkatest.Consume(t, tg.Brokers, []string{as, ct}, total, 60*time.Second)
			if n := kafkatest.RecordCount(t, tg.Brokers, as, ct); n != int64(total) {
				t.Fatalf("topics hold %d records, want exactly %d", n, total)
			}
			checkRecords(t, recs, want, prefix, partitions)
			if s := p.Stats(); s.Produced != int64(total) || s.Acked != int64(total) || s.Failed != 0 || s.Buffered != 0 {
				t.Errorf("Stats() = %+v, want %d produced and acked", s, total)
			}
		})
	}
}

// publishMany publishes perKey events for each of keys keys (half agent
// state, some of those keyed by DN, half call thread) from goroutines
// goroutines in random-sized batches mixing keys, waits for every done, and
// returns the events by key in publish order.
func publishMany(t testing.TB, p *publisher.Publisher, tenant string, goroutines, keys, perKey, maxBatch int) map[string][]event.Event {
	return publishPaced(t, p, tenant, goroutines, keys, perKey, maxBatch, 0)
}

// publishPaced is publishMany with each goroutine pausing pace after each
// batch.
func publishPaced(t testing.TB, p *publisher.Publisher, tenant string, goroutines, keys, perKey, maxBatch int, pace time.Duration) map[string][]event.Event {
	t.Helper()
	var (
		wg      sync.WaitGroup
		pending sync.WaitGroup
		mu      sync.Mutex
		byKey   = map[string][]event.Event{}
		dones   atomic.Int64
		errs    = make(chan error, keys*perKey)
	)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int
			for k := g; k < keys; k += goroutines {
				mine = append(mine, k)
			}
			seq := make([]int64, len(mine))
			var batch []event.Event
			flush := func() {
				if len(batch) == 0 {
					return
				}
				pending.Add(1)
				var once atomic.Bool
				p.Publish(batch, func(err error) {
					if once.Swap(true) {
						errs <- errors.New("done called twice")
					}
					if err != nil {
						errs <- err
					}
					dones.Add(1)
					pending.Done()
				})
				batch = nil
				if pace > 0 {
					time.Sleep(pace)
				}
			}
			size := 1 + (g*7)%maxBatch
			for round := 0; round < perKey; round++ {
				for i, k := range mine {
					seq[i]++
					var e event.Event
					switch k % 4 {
					case 0, 1:
						e = ringing(tenant, fmt.Sprintf("thread-%04d", k), seq[i])
					case 2:
						e = agentReady(tenant, fmt.Sprintf("agent-%04d", k), "dn", seq[i])
					case 3:
						e = agentReady(tenant, "", fmt.Sprintf("dn-%04d", k), seq[i]) // DN key
					}
					mu.Lock()
					byKey[e.Key()] = append(byKey[e.Key()], e)
					mu.Unlock()
					batch = append(batch, e)
					if len(batch) >= size {
						flush()
						size = 1 + (size*31+g)%maxBatch
					}
				}
			}
			flush()
		}()
	}
	wg.Wait()
	waitDone := make(chan struct{})
	go func() { pending.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(60 * time.Second):
		t.Fatalf("only %d done callbacks after 60s", dones.Load())
	}
	close(errs)
	for err := range errs {
		t.Errorf("done: %v", err)
	}
	if len(byKey) != keys {
		t.Fatalf("published %d keys, want %d", len(byKey), keys)
	}
	return byKey
}

// checkRecords checks recs against the events published per key: each
// exactly once, in order, on Java's partition, with key, headers and value.
func checkRecords(t testing.TB, recs []*kgo.Record, want map[string][]event.Event, prefix string, partitions int32) {
	t.Helper()
	next := map[string]int{}
	errs := 0
	fail := func(format string, args ...any) {
		t.Helper()
		if errs++; errs <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, r := range recs {
		key := string(r.Key)
		evs, ok := want[key]
		if !ok {
			fail("record with unknown key %q", key)
			continue
		}
		i := next[key]
		next[key]++
		if i >= len(evs) {
			fail("key %q: more records than the %d published", key, len(evs))
			continue
		}
		e := &evs[i]
		var got event.Event
		if err := event.Unmarshal(r.Value, &got); err != nil {
			fail("key %q record %d: %v", key, i, err)
			continue
		}
		if got.Seq != e.Seq {
			fail("key %q: record %d has Seq %d, want %d (order broken)", key, i, got.Seq, e.Seq)
		}
		if !bytes.Equal(r.Value, event.Marshal(e)) {
			fail("key %q Seq %d: value %s, want %s", key, e.Seq, r.Value, event.Marshal(e))
		}
		if wantTopic := prefix + e.Topic(); r.Topic != wantTopic {
			fail("key %q Seq %d on topic %s, want %s", key, e.Seq, r.Topic, wantTopic)
		}
		if wantP := event.Partition(r.Key, partitions); r.Partition != wantP {
			fail("key %q on partition %d, want %d (Java murmur2)", key, r.Partition, wantP)
		}
		h := e.Headers()
		if len(r.Headers) != len(h) {
			fail("key %q Seq %d: %d headers, want %d", key, e.Seq, len(r.Headers), len(h))
			continue
		}
		for j := range h {
			if r.Headers[j].Key != h[j].Key || string(r.Headers[j].Value) != h[j].Value {
				fail("key %q Seq %d: header %d = %s=%s, want %s=%s", key, e.Seq, j, r.Headers[j].Key, r.Headers[j].Value, h[j].Key, h[j].Value)
			}
		}
	}
	for key, evs := range want {
		if next[key] != len(evs) {
			fail("key %q: %d records, want %d", key, next[key], len(evs))
		}
	}
}

// When done(nil) runs, the batch is readable: with nothing else published,
// the topics hold exactly the acknowledged records right then.
func TestDoneMeansReadable(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			p := newPublisher(t, tg.Brokers, publisher.Config{TopicPrefix: prefix, Partitions: 3, CreateTopics: true})
			as, ct := p.Topics()
			var total int64
			for round, n := range []int{1, 7, 300} {
				evs := make([]event.Event, n)
				for i := range evs {
					if i%2 == 0 {
						evs[i] = ringing("t", fmt.Sprintf("r%d-%d", round, i%5), int64(i+1))
					} else {
						evs[i] = agentReady("t", fmt.Sprintf("a%d", i%3), "d", int64(i+1))
					}
				}
				done := make(chan error, 2)
				p.Publish(evs, func(err error) { done <- err })
				awaitDone(t, done)
				total += int64(n)
				if got := kafkatest.RecordCount(t, tg.Brokers, as, ct); got != total {
					t.Fatalf("round %d: after done the topics hold %d records, want %d", round, got, total)
				}
				if len(done) != 0 {
					t.Fatal("done called more than once")
				}
			}
			kafkatest.Consume(t, tg.Brokers, []string{as, ct}, int(total), 30*time.Second)
		})
	}
}

func TestPublishEdgeCases(t *testing.T) {
	tg := kafkatest.Embedded(t)
	p := newPublisher(t, tg.Brokers, publisher.Config{CreateTopics: true})

	called := 0
	p.Publish(nil, func(err error) {
		called++
		if err != nil {
			t.Errorf("empty batch: %v", err)
		}
	})
	if called != 1 {
		t.Fatalf("empty batch: done called %d times, want 1", called)
	}

	// An event with no name fails the whole batch; nothing is produced.
	bad := []event.Event{ringing("t", "x", 1), {CustomerID: "t", Seq: 2}}
	errc := make(chan error, 1)
	p.Publish(bad, func(err error) { errc <- err })
	if err := <-errc; !errors.Is(err, publisher.ErrUnknownEvent) {
		t.Fatalf("event without name: %v, want ErrUnknownEvent", err)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	as, ct := p.Topics()
	if n := kafkatest.RecordCount(t, tg.Brokers, as, ct); n != 0 {
		t.Fatalf("a rejected batch produced %d records", n)
	}
	if s := p.Stats(); s.Produced != 0 {
		t.Fatalf("Stats().Produced = %d after a rejected batch", s.Produced)
	}

	p.Close()
	p.Close()
	p.Publish([]event.Event{ringing("t", "x", 1)}, func(err error) { errc <- err })
	if err := <-errc; !errors.Is(err, publisher.ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
}

// Unacknowledged batches finish with ErrClosed when the publisher closes:
// here the broker blackholes every produce response until then.
func TestCloseFailsPending(t *testing.T) {
	tg := kafkatest.Embedded(t)
	p := newPublisher(t, tg.Brokers, publisher.Config{CreateTopics: true})
	h := tg.Cluster.Fault(kfakeProduceFault(kerr.NotLeaderForPartition))
	defer h.Remove()
	errc := make(chan error, 1)
	p.Publish([]event.Event{ringing("t", "x", 1), ringing("t", "y", 1)}, func(err error) { errc <- err })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Wait(ctx, 1); err != nil {
		t.Fatal("no produce reached the broker")
	}
	p.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, publisher.ErrClosed) {
			t.Fatalf("pending batch at Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pending batch not finished by Close")
	}
}

// Every compression codec round-trips through both targets.
func TestCompressionCodecs(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		for _, codec := range []string{"", "none", "snappy", "lz4", "zstd"} {
			t.Run(tg.Name+"/"+codec, func(t *testing.T) {
				prefix := kafkatest.UniqueTopicPrefix(t)
				p := newPublisher(t, tg.Brokers, publisher.Config{TopicPrefix: prefix, Partitions: 3, CreateTopics: true, Compression: codec})
				want := publishMany(t, p, "t", 2, 20, 25, 32)
				as, ct := p.Topics()
				recs := kafkatest.Consume(t, tg.Brokers, []string{as, ct}, 500, 30*time.Second)
				checkRecords(t, recs, want, prefix, 3)
			})
		}
	}
}

// lineCounter counts the log lines at or above its level.
type lineCounter struct {
	level slog.Level
	n     atomic.Int64
}

func (c *lineCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= c.level }
func (c *lineCounter) Handle(context.Context, slog.Record) error    { c.n.Add(1); return nil }
func (c *lineCounter) WithAttrs([]slog.Attr) slog.Handler           { return c }
func (c *lineCounter) WithGroup(string) slog.Handler                { return c }

// At the default level (info) publishing logs nothing per batch: the
// publisher flushes every batch, and franz-go logs each flush at info
// ("flushing"), which at thousands of batches a second flooded serve's log.
func TestNoLinePerBatchAtInfo(t *testing.T) {
	tg := kafkatest.Embedded(t)
	lines := &lineCounter{level: slog.LevelInfo}
	p := newPublisher(t, tg.Brokers, publisher.Config{CreateTopics: true, Logger: slog.New(lines)})
	before := lines.n.Load()
	const batches = 200
	for i := range batches {
		errc := make(chan error, 1)
		p.Publish([]event.Event{ringing("t", "x", int64(i+1))}, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if n := lines.n.Load() - before; n > 10 {
		t.Fatalf("%d log lines at info for %d batches published", n, batches)
	}
}

// Publish keeps nothing of evs once it returns (the relay reuses the
// slice for its next batch): overwriting every event, and the user data
// they point to, right after the call, before Kafka has them, changes
// nothing in the records.
func TestPublishDoesNotRetainEvents(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	const partitions = 3
	p := newPublisher(t, tg.Brokers, publisher.Config{TopicPrefix: prefix, Partitions: partitions, CreateTopics: true})
	batch := func() []event.Event {
		evs := make([]event.Event, 40)
		for i := range evs {
			if i%2 == 0 {
				evs[i] = ringing("t", fmt.Sprintf("thread-%d", i%4), int64(i+1))
			} else {
				evs[i] = agentReady("t", fmt.Sprintf("agent-%d", i%3), "5001", int64(i+1))
			}
		}
		return evs
	}
	evs := batch()
	done := make(chan error, 1)
	p.Publish(evs, func(err error) { done <- err })
	for i := range evs {
		for j := range evs[i].UserData {
			evs[i].UserData[j] = event.S("Overwritten", "yes")
		}
		evs[i] = agentReady("x", "intruder", "9999", 1_000_000+int64(i))
	}
	awaitDone(t, done)
	want := map[string][]event.Event{}
	for _, e := range batch() {
		want[e.Key()] = append(want[e.Key()], e)
	}
	as, ct := p.Topics()
	checkRecords(t, kafkatest.Consume(t, tg.Brokers, []string{as, ct}, 40, 30*time.Second), want, prefix, partitions)
}

// awaitDone fails the test unless done brings nil within 30 s.
func awaitDone(t testing.TB, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no done after 30s")
	}
}
