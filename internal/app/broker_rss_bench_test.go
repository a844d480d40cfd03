package app

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/metrics"
)

// BenchmarkEmbeddedBrokerRSS fills serve's embedded broker with real events
// (the soak's call load) under each --kafka-retention-bytes of
// $SWITCHBOARD_BENCH_RSS_BOUNDS (default "16MiB,48MiB"; per topic) until
// the call-thread topic is at its bound, stops serve, starts it again on
// that data and reports what the start-up loaded, how fast, and serve's
// RSS 3 s after it and at its peak, over that of a serve started on an
// empty data directory: the README's memory rule of thumb. Run it with
// -benchtime 1x; it takes a few minutes.
func BenchmarkEmbeddedBrokerRSS(b *testing.B) {
	bounds := os.Getenv("SWITCHBOARD_BENCH_RSS_BOUNDS")
	if bounds == "" {
		bounds = "16MiB,48MiB"
	}
	bin := buildServe(b)
	logs := filepath.Join(b.TempDir(), "serve.log")
	retained := func(base string, topics ...string) float64 {
		e := scrapeURL(b, base)
		var n float64
		for _, topic := range topics {
			v, _ := e.Value(metrics.NameBrokerRetainedBytes, map[string]string{"topic": topic})
			n += v
		}
		return n
	}
	// restart starts serve on data, and reports its RSS 3 s later, its
	// peak, the bytes retained and the start-up's records/s and time.
	restart := func(data string, args ...string) (rssNow, peak, kept, perSec float64, took time.Duration) {
		s := startServeArgs(b, bin, data, logs, args...)
		time.Sleep(3 * time.Second)
		r, err := rss(s.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		h, err := procStatus(s.cmd.Process.Pid, "VmHWM:")
		if err != nil {
			b.Fatal(err)
		}
		kept = retained(s.base, "voice-agentstate", "voice-callthread")
		s.stop(b, logs)
		whole, _ := os.ReadFile(logs)
		m := loadedLine.FindAllStringSubmatch(string(whole), -1)
		if len(m) == 0 {
			b.Fatalf("no start-up line with what was loaded\n%s", tail(logs))
		}
		last := m[len(m)-1]
		perSec, _ = strconv.ParseFloat(last[4], 64)
		took, _ = time.ParseDuration(last[3])
		return float64(r) / (1 << 20), float64(h) / (1 << 20), kept, perSec, took
	}
	empty, _, _, _, _ := restart(b.TempDir())
	for _, bound := range strings.Split(bounds, ",") {
		b.Run(bound, func(b *testing.B) {
			data := b.TempDir()
			args := []string{"--kafka-retention-bytes", bound, "--kafka-retention-check", "2s"}
			s := startServeArgs(b, bin, data, logs, args...)
			cfg, err := ParseFlags(args, env(nil), io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			var events, failures atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Add(1)
				go func() { defer wg.Done(); callLoad(s.base, w, stop, &events, &failures) }()
			}
			began := time.Now()
			for retained(s.base, "voice-callthread") < 0.9*float64(cfg.Embedded.RetentionBytes) {
				if time.Since(began) > 5*time.Minute {
					close(stop)
					b.Fatalf("the call-thread topic not at its bound %s after 5 minutes (%d events)", bound, events.Load())
				}
				time.Sleep(2 * time.Second)
			}
			time.Sleep(10 * time.Second) // retention passes under load
			close(stop)
			wg.Wait()
			s.stop(b, logs)
			for range b.N {
				now, peak, kept, perSec, took := restart(data, args...)
				mib := kept / (1 << 20)
				b.ReportMetric(mib, "retained-MiB")
				b.ReportMetric(now, "RSS-MiB")
				b.ReportMetric(peak, "peakRSS-MiB")
				b.ReportMetric((now-empty)/mib, "RSS-over-empty-MiB/MiB")
				b.ReportMetric(perSec, "records/s")
				b.ReportMetric(took.Seconds()*1024/mib, "s/GiB")
			}
			b.Logf("%d events; RSS of serve with nothing retained %.1f MiB", events.Load(), empty)
		})
	}
}
