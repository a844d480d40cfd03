package broker

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/internal/testenv"
)

// produceN produces n records of size bytes to partition 0 of topic, one
// batch each (so retention can delete them one by one).
func produceN(t *testing.T, addr, topic string, n, size int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v := bytes.Repeat([]byte("x"), size)
	for range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// segmentBytesOnDisk sums the sizes of topic's segment files under dir.
func segmentBytesOnDisk(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".dat") {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Size retention: a topic written far past its byte bound keeps at most the
// bound (and its last record); the disk keeps at most a segment more, and a
// restart reads only what is retained.
func TestRetentionBySize(t *testing.T) {
	dir := t.TempDir()
	const bound = 256 << 10 // per topic; 2 partitions: 128 KiB each
	cfg := Config{Dir: dir, Listen: "127.0.0.1:0", Topics: []string{"t"}, Partitions: 2,
		RetentionBytes: bound, RetentionCheck: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	info := b.Cluster().TopicInfo("t")
	if v := info.Configs["retention.bytes"]; v == nil || *v != strconv.Itoa(bound/2) {
		t.Fatalf("retention.bytes = %v, want %d (the topic's bound over its 2 partitions)", v, bound/2)
	}
	const n, size = 2000, 500 // about 1.1 MB into partition 0
	produceN(t, b.Addr(), "t", n, size)
	per := int64(bound / 2)
	waitFor(t, "size retention", func() bool {
		p := b.Cluster().PartitionInfo("t", 0)
		return p.NumBytes <= per && p.LogStartOffset > 0
	})
	p := b.Cluster().PartitionInfo("t", 0)
	if p.HighWatermark != n {
		t.Fatalf("high watermark %d, want %d", p.HighWatermark, n)
	}
	// Within the bound, but not much below it: the oldest records go, not
	// more than needed (one record's batch is about 570 bytes).
	if p.NumBytes < per-2*600 {
		t.Errorf("retains %d bytes, want close to the bound %d", p.NumBytes, per)
	}
	st, err := b.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Topic != "t" || st[0].Records != p.HighWatermark-p.LogStartOffset || st[0].Bytes != p.NumBytes || st[0].Partitions != 2 {
		t.Fatalf("Stats = %+v, partition 0 = %+v", st, p)
	}
	segment := per / 4
	if disk := segmentBytesOnDisk(t, dir); disk > per+segment {
		t.Errorf("%d bytes of segments on disk, want at most the bound %d plus a segment %d", disk, per, segment)
	}
	b.Close()

	b, err = Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	l := b.Loaded()
	if l.Records != st[0].Records || l.Bytes != st[0].Bytes {
		t.Fatalf("restart loaded %d records, %d bytes; %d and %d were retained", l.Records, l.Bytes, st[0].Records, st[0].Bytes)
	}
	if p := b.Cluster().PartitionInfo("t", 0); p.HighWatermark != n {
		t.Fatalf("after restart: high watermark %d, want %d", p.HighWatermark, n)
	}
}

// Keep holds retention back: records at or after the offset it returns
// stay whatever their age or size, and go once it moves on.
func TestRetentionKeepsWhatKeepSays(t *testing.T) {
	var keep atomic.Int64
	keep.Store(5)
	var calls atomic.Int64
	b, err := Start(context.Background(), Config{Dir: t.TempDir(), Listen: "127.0.0.1:0", Topics: []string{"t"}, Partitions: 1,
		Retention: time.Millisecond, RetentionBytes: 1, RetentionCheck: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		Keep: func(topic string, p int32) int64 {
			if topic != "t" || p != 0 {
				t.Errorf("Keep(%q, %d): not a partition of the broker", topic, p)
			}
			calls.Add(1)
			return keep.Load()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	produceN(t, b.Addr(), "t", 20, 100)
	waitFor(t, "retention up to Keep", func() bool { return b.Cluster().PartitionInfo("t", 0).LogStartOffset == 5 })
	// Several more passes: still 5.
	c := calls.Load()
	waitFor(t, "more passes", func() bool { return calls.Load() > c+5 })
	if got := b.Cluster().PartitionInfo("t", 0).LogStartOffset; got != 5 {
		t.Fatalf("log start %d, want 5: records Keep holds were deleted", got)
	}
	keep.Store(100) // beyond the end: the last record still stays
	waitFor(t, "retention after Keep moved", func() bool { return b.Cluster().PartitionInfo("t", 0).LogStartOffset == 19 })
}

// The configured retention applies to topics that already exist (a data
// directory from an earlier run, or a changed flag).
func TestExistingTopicTakesRetention(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Listen: "127.0.0.1:0", Topics: []string{"t"}, Partitions: 4, RetentionBytes: -1, Retention: -1,
		Logger: slog.New(slog.DiscardHandler)}
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v := b.Cluster().TopicInfo("t").Configs["retention.bytes"]; v == nil || *v != "-1" {
		t.Fatalf("retention.bytes = %v, want -1", v)
	}
	b.Close()
	cfg.RetentionBytes, cfg.Retention, cfg.Partitions = 8<<20, time.Hour, 2 // the topic keeps its 4 partitions
	b, err = Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want := map[string]string{"retention.bytes": strconv.Itoa(2 << 20), "retention.ms": "3600000", "segment.bytes": strconv.Itoa(512 << 10)}
	for k, w := range want {
		if v := b.Cluster().TopicInfo("t").Configs[k]; v == nil || *v != w {
			t.Errorf("%s = %v, want %s", k, v, w)
		}
	}
}

// syncBuffer is a log sink safe for the broker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The start-up line names what was loaded, per topic; retained data past
// the configured share of the machine's memory is warned about (and not
// when the warning is off).
func TestStartLogAndMemoryWarning(t *testing.T) {
	if MachineMemory() <= 0 {
		testenv.Unavailable(t, "the machine's memory is unknown (no /proc/meminfo)")
	}
	dir := t.TempDir()
	start := func(share float64) string {
		var logs syncBuffer
		b, err := Start(context.Background(), Config{Dir: dir, Listen: "127.0.0.1:0", Topics: []string{"t"}, Partitions: 1,
			MemoryWarnShare: share, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		produceN(t, b.Addr(), "t", 10, 100)
		b.Close()
		return logs.String()
	}
	const warning = "retains more than its share of this machine's memory"
	if l := start(1e-12); strings.Contains(l, warning) {
		t.Fatalf("warned with nothing retained:\n%s", l)
	}
	l := start(1e-12)
	if !strings.Contains(l, warning) {
		t.Fatalf("no memory warning with 10 records over a share of 1e-12:\n%s", l)
	}
	if !strings.Contains(l, "loaded_records=10 ") || !strings.Contains(l, "retained.t.records=10\n") || !strings.Contains(l, "records_per_second=") {
		t.Fatalf("start-up line without what was loaded:\n%s", l)
	}
	if l := start(-1); strings.Contains(l, warning) {
		t.Fatalf("warned with the warning off:\n%s", l)
	}
}

// Retention passes warn too, when the retained records grow past the share
// while the broker runs (once, not at every pass).
func TestMemoryWarningAfterPass(t *testing.T) {
	if MachineMemory() <= 0 {
		testenv.Unavailable(t, "the machine's memory is unknown (no /proc/meminfo)")
	}
	var logs syncBuffer
	b, err := Start(context.Background(), Config{Dir: t.TempDir(), Listen: "127.0.0.1:0", Topics: []string{"t"}, Partitions: 1,
		MemoryWarnShare: 1e-12, RetentionCheck: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const warning = "retains more than its share of this machine's memory"
	if strings.Contains(logs.String(), warning) {
		t.Fatalf("warned with nothing retained:\n%s", logs.String())
	}
	produceN(t, b.Addr(), "t", 10, 100)
	waitFor(t, "the memory warning of a retention pass", func() bool { return strings.Contains(logs.String(), warning) })
	time.Sleep(100 * time.Millisecond) // several more passes
	if n := strings.Count(logs.String(), warning); n != 1 {
		t.Fatalf("%d warnings, want 1 (at most one an hour)", n)
	}
}
