package tenant

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// StepLog is the other way of recording steps (Config.Log; cluster mode):
// instead of a local journal, the step records and the events of a batch go
// to a log outside the process in one atomic commit (a Kafka transaction),
// and the batch's replies, and its events to subscribers, are released only
// after that commit. Snapshots go to the same log, after the steps they
// include. Steps are numbered per tenant from 1, without gaps; the numbers
// survive a move of the tenant to another process.
type StepLog interface {
	// Append records one batch and calls done exactly once, on any
	// goroutine: nil once the batch is committed, or the reason it is
	// not. Batches are handed over in step order and must be committed
	// in that order; once one fails, every later one must fail too.
	Append(b LogBatch, done func(error))
	// Snapshot records the runtime's state as of step (a snapshot
	// envelope, as the journal holds). It is handed over after the batch
	// holding that step, and must be committed after it (or not at all).
	Snapshot(step uint64, state []byte)
}

// LogBatch is one batch handed to a StepLog.
type LogBatch struct {
	First   uint64   // number of the step of Records[0]
	Records [][]byte // step records (package steprec), in order
	Events  []event.Event
}

// LogState is what a StepLog holds for a tenant, the state Start
// recovers from in Log mode: the latest snapshot and the step records
// after it.
type LogState struct {
	Snapshot     []byte // snapshot envelope (from StepLog.Snapshot), nil if none
	SnapshotStep uint64 // step the snapshot includes (0 without one)
	// Steps are the step records after SnapshotStep, numbered
	// SnapshotStep+1, SnapshotStep+2, ... without a gap.
	Steps []LoggedStep
}

// LoggedStep is one step record with its number.
type LoggedStep struct {
	Step   uint64
	Record []byte
}

// logMode is the runtime's state in Log mode (owned by the tenant
// goroutine unless said otherwise).
type logMode struct {
	log    StepLog
	step   uint64    // number of the last step recorded
	snapAt time.Time // when the last snapshot was handed over (or recovery ended)

	ticker *time.Ticker
	tick   <-chan time.Time // nil without Config.SnapshotInterval
}

// startTick checks four times per interval whether a snapshot is due.
func (lm *logMode) startTick(interval time.Duration) {
	if interval > 0 {
		lm.ticker = time.NewTicker(max(interval/4, time.Millisecond))
		lm.tick = lm.ticker.C
	}
}

func (lm *logMode) stopTick() {
	if lm.ticker != nil {
		lm.ticker.Stop()
	}
}

// snapshotDue: steps were recorded since the last snapshot and
// Config.SnapshotInterval has passed since it.
func (t *Tenant) snapshotDue() bool {
	return t.sinceSnap > 0 && t.cfg.SnapshotInterval > 0 && t.cfg.Clock().Sub(t.lm.snapAt) >= t.cfg.SnapshotInterval
}

// logSnapshotDue takes the snapshot Config.SnapshotInterval asks for: on
// the tenant goroutine between batches, so it includes every step handed
// to the StepLog so far and goes to it after them.
func (t *Tenant) logSnapshotDue() {
	if t.snapshotDue() && t.logBroken.Load() == nil && t.broken == nil {
		t.logSnapshot()
	}
}

// LastStep returns the number of the last step stepped in Log mode: after
// Close returned, the last one handed to the StepLog.
func (t *Tenant) LastStep() uint64 { return t.lm.step }

// logRecord encodes the step record of a step into the batch.
func (t *Tenant) logRecord(b *batch, at int64, cmd engine.Command, evs []event.Event) error {
	rec, err := t.recEnc.Append(nil, at, cmd, evs)
	if err != nil {
		t.broken = fmt.Errorf("%w: step applied but not encoded: %v", ErrNotRecorded, err)
		t.log.Error("tenant: a step could not be encoded; the tenant refuses every command until it is restarted",
			"tenant", t.id, "command", cmd.Kind(), "err", err)
		return t.broken
	}
	t.lm.step++
	if len(b.logRecs) == 0 {
		b.logFirst = t.lm.step
	}
	b.logRecs = append(b.logRecs, rec)
	t.sinceSnap++
	return nil
}

// logCommit hands batch n to the StepLog.
func (t *Tenant) logCommit(n uint64, b *batch) {
	if len(b.logRecs) == 0 {
		t.ack.done(n, nil, 0)
		return
	}
	t.lm.log.Append(LogBatch{First: b.logFirst, Records: b.logRecs, Events: b.events},
		func(err error) {
			if err != nil {
				t.logFailed(err)
			}
			t.ack.done(n, err, 0)
		})
	if (t.cfg.SnapshotEvery > 0 && t.sinceSnap >= t.cfg.SnapshotEvery) || t.snapshotDue() {
		t.logSnapshot()
	}
}

// logFailed: a commit failed (the log fenced this process, or it is down).
// The engine holds steps the log does not: every later command is refused
// until the tenant is rebuilt from the log.
func (t *Tenant) logFailed(err error) {
	t.logBroken.CompareAndSwap(nil, &err)
}

// logSnapshot hands a snapshot as of the last step to the StepLog.
func (t *Tenant) logSnapshot() {
	s, ok := t.eng.(Snapshotter)
	if !ok || t.lm.step == 0 {
		return
	}
	data, err := s.Snapshot()
	if err != nil {
		t.log.Error("tenant: snapshot failed", "tenant", t.id, "err", err)
		return
	}
	t.sinceSnap = 0
	t.lm.snapAt = t.cfg.Clock()
	t.lm.log.Snapshot(t.lm.step, t.appendSnapshotEnvelope(nil, data))
}

// recoverLog restores Config.LogState: the snapshot, then every step record
// after it, checking that each reproduces its recorded events byte for
// byte; then it arms the pending timers and steps Config.RecoveryCommands
// through the StepLog.
func (t *Tenant) recoverLog() error {
	start := time.Now()
	st := t.cfg.LogState
	if st == nil {
		st = &LogState{}
	}
	r := newReplayer(t.eng, "log", "step", t.last)
	if st.Snapshot != nil {
		if err := r.restore(st.Snapshot, st.SnapshotStep); err != nil {
			return err
		}
		t.recovery.SnapshotLSN = st.SnapshotStep
	} else if st.SnapshotStep != 0 {
		return fmt.Errorf("%w: snapshot step %d without a snapshot", ErrReplay, st.SnapshotStep)
	}
	t.lm.step = st.SnapshotStep
	for _, ls := range st.Steps {
		if ls.Step != t.lm.step+1 {
			return fmt.Errorf("%w: step %d follows step %d", ErrReplay, ls.Step, t.lm.step)
		}
		if err := r.step(ls.Step, ls.Record); err != nil {
			return err
		}
		t.lm.step = ls.Step
	}
	t.last = r.last
	t.recovery.FirstLSN, t.recovery.LastLSN = r.first, r.upTo
	t.recovery.Steps, t.recovery.Events = r.steps, r.events
	pending := r.pending
	t.sinceSnap = t.recovery.Steps
	t.lm.snapAt = t.cfg.Clock()
	for id, at := range pending {
		t.startTimer(id, at)
	}
	t.recovery.Timers = len(pending)
	if err := t.logRecoveryCommands(); err != nil {
		return err
	}
	// A snapshot right away bounds the next owner's replay to what
	// happens from now on.
	if t.recovery.Steps > 0 || t.recovery.Commands > 0 || (st.Snapshot == nil && t.lm.step > 0) {
		t.logSnapshot()
	}
	t.recovery.Duration = time.Since(start)
	if t.recovery.SnapshotLSN > 0 || t.recovery.Steps > 0 {
		t.log.Info("tenant: recovered from the log", "tenant", t.id,
			slog.Uint64("snapshot_step", t.recovery.SnapshotLSN), slog.Int("steps", t.recovery.Steps),
			slog.Int("events", t.recovery.Events), slog.Int("timers", t.recovery.Timers),
			slog.Duration("took", t.recovery.Duration))
	}
	return nil
}

// logRecoveryCommands steps Config.RecoveryCommands (see there) and waits
// until the StepLog committed them.
func (t *Tenant) logRecoveryCommands() error {
	if t.cfg.RecoveryCommands == nil {
		return nil
	}
	var b batch
	err := t.stepRecoveryCommands(&b, nil, func(b *batch, at int64, c engine.Command, evs []event.Event) error {
		if err := t.logRecord(b, at, c, evs); err != nil {
			return err
		}
		b.addEvents(evs)
		return nil
	})
	if err != nil {
		return err
	}
	if len(b.logRecs) == 0 {
		return nil
	}
	done := make(chan error, 1)
	t.lm.log.Append(LogBatch{First: b.logFirst, Records: b.logRecs, Events: b.events}, func(err error) { done <- err })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotRecorded, err)
		}
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotRecorded, ctx.Err())
	}
	t.log.Info("tenant: released what could not continue on the new owner", "tenant", t.id,
		"commands", t.recovery.Commands, "events", t.recovery.CommandEvents)
	return nil
}

// logRefuse is the error a command gets in Log mode once a commit failed.
func (t *Tenant) logRefuse() error {
	if t.broken != nil {
		return t.broken
	}
	if p := t.logBroken.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrNotRecorded, *p)
	}
	return nil
}
