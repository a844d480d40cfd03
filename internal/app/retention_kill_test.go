package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKill9DuringRetention runs serve (the embedded broker in it) with a
// retention of a few bytes per topic checked every 20 ms, so that every
// pass wants to delete all but the last record and only the relays' Keep
// holds it back, drives requests at it and kills it with SIGKILL at random
// moments, restarting it each time.
//
// What retention could break is the relay's restart: it reads each
// partition's tail from its checkpoint's offset to skip the events Kafka
// already has, so records deleted past that offset would be published
// again, as duplicates. So a consumer that follows the topics throughout
// (across the kills, on the broker's fixed port) never sees a (key, Seq)
// twice, sees no gap where it
// read every offset, and sees the events of every request answered 2xx,
// but those of the records retention deleted before it could read them
// (it is reset past them, as any consumer that falls behind). The test
// also requires that retention deleted, was held back by the relay, and
// that at kills partitions still held the checkpoint's offset (on a copy
// of the broker's data as the kill left it), so that it tested something.
func TestKill9DuringRetention(t *testing.T) {
	const rounds = 8
	bin := buildServe(t)
	data := t.TempDir()
	logs := filepath.Join(t.TempDir(), "serve.log")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	kafka := ln.Addr().String()
	ln.Close()
	args := []string{"--kafka-listen", kafka, "--partitions", "3", "--kafka-retention-bytes", "3",
		"--kafka-retention-check", "20ms", "--snapshot-every", "500", "--log-level", "info"}
	topics := []string{event.AgentStateTopic, event.CallThreadTopic}

	// The consumer follows from the start, reconnecting through the kills.
	type seen struct {
		mu   sync.Mutex
		seq  map[string]int64
		refs map[int64]int
		bad  []string
		n    int
		// per partition: the last offset read and where the offsets
		// jumped; per key: the offset of its last record
		off     map[string]int64
		jumps   map[string][]int64
		at      map[string]int64
		skipped int64
	}
	got := &seen{seq: map[string]int64{}, refs: map[int64]int{}, off: map[string]int64{}, jumps: map[string][]int64{}, at: map[string]int64{}}
	consumed := make(chan struct{})
	ccancel := func() {}
	var (
		mu     sync.Mutex
		want   = map[int64]int{}
		nextID atomic.Int64
	)
	kept, all := 0, 0
	for round := 0; round <= rounds; round++ {
		last := round == rounds
		s := startServeArgs(t, bin, data, logs, args...)
		if round == 0 {
			cons, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics(topics...),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Millisecond),
				kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
				kgo.MetadataMinAge(10*time.Millisecond), kgo.MetadataMaxAge(100*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			var cctx context.Context
			cctx, ccancel = context.WithCancel(context.Background())
			go func() {
				defer close(consumed)
				for cctx.Err() == nil {
					fs := cons.PollFetches(cctx)
					fs.EachRecord(func(r *kgo.Record) {
						var e event.Event
						got.mu.Lock()
						defer got.mu.Unlock()
						got.n++
						if err := event.Unmarshal(r.Value, &e); err != nil {
							got.bad = append(got.bad, fmt.Sprintf("%s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err))
							return
						}
						// A jump of offsets: the consumer was reset past
						// records retention deleted before it read them
						// (the relay had them checkpointed): a Seq gap of
						// a key whose last record is before the jump is
						// not a loss then; a duplicate always is one.
						// The first record read of a partition counts
						// from offset 0: under load the consumer may reach
						// a partition after retention deleted its first
						// records.
						tp := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
						lo, ok := got.off[tp]
						if !ok {
							lo = -1
						}
						if r.Offset != lo+1 {
							got.jumps[tp] = append(got.jumps[tp], r.Offset)
							got.skipped += r.Offset - lo - 1
						}
						got.off[tp] = r.Offset
						k := r.Topic + "/" + string(r.Key)
						switch last := got.seq[k]; {
						case e.Seq <= last:
							got.bad = append(got.bad, fmt.Sprintf("%s@%d key %s: Seq %d after %d: duplicate", tp, r.Offset, r.Key, e.Seq, last))
						case e.Seq != last+1 && !jumpedSince(got.jumps[tp], got.at[k]):
							got.bad = append(got.bad, fmt.Sprintf("%s@%d key %s: Seq %d after %d: gap", tp, r.Offset, r.Key, e.Seq, last))
						}
						got.at[k] = r.Offset
						got.seq[k] = max(got.seq[k], e.Seq)
						if e.ReferenceID != 0 {
							got.refs[e.ReferenceID]++
						}
					})
				}
			}()
			// The topics exist now; let the consumer find them before the load.
			time.Sleep(time.Second)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				killLoad(s.base, w, stop, &nextID, func(ref int64, events int) {
					mu.Lock()
					want[ref] = events
					mu.Unlock()
				})
			}()
		}
		if last {
			time.Sleep(500 * time.Millisecond)
			close(stop)
			wg.Wait()
			// Let the consumer read to the end before the broker stops.
			n, idle := -1, 0
			for idle < 20 {
				got.mu.Lock()
				if got.n == n {
					idle++
				} else {
					n, idle = got.n, 0
				}
				got.mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
			s.stop(t, logs)
			break
		}
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		s.cmd.Process.Signal(syscall.SIGKILL) // under load, retention passes every 20 ms
		s.cmd.Wait()
		close(stop)
		wg.Wait()
		k, a := checkKeptForRelay(t, data, topics)
		kept, all = kept+k, all+a
	}

	ccancel()
	<-consumed
	got.mu.Lock()
	defer got.mu.Unlock()
	if len(got.bad) > 0 {
		t.Errorf("%d problems in what the consumer read, first:\n%s", len(got.bad), strings.Join(got.bad[:min(10, len(got.bad))], "\n"))
	}
	// Every 2xx request's events reached the consumer once, but those of
	// the records it was reset past.
	dup, missing := 0, 0
	for ref, n := range want {
		switch g := got.refs[ref]; {
		case g > n:
			dup++
		case g < n:
			missing += n - g
		}
	}
	if dup > 0 || int64(missing) > got.skipped {
		t.Fatalf("of %d requests answered 2xx, %d have events more than once and %d events are missing; the consumer was reset past %d records",
			len(want), dup, missing, got.skipped)
	}
	b, _ := os.ReadFile(logs)
	passes := strings.Count(string(b), "retention deleted records")
	heldLines := strings.Count(string(b), "retention held back")
	if passes == 0 || heldLines == 0 || kept == 0 {
		t.Fatalf("retention deleted records in %d passes and was held back by the relay in %d, %d partitions held a checkpoint offset at a kill: the test did not test it", passes, heldLines, kept)
	}
	t.Logf("%d kills; %d requests answered 2xx; the consumer read %d records over %d keys, none twice, (it was reset past %d records retention deleted first; %d events of 2xx requests among them); retention deleted in %d passes, held back by the relay in %d; after the kills %d of %d partitions still held the relay's checkpoint offset",
		rounds, len(want), got.n, len(got.seq), got.skipped, missing, passes, heldLines, kept, all)
}

// jumpedSince reports whether one of the offsets jumps (ascending) is
// after offset.
func jumpedSince(jumps []int64, offset int64) bool {
	return len(jumps) > 0 && jumps[len(jumps)-1] > offset
}

// checkKeptForRelay opens a copy of serve's broker data as a kill left it
// and counts the partitions that still hold the offset of the relay's
// checkpoint, from which the restarted relay reads (kept), of those in the
// checkpoint (all). It is a count, not a check: while the relay had
// nothing beyond its checkpoint, retention rightly deleted past it (the
// steps that follow publish beyond what it deleted), and a kill soon after
// leaves the log start past the checkpoint; the consumer's view is the
// check.
func checkKeptForRelay(t *testing.T, data string, topics []string) (kept, all int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "journal", "demo.relay.json"))
	if os.IsNotExist(err) {
		return 0, 0 // killed before the first checkpoint
	}
	if err != nil {
		t.Fatal(err)
	}
	var ck struct {
		Offsets map[string]map[int32]int64 `json:"offsets"`
	}
	if err := json.Unmarshal(b, &ck); err != nil {
		t.Fatal(err)
	}
	cp := t.TempDir()
	src := filepath.Join(data, "kafka")
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(cp, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(cp, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	br, err := broker.Start(context.Background(), broker.Config{Dir: cp, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	for _, topic := range topics {
		for p, off := range ck.Offsets[topic] {
			pi := br.Cluster().PartitionInfo(topic, p)
			if pi == nil {
				t.Fatalf("%s/%d missing after the kill", topic, p)
			}
			all++
			if pi.LogStartOffset <= off {
				kept++
			}
		}
	}
	return kept, all
}
