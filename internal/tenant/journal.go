package tenant

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
	"github.com/switchboard-cc/switchboard/internal/steprec"
)

// Snapshotter is a Machine whose state can be saved and restored: Restore
// on a freshly built engine of the same configuration gives back the state
// Snapshot saw (counters, Seq per key, id generators included), so that
// replaying the later step records reproduces their events byte for byte.
type Snapshotter interface {
	Snapshot() ([]byte, error)
	Restore([]byte) error
}

// Recovery says what Start recovered from the journal.
type Recovery struct {
	SnapshotLSN uint64 // LSN of the snapshot restored, 0 if none
	FirstLSN    uint64 // first step record replayed (0 if none)
	LastLSN     uint64 // last step record replayed
	Steps       int    // step records replayed
	Events      int    // events those steps reproduced (and checked)
	Timers      int    // engine timers re-armed
	// Commands and CommandEvents: the Config.RecoveryCommands stepped
	// after the replay, and the events they caused (journaled; the relay
	// publishes them).
	Commands, CommandEvents int
	Duration                time.Duration // snapshot restore and replay
}

// Recovery returns what Start recovered (zero without a Journal).
func (t *Tenant) Recovery() Recovery { return t.recovery }

// SnapshotLSN returns the LSN of the newest snapshot written or restored:
// every step record up to it may be truncated once Kafka has it.
func (t *Tenant) SnapshotLSN() uint64 { return t.snapLSN.Load() }

// room refuses a step that might not fit in the journal. The tenant
// goroutine is the journal's only appender, so once there is
// RecordReserve of room, the step's record fits.
func (t *Tenant) room() error {
	if t.broken != nil {
		return t.broken
	}
	if t.jr.Size()+int64(t.cfg.RecordReserve)+32 > t.maxSize {
		return ErrJournalFull
	}
	return nil
}

// record appends the step record. A failure here means the engine applied a
// step the journal does not have: the tenant stops taking commands (every
// later one gets ErrNotRecorded) and a restart recovers the journaled state.
func (t *Tenant) record(b *batch, at int64, cmd engine.Command, evs []event.Event) error {
	var err error
	if t.rec, err = t.recEnc.Append(t.rec[:0], at, cmd, evs); err == nil {
		var lsn uint64
		if lsn, err = t.jr.Append(t.rec); err == nil {
			b.lsn, t.lastLSN = lsn, lsn
			t.sinceSnap++
			if cap(t.rec) > 1<<20 {
				t.rec = nil
			}
			return nil
		}
	}
	t.broken = fmt.Errorf("%w: step applied but not journaled: %v", ErrNotRecorded, err)
	t.log.Error("tenant: a step could not be journaled; the tenant refuses every command until restarted",
		"tenant", t.id, "command", cmd.Kind(), "err", err)
	return t.broken
}

// syncer acknowledges the batches, in order, as their records become
// durable.
func (t *Tenant) syncer() {
	defer close(t.synced)
	for it := range t.syncq {
		err := t.jr.Sync(context.Background(), it.lsn)
		t.ack.done(it.n, err)
	}
}

func (t *Tenant) maybeSnapshot() {
	if t.cfg.SnapshotEvery > 0 && t.sinceSnap >= t.cfg.SnapshotEvery && t.broken == nil {
		t.snapshot(false)
	}
}

// snapshot takes a snapshot of the engine and the runtime's timers as of
// the last step appended and writes it once that step is durable (in the
// background unless wait).
func (t *Tenant) snapshot(wait bool) {
	s, ok := t.eng.(Snapshotter)
	if !ok || t.lastLSN == 0 {
		return
	}
	if !t.snapBusy.CompareAndSwap(false, true) {
		return // the previous one is still being written
	}
	data, err := s.Snapshot()
	if err != nil {
		t.snapBusy.Store(false)
		t.log.Error("tenant: snapshot failed", "tenant", t.id, "err", err)
		return
	}
	env := t.appendSnapshotEnvelope(nil, data)
	lsn := t.lastLSN
	t.sinceSnap = 0
	write := func() {
		defer t.snapBusy.Store(false)
		start := time.Now()
		if err := t.jr.Sync(context.Background(), lsn); err != nil {
			t.log.Error("tenant: snapshot not written", "tenant", t.id, "lsn", lsn, "err", err)
			return
		}
		if err := t.jr.WriteSnapshot(lsn, env); err != nil {
			t.log.Error("tenant: snapshot not written", "tenant", t.id, "lsn", lsn, "err", err)
			return
		}
		t.snapLSN.Store(lsn)
		t.log.Info("tenant: snapshot written", "tenant", t.id, "lsn", lsn, "bytes", len(env),
			"took", time.Since(start).Round(time.Millisecond))
	}
	if wait {
		write()
		return
	}
	t.snapWG.Add(1)
	go func() { defer t.snapWG.Done(); write() }()
}

// Snapshot envelope: 'R' | 1 | last int64 | uvarint timers | timers * (uvarint len | id | at int64) | engine snapshot.
func (t *Tenant) appendSnapshotEnvelope(dst, eng []byte) []byte {
	dst = append(dst, 'R', 1)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(t.last))
	dst = binary.AppendUvarint(dst, uint64(len(t.timers)))
	for id, e := range t.timers {
		dst = binary.AppendUvarint(dst, uint64(len(id)))
		dst = append(dst, id...)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.at))
	}
	return append(dst, eng...)
}

func decodeSnapshotEnvelope(p []byte) (last int64, timers map[string]int64, eng []byte, err error) {
	bad := fmt.Errorf("%w: bad snapshot envelope", ErrReplay)
	if len(p) < 10 || p[0] != 'R' || p[1] != 1 {
		return 0, nil, nil, bad
	}
	last = int64(binary.LittleEndian.Uint64(p[2:]))
	p = p[10:]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) {
		return 0, nil, nil, bad
	}
	p = p[k:]
	timers = make(map[string]int64, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < 8 || l > uint64(len(p)-k)-8 {
			return 0, nil, nil, bad
		}
		id := string(p[k : k+int(l)])
		timers[id] = int64(binary.LittleEndian.Uint64(p[k+int(l):]))
		p = p[k+int(l)+8:]
	}
	return last, timers, p, nil
}

// recover restores the latest snapshot and replays the step records after
// it, checking that every step reproduces its recorded events, then arms the
// engine's pending timers and steps Config.RecoveryCommand.
func (t *Tenant) recover() error {
	start := time.Now()
	pending := map[string]int64{}
	from := t.jr.FirstLSN()
	snap, err := t.jr.LatestSnapshot()
	switch {
	case err == nil:
		s, ok := t.eng.(Snapshotter)
		if !ok {
			return fmt.Errorf("%w: the journal has a snapshot but the engine cannot restore one", ErrReplay)
		}
		last, timers, engData, err := decodeSnapshotEnvelope(snap.Data)
		if err != nil {
			return err
		}
		if err := s.Restore(engData); err != nil {
			return fmt.Errorf("%w: restore snapshot at lsn %d: %w", ErrReplay, snap.LSN, err)
		}
		t.last, pending = last, timers
		from = snap.LSN + 1
		t.snapLSN.Store(snap.LSN)
		t.recovery.SnapshotLSN = snap.LSN
	case errors.Is(err, journal.ErrNoSnapshot):
		if from > 1 {
			return fmt.Errorf("%w: the journal starts at lsn %d and there is no snapshot", ErrReplay, from)
		}
	default:
		return err
	}
	last := t.jr.LastLSN()
	if from < t.jr.FirstLSN() {
		return fmt.Errorf("%w: snapshot at lsn %d but the journal starts at %d", ErrReplay, from-1, t.jr.FirstLSN())
	}
	if from <= last {
		r, err := t.jr.NewReader(from)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrReplay, err)
		}
		defer r.Close()
		var buf []byte
		for r.NextLSN() <= last {
			rec, ok, err := r.TryNext()
			if err != nil {
				return fmt.Errorf("%w: read lsn %d: %w", ErrReplay, r.NextLSN(), err)
			}
			if !ok {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := t.jr.Sync(ctx, last)
				cancel()
				if err != nil {
					return fmt.Errorf("%w: lsn %d not durable: %w", ErrReplay, r.NextLSN(), err)
				}
				continue
			}
			sr, err := steprec.Decode(rec.Payload)
			if err != nil {
				return fmt.Errorf("%w: lsn %d: %w", ErrReplay, rec.LSN, err)
			}
			cmd, err := engine.DecodeCommand(sr.Command)
			if err != nil {
				return fmt.Errorf("%w: lsn %d: %w", ErrReplay, rec.LSN, err)
			}
			res, err := t.eng.Step(sr.At, cmd)
			if err != nil {
				return fmt.Errorf("%w: lsn %d: %s refused on replay: %w", ErrReplay, rec.LSN, cmd.Kind(), err)
			}
			if len(res.Events) != len(sr.Events) {
				return fmt.Errorf("%w: lsn %d: %s gave %d events, the journal has %d", ErrReplay, rec.LSN, cmd.Kind(), len(res.Events), len(sr.Events))
			}
			for i := range res.Events {
				buf = res.Events[i].AppendJSON(buf[:0])
				if !bytes.Equal(buf, sr.Events[i]) {
					return fmt.Errorf("%w: lsn %d: %s event %d differs:\n journal: %s\n replay:  %s", ErrReplay, rec.LSN, cmd.Kind(), i, sr.Events[i], buf)
				}
			}
			if tf, ok := cmd.(engine.TimerFired); ok {
				delete(pending, tf.ID)
			}
			for _, eff := range res.Effects {
				switch e := eff.(type) {
				case engine.StartTimer:
					pending[e.ID] = e.At
				case *engine.StartTimer:
					pending[e.ID] = e.At
				case engine.CancelTimer:
					delete(pending, e.ID)
				case *engine.CancelTimer:
					delete(pending, e.ID)
				}
			}
			t.last = max(t.last, sr.At)
			if t.recovery.FirstLSN == 0 {
				t.recovery.FirstLSN = rec.LSN
			}
			t.recovery.LastLSN = rec.LSN
			t.recovery.Steps++
			t.recovery.Events += len(res.Events)
		}
	}
	t.lastLSN = last
	t.sinceSnap = t.recovery.Steps
	for id, at := range pending {
		t.startTimer(id, at)
	}
	t.recovery.Timers = len(pending)
	if err := t.recoveryCommands(); err != nil {
		return err
	}
	t.recovery.Duration = time.Since(start)
	if t.recovery.SnapshotLSN > 0 || t.recovery.Steps > 0 {
		t.log.Info("tenant: recovered from the journal", "tenant", t.id,
			slog.Uint64("snapshot_lsn", t.recovery.SnapshotLSN), slog.Int("steps", t.recovery.Steps),
			slog.Int("events", t.recovery.Events), slog.Int("timers", t.recovery.Timers),
			slog.Duration("took", t.recovery.Duration))
	}
	return nil
}

// recoveryCommands steps Config.RecoveryCommands (see there) and waits
// until their records are durable.
func (t *Tenant) recoveryCommands() error {
	if t.cfg.RecoveryCommands == nil {
		return nil
	}
	var b batch
	for round := 0; round < 16; round++ {
		cmds := t.cfg.RecoveryCommands(t.eng)
		if len(cmds) == 0 {
			break
		}
		progress := false
		for _, c := range cmds {
			if err := t.room(); err != nil {
				return err
			}
			at := t.now()
			res, err := t.eng.Step(at, c)
			if err != nil {
				t.log.Debug("tenant: recovery command refused", "tenant", t.id, "command", c.Kind(), "err", err)
				continue
			}
			if err := t.record(&b, at, c, res.Events); err != nil {
				return err
			}
			t.effects(res.Effects)
			progress = true
			t.recovery.Commands++
			t.recovery.CommandEvents += len(res.Events)
		}
		if !progress {
			t.log.Warn("tenant: recovery commands all refused", "tenant", t.id, "commands", len(cmds))
			break
		}
	}
	if b.lsn == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := t.jr.Sync(ctx, b.lsn); err != nil {
		return fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	t.log.Info("tenant: released what could not continue after the restart", "tenant", t.id,
		"commands", t.recovery.Commands, "events", t.recovery.CommandEvents)
	return nil
}
