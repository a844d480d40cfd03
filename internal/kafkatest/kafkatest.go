package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/internal/testenv"
)

// Environment variables read by Targets.
const (
	EnvKafka        = "SWITCHBOARD_TEST_KAFKA"
	EnvRequireKafka = "SWITCHBOARD_REQUIRE_REAL_KAFKA"
)

// Target names.
const (
	NameEmbedded = "embedded"
	NameReal     = "real-kafka"
)

// Target is one Kafka to run a test against.
type Target struct {
	Name    string         // NameEmbedded or NameReal
	Brokers []string       // bootstrap brokers
	Cluster *kfake.Cluster // the embedded broker's cluster, for fault injection; nil for real Kafka
}

// Targets returns the Kafka targets the test must run against: always a
// fresh embedded broker (closed when the test ends), then the real Kafka of
// SWITCHBOARD_TEST_KAFKA when set. In CI (CI=true) or with
// SWITCHBOARD_REQUIRE_REAL_KAFKA=1, a missing SWITCHBOARD_TEST_KAFKA fails
// the test: the real-Kafka run is never skipped silently there.
func Targets(t testing.TB) []Target {
	t.Helper()
	real := RealKafka(t)
	ts := []Target{Embedded(t)}
	if real != nil {
		ts = append(ts, *real)
	}
	return ts
}

// RealKafka returns the real Kafka target, or nil when SWITCHBOARD_TEST_KAFKA
// is unset and none is required (see Targets).
func RealKafka(t testing.TB) *Target {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(EnvKafka))
	if v == "" {
		if testenv.InCI() || os.Getenv(EnvRequireKafka) == "1" {
			t.Fatalf("kafkatest: %s is not set but a real Kafka is required (CI=true or %s=1); run the tests through scripts/test",
				EnvKafka, EnvRequireKafka)
		}
		return nil
	}
	var brokers []string
	for _, b := range strings.Split(v, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return &Target{Name: NameReal, Brokers: brokers}
}

// Embedded starts an embedded broker on 127.0.0.1, a free port, with its data
// in a temporary directory, and closes it when the test ends. It creates no
// topics.
func Embedded(t testing.TB) Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{
		Dir:    t.TempDir(),
		Listen: "127.0.0.1:0",
		Logger: Logger(t, slog.LevelWarn),
	})
	if err != nil {
		t.Fatalf("kafkatest: start embedded broker: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return Target{Name: NameEmbedded, Brokers: []string{b.Addr()}, Cluster: b.Cluster()}
}

// Logger returns a slog logger writing to t.Log at level and above. Lines
// logged after the test's cleanups ran (by a client still shutting down)
// are dropped rather than panicking in t.Log.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) }) // runs after cleanups registered later
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type tWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	if w.done.Load() {
		return len(p), nil
	}
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// UniqueTopicPrefix returns a topic prefix, ending in ".", made of the test's
// name and random characters, so tests that share one real broker (and runs
// of the same test) never write to each other's topics.
func UniqueTopicPrefix(t testing.TB) string {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("t-")
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
		if sb.Len() >= 120 {
			break
		}
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	sb.WriteByte('-')
	sb.WriteString(hex.EncodeToString(rnd[:]))
	sb.WriteByte('.')
	return sb.String()
}

// Client returns a kgo client for brokers with opts, closed when the test
// ends.
func Client(t testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Consume reads topics from the beginning until it has n records and returns
// them in the order fetched (per partition, offset order). It fails the test
// if n records are not there within timeout, or on a fetch error.
func Consume(t testing.TB, brokers, topics []string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("kafkatest: consumer: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	recs := make([]*kgo.Record, 0, n)
	for len(recs) < n {
		fs := cl.PollRecords(ctx, n-len(recs))
		if ctx.Err() != nil {
			t.Fatalf("kafkatest: consumed %d of %d records from %v in %v", len(recs), n, topics, timeout)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("kafkatest: fetch %s/%d: %v", topic, p, err)
		})
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// RecordCount returns how many records topics hold: the sum over their
// partitions of end offset minus start offset. It is how a test proves there
// is nothing beyond what it consumed.
func RecordCount(t testing.TB, brokers []string, topics ...string) int64 {
	t.Helper()
	cl := Client(t, brokers)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("kafkatest: end offsets of %v: %v", topics, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatalf("kafkatest: start offsets of %v: %v", topics, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		n += o.Offset - s.Offset
	})
	cl.Close()
	return n
}

// ConsumeCommitted reads topics read_committed from their start to the end
// offsets they have when it is called and returns the data records in the
// order fetched: no transaction markers and no records of aborted
// transactions (what a consumer of EVENTS.md section 6 reads). It waits
// for every transaction with records below those offsets to end, and fails
// the test if that and the read take longer than timeout.
func ConsumeCommitted(t testing.TB, brokers, topics []string, timeout time.Duration) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	adm := kadm.NewClient(Client(t, brokers))
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("kafkatest: end offsets of %v: %v", topics, err)
	}
	left := map[string]map[int32]int64{}
	assign := map[string]map[int32]kgo.Offset{}
	remaining := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			if left[o.Topic] == nil {
				left[o.Topic], assign[o.Topic] = map[int32]int64{}, map[int32]kgo.Offset{}
			}
			left[o.Topic][o.Partition] = o.Offset
			assign[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
			remaining++
		}
	})
	var recs []*kgo.Record
	if remaining == 0 {
		return recs
	}
	// Markers are kept (and not returned) so that the read reaches each
	// end offset even when the last records below it are a marker, or an
	// aborted transaction's whose marker lies beyond it.
	cl := Client(t, brokers, kgo.ConsumePartitions(assign), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.FetchMaxWait(100*time.Millisecond))
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("kafkatest: reading %v read_committed: %v (%d partitions left)", topics, ctx.Err(), remaining)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("kafkatest: fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Topic][r.Partition]
			if !ok {
				return
			}
			if r.Offset < end && !r.Attrs.IsControl() {
				recs = append(recs, r)
			}
			if r.Offset >= end-1 {
				delete(left[r.Topic], r.Partition)
				remaining--
			}
		})
	}
	return recs
}

// CommittedCount returns how many data records topics hold read_committed
// (ConsumeCommitted): RecordCount less the transaction markers and the
// records of aborted transactions, for topics written with transactions.
func CommittedCount(t testing.TB, brokers []string, topics ...string) int64 {
	t.Helper()
	return int64(len(ConsumeCommitted(t, brokers, topics, time.Minute)))
}
