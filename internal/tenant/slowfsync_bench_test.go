package tenant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
)

// BenchmarkSlowFsync: 64 clients toggle agents through one tenant whose
// journal fsync takes 200 ms more than the disk's (injected in the
// journal's file layer), and, for comparison in the same run, nothing
// more. It reports the request latency p50 and p99, p99 in fsyncs (the
// longest fsync seen) and the steps per fsync: group commit and
// pipelining keep a request's latency near one or two fsyncs, however many
// wait.
func BenchmarkSlowFsync(b *testing.B) {
	for _, d := range []time.Duration{0, 200 * time.Millisecond} {
		b.Run(fmt.Sprintf("fsync+%v", d), func(b *testing.B) { benchSlowFsync(b, d) })
	}
}

func benchSlowFsync(b *testing.B, delay time.Duration) {
	fs := &faultFS{}
	fs.syncDelay.Store(int64(delay))
	j := openJournal(b, b.TempDir(), journal.Options{WrapFile: fs.wrap})
	defer j.Close()
	tn, err := Start(Config{Engine: demoEngine(b), Journal: j, SnapshotEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer tn.Close(context.Background())
	ctx := context.Background()
	for i := range 20 {
		if _, err := tn.Do(ctx, engine.Login{DN: fmt.Sprint(1001 + i), AgentID: fmt.Sprint("agent", 1+i)}); err != nil {
			b.Fatal(err)
		}
	}
	const clients = 64
	var mu sync.Mutex
	var lat []time.Duration
	s0 := fs.syncs.Load()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := max(b.N/clients, 1)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dn := fmt.Sprint(1001 + c%20)
			mine := make([]time.Duration, 0, per)
			for i := range per {
				var cmd engine.Command = engine.Ready{DN: dn}
				if i%2 == 1 {
					cmd = engine.NotReady{DN: dn}
				}
				start := time.Now()
				_, err := tn.Do(ctx, cmd)
				var ee *engine.Error
				if err != nil && !errors.As(err, &ee) {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(0.99)/(float64(j.Stats().MaxFsync)/float64(time.Millisecond)), "p99/max-fsync")
	b.ReportMetric(float64(len(lat))/float64(max(fs.syncs.Load()-s0, 1)), "steps/fsync")
}
