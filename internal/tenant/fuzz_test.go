package tenant

import (
	"bytes"
	"errors"
	"log/slog"
	"maps"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
	"github.com/switchboard-cc/switchboard/internal/steprec"
)

// FuzzRecoverStepRecord: a journal holds a valid step record (a login)
// and then any bytes as the next record. Recovery never panics: it
// succeeds, or fails with ErrReplay; and a record that is not a step
// record, or whose command does not decode, is reported before the engine
// is touched: the engine is left as the valid record made it, never half
// applied. Seeds: the second fixture record (a call) and corruptions of it.
func FuzzRecoverStepRecord(f *testing.F) {
	fix := readFixture(f)
	f.Add(fix[1].rec)
	f.Add(fix[1].rec[:len(fix[1].rec)-3])
	f.Add(append(bytes.Clone(fix[1].rec), 0))
	f.Add(steprec.Append(nil, fix[1].at, []byte(`{"kind":"make-call","cmd":{"from":"1001","to":"1002"}}`), nil))
	f.Add(steprec.Append(nil, fix[1].at, []byte(`{"kind":"nope","cmd":{}}`), nil))
	f.Add([]byte{})

	afterFirst := stateAfter(f, fix[0])
	f.Fuzz(func(t *testing.T, rec []byte) { fuzzOneWith(t, fix, rec, afterFirst) })
}

// stateAfter is the snapshot of the demo engine after the step of rec.
func stateAfter(t testing.TB, rec fixtureRecord) []byte {
	e := demoEngine(t)
	sr, err := steprec.Decode(rec.rec)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := engine.DecodeCommand(sr.Command)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Step(sr.At, cmd); err != nil {
		t.Fatal(err)
	}
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func fuzzOneWith(t *testing.T, fix []fixtureRecord, rec []byte, afterFirst []byte) {
	{
		if len(rec) == 0 {
			return // the journal does not take empty records
		}
		jr := openJournal(t, t.TempDir(), journal.Options{})
		defer jr.Close()
		for _, p := range [][]byte{fix[0].rec, rec} {
			if _, err := jr.Append(p); err != nil {
				t.Fatal(err)
			}
		}
		eng := demoEngine(t)
		tn, err := Start(Config{Engine: eng, Journal: jr, Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			tn.Close(t.Context())
			return
		}
		if !errors.Is(err, ErrReplay) {
			t.Fatalf("recovery failed with %v, not ErrReplay", err)
		}
		sr, err := steprec.Decode(rec)
		if err == nil {
			_, err = engine.DecodeCommand(sr.Command)
		}
		if err == nil {
			return // a command that decodes: the engine steps it, then replay compares
		}
		if got, err := eng.Snapshot(); err != nil || !bytes.Equal(got, afterFirst) {
			t.Fatalf("a corrupt record changed the engine (%v):\n%s\nwant\n%s", err, got, afterFirst)
		}
	}
}

// FuzzSnapshotEnvelope: the envelope around an engine snapshot (the last
// step's time and the pending timers) never panics on any bytes; what it
// refuses is an ErrReplay, and what it accepts is written again by
// appendSnapshotEnvelope to an envelope that decodes to the same.
func FuzzSnapshotEnvelope(f *testing.F) {
	withTimers := &Tenant{last: 1767225600001000, timers: map[string]*timerEntry{"acw/agent1/1": {at: 1767225610001000}}}
	f.Add(withTimers.appendSnapshotEnvelope(nil, []byte(`{"v":1}`)))
	f.Add((&Tenant{}).appendSnapshotEnvelope(nil, nil))
	f.Add([]byte{'R', 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		last, timers, eng, err := decodeSnapshotEnvelope(p)
		if err != nil {
			if !errors.Is(err, ErrReplay) {
				t.Fatalf("error %v is not ErrReplay", err)
			}
			return
		}
		tn := &Tenant{last: last, timers: map[string]*timerEntry{}}
		for id, at := range timers {
			tn.timers[id] = &timerEntry{at: at}
		}
		last2, timers2, eng2, err := decodeSnapshotEnvelope(tn.appendSnapshotEnvelope(nil, eng))
		if err != nil || last2 != last || !maps.Equal(timers2, timers) || !bytes.Equal(eng2, eng) {
			t.Fatalf("written again: %v, %d %v %q, want %d %v %q", err, last2, timers2, eng2, last, timers, eng)
		}
	})
}
