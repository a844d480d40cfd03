package relay_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

// BenchmarkJournalToKafka: commands from many concurrent callers through
// one tenant's runtime, each answered once its step is fsynced in the
// journal, with the relay publishing the journal to Kafka at the same time.
// The clock stops when Kafka has acknowledged every event (relay Flush), so
// events/s is the sustained rate of the whole no-loss path. Kafka is the
// embedded broker, or the real one of SWITCHBOARD_TEST_KAFKA too.
//
// mix=dnd: SetDND on/off, one event per command. mix=calls: one b.N
// iteration is a full basic call (make, answer, release: ten events)
// between the caller's own two extensions.
func BenchmarkJournalToKafka(b *testing.B) {
	targets := []kafkatest.Target{kafkatest.Embedded(b)}
	if os.Getenv(kafkatest.EnvKafka) != "" {
		targets = append(targets, *kafkatest.RealKafka(b))
	}
	for _, tg := range targets {
		for _, bc := range []struct {
			mix     string
			callers int
		}{{"dnd", 256}, {"dnd", 2048}, {"calls", 256}} {
			mix, callers := bc.mix, bc.callers
			b.Run(fmt.Sprintf("kafka=%s/mix=%s/callers=%d", tg.Name, mix, callers), func(b *testing.B) {
				// 2x256 extensions: each caller calls between its own two.
				tenant := &config.Tenant{ID: "demo", Tokens: []string{"tok"}}
				for i := range 512 {
					tenant.DNs = append(tenant.DNs, config.DN{Number: strconv.Itoa(20000 + i), Type: config.Extension})
				}
				for i := 1001; i <= 1020; i++ {
					tenant.DNs = append(tenant.DNs, config.DN{Number: strconv.Itoa(i), Type: config.Extension})
				}
				n := startNodeWith(b, tg.Brokers, b.TempDir(), kafkatest.UniqueTopicPrefix(b), tenant, 100_000)
				defer n.close()
				ctx := context.Background()
				var next, events atomic.Int64
				var failed atomic.Value
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for c := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						from, to := strconv.Itoa(20000+2*c), strconv.Itoa(20001+2*c)
						for {
							i := next.Add(1) - 1
							if i >= int64(b.N) {
								return
							}
							if mix == "dnd" {
								out, err := n.tn.Do(ctx, engine.SetDND{DN: strconv.Itoa(1001 + int(i%20)), On: i%2 == 0})
								if err != nil {
									failed.Store(err)
									return
								}
								events.Add(int64(out.Events))
								continue
							}
							out, err := n.tn.Do(ctx, engine.MakeCall{From: from, To: to})
							if err != nil {
								failed.Store(err)
								return
							}
							events.Add(int64(out.Events))
							conn := out.Reply.(engine.CallReply).ConnID
							for _, c := range []engine.Command{engine.Answer{ConnID: conn, DN: to}, engine.Release{ConnID: conn, DN: from}} {
								out, err = n.tn.Do(ctx, c)
								if err != nil {
									failed.Store(err)
									return
								}
								events.Add(int64(out.Events))
							}
						}
					}()
				}
				wg.Wait()
				fctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
				defer cancel()
				if err := n.rl.Flush(fctx); err != nil {
					b.Fatal(err)
				}
				el := time.Since(start)
				b.StopTimer()
				if err, _ := failed.Load().(error); err != nil {
					b.Fatal(err)
				}
				js := n.jr.Stats()
				b.ReportMetric(float64(events.Load())/el.Seconds(), "events/s")
				b.ReportMetric(float64(js.Appends)/float64(max(js.Fsyncs, 1)), "steps/fsync")
			})
		}
	}
}
