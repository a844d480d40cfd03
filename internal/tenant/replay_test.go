package tenant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
	"github.com/switchboard-cc/switchboard/internal/steprec"
)

// releaseCalls is the recovery commands of these tests: release every call.
func releaseCalls(m Machine) []engine.Command {
	var cmds []engine.Command
	for _, c := range m.(*engine.Engine).Calls() {
		cmds = append(cmds, engine.Release{ConnID: c.ConnID, DN: c.Parties[0].DN})
	}
	return cmds
}

// replayRecords runs commands on a journaled tenant (with a snapshot after
// snapAfter of them, none if not positive) and returns the journal's step records
// after the snapshot, and the snapshot envelope (nil if none).
func replayRecords(t *testing.T, snapAfter int) (recs [][]byte, snap []byte, snapLSN uint64) {
	t.Helper()
	ctx := context.Background()
	j := openJournal(t, t.TempDir(), journal.Options{})
	defer j.Close()
	tn, err := Start(Config{Engine: demoEngine(t), Journal: j, SnapshotEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	cmds := []engine.Command{
		engine.Login{DN: "1001", AgentID: "agent1", Queues: []string{"7001"}},
		engine.Login{DN: "1002", AgentID: "agent2"},
		engine.Ready{DN: "1002"},
		// A wrap-up timer pending at the end.
		engine.NotReady{DN: "1001", WorkMode: event.WorkModeAfterCallWork,
			Request: engine.Request{Extensions: event.KV{event.I("WrapUpTime", 3600)}}},
		engine.MakeCall{From: "1003", To: "1004"},
		engine.Login{DN: "1005", AgentID: "agent5"},
	}
	for i, c := range cmds {
		if _, err := tn.Do(ctx, c); err != nil {
			t.Fatalf("%s: %v", c.Kind(), err)
		}
		if i+1 == snapAfter {
			// On the tenant goroutine, written before the query returns.
			if err := tn.Query(ctx, func(Machine) { tn.snapshot(true) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Close writes a snapshot when one is due: crash instead.
	tn.stopNoSnapshot(t)
	if s, err := j.LatestSnapshot(); err == nil {
		snap, snapLSN = s.Data, s.LSN
	}
	r, err := j.NewReader(snapLSN + 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		rec, ok, err := r.TryNext()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		recs = append(recs, bytes.Clone(rec.Payload))
	}
	return recs, snap, snapLSN
}

// stopNoSnapshot stops t as a crash would for its journal: no final
// snapshot.
func (t *Tenant) stopNoSnapshot(tb testing.TB) {
	tb.Helper()
	if err := t.Query(context.Background(), func(Machine) { t.sinceSnap = 0 }); err != nil {
		tb.Fatal(err)
	}
	if err := t.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// startBoth starts a tenant from the same snapshot and step records once
// from a journal and once from a StepLog's state, with releaseCalls as
// recovery commands.
func startBoth(t *testing.T, snap []byte, snapLSN uint64, recs [][]byte) (fromJournal, fromLog *Tenant, jerr, lerr error) {
	t.Helper()
	j := openJournal(t, t.TempDir(), journal.Options{})
	t.Cleanup(func() { j.Close() })
	if snap != nil {
		// A journal that starts after its snapshot: the records before
		// are gone, as after a truncation.
		for range snapLSN {
			if _, err := j.Append([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Sync(context.Background(), snapLSN); err != nil {
			t.Fatal(err)
		}
		if err := j.WriteSnapshot(snapLSN, snap); err != nil {
			t.Fatal(err)
		}
	}
	st := &LogState{Snapshot: snap, SnapshotStep: snapLSN}
	for i, r := range recs {
		if _, err := j.Append(r); err != nil {
			t.Fatal(err)
		}
		st.Steps = append(st.Steps, LoggedStep{Step: snapLSN + uint64(i) + 1, Record: r})
	}
	fromJournal, jerr = Start(Config{Engine: demoEngine(t), Journal: j, SnapshotEvery: -1, RecoveryCommands: releaseCalls})
	fromLog, lerr = Start(Config{Engine: demoEngine(t), Log: &memLog{}, LogState: st, SnapshotEvery: -1, RecoveryCommands: releaseCalls})
	for _, tn := range []*Tenant{fromJournal, fromLog} {
		if tn != nil {
			t.Cleanup(func() { tn.Close(context.Background()) })
		}
	}
	return fromJournal, fromLog, jerr, lerr
}

// Recovery from a journal and from a StepLog's state replay the same
// records the same way: the same views, pending timers, recovery commands
// and counts; and both refuse a record whose events differ from the
// replay's, or that does not decode, with ErrReplay, naming the record.
func TestReplayModesAgree(t *testing.T) {
	for _, snapAfter := range []int{-1, 3} {
		t.Run(fmt.Sprint("snapshot-after-", snapAfter), func(t *testing.T) {
			recs, snap, snapLSN := replayRecords(t, snapAfter)
			if (snapAfter > 0) != (snap != nil) || len(recs) == 0 {
				t.Fatalf("%d records after snapshot lsn %d (snapshot %v)", len(recs), snapLSN, snap != nil)
			}
			tj, tl, jerr, lerr := startBoth(t, snap, snapLSN, recs)
			if jerr != nil || lerr != nil {
				t.Fatalf("start from the journal: %v; from the log: %v", jerr, lerr)
			}
			rj, rl := tj.Recovery(), tl.Recovery()
			rj.Duration, rl.Duration = 0, 0
			if rj != rl || rj.Steps != len(recs) || rj.Timers != 1 || rj.Commands != 1 || rj.CommandEvents == 0 {
				t.Fatalf("recovery from the journal %+v, from the log %+v; want equal, %d steps, 1 timer, 1 command", rj, rl, len(recs))
			}
			aj, dj, cj := views(t, tj)
			al, dl, cl := views(t, tl)
			if !reflect.DeepEqual(aj, al) || !reflect.DeepEqual(dj, dl) || !reflect.DeepEqual(cj, cl) || len(cj) != 0 {
				t.Fatalf("views differ:\njournal %+v %+v\nlog     %+v %+v", aj, cj, al, cl)
			}
			if !reflect.DeepEqual(timersOf(t, tj), timersOf(t, tl)) || len(timersOf(t, tl)) != 1 {
				t.Fatalf("timers: journal %v, log %v", timersOf(t, tj), timersOf(t, tl))
			}

			// The last record with an event changed.
			last := len(recs) - 1
			sr, err := steprec.Decode(recs[last])
			if err != nil || len(sr.Events) == 0 {
				t.Fatalf("last record: %v, %d events", err, len(sr.Events))
			}
			evs := make([]event.Event, len(sr.Events))
			for i, b := range sr.Events {
				if err := event.Unmarshal(b, &evs[i]); err != nil {
					t.Fatal(err)
				}
			}
			evs[0].AgentID = "agent9"
			bad := append(append([][]byte(nil), recs[:last]...), steprec.Append(nil, sr.At, sr.Command, evs))
			n := snapLSN + uint64(len(recs))
			// refused starts from bad both ways and wants ErrReplay
			// with jwant (from the journal) and lwant (from the log).
			refused := func(what, jwant, lwant string) {
				t.Helper()
				_, _, jerr, lerr := startBoth(t, snap, snapLSN, bad)
				for _, c := range []struct {
					err  error
					want string
				}{{jerr, jwant}, {lerr, lwant}} {
					if !errors.Is(c.err, ErrReplay) || !strings.Contains(c.err.Error(), c.want) {
						t.Fatalf("%s: %v; want ErrReplay with %q", what, c.err, c.want)
					}
				}
			}
			refused("a changed event", fmt.Sprintf("lsn %d: login event 0 differs:\n journal: ", n),
				fmt.Sprintf("step %d: login event 0 differs:\n log:    ", n))
			bad[last] = []byte("not a step record")
			refused("a record that does not decode", fmt.Sprintf("lsn %d: ", n), fmt.Sprintf("step %d: ", n))
		})
	}
}

// timersOf returns the tenant's armed timers (id and due time).
func timersOf(t *testing.T, tn *Tenant) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := tn.Query(context.Background(), func(Machine) {
		for id, e := range tn.timers {
			out[id] = e.at
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
