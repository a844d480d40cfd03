package tenant

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
	"github.com/switchboard-cc/switchboard/internal/steprec"
)

// BenchmarkRecovery: the time a restart after a crash takes to open a
// journal of SWITCHBOARD_RECOVERY_BYTES (default 64 MiB; the figure of the
// issue is 1 GiB: SWITCHBOARD_RECOVERY_BYTES=1073741824) of step records
// (verifying every frame) and replay every step through the engine,
// checking each reproduced event byte for byte. The records come from a
// real engine: calls made and released between the demo extensions, and
// DND switched on and off. No snapshot: the worst case.
func BenchmarkRecovery(b *testing.B) {
	size := int64(64 << 20)
	if v := os.Getenv("SWITCHBOARD_RECOVERY_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	dir := b.TempDir()
	j := openJournal(b, dir, journal.Options{MaxSize: max(4<<30, 2*size)})
	eng := demoEngine(b)
	at := time.Now().UnixMicro()
	var rec []byte
	steps, events := 0, 0
	step := func(c engine.Command) any {
		at++
		res, err := eng.Step(at, c)
		if err != nil {
			b.Fatal(err)
		}
		cb, err := engine.EncodeCommand(c)
		if err != nil {
			b.Fatal(err)
		}
		rec = steprec.Append(rec[:0], at, cb, res.Events)
		if _, err := j.Append(rec); err != nil {
			b.Fatal(err)
		}
		steps++
		events += len(res.Events)
		return res.Reply
	}
	for i := 0; j.Size() < size; i++ {
		from, to := strconv.Itoa(1001+i%10), strconv.Itoa(1011+i%10)
		r := step(engine.MakeCall{From: from, To: to}).(engine.CallReply)
		step(engine.Answer{ConnID: r.ConnID, DN: to})
		step(engine.Release{ConnID: r.ConnID, DN: from})
		step(engine.SetDND{DN: from, On: i%2 == 0})
	}
	if err := j.Sync(context.Background(), j.LastLSN()); err != nil {
		b.Fatal(err)
	}
	bytes := j.Size()
	j.Close()
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		j := openJournal(b, dir, journal.Options{MaxSize: max(4<<30, 2*size)})
		tn, err := Start(Config{Engine: demoEngine(b), Journal: j, SnapshotEvery: -1})
		if err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		total += el
		if r := tn.Recovery(); r.Steps != steps || r.Events != events {
			b.Fatalf("replayed %d steps, %d events; wrote %d, %d", r.Steps, r.Events, steps, events)
		}
		b.StopTimer()
		tn.Close(context.Background())
		j.Close()
		// Close wrote a snapshot; remove it so every round is the crash case
		// (no snapshot, the whole journal replayed) and not a clean restart.
		snaps, err := filepath.Glob(filepath.Join(dir, "snap-*"))
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range snaps {
			if err := os.Remove(f); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/recovery")
	b.ReportMetric(float64(bytes)/(1<<20), "MiB")
	b.ReportMetric(float64(steps), "steps")
}
