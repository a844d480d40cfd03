package journal

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var recoverBytes = flag.Int64("journal.recover-bytes", 1<<30, "journal size written by BenchmarkRecover")

const benchRecord = 200 // bytes per record, a typical engine step

// benchZeroAhead is Options.ZeroAhead in the benchmarks (-1 for segments
// that grow with each batch, as before zeros were written ahead).
var benchZeroAhead = flag.Int64("journal.zero-ahead", 0, "Options.ZeroAhead of the append benchmarks (-1: off)")

var benchMinSync = flag.Duration("journal.min-sync-interval", 0, "Options.MinSyncInterval of the append benchmarks")

func benchOpen(b *testing.B) *Journal {
	b.Helper()
	j, err := Open(b.TempDir(), Options{MaxSize: 64 << 30, ZeroAhead: *benchZeroAhead, MinSyncInterval: *benchMinSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { j.Close() })
	waitZeroIdle(b, j) // the zeros ahead of a new journal are not the appends' cost
	return j
}

// reportAppends reports records/s, fsyncs, records per fsync, and the
// process's CPU time (user and system) per fsync and per record.
func reportAppends(b *testing.B, j *Journal, start Stats, cpu0 time.Duration, records int, d time.Duration) {
	cpu := cpuTime() - cpu0
	st := j.Stats()
	fsyncs := st.Fsyncs - start.Fsyncs
	b.ReportMetric(float64(records)/d.Seconds(), "records/s")
	if fsyncs > 0 {
		b.ReportMetric(float64(records)/float64(fsyncs), "records/fsync")
		b.ReportMetric(float64(fsyncs)/d.Seconds(), "fsyncs/s")
		if cpu > 0 {
			b.ReportMetric(float64(cpu.Microseconds())/float64(fsyncs), "cpu-µs/fsync")
		}
	}
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(records), "cpu-µs/record")
	}
}

// BenchmarkAppendSync: one appender waiting for each record to be durable:
// the latency bound (one fsync per record).
func BenchmarkAppendSync(b *testing.B) {
	j := benchOpen(b)
	p := make([]byte, benchRecord)
	ctx := context.Background()
	b.SetBytes(benchRecord)
	start, cpu0 := j.Stats(), cpuTime()
	t := time.Now()
	for b.Loop() {
		if _, err := j.AppendSync(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	reportAppends(b, j, start, cpu0, b.N, time.Since(t))
}

// BenchmarkAppendAsync: appenders that hand each record over with a
// completion callback and never wait (the runtime's pattern: a tenant
// goroutine appends a step, the callback releases the reply). Every record
// is durable (callback called) before the clock stops.
func BenchmarkAppendAsync(b *testing.B) {
	for _, appenders := range []int{1, 4} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			j := benchOpen(b)
			b.SetBytes(benchRecord)
			var done atomic.Int64
			all := make(chan struct{})
			total := int64(b.N)
			cb := func(_ uint64, err error) {
				if err != nil {
					panic(err)
				}
				if done.Add(1) == total {
					close(all)
				}
			}
			start, cpu0 := j.Stats(), cpuTime()
			b.ResetTimer()
			t := time.Now()
			var wg sync.WaitGroup
			for a := range appenders {
				n := b.N / appenders
				if a == 0 {
					n += b.N % appenders
				}
				wg.Go(func() {
					p := make([]byte, benchRecord)
					for range n {
						if _, err := j.AppendAsync(p, cb); err != nil {
							panic(err)
						}
					}
				})
			}
			wg.Wait()
			<-all
			d := time.Since(t)
			b.StopTimer()
			reportAppends(b, j, start, cpu0, b.N, d)
		})
	}
}

// BenchmarkAppendConcurrent: many goroutines each blocking in AppendSync
// (one goroutine per request): they share fsyncs.
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, goroutines := range []int{16, 256} {
		b.Run(fmt.Sprintf("goroutines=%d", goroutines), func(b *testing.B) {
			j := benchOpen(b)
			b.SetBytes(benchRecord)
			var next atomic.Int64
			start, cpu0 := j.Stats(), cpuTime()
			b.ResetTimer()
			t := time.Now()
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					p := make([]byte, benchRecord)
					ctx := context.Background()
					for next.Add(1) <= int64(b.N) {
						if _, err := j.AppendSync(ctx, p); err != nil {
							panic(err)
						}
					}
				})
			}
			wg.Wait()
			d := time.Since(t)
			b.StopTimer()
			reportAppends(b, j, start, cpu0, b.N, d)
		})
	}
}

// BenchmarkReader: a reader tailing durable records (the publisher's side).
func BenchmarkReader(b *testing.B) {
	j := benchOpen(b)
	p := make([]byte, benchRecord)
	for range b.N {
		if _, err := j.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	if err := j.Sync(context.Background(), j.LastLSN()); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchRecord)
	b.ResetTimer()
	t := time.Now()
	r, err := j.NewReader(0)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for range b.N {
		if _, ok, err := r.TryNext(); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(t).Seconds(), "records/s")
}

// BenchmarkRecover writes a journal of -journal.recover-bytes (default 1 GiB)
// of 200-byte records, then measures Open (verifying every checksum) with
// the files in the page cache and after dropping them from it (where the OS
// allows), and a full replay through a Reader. Run it with
//
//	go test ./internal/journal -run '^$' -bench Recover -benchtime 1x
func BenchmarkRecover(b *testing.B) {
	dir := b.TempDir()
	o := Options{MaxSize: 4 * *recoverBytes}
	j, err := Open(dir, o)
	if err != nil {
		b.Fatal(err)
	}
	p := make([]byte, benchRecord)
	t := time.Now()
	for j.Size() < *recoverBytes {
		if _, err := j.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	write := time.Since(t)
	b.ResetTimer()

	var open, cold, replay time.Duration
	var rec Recovery
	coldOK := true
	for b.Loop() {
		if err := dropCache(dir); err != nil {
			coldOK = false
		}
		t := time.Now()
		j, err := Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		cold += time.Since(t)
		j.Close()

		t = time.Now()
		j, err = Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		open += time.Since(t)
		rec = j.Recovery()

		t = time.Now()
		r, err := j.NewReader(0)
		if err != nil {
			b.Fatal(err)
		}
		for n := uint64(0); n < rec.Records; n++ {
			if _, ok, err := r.TryNext(); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
		replay += time.Since(t)
		r.Close()
		j.Close()
	}
	n := float64(b.N)
	gb := float64(rec.Bytes) / (1 << 30)
	b.ReportMetric(gb, "GiB")
	b.ReportMetric(float64(rec.Records), "records")
	b.ReportMetric(write.Seconds(), "write-s")
	b.ReportMetric(open.Seconds()/n, "open-warm-s")
	if coldOK {
		b.ReportMetric(cold.Seconds()/n, "open-cold-s")
	}
	b.ReportMetric(replay.Seconds()/n, "replay-s")
	b.ReportMetric((open+replay).Seconds()/n/gb, "open+replay-s/GiB")
	b.Logf("journal %s: %d records, %.2f GiB in %d segments; written in %v",
		filepath.Base(dir), rec.Records, gb, rec.Segments, write)
}

var benchLatencyRate = flag.Int("journal.latency-rate", 5000, "records/s of BenchmarkLatency")

// BenchmarkLatency appends at a fixed rate (-journal.latency-rate, default
// 5,000 records/s, as in the API latency goal) with AppendAsync and reports
// the time from append to durability (callback) per record. Give it enough
// records to be steady:
//
//	go test ./internal/journal -run '^$' -bench Latency -benchtime 25000x
func BenchmarkLatency(b *testing.B) {
	rate := *benchLatencyRate
	j := benchOpen(b)
	p := make([]byte, benchRecord)
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	wg.Add(b.N)
	interval := time.Second / time.Duration(rate)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		t := time.Now()
		if _, err := j.AppendAsync(p, func(_ uint64, err error) {
			if err != nil {
				panic(err)
			}
			lat[i] = time.Since(t)
			wg.Done()
		}); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(0.999), "p99.9-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(j.Stats().MaxFsync.Microseconds()), "max-fsync-µs")
	if st := j.Stats(); st.Fsyncs > 0 {
		b.ReportMetric(float64(b.N)/float64(st.Fsyncs), "records/fsync")
	}
}
