package tenant

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
	"github.com/switchboard-cc/switchboard/internal/steprec"
)

func demoEngine(t testing.TB) *engine.Engine {
	t.Helper()
	eng, err := engine.New(&config.Demo("tok", "pw").Tenants[0], engine.Options{Server: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func openJournal(t testing.TB, dir string, o journal.Options) *journal.Journal {
	t.Helper()
	j, err := journal.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// views is everything the GET endpoints can show.
func views(t testing.TB, tn *Tenant) (agents []engine.AgentView, dns []engine.DNView, calls []engine.CallView) {
	t.Helper()
	err := tn.Query(context.Background(), func(m Machine) {
		e := m.(*engine.Engine)
		agents, calls = e.Agents(), e.Calls()
		for i := 1001; i <= 1020; i++ {
			d, err := e.DN(fmt.Sprint(i))
			if err != nil {
				t.Error(err)
			}
			dns = append(dns, d)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return
}

// TestJournalFull: once the journal has no room, a command gets
// ErrJournalFull (503 at the API), the engine is not stepped (views
// unchanged), no event reaches a subscriber and nothing is appended.
func TestJournalFull(t *testing.T) {
	j := openJournal(t, t.TempDir(), journal.Options{SegmentSize: 4 << 10, MaxSize: 8 << 10, MaxRecordSize: 2 << 10})
	defer j.Close()
	tn, err := Start(Config{Engine: demoEngine(t), Journal: j, RecordReserve: 2 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close(context.Background())
	ctx := context.Background()
	ok := 0
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		dn := fmt.Sprint(1001 + i%20)
		var cmd engine.Command = engine.Login{DN: dn, AgentID: fmt.Sprint("agent", 1+i%20)}
		if i >= 20 {
			cmd = engine.NotReady{DN: dn}
			if i%2 == 0 {
				cmd = engine.Ready{DN: dn}
			}
		}
		_, err := tn.Do(ctx, cmd)
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrJournalFull):
			full = err
		default:
			var ee *engine.Error
			if !errors.As(err, &ee) {
				t.Fatalf("command %d: %v", i, err)
			}
		}
	}
	if full == nil || ok == 0 {
		t.Fatalf("journal never full (%d ok)", ok)
	}
	if !errors.Is(full, ErrNotRecorded) {
		t.Fatalf("%v does not wrap ErrNotRecorded (503)", full)
	}
	// The last accepted command's reply can come before its events reach
	// the subscribers (release replies, then publishes): wait until every
	// batch is released, so that the subscription sees only what follows.
	if err := tn.ack.waitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	sub := tn.Subscribe(Filter{}, 16)
	a0, d0, c0 := views(t, tn)
	last := j.LastLSN()
	for _, cmd := range []engine.Command{engine.Ready{DN: "1001"}, engine.NotReady{DN: "1002"},
		engine.MakeCall{From: "1003", To: "1004"}, engine.Logout{DN: "1005"}} {
		if _, err := tn.Do(ctx, cmd); !errors.Is(err, ErrJournalFull) {
			t.Fatalf("%s: got %v, want ErrJournalFull", cmd.Kind(), err)
		}
	}
	a1, d1, c1 := views(t, tn)
	if !reflect.DeepEqual(a0, a1) || !reflect.DeepEqual(d0, d1) || !reflect.DeepEqual(c0, c1) {
		t.Fatal("a refused command changed the state")
	}
	if j.LastLSN() != last {
		t.Fatalf("journal grew from %d to %d", last, j.LastLSN())
	}
	select {
	case e := <-sub.C:
		t.Fatalf("event %v after refusals", e.ID)
	default:
	}
}

// TestRecoverReplay: a tenant closed and started again on the same journal
// (with and without a snapshot) comes back with the same views; Seq
// continues without a gap and ConnIDs do not repeat.
func TestRecoverReplay(t *testing.T) {
	for _, snapEvery := range []int{-1, 7} {
		t.Run(fmt.Sprint("snapshot-every-", snapEvery), func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			j := openJournal(t, dir, journal.Options{})
			tn, err := Start(Config{Engine: demoEngine(t), Journal: j, SnapshotEvery: snapEvery})
			if err != nil {
				t.Fatal(err)
			}
			sub := tn.Subscribe(Filter{}, 1024)
			conns := map[string]bool{}
			for i := 0; i < 10; i++ {
				dn := fmt.Sprint(1001 + i)
				if _, err := tn.Do(ctx, engine.Login{DN: dn, AgentID: fmt.Sprint("agent", 1+i)}); err != nil {
					t.Fatal(err)
				}
			}
			out, err := tn.Do(ctx, engine.MakeCall{From: "1001", To: "1002"})
			if err != nil {
				t.Fatal(err)
			}
			conns[out.Reply.(engine.CallReply).ConnID] = true
			a0, d0, c0 := views(t, tn)
			tn.Close(ctx)
			lastSeq := map[string]int64{}
		drain:
			for {
				select {
				case e := <-sub.C:
					lastSeq[e.Key()] = e.Seq
				default:
					break drain
				}
			}
			if len(lastSeq) == 0 {
				t.Fatal("no events")
			}
			j.Close()

			j = openJournal(t, dir, journal.Options{})
			defer j.Close()
			tn, err = Start(Config{Engine: demoEngine(t), Journal: j, SnapshotEvery: snapEvery})
			if err != nil {
				t.Fatal(err)
			}
			defer tn.Close(ctx)
			rec := tn.Recovery()
			t.Logf("recovery %+v", rec)
			a1, d1, c1 := views(t, tn)
			if !reflect.DeepEqual(a0, a1) || !reflect.DeepEqual(d0, d1) || !reflect.DeepEqual(c0, c1) {
				t.Fatalf("state differs after recovery:\n%+v\n%+v", c0, c1)
			}
			sub = tn.Subscribe(Filter{}, 1024)
			out, err = tn.Do(ctx, engine.MakeCall{From: "1003", To: "1004"})
			if err != nil {
				t.Fatal(err)
			}
			if c := out.Reply.(engine.CallReply).ConnID; conns[c] {
				t.Fatalf("ConnID %s repeated after recovery", c)
			}
			for range out.Events {
				e := <-sub.C
				if p, ok := lastSeq[e.Key()]; ok && e.Seq != p+1 {
					t.Fatalf("%s: Seq %d after %d", e.Key(), e.Seq, p)
				}
			}
		})
	}
}

// TestRecoveryCommands: calls live at a restart are released by the
// recovery commands, journaled (a second restart replays them) with their
// events, Seq continuing per key.
func TestRecoveryCommands(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	release := func(m Machine) []engine.Command {
		var cmds []engine.Command
		for _, c := range m.(*engine.Engine).Calls() {
			cmds = append(cmds, engine.Release{ConnID: c.ConnID, DN: c.Parties[0].DN})
		}
		return cmds
	}
	j := openJournal(t, dir, journal.Options{})
	tn, err := Start(Config{Engine: demoEngine(t), Journal: j, RecoveryCommands: release})
	if err != nil {
		t.Fatal(err)
	}
	sub := tn.Subscribe(Filter{}, 1024)
	for _, c := range []engine.Command{engine.MakeCall{From: "1001", To: "1002"}, engine.MakeCall{From: "1003", To: "1004"}} {
		if _, err := tn.Do(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, calls := views(t, tn); len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	tn.Close(ctx)
	lastSeq := map[string]int64{}
	for len(sub.C) > 0 {
		e := <-sub.C
		lastSeq[e.Key()] = e.Seq
	}
	last := j.LastLSN()
	j.Close()

	j = openJournal(t, dir, journal.Options{})
	tn, err = Start(Config{Engine: demoEngine(t), Journal: j, RecoveryCommands: release})
	if err != nil {
		t.Fatal(err)
	}
	rec := tn.Recovery()
	if _, _, calls := views(t, tn); len(calls) != 0 || rec.Commands != 2 || rec.CommandEvents == 0 {
		t.Fatalf("after recovery: %d calls, %+v", len(calls), rec)
	}
	if j.LastLSN() != last+2 || j.DurableLSN() != last+2 {
		t.Fatalf("journal at %d (durable %d), want %d", j.LastLSN(), j.DurableLSN(), last+2)
	}
	// The released calls' events are in the journal, Seq continuing.
	r, err := j.NewReader(last + 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		rc, ok, err := r.TryNext()
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		sr, err := steprec.Decode(rc.Payload)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range sr.Events {
			var e event.Event
			if err := event.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			if p, ok := lastSeq[e.Key()]; ok && e.Seq != p+1 {
				t.Fatalf("%s: Seq %d after %d", e.Key(), e.Seq, p)
			}
			lastSeq[e.Key()] = e.Seq
		}
	}
	r.Close()
	tn.Close(ctx)
	j.Close()
	// A second restart replays the releases: no call, nothing more to do.
	j = openJournal(t, dir, journal.Options{})
	defer j.Close()
	tn, err = Start(Config{Engine: demoEngine(t), Journal: j, RecoveryCommands: release})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close(ctx)
	rec = tn.Recovery()
	if _, _, calls := views(t, tn); len(calls) != 0 || rec.Commands != 0 || rec.SnapshotLSN+uint64(rec.Steps) != last+2 {
		t.Fatalf("second recovery: %d calls, %+v", len(calls), rec)
	}
}
