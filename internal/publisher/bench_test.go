package publisher_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
)

// benchEvents returns n typical EventRinging events over keys call
// threads, with the variety of real traffic (connection ids, numbers, DNs,
// times and attached data differ from call to call) so that compression is
// not flattered by identical records.
func benchEvents(n, keys int) []event.Event {
	rng := rand.New(rand.NewPCG(7, 11))
	evs := make([]event.Event, n)
	for i := range evs {
		e := ringing("tenant-042", fmt.Sprintf("%016x", rng.Uint64()), int64(i/keys+1))
		e.CallThreadID = fmt.Sprintf("%016x", uint64(i%keys)*0x9e3779b97f4a7c15)
		e.ConnID = fmt.Sprintf("%016x", rng.Uint64())
		e.CallID = rng.Int64N(1 << 31)
		e.Time = event.TimeFromUnixMicro(1_764_000_000_000_000 + int64(i)*1733 + rng.Int64N(1000))
		e.ThisDN = fmt.Sprintf("5%03d", rng.IntN(1000))
		e.AgentID = fmt.Sprintf("agent-%04d", rng.IntN(1000))
		e.ANI = fmt.Sprintf("+33%09d", rng.IntN(1_000_000_000))
		e.OtherDN = e.ANI
		e.DNIS = fmt.Sprintf("+3398765%04d", rng.IntN(50))
		e.ThisQueue = fmt.Sprintf("8%03d", rng.IntN(20))
		e.UserData = event.KV{
			event.S("Language", []string{"fr", "en", "de", "es"}[rng.IntN(4)]),
			event.I("Priority", rng.Int64N(10)),
			event.S("OrderID", fmt.Sprintf("ORD-%08d", rng.IntN(100_000_000))),
			event.S("Segment", []string{"gold", "silver", "bronze"}[rng.IntN(3)]),
		}
		evs[i] = e
	}
	return evs
}

// benchPublish publishes b.N events in Publish calls of batch events and
// waits until Kafka acknowledged all of them; it reports acknowledged
// events per second. It returns the publisher's topics.
func benchPublish(b *testing.B, brokers []string, cfg publisher.Config, batch int) []string {
	cfg.Brokers = brokers
	cfg.TopicPrefix = kafkatest.UniqueTopicPrefix(b)
	cfg.CreateTopics = true
	cfg.Logger = kafkatest.Logger(b, slog.LevelWarn)
	p, err := publisher.New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	evs := benchEvents(64*1024, 10_000)
	b.SetBytes(int64(len(event.Marshal(&evs[0]))))
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	done := func(err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		wg.Done()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		off := i % (len(evs) - batch)
		wg.Add(1)
		p.Publish(evs[off:off+n], done)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	if s := p.Stats(); s.Acked != int64(b.N) {
		b.Fatalf("acked %d of %d", s.Acked, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	// CPU time of the whole process (publisher, client and, when
	// embedded, the broker) per event: on a shared machine this is steadier
	// than events/s, and 2 cores / cpu-ns/event bounds events/s.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
	as, ct := p.Topics()
	return []string{as, ct}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPublishEmbedded: acknowledged publish throughput to the embedded
// broker (in this process, data on disk, as serve runs it).
func BenchmarkPublishEmbedded(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			tg := kafkatest.Embedded(b)
			benchPublish(b, tg.Brokers, publisher.Config{Partitions: 12}, batch)
		})
	}
}

// BenchmarkPublishRealKafka: the same against SWITCHBOARD_TEST_KAFKA; it
// is skipped when that is unset (a benchmark, not a CI test).
func BenchmarkPublishRealKafka(b *testing.B) {
	real := kafkatest.RealKafka(b)
	if real == nil {
		b.Skip("SWITCHBOARD_TEST_KAFKA is not set")
	}
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchPublish(b, real.Brokers, publisher.Config{Partitions: 12}, batch)
		})
	}
}
