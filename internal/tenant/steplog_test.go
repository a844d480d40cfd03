package tenant

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// memLog is a StepLog in memory; fail makes every later Append fail, as a
// fenced producer's commits do.
type memLog struct {
	mu       sync.Mutex
	steps    []LoggedStep
	snap     []byte
	snapStep uint64
	fail     error
	appends  int
	snaps    int
}

func (m *memLog) Append(b LogBatch, done func(error)) {
	m.mu.Lock()
	m.appends++
	if m.fail != nil {
		m.mu.Unlock()
		done(m.fail)
		return
	}
	for i, r := range b.Records {
		m.steps = append(m.steps, LoggedStep{Step: b.First + uint64(i), Record: r})
	}
	m.mu.Unlock()
	done(nil)
}

func (m *memLog) Snapshot(step uint64, state []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail == nil {
		m.snap, m.snapStep = state, step
		m.snaps++
	}
}

// state is what a new owner would read: the latest snapshot and the steps
// after it.
func (m *memLog) state() *LogState {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := &LogState{Snapshot: m.snap, SnapshotStep: m.snapStep}
	for _, s := range m.steps {
		if s.Step > m.snapStep {
			st.Steps = append(st.Steps, s)
		}
	}
	return st
}

// TestLogModeRecover: in Log mode the step records are numbered without a
// gap, and a tenant started from the log's state (with or without
// snapshots) has the same views and continues Seq and ConnIDs.
func TestLogModeRecover(t *testing.T) {
	for _, snapEvery := range []int{-1, 5} {
		t.Run(fmt.Sprint("snapshot-every-", snapEvery), func(t *testing.T) {
			ctx := context.Background()
			lg := &memLog{}
			tn, err := Start(Config{Engine: demoEngine(t), Log: lg, SnapshotEvery: snapEvery})
			if err != nil {
				t.Fatal(err)
			}
			sub := tn.Subscribe(Filter{}, 1024)
			for i := 0; i < 10; i++ {
				if _, err := tn.Do(ctx, engine.Login{DN: fmt.Sprint(1001 + i), AgentID: fmt.Sprint("agent", 1+i)}); err != nil {
					t.Fatal(err)
				}
			}
			// Another agent on a DN taken by agent1 is refused (and so
			// never numbered): the same agent again would be accepted.
			if _, err := tn.Do(ctx, engine.Login{DN: "1001", AgentID: "agent2"}); err == nil {
				t.Fatal("a second agent's login on 1001 was accepted")
			}
			out, err := tn.Do(ctx, engine.MakeCall{From: "1001", To: "1002"})
			if err != nil {
				t.Fatal(err)
			}
			conn := out.Reply.(engine.CallReply).ConnID
			a0, d0, c0 := views(t, tn)
			// A crash: no Close, so no final snapshot; the log has
			// what was committed.
			st := lg.state()
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
			for i, s := range lg.steps {
				if s.Step != uint64(i+1) {
					t.Fatalf("step %d numbered %d", i+1, s.Step)
				}
			}
			if len(lg.steps) != 11 || tn.LastStep() != 11 {
				t.Fatalf("%d steps logged, last step %d; want 11 (the refused login is not a step)", len(lg.steps), tn.LastStep())
			}
			if snapEvery > 0 && st.SnapshotStep == 0 {
				t.Fatal("no snapshot taken")
			}
			tn.Close(ctx)

			lg2 := &memLog{}
			tn2, err := Start(Config{Engine: demoEngine(t), Log: lg2, LogState: st, SnapshotEvery: snapEvery})
			if err != nil {
				t.Fatal(err)
			}
			defer tn2.Close(ctx)
			if rec := tn2.Recovery(); rec.Steps != len(st.Steps) {
				t.Fatalf("replayed %d steps, want %d", rec.Steps, len(st.Steps))
			}
			a1, d1, c1 := views(t, tn2)
			if !reflect.DeepEqual(a0, a1) || !reflect.DeepEqual(d0, d1) || !reflect.DeepEqual(c0, c1) {
				t.Fatalf("state differs after takeover:\n%+v\n%+v", c0, c1)
			}
			sub2 := tn2.Subscribe(Filter{}, 1024)
			out, err = tn2.Do(ctx, engine.MakeCall{From: "1003", To: "1004"})
			if err != nil {
				t.Fatal(err)
			}
			if out.Reply.(engine.CallReply).ConnID == conn {
				t.Fatal("ConnID repeated after takeover")
			}
			for range out.Events {
				e := <-sub2.C
				if p, ok := lastSeq[e.Key()]; ok && e.Seq != p+1 {
					t.Fatalf("%s: Seq %d after %d", e.Key(), e.Seq, p)
				}
			}
			if tn2.LastStep() != 12 {
				t.Fatalf("last step %d after takeover and one more, want 12", tn2.LastStep())
			}
		})
	}
}

// TestLogModeGapRefused: a log whose steps have a gap does not start.
func TestLogModeGapRefused(t *testing.T) {
	ctx := context.Background()
	lg := &memLog{}
	tn, err := Start(Config{Engine: demoEngine(t), Log: lg, SnapshotEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := tn.Do(ctx, engine.Login{DN: fmt.Sprint(1001 + i), AgentID: fmt.Sprint("agent", 1+i)}); err != nil {
			t.Fatal(err)
		}
	}
	st := lg.state() // before Close, which writes a snapshot
	tn.Close(ctx)
	if lg.snapStep != 3 {
		t.Fatalf("Close wrote a snapshot at step %d, want 3", lg.snapStep)
	}
	st.Steps = append(st.Steps[:1], st.Steps[2:]...)
	if _, err := Start(Config{Engine: demoEngine(t), Log: &memLog{}, LogState: st}); !errors.Is(err, ErrReplay) {
		t.Fatalf("start over a gap: %v, want ErrReplay", err)
	}
}

// TestLogModeFailedCommit: a failed commit (a fenced producer) fails the
// batch's replies with ErrNotRecorded, publishes none of its events to
// subscribers, and every later command is refused without being stepped.
func TestLogModeFailedCommit(t *testing.T) {
	ctx := context.Background()
	lg := &memLog{}
	tn, err := Start(Config{Engine: demoEngine(t), Log: lg, SnapshotEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close(ctx)
	sub := tn.Subscribe(Filter{}, 64)
	if _, err := tn.Do(ctx, engine.Login{DN: "1001", AgentID: "agent1"}); err != nil {
		t.Fatal(err)
	}
	<-sub.C
	lg.mu.Lock()
	lg.fail = errors.New("fenced")
	lg.mu.Unlock()
	if _, err := tn.Do(ctx, engine.Login{DN: "1002", AgentID: "agent2"}); !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("login with a failing commit: %v, want ErrNotRecorded", err)
	}
	if _, err := tn.Do(ctx, engine.Login{DN: "1003", AgentID: "agent3"}); !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("login after a failed commit: %v, want ErrNotRecorded", err)
	}
	select {
	case e := <-sub.C:
		t.Fatalf("event of an uncommitted batch reached a subscriber: %v", e.ID)
	default:
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if lg.appends != 2 {
		t.Fatalf("%d appends, want 2 (the refused command is not stepped)", lg.appends)
	}
}

// TestLogModeSnapshotInterval: with SnapshotInterval (and no step count),
// a busy tenant is snapshotted so that the steps after its latest
// snapshot are never older than the interval, a tenant that went quiet is
// snapshotted by the interval too, and an idle one (nothing since its
// snapshot) is not snapshotted again. Under synctest: the clock is fake.
func TestLogModeSnapshotInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const every = 30 * time.Second
		ctx := context.Background()
		lg := &memLog{}
		tn, err := Start(Config{Engine: demoEngine(t), Log: lg, SnapshotEvery: -1, SnapshotInterval: every})
		if err != nil {
			t.Fatal(err)
		}
		defer tn.Close(ctx)
		snap := func() (uint64, int) {
			synctest.Wait()
			lg.mu.Lock()
			defer lg.mu.Unlock()
			return lg.snapStep, lg.snaps
		}
		// Busy: a step a second for 100 s.
		at := map[uint64]time.Time{}
		for i := 0; i < 100; i++ {
			var c engine.Command = engine.Login{DN: "1001", AgentID: "agent1"}
			if i%2 == 1 {
				c = engine.Logout{DN: "1001"}
			}
			if _, err := tn.Do(ctx, c); err != nil {
				t.Fatal(err)
			}
			at[tn.LastStep()] = time.Now()
			s, _ := snap()
			if s < tn.LastStep() {
				if oldest := at[s+1]; time.Since(oldest) > every {
					t.Fatalf("at step %d the latest snapshot is of step %d: step %d is %v old, over %v", tn.LastStep(), s, s+1, time.Since(oldest), every)
				}
			}
			time.Sleep(time.Second)
		}
		if _, n := snap(); n < 3 || n > 4 {
			t.Fatalf("%d snapshots in 100 s, want 3 or 4 (every 30 s)", n)
		}
		// Quiet: one step, then nothing; the interval snapshots it.
		if _, err := tn.Do(ctx, engine.Login{DN: "1002", AgentID: "agent2"}); err != nil {
			t.Fatal(err)
		}
		last := tn.LastStep()
		time.Sleep(every + every/2)
		s, n := snap()
		if s != last {
			t.Fatalf("the quiet tenant's latest snapshot is of step %d, want %d", s, last)
		}
		// Idle: nothing to snapshot.
		time.Sleep(5 * every)
		if s2, n2 := snap(); n2 != n || s2 != s {
			t.Fatalf("idle tenant snapshotted again: %d snapshots (step %d), had %d (step %d)", n2, s2, n, s)
		}
	})
}
