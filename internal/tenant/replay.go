package tenant

import (
	"bytes"
	"fmt"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/steprec"
)

// replayer restores a snapshot into a fresh engine and replays the step
// records after it, checking that each reproduces its recorded events
// byte for byte, and follows the engine's timers and the latest step
// time. Recovery from the journal (records named by LSN) and from a
// StepLog (named by step number) both replay through it.
type replayer struct {
	eng    Machine
	source string // where the records are, in errors: "journal" or "log"
	unit   string // what numbers them, in errors: "lsn" or "step"

	pending     map[string]int64 // the engine's timers due, by id
	last        int64            // the latest step time (the snapshot's, then the steps')
	first, upTo uint64           // numbers of the first and last records replayed (0 if none)
	steps       int
	events      int
	buf         []byte
}

func newReplayer(eng Machine, source, unit string, last int64) *replayer {
	return &replayer{eng: eng, source: source, unit: unit, last: last, pending: map[string]int64{}}
}

// restore restores the snapshot envelope env, taken at record n, into the
// engine, with its step time and pending timers.
func (r *replayer) restore(env []byte, n uint64) error {
	s, ok := r.eng.(Snapshotter)
	if !ok {
		return fmt.Errorf("%w: the %s has a snapshot but the engine cannot restore one", ErrReplay, r.source)
	}
	last, timers, engData, err := decodeSnapshotEnvelope(env)
	if err != nil {
		return err
	}
	if err := s.Restore(engData); err != nil {
		return fmt.Errorf("%w: restore snapshot at %s %d: %w", ErrReplay, r.unit, n, err)
	}
	r.last, r.pending = max(r.last, last), timers
	return nil
}

// step replays record n. A record that does not decode is refused before
// the engine is touched.
func (r *replayer) step(n uint64, rec []byte) error {
	sr, err := steprec.Decode(rec)
	if err != nil {
		return fmt.Errorf("%w: %s %d: %w", ErrReplay, r.unit, n, err)
	}
	cmd, err := engine.DecodeCommand(sr.Command)
	if err != nil {
		return fmt.Errorf("%w: %s %d: %w", ErrReplay, r.unit, n, err)
	}
	step := r.eng.Step
	if s, ok := r.eng.(scratchStepper); ok {
		// The events are only compared: the engine's reused buffer will do.
		step = s.StepScratch
	}
	res, err := step(sr.At, cmd)
	if err != nil {
		return fmt.Errorf("%w: %s %d: %s refused on replay: %w", ErrReplay, r.unit, n, cmd.Kind(), err)
	}
	if len(res.Events) != len(sr.Events) {
		return fmt.Errorf("%w: %s %d: %s gave %d events, the %s has %d", ErrReplay, r.unit, n, cmd.Kind(), len(res.Events), r.source, len(sr.Events))
	}
	w := max(len(r.source)+1, len("replay:"))
	for i := range res.Events {
		r.buf = res.Events[i].AppendJSON(r.buf[:0])
		if !bytes.Equal(r.buf, sr.Events[i]) {
			return fmt.Errorf("%w: %s %d: %s event %d differs:\n %-*s %s\n %-*s %s", ErrReplay, r.unit, n, cmd.Kind(), i,
				w, r.source+":", sr.Events[i], w, "replay:", r.buf)
		}
	}
	if tf, ok := cmd.(engine.TimerFired); ok {
		delete(r.pending, tf.ID)
	}
	r.effects(res.Effects)
	r.last = max(r.last, sr.At)
	if r.first == 0 {
		r.first = n
	}
	r.upTo = n
	r.steps++
	r.events += len(res.Events)
	return nil
}

// effects follows the engine's timers as the runtime's effects would arm
// and cancel them.
func (r *replayer) effects(effs []engine.Effect) {
	for _, eff := range effs {
		switch e := eff.(type) {
		case engine.StartTimer:
			r.pending[e.ID] = e.At
		case *engine.StartTimer:
			r.pending[e.ID] = e.At
		case engine.CancelTimer:
			delete(r.pending, e.ID)
		case *engine.CancelTimer:
			delete(r.pending, e.ID)
		}
	}
}

// stepRecoveryCommands steps Config.RecoveryCommands (see there) into b,
// each step recorded by record (which also adds its events to b where the
// mode needs them); check, if not nil, may refuse before each step. It
// counts them in t.recovery.
func (t *Tenant) stepRecoveryCommands(b *batch, check func() error, record func(b *batch, at int64, c engine.Command, evs []event.Event) error) error {
	for round := 0; round < 16; round++ {
		cmds := t.cfg.RecoveryCommands(t.eng)
		if len(cmds) == 0 {
			break
		}
		progress := false
		for _, c := range cmds {
			if check != nil {
				if err := check(); err != nil {
					return err
				}
			}
			at := t.now()
			res, err := t.eng.Step(at, c)
			if err != nil {
				t.log.Debug("tenant: recovery command refused", "tenant", t.id, "command", c.Kind(), "err", err)
				continue
			}
			if err := record(b, at, c, res.Events); err != nil {
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
	return nil
}
