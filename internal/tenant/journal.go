package tenant

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
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
// later one gets ErrNotRecorded) until it heals (see heal) or restarts.
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
	t.failed(err)
	return t.broken
}

// syncer acknowledges the batches, in order, as their records become
// durable; a failure also wakes the tenant goroutine, which stops taking
// commands and starts healing.
func (t *Tenant) syncer() {
	defer close(t.synced)
	for it := range t.syncq {
		err := t.jr.Sync(context.Background(), it.lsn)
		var durable uint64
		if err != nil {
			durable = t.jr.DurableLSN()
			select {
			case t.kick <- struct{}{}:
			default:
			}
		}
		t.ack.done(it.n, err, durable)
	}
}

// Heal attempts are this far apart at first, doubling to healMaxWait
// while the journal still fails. A journal failing again within flapWindow
// of a heal (a disk with just enough room for the probe) starts where the
// last wait ended, doubling up to flapMaxWait, so a flapping disk heals
// (and logs) a few times a minute at most.
const (
	healMinWait = 50 * time.Millisecond
	healMaxWait = time.Second
	flapWindow  = 30 * time.Second
	flapMaxWait = 10 * time.Second
)

// Health is the tenant's journal health, for readiness and metrics.
type Health struct {
	// Err is why commands get 503 now (the journal fails to write); nil
	// while the tenant takes commands.
	Err   error
	Since time.Time // when Err began
	// Failures and Heals count journal write failures and heals since
	// Start; Refused counts the commands answered ErrNotRecorded (503)
	// because the journal had no room or failed to write.
	Failures, Heals, Refused uint64
}

// Health returns the tenant's journal health.
func (t *Tenant) Health() Health {
	var h Health
	if p := t.health.Load(); p != nil {
		h = *p
	}
	h.Failures, h.Heals, h.Refused = t.failures.Load(), t.heals.Load(), t.refused.Load()
	return h
}

// failed marks the tenant broken after a journal write failure (err, or
// the journal's own error when nil): commands and queries get 503 until a
// heal brings the engine back to what the journal holds.
func (t *Tenant) failed(err error) {
	if t.broken != nil || t.jr == nil {
		return
	}
	if err == nil {
		if err = t.jr.Stats().Err; err == nil {
			return // a batch failed for another reason (closing)
		}
	}
	t.broken = fmt.Errorf("%w: the journal fails to write: %w", ErrNotRecorded, err)
	t.brokenAt = time.Now()
	t.failures.Add(1)
	t.health.Store(&Health{Err: t.broken, Since: t.brokenAt})
	how := "it heals by itself once writes succeed"
	if t.cfg.NewEngine == nil {
		how = "it takes none until restarted (no Config.NewEngine to heal with)"
	}
	t.sample.Log(context.Background(), slog.LevelError, "journal", "tenant: the journal fails to write; every command gets 503 and "+how,
		"tenant", t.id, "durable_lsn", t.jr.DurableLSN(), "err", err)
	if t.cfg.NewEngine != nil {
		if !t.healedAt.IsZero() && time.Since(t.healedAt) < flapWindow {
			t.healWait = min(2*max(t.healWait, healMinWait), flapMaxWait)
		} else {
			t.healWait = healMinWait
		}
		t.healC = time.After(t.healWait)
	}
}

// heal tries to bring a broken tenant back: once every batch handed to the
// syncer has failed (their LSNs are about to be reused) and no snapshot is
// being written, it heals the journal (which cuts what was never durable)
// and rebuilds the engine from the newest snapshot and the journal, as
// Start does, so the steps applied but never journaled vanish; then it
// takes commands again. While the journal still fails it tries again
// later, up to healMaxWait apart.
func (t *Tenant) heal() {
	t.healC = nil
	if t.broken == nil {
		return
	}
	if t.ack.inFlight() > 0 || t.snapBusy.Load() {
		t.healC = time.After(healMinWait)
		return
	}
	again := func() {
		t.healWait = max(t.healWait, min(2*t.healWait, healMaxWait))
		t.healC = time.After(t.healWait)
	}
	if _, err := t.jr.Heal(); err != nil {
		t.sample.Log(context.Background(), slog.LevelWarn, "heal", "tenant: the journal still fails to write",
			"tenant", t.id, "err", err)
		again()
		return
	}
	eng, err := t.cfg.NewEngine()
	if err != nil {
		t.log.Error("tenant: no engine to heal with", "tenant", t.id, "err", err)
		again()
		return
	}
	for id, e := range t.timers {
		e.t.Stop()
		delete(t.timers, id)
	}
	rp, err := t.replay(eng)
	if err != nil {
		// The journal no longer reproduces itself: only an operator can
		// decide. Stay broken, loudly, without retrying.
		t.log.Error("tenant: the journal cannot be replayed after a write failure; restart needed",
			"tenant", t.id, "err", err)
		t.broken = fmt.Errorf("%w: the journal cannot be replayed after a write failure; restart needed: %w", ErrNotRecorded, err)
		t.health.Store(&Health{Err: t.broken, Since: t.brokenAt})
		return
	}
	t.eng = eng
	t.lastLSN = t.jr.LastLSN()
	t.sinceSnap = rp.steps
	for id, at := range rp.pending {
		t.startTimer(id, at)
	}
	down := time.Since(t.brokenAt)
	t.broken = nil
	t.healedAt = time.Now()
	t.heals.Add(1)
	t.health.Store(nil)
	refused := t.refused.Load()
	t.sample.Resolve(context.Background(), slog.LevelWarn, "heal", "tenant: heal attempts while the journal failed", "tenant", t.id)
	// The refused requests' cause ends with the failure (they are counted
	// in the healed line): the next failure's are logged at once again.
	t.sample.Resolve(context.Background(), slog.LevelDebug, "not recorded", "tenant: requests refused while the journal failed", "tenant", t.id)
	t.sample.Resolve(context.Background(), slog.LevelInfo, "journal",
		"tenant: healed: the journal writes again, the engine is back to what it holds, commands are taken again",
		"tenant", t.id, "down_for", down.Round(time.Millisecond), "refused", refused-t.refusedAtHeal, "durable_lsn", t.lastLSN,
		"snapshot_lsn", rp.snapLSN, "steps_replayed", rp.steps, "timers", len(rp.pending), "took", rp.took.Round(time.Millisecond))
	t.refusedAtHeal = refused
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
	rp, err := t.replay(t.eng)
	if err != nil {
		return err
	}
	t.recovery.SnapshotLSN, t.recovery.FirstLSN, t.recovery.LastLSN = rp.snapLSN, rp.first, rp.last
	t.recovery.Steps, t.recovery.Events = rp.steps, rp.events
	t.lastLSN = t.jr.LastLSN()
	t.sinceSnap = t.recovery.Steps
	for id, at := range rp.pending {
		t.startTimer(id, at)
	}
	t.recovery.Timers = len(rp.pending)
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

// replayed is what replay did.
type replayed struct {
	snapLSN     uint64 // snapshot restored, 0 if none
	first, last uint64 // step records replayed (0, 0 if none)
	steps       int
	events      int
	pending     map[string]int64 // the engine's timers due, by id
	took        time.Duration
}

// replay restores the journal's latest snapshot into eng, a fresh engine,
// and replays the step records after it, checking that every step
// reproduces its recorded events. It advances t.last to the latest step
// time and records the snapshot's LSN; it neither arms timers nor touches
// t.eng.
func (t *Tenant) replay(eng Machine) (replayed, error) {
	var rp replayed
	start := time.Now()
	r := newReplayer(eng, "journal", "lsn", t.last)
	from := t.jr.FirstLSN()
	snap, err := t.jr.LatestSnapshot()
	switch {
	case err == nil:
		if err := r.restore(snap.Data, snap.LSN); err != nil {
			return rp, err
		}
		from = snap.LSN + 1
		t.snapLSN.Store(snap.LSN)
		rp.snapLSN = snap.LSN
	case errors.Is(err, journal.ErrNoSnapshot):
		if from > 1 {
			return rp, fmt.Errorf("%w: the journal starts at lsn %d and there is no snapshot", ErrReplay, from)
		}
	default:
		return rp, err
	}
	last := t.jr.LastLSN()
	if from < t.jr.FirstLSN() {
		return rp, fmt.Errorf("%w: snapshot at lsn %d but the journal starts at %d", ErrReplay, from-1, t.jr.FirstLSN())
	}
	if from <= last {
		rd, err := t.jr.NewReader(from)
		if err != nil {
			return rp, fmt.Errorf("%w: %w", ErrReplay, err)
		}
		defer rd.Close()
		for rd.NextLSN() <= last {
			rec, ok, err := rd.TryNext()
			if err != nil {
				return rp, fmt.Errorf("%w: read lsn %d: %w", ErrReplay, rd.NextLSN(), err)
			}
			if !ok {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := t.jr.Sync(ctx, last)
				cancel()
				if err != nil {
					return rp, fmt.Errorf("%w: lsn %d not durable: %w", ErrReplay, rd.NextLSN(), err)
				}
				continue
			}
			if err := r.step(rec.LSN, rec.Payload); err != nil {
				return rp, err
			}
		}
	}
	t.last = r.last
	rp.first, rp.last, rp.steps, rp.events, rp.pending = r.first, r.upTo, r.steps, r.events, r.pending
	rp.took = time.Since(start)
	return rp, nil
}

// recoveryCommands steps Config.RecoveryCommands (see there) and waits
// until their records are durable.
func (t *Tenant) recoveryCommands() error {
	if t.cfg.RecoveryCommands == nil {
		return nil
	}
	var b batch
	if err := t.stepRecoveryCommands(&b, t.room, t.record); err != nil {
		return err
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
