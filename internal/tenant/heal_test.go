package tenant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
)

// faultFS is the journal's file layer in these tests: while syncErr is
// set every sync fails with it (the bytes were written: a disk failing
// its fsync with EIO); syncDelay slows every sync down.
type faultFS struct {
	syncErr   atomic.Pointer[error]
	syncDelay atomic.Int64
	syncs     atomic.Int64
}

func (f *faultFS) fail(err error) {
	if err == nil {
		f.syncErr.Store(nil)
		return
	}
	f.syncErr.Store(&err)
}

func (f *faultFS) wrap(file journal.File) journal.File { return &faultFile{File: file, fs: f} }

type faultFile struct {
	journal.File
	fs *faultFS
}

func (f *faultFile) Sync() error {
	f.fs.syncs.Add(1)
	if d := f.fs.syncDelay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if e := f.fs.syncErr.Load(); e != nil {
		return *e
	}
	return f.File.Sync()
}

// While fsync fails with EIO, commands and queries get ErrNotRecorded
// (503) and the engine is not shown; once syncs succeed the tenant heals
// by itself: the step applied in memory but never journaled vanishes (the
// views are exactly those before the failure), commands are taken again,
// subscribers saw no event of a refused step and Seq goes on gapless, and
// a restart recovers exactly the healed tenant's state.
func TestHealAfterEIO(t *testing.T) {
	for _, snapEvery := range []int{-1, 5} {
		t.Run(fmt.Sprint("snapshot-every-", snapEvery), func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			fs := &faultFS{}
			o := journal.Options{SegmentSize: 4 << 10, MaxSize: 1 << 20, MaxRecordSize: 2 << 10, WrapFile: fs.wrap}
			j := openJournal(t, dir, o)
			cfg := Config{Engine: demoEngine(t), Journal: j, RecordReserve: 2 << 10, SnapshotEvery: snapEvery,
				NewEngine: func() (Machine, error) { return demoEngine(t), nil }}
			tn, err := Start(cfg)
			if err != nil {
				t.Fatal(err)
			}
			sub := tn.Subscribe(Filter{}, 4096)
			do := func(c engine.Command) error { _, err := tn.Do(ctx, c); return err }
			for i := range 8 {
				dn := fmt.Sprint(1001 + i)
				if err := do(engine.Login{DN: dn, AgentID: fmt.Sprint("agent", 1+i)}); err != nil {
					t.Fatal(err)
				}
				if err := do(engine.Ready{DN: dn}); err != nil {
					t.Fatal(err)
				}
			}
			a0, d0, c0 := views(t, tn)

			fs.fail(syscall.EIO)
			err = do(engine.NotReady{DN: "1001"})
			if !errors.Is(err, ErrNotRecorded) || !errors.Is(err, syscall.EIO) {
				t.Fatalf("command over EIO: %v, want ErrNotRecorded wrapping EIO", err)
			}
			if err := do(engine.NotReady{DN: "1002"}); !errors.Is(err, ErrNotRecorded) {
				t.Fatalf("next command: %v, want ErrNotRecorded", err)
			}
			if err := tn.Query(ctx, func(Machine) {}); !errors.Is(err, ErrNotRecorded) {
				t.Fatalf("query while failing: %v, want ErrNotRecorded (the engine holds an unjournaled step)", err)
			}
			if h := tn.Health(); h.Err == nil || h.Failures != 1 || h.Refused == 0 {
				t.Fatalf("Health while failing: %+v", h)
			}
			time.Sleep(3 * healMinWait) // heal attempts fail meanwhile
			if h := tn.Health(); h.Heals != 0 || h.Err == nil {
				t.Fatalf("healed while syncs still fail: %+v", h)
			}

			fs.fail(nil)
			healedBy := time.Now().Add(30 * time.Second)
			for tn.Health().Err != nil {
				if time.Now().After(healedBy) {
					t.Fatalf("not healed 30s after syncs succeed: %+v", tn.Health())
				}
				time.Sleep(5 * time.Millisecond)
			}
			a1, d1, c1 := views(t, tn)
			if !reflect.DeepEqual(a0, a1) || !reflect.DeepEqual(d0, d1) || !reflect.DeepEqual(c0, c1) {
				t.Fatalf("after the heal the state is not the journaled one:\nbefore %+v\nafter  %+v", a0, a1)
			}
			if err := do(engine.NotReady{DN: "1001"}); err != nil {
				t.Fatalf("command after heal: %v", err)
			}
			if h := tn.Health(); h.Heals != 1 || h.Failures != 1 {
				t.Fatalf("Health after heal: %+v", h)
			}
			a2, d2, c2 := views(t, tn)
			if err := tn.Close(ctx); err != nil {
				t.Fatal(err)
			}
			last := map[string]int64{}
			n := 0
		drain:
			for {
				select {
				case e := <-sub.C:
					n++
					if p, ok := last[e.Key()]; ok && e.Seq != p+1 {
						t.Fatalf("%s: Seq %d after %d (an event of a refused step was shown, or one is missing)", e.Key(), e.Seq, p)
					}
					last[e.Key()] = e.Seq
					if e.ID == event.EventAgentNotReady && e.ThisDN == "1002" {
						t.Fatalf("subscriber got the refused step's %v on 1002", e.ID)
					}
				default:
					break drain
				}
			}
			if n == 0 {
				t.Fatal("no events")
			}
			j.Close()

			j = openJournal(t, dir, journal.Options{SegmentSize: 4 << 10, MaxSize: 1 << 20, MaxRecordSize: 2 << 10})
			defer j.Close()
			tn, err = Start(Config{Engine: demoEngine(t), Journal: j, RecordReserve: 2 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer tn.Close(ctx)
			a3, d3, c3 := views(t, tn)
			if !reflect.DeepEqual(a2, a3) || !reflect.DeepEqual(d2, d3) || !reflect.DeepEqual(c2, c3) {
				t.Fatalf("restart recovers another state than the healed tenant had:\n%+v\n%+v", a2, a3)
			}
		})
	}
}

// With fsync taking 200 ms, requests pipeline: many concurrent commands
// share a few syncs (the tenant goroutine never waits for one), a request
// whose context ends first returns at its deadline, and Stats shows the
// fsync latency.
func TestSlowFsync(t *testing.T) {
	fs := &faultFS{}
	// No zeros ahead: their syncs (another goroutine's) would count as
	// the records' fsyncs.
	j := openJournal(t, t.TempDir(), journal.Options{WrapFile: fs.wrap, ZeroAhead: -1})
	defer j.Close()
	tn, err := Start(Config{Engine: demoEngine(t), Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close(context.Background())
	fs.syncDelay.Store(int64(200 * time.Millisecond))
	before := fs.syncs.Load()
	const n = 40
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := tn.Do(context.Background(), engine.Login{DN: fmt.Sprint(1001 + i%20), AgentID: fmt.Sprint("agent", 1+i%20)})
			var ee *engine.Error
			if errors.As(err, &ee) {
				err = nil // the second login of a DN is refused: fine
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if s := fs.syncs.Load() - before; s >= n/2 {
		t.Fatalf("%d syncs for %d concurrent commands: requests waited for each other's fsync", s, n)
	}
	if st := j.Stats(); st.MaxFsync < 200*time.Millisecond {
		t.Fatalf("Stats.MaxFsync %v, want the injected 200ms", st.MaxFsync)
	}
}

// A request waiting in the queue behind a slow fsync returns when its
// context ends and is never applied; one already taken waits for its
// outcome, whatever its context does, so an error never hides an applied
// command.
func TestSlowFsyncBoundedWait(t *testing.T) {
	fs := &faultFS{}
	// No zeros ahead: their sync (another goroutine's, delayed too) would
	// count as the first request's fsync, and the second request could be
	// taken before the first (CI failed so once).
	j := openJournal(t, t.TempDir(), journal.Options{WrapFile: fs.wrap, ZeroAhead: -1})
	defer j.Close()
	tn, err := Start(Config{Engine: demoEngine(t), Journal: j, MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close(context.Background())
	fs.syncDelay.Store(int64(300 * time.Millisecond))
	first := make(chan error, 1)
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	go func() {
		// Taken at once, then its fsync takes 300ms: its deadline
		// passes meanwhile, and it still gets its outcome.
		_, err := tn.Do(short, engine.Login{DN: "1001", AgentID: "agent1"})
		first <- err
	}()
	for fs.syncs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := tn.Do(ctx, engine.Login{DN: "1002", AgentID: "agent2"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request queued behind a 300ms fsync with a 20ms deadline: %v, want DeadlineExceeded (503)", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("request taken before its deadline passed: %v, want its outcome (success)", err)
	}
	fs.syncDelay.Store(0)
	if _, err := tn.Do(context.Background(), engine.Login{DN: "1002", AgentID: "agent2"}); err != nil {
		t.Fatalf("the abandoned login was applied after all: %v", err)
	}
	// Another agent on 1001 is refused only if agent1 is there (the same
	// agent logging in again would succeed either way).
	var ee *engine.Error
	if _, err := tn.Do(context.Background(), engine.Login{DN: "1001", AgentID: "agent3"}); !errors.As(err, &ee) {
		t.Fatalf("the first login was not applied: another agent's login on 1001 got %v, want a refusal", err)
	}
}

// The clock stepping back a minute (NTP) just before a timer is armed does
// not delay it: the wrap-up timer fires exactly 10 s later (monotonic), and
// event times never go backwards within a key.
func TestClockStepsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var offset atomic.Int64
		clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		tn, err := Start(Config{Engine: demoEngine(t), Sink: &fakeSink{auto: true}, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		defer tn.Close(context.Background())
		sub := tn.Subscribe(Filter{DN: "1001"}, 16)
		ctx := context.Background()
		if _, err := tn.Do(ctx, engine.Login{DN: "1001", AgentID: "agent1", Queues: []string{"7001"}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		offset.Store(int64(-time.Minute))
		start := time.Now()
		if _, err := tn.Do(ctx, engine.NotReady{DN: "1001", WorkMode: event.WorkModeAfterCallWork,
			Request: engine.Request{Extensions: event.KV{event.I("WrapUpTime", 10)}}}); err != nil {
			t.Fatal(err)
		}
		var got []event.Event
		for len(got) < 3 {
			select {
			case e := <-sub.C:
				got = append(got, e)
			case <-time.After(5 * time.Minute):
				t.Fatalf("%d events, the wrap-up timer never fired", len(got))
			}
		}
		if got[2].ID != event.EventAgentReady {
			t.Fatalf("third event %v, want EventAgentReady", got[2].ID)
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Fatalf("wrap-up timer fired after %v with the clock a minute back, want 10s", d)
		}
		if _, err := tn.Do(ctx, engine.NotReady{DN: "1001"}); err != nil {
			t.Fatal(err)
		}
		got = append(got, <-sub.C)
		for i := 1; i < len(got); i++ {
			if got[i].Time.UnixMicro() < got[i-1].Time.UnixMicro() {
				t.Fatalf("event %d (%v) at %v, before event %d at %v", i, got[i].ID, got[i].Time, i-1, got[i-1].Time)
			}
		}
	})
}

// lineLog records every log line (level and message, attributes as text).
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (l *lineLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s", a); return true })
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}
func (l *lineLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lineLog) WithGroup(string) slog.Handler      { return l }

// count returns how many lines start with prefix ("LEVEL message"), and
// all the lines.
func (l *lineLog) count(prefix string) (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n, strings.Join(l.lines, "\n")
}

// A journal failing for a while logs its failure once and its healing
// once, however many requests it refuses meanwhile (they are counted in
// Health and reported in the healed line); a second failure after the
// heal is logged again, with its own count.
func TestHealLogsOnceEachWay(t *testing.T) {
	logs := &lineLog{}
	log := slog.New(logs)
	fs := &faultFS{}
	j := openJournal(t, t.TempDir(), journal.Options{WrapFile: fs.wrap, Logger: log})
	defer j.Close()
	tn, err := Start(Config{Engine: demoEngine(t), Journal: j, Logger: log,
		NewEngine: func() (Machine, error) { return demoEngine(t), nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close(context.Background())
	ctx := context.Background()
	if _, err := tn.Do(ctx, engine.Login{DN: "1001", AgentID: "agent1"}); err != nil {
		t.Fatal(err)
	}
	base, _ := logs.count("") // the journal's recovery
	for episode := 1; episode <= 2; episode++ {
		fs.fail(syscall.EIO)
		refused0 := tn.Health().Refused
		const n = 2000
		for i := range n {
			var c engine.Command = engine.Ready{DN: "1001"}
			if i%2 == 1 {
				c = engine.NotReady{DN: "1001"}
			}
			if _, err := tn.Do(ctx, c); !errors.Is(err, ErrNotRecorded) {
				t.Fatalf("episode %d, command %d over EIO: %v, want ErrNotRecorded", episode, i, err)
			}
		}
		if r := tn.Health().Refused - refused0; r < n {
			t.Fatalf("episode %d: Health counts %d refused, want at least %d", episode, r, n)
		}
		time.Sleep(4 * healMinWait) // failing heal attempts
		fs.fail(nil)
		by := time.Now().Add(30 * time.Second)
		for tn.Health().Heals < uint64(episode) {
			if time.Now().After(by) {
				t.Fatalf("episode %d: not healed", episode)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := tn.Do(ctx, engine.Ready{DN: "1001"}); err != nil {
			t.Fatalf("episode %d: after the heal: %v", episode, err)
		}
		for _, prefix := range []string{
			"ERROR journal: write failed",
			"ERROR tenant: the journal fails to write",
			"ERROR tenant: events not recorded",
			"INFO journal: healed",
			"INFO tenant: healed",
		} {
			if got, all := logs.count(prefix); got != episode {
				t.Fatalf("episode %d: %d lines %q, want %d; the log:\n%s", episode, got, prefix, episode, all)
			}
		}
		// Failed heal attempts: one line at the first, one at the heal
		// (a failure soon after a heal waits longer before its first
		// attempt, which may then succeed: no line).
		tries, _ := logs.count("WARN tenant: the journal still fails to write")
		if ended, all := logs.count("WARN tenant: heal attempts while the journal failed"); tries > episode || ended != tries {
			t.Fatalf("episode %d: %d lines of failed heal attempts, %d of their end; the log:\n%s", episode, tries, ended, all)
		}
		if got, all := logs.count(""); got-base != 5*episode+2*tries {
			t.Fatalf("episode %d: %d log lines for %d refused requests; the log:\n%s", episode, got-base, n, all)
		}
		// The healed line says how many requests the failure refused.
		_, all := logs.count("")
		lines := strings.Split(all, "\n")
		if last := lines[len(lines)-1]; !strings.Contains(last, fmt.Sprintf("refused=%d", n)) {
			t.Fatalf("episode %d: the healed line does not count the %d refused requests: %s", episode, n, last)
		}
	}
}

// A journal that heals but no longer replays into the engine NewEngine
// builds (here: another server's, whose call ids differ) leaves the tenant
// refusing commands, and its Health says so although the journal itself
// is healthy again: readiness must not read the journal alone.
func TestHealReplayFailsStaysUnhealthy(t *testing.T) {
	fs := &faultFS{}
	j := openJournal(t, t.TempDir(), journal.Options{WrapFile: fs.wrap})
	defer j.Close()
	other := func() (Machine, error) {
		return engine.New(&config.Demo("tok", "pw").Tenants[0], engine.Options{Server: "s2"})
	}
	tn, err := Start(Config{Engine: demoEngine(t), Journal: j, NewEngine: other})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close(context.Background())
	ctx := context.Background()
	if _, err := tn.Do(ctx, engine.MakeCall{From: "1001", To: "1002"}); err != nil {
		t.Fatal(err)
	}
	fs.fail(syscall.EIO)
	if _, err := tn.Do(ctx, engine.MakeCall{From: "1003", To: "1004"}); !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("command over EIO: %v", err)
	}
	fs.fail(nil)
	by := time.Now().Add(30 * time.Second)
	for j.Stats().Heals == 0 {
		if time.Now().After(by) {
			t.Fatal("the journal did not heal")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(3 * healMaxWait)
	if _, err := tn.Do(ctx, engine.MakeCall{From: "1005", To: "1006"}); !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("command after a heal whose replay failed: %v, want ErrNotRecorded", err)
	}
	if h := tn.Health(); h.Err == nil || !strings.Contains(h.Err.Error(), "restart needed") || h.Heals != 0 || j.Stats().Err != nil {
		t.Fatalf("Health %+v with the journal's error %v: want the tenant unhealthy, the journal not", h, j.Stats().Err)
	}
}
