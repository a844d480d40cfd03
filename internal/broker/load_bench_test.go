package broker

import (
	"bufio"
	"context"
	"crypto/rand"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkStartLoaded measures Start on a data directory holding
// $SWITCHBOARD_BENCH_BROKER_MB MiB (default 64) of 600-byte records
// (incompressible, so stored at about that size; serve's snappy-compressed
// events are stored at about 150 bytes each) in 12
// partitions, produced 8 records a batch (serve publishes a step's events
// together): clean, after Close wrote its snapshots; crash, without them
// (as after kill -9), when kfake replays every segment. It reports the
// load's records/s, the milliseconds per retained GiB (extrapolated from
// the size measured), and the process's RSS per retained MiB: at its peak
// during the load and after Start returned.
func BenchmarkStartLoaded(b *testing.B) {
	mb := 64
	if v := os.Getenv("SWITCHBOARD_BENCH_BROKER_MB"); v != "" {
		var err error
		if mb, err = strconv.Atoi(v); err != nil || mb <= 0 {
			b.Fatalf("SWITCHBOARD_BENCH_BROKER_MB=%q: not a positive number", v)
		}
	}
	dir := b.TempDir()
	// A size bound twice the data: nothing is deleted, and the segments
	// are as serve makes them under a bound (a quarter of a partition's
	// share); $SWITCHBOARD_BENCH_BROKER_SEGMENTS=kfake keeps kfake's 100 MiB
	// segments (no size bound).
	bound := int64(2*mb) << 20
	if os.Getenv("SWITCHBOARD_BENCH_BROKER_SEGMENTS") == "kfake" {
		bound = -1
	}
	cfg := Config{Dir: dir, Listen: "127.0.0.1:0", Topics: []string{"t"}, Partitions: 12, RetentionBytes: bound,
		Logger: slog.New(slog.DiscardHandler)}
	br, err := Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	fill(b, br.Addr(), int64(mb)<<20)
	br.Close()

	for _, mode := range []string{"clean", "crash"} {
		b.Run(mode, func(b *testing.B) {
			var loaded Load
			var peak, after, before int64
			for range b.N {
				if mode == "crash" {
					removeSnapshots(b, dir)
				}
				debug.FreeOSMemory()
				before = procSelf(b, "VmRSS:")
				if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
					b.Fatalf("resetting the peak RSS: %v", err)
				}
				br, err := Start(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				peak, after = procSelf(b, "VmHWM:"), procSelf(b, "VmRSS:")
				loaded = br.Loaded()
				br.Close()
			}
			retainedMiB := float64(loaded.Bytes) / (1 << 20)
			b.ReportMetric(float64(loaded.Records)/loaded.Took.Seconds(), "records/s")
			b.ReportMetric(float64(loaded.Took.Milliseconds())*float64(1<<30)/float64(loaded.Bytes), "ms/GiB")
			b.ReportMetric(float64(peak-before)/(1<<20)/retainedMiB, "peakRSS-MiB/MiB")
			b.ReportMetric(float64(after-before)/(1<<20)/retainedMiB, "RSS-MiB/MiB")
			b.ReportMetric(retainedMiB, "retained-MiB")
		})
	}
}

// fill produces about size bytes of 600-byte records to topic t, 8 records
// a batch, from 16 producers.
func fill(b *testing.B, addr string, size int64) {
	const recSize, perBatch, producers = 600, 8, 16
	n := size / (recSize + 10) // a record's own overhead in its batch
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for w := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			for i := int64(w) * perBatch; i < n; i += producers * perBatch {
				recs := make([]*kgo.Record, perBatch)
				for j := range recs {
					v := make([]byte, recSize) // incompressible: stored as produced
					rand.Read(v)
					recs[j] = &kgo.Record{Topic: "t", Partition: int32((i / perBatch) % 12), Value: v}
				}
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func removeSnapshots(b *testing.B, dir string) {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "snapshot.json" {
			err = os.Remove(path)
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

func procSelf(b *testing.B, field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status: RSS is measured on Linux only")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) >= 2 && fl[0] == field {
			kb, err := strconv.ParseInt(fl[1], 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
