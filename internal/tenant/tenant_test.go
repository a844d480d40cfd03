package tenant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// cmd is a scripted command for fakeMachine.
type cmd struct {
	name    string
	dn      string
	events  int  // events to produce, on ThisDN dn
	refuse  bool // answer with an *engine.Error
	effects []engine.Effect
}

func (c cmd) Kind() string { return "test-" + c.name }

type stepped struct {
	at  int64
	cmd engine.Command
}

// fakeMachine produces the events a cmd asks for, numbered per DN.
type fakeMachine struct {
	mu    sync.Mutex
	steps []stepped
	seq   map[string]int64
}

func (m *fakeMachine) TenantID() string { return "t1" }

func (m *fakeMachine) Step(at int64, c engine.Command) (engine.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.steps = append(m.steps, stepped{at, c})
	if m.seq == nil {
		m.seq = map[string]int64{}
	}
	var res engine.Result
	switch c := c.(type) {
	case cmd:
		if c.refuse {
			return engine.Result{}, &engine.Error{Code: engine.CodeConflict, Msg: "refused " + c.name}
		}
		for range c.events {
			m.seq[c.dn]++
			res.Events = append(res.Events, event.Event{ID: event.EventDNDOn, CustomerID: "t1", ThisDN: c.dn, Seq: m.seq[c.dn], Time: event.TimeFromUnixMicro(at)})
		}
		res.Effects = c.effects
		res.Reply = c.name
	case engine.TimerFired:
		m.seq["timer"]++
		res.Events = []event.Event{{ID: event.EventDNDOff, CustomerID: "t1", ThisDN: "timer", Seq: m.seq["timer"], Reasons: event.KV{event.S("Timer", c.ID)}}}
	}
	return res, nil
}

func (m *fakeMachine) history() []stepped {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]stepped(nil), m.steps...)
}

// fakeSink keeps the batches and their done callbacks; auto acknowledges
// at once when auto is set.
type fakeSink struct {
	mu      sync.Mutex
	auto    bool
	batches [][]event.Event
	dones   []func(error)
}

func (s *fakeSink) Publish(evs []event.Event, done func(error)) {
	s.mu.Lock()
	auto := s.auto
	if !auto {
		s.batches = append(s.batches, evs)
		s.dones = append(s.dones, done)
	}
	s.mu.Unlock()
	if auto {
		done(nil)
	}
}

func (s *fakeSink) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.batches)
}

func (s *fakeSink) ack(i int, err error) {
	s.mu.Lock()
	d := s.dones[i]
	s.mu.Unlock()
	d(err)
}

func start(t *testing.T, m Machine, s Sink, mod func(*Config)) *Tenant {
	t.Helper()
	cfg := Config{Engine: m, Sink: s}
	if mod != nil {
		mod(&cfg)
	}
	tn, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		tn.Close(ctx)
	})
	return tn
}

type doResult struct {
	out Outcome
	err error
}

func goDo(tn *Tenant, c engine.Command) chan doResult {
	ch := make(chan doResult, 1)
	go func() {
		out, err := tn.Do(context.Background(), c)
		ch <- doResult{out, err}
	}()
	return ch
}

func ready(ch chan doResult) (doResult, bool) {
	select {
	case r := <-ch:
		return r, true
	default:
		return doResult{}, false
	}
}

func TestReplyWaitsForAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{}
		tn := start(t, &fakeMachine{}, sink, nil)
		ch := goDo(tn, cmd{name: "a", dn: "1001", events: 2})
		synctest.Wait()
		if sink.n() != 1 || len(sink.batches[0]) != 2 {
			t.Fatalf("sink got %d batches, want 1 of 2 events", sink.n())
		}
		if _, ok := ready(ch); ok {
			t.Fatal("reply released before the sink acknowledged")
		}
		sink.ack(0, nil)
		synctest.Wait()
		r, ok := ready(ch)
		if !ok {
			t.Fatal("no reply after ack")
		}
		if r.err != nil || r.out.Events != 2 || r.out.Reply != "a" {
			t.Fatalf("got %+v, want 2 events, reply a", r)
		}
	})
}

// While batch 1 awaits its ack, further commands are stepped and published
// (pipelining); replies are released in step order.
func TestPipelineReleasesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{}
		tn := start(t, &fakeMachine{}, sink, nil)
		var chs []chan doResult
		for i := range 3 {
			chs = append(chs, goDo(tn, cmd{name: fmt.Sprint(i), dn: "1001", events: 1}))
			synctest.Wait() // one batch each: the goroutine is idle between them
		}
		if sink.n() != 3 {
			t.Fatalf("sink got %d batches before any ack, want 3 (pipelined)", sink.n())
		}
		sink.ack(2, nil)
		sink.ack(1, nil)
		synctest.Wait()
		for i, ch := range chs {
			if _, ok := ready(ch); ok {
				t.Fatalf("reply %d released while batch 0 is unacknowledged", i)
			}
		}
		sink.ack(0, nil)
		synctest.Wait()
		for i, ch := range chs {
			if r, ok := ready(ch); !ok || r.err != nil {
				t.Fatalf("reply %d: %+v %v", i, r, ok)
			}
		}
		// Events were handed over in step order with Seq per key.
		var seqs []int64
		for _, b := range sink.batches {
			for _, ev := range b {
				seqs = append(seqs, ev.Seq)
			}
		}
		if fmt.Sprint(seqs) != "[1 2 3]" {
			t.Fatalf("seqs %v, want [1 2 3]", seqs)
		}
	})
}

func TestRefusalWaitsForEarlierBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{}
		tn := start(t, &fakeMachine{}, sink, nil)
		first := goDo(tn, cmd{name: "ok", dn: "1001", events: 1})
		synctest.Wait()
		refused := goDo(tn, cmd{name: "no", refuse: true})
		synctest.Wait()
		if _, ok := ready(refused); ok {
			t.Fatal("refusal released before the earlier batch was recorded")
		}
		sink.ack(0, nil)
		synctest.Wait()
		r, ok := ready(refused)
		var ee *engine.Error
		if !ok || !errors.As(r.err, &ee) || ee.Code != engine.CodeConflict {
			t.Fatalf("refusal: %+v, %v", r, ok)
		}
		if r, ok := ready(first); !ok || r.err != nil {
			t.Fatalf("first: %+v %v", r, ok)
		}
		if sink.n() != 1 {
			t.Fatalf("a refusal published events: %d batches", sink.n())
		}
	})
}

func TestSinkErrorIsNotRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{}
		tn := start(t, &fakeMachine{}, sink, nil)
		sub := tn.Subscribe(Filter{}, 8)
		ch := goDo(tn, cmd{name: "a", dn: "1001", events: 1})
		synctest.Wait()
		sink.ack(0, errors.New("kafka down"))
		synctest.Wait()
		r, _ := ready(ch)
		if !errors.Is(r.err, ErrNotRecorded) {
			t.Fatalf("err %v, want ErrNotRecorded", r.err)
		}
		select {
		case ev := <-sub.C:
			t.Fatalf("subscriber got unrecorded event %v", ev.ID)
		default:
		}
	})
}

func TestBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{}
		tn := start(t, &fakeMachine{}, sink, func(c *Config) { c.MaxInFlight = 2 })
		var chs []chan doResult
		for i := range 4 {
			chs = append(chs, goDo(tn, cmd{name: fmt.Sprint(i), dn: "1001", events: 1}))
			synctest.Wait()
		}
		if sink.n() != 2 {
			t.Fatalf("%d batches in flight, want MaxInFlight 2", sink.n())
		}
		sink.ack(0, nil)
		synctest.Wait()
		// The two waiting commands are stepped together as one batch.
		if sink.n() != 3 || len(sink.batches[2]) != 2 {
			t.Fatalf("after one ack: %d batches, want 3 with the last of 2 events", sink.n())
		}
		sink.ack(1, nil)
		sink.ack(2, nil)
		synctest.Wait()
		for i, ch := range chs {
			if r, ok := ready(ch); !ok || r.err != nil {
				t.Fatalf("reply %d: %+v %v", i, r, ok)
			}
		}
	})
}

func TestTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeMachine{}
		sink := &fakeSink{auto: true}
		tn := start(t, m, sink, nil)
		sub := tn.Subscribe(Filter{DN: "timer"}, 8)
		t0 := time.Now().UnixMicro()
		at := t0 + 10_000_000
		if _, err := tn.Do(context.Background(), cmd{name: "start", effects: []engine.Effect{
			engine.StartTimer{ID: "wrap", At: at},
			engine.StartTimer{ID: "gone", At: t0 + 5_000_000},
		}}); err != nil {
			t.Fatal(err)
		}
		if _, err := tn.Do(context.Background(), cmd{name: "cancel", effects: []engine.Effect{engine.CancelTimer{ID: "gone"}}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if h := m.history(); len(h) != 2 {
			t.Fatalf("%d steps before the timer is due, want 2", len(h))
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		h := m.history()
		if len(h) != 3 {
			t.Fatalf("%d steps, want 3 (the cancelled timer must not fire)", len(h))
		}
		if got, ok := h[2].cmd.(engine.TimerFired); !ok || got.ID != "wrap" || h[2].at != at {
			t.Fatalf("step 3 = %+v at %d, want TimerFired{wrap} at %d", h[2].cmd, h[2].at, at)
		}
		select {
		case ev := <-sub.C:
			if v, _ := ev.Reasons.Get("Timer"); v.Str != "wrap" {
				t.Fatalf("subscriber got %+v", ev)
			}
		default:
			t.Fatal("timer's event not delivered to subscriber")
		}
	})
}

func TestClockNeverGoesBack(t *testing.T) {
	m := &fakeMachine{}
	times := []int64{5_000_000, 3_000_000, 7_000_000}
	var i int
	tn := start(t, m, &fakeSink{auto: true}, func(c *Config) {
		c.Clock = func() time.Time { v := times[i%len(times)]; i++; return time.UnixMicro(v) }
	})
	for range 3 {
		if _, err := tn.Do(context.Background(), cmd{name: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	for _, s := range m.history() {
		got = append(got, s.at)
	}
	if fmt.Sprint(got) != "[5000000 5000000 7000000]" {
		t.Fatalf("step times %v", got)
	}
}

func TestSubscribersFilterAndOrder(t *testing.T) {
	tn := start(t, &fakeMachine{}, &fakeSink{auto: true}, nil)
	all := tn.Subscribe(Filter{}, 100)
	only := tn.Subscribe(Filter{DN: "1002"}, 100)
	agent := tn.Subscribe(Filter{Topic: event.AgentStateTopic}, 100)
	call := tn.Subscribe(Filter{Topic: event.CallThreadTopic}, 100)
	for _, dn := range []string{"1001", "1002", "1001", "1002"} {
		if _, err := tn.Do(context.Background(), cmd{name: "x", dn: dn, events: 1}); err != nil {
			t.Fatal(err)
		}
	}
	drain := func(s *Subscription) (out []string) {
		for {
			select {
			case ev := <-s.C:
				out = append(out, fmt.Sprintf("%s/%d", ev.ThisDN, ev.Seq))
			default:
				return out
			}
		}
	}
	if got := fmt.Sprint(drain(all)); got != "[1001/1 1002/1 1001/2 1002/2]" {
		t.Errorf("all: %s", got)
	}
	if got := fmt.Sprint(drain(only)); got != "[1002/1 1002/2]" {
		t.Errorf("dn filter: %s", got)
	}
	if got := len(drain(agent)); got != 4 {
		t.Errorf("agentstate filter: %d events", got)
	}
	if got := len(drain(call)); got != 0 {
		t.Errorf("callthread filter: %d events", got)
	}
}

func TestSlowSubscriberDropped(t *testing.T) {
	tn := start(t, &fakeMachine{}, &fakeSink{auto: true}, nil)
	slow := tn.Subscribe(Filter{}, 2)
	if _, err := tn.Do(context.Background(), cmd{name: "x", dn: "1001", events: 3}); err != nil {
		t.Fatal(err)
	}
	<-slow.Done()
	if !errors.Is(slow.Err(), ErrSlowSubscriber) {
		t.Fatalf("err %v, want ErrSlowSubscriber", slow.Err())
	}
	// The tenant is not blocked.
	if _, err := tn.Do(context.Background(), cmd{name: "y", dn: "1001", events: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestCloseAnswersQueuedAndWaitsForAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{}
		tn, err := Start(Config{Engine: &fakeMachine{}, Sink: sink, MaxInFlight: 1})
		if err != nil {
			t.Fatal(err)
		}
		inflight := goDo(tn, cmd{name: "a", dn: "1", events: 1})
		synctest.Wait()
		queued := goDo(tn, cmd{name: "b", dn: "1", events: 1}) // blocked by MaxInFlight
		synctest.Wait()
		closed := make(chan error, 1)
		go func() { closed <- tn.Close(context.Background()) }()
		synctest.Wait()
		if r, ok := ready(queued); !ok || !errors.Is(r.err, ErrClosed) {
			t.Fatalf("queued: %+v %v, want ErrClosed", r, ok)
		}
		select {
		case <-closed:
			t.Fatal("Close returned before the in-flight batch was acknowledged")
		default:
		}
		sink.ack(0, nil)
		synctest.Wait()
		if r, ok := ready(inflight); !ok || r.err != nil {
			t.Fatalf("in-flight: %+v %v", r, ok)
		}
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if _, err := tn.Do(context.Background(), cmd{name: "c"}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Do after Close: %v", err)
		}
	})
}

func TestCloseDeadlineFailsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{}
		tn, _ := Start(Config{Engine: &fakeMachine{}, Sink: sink})
		inflight := goDo(tn, cmd{name: "a", dn: "1", events: 1})
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := tn.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: %v", err)
		}
		synctest.Wait()
		if r, ok := ready(inflight); !ok || !errors.Is(r.err, ErrNotRecorded) {
			t.Fatalf("in-flight: %+v %v, want ErrNotRecorded", r, ok)
		}
		sink.ack(0, nil) // a late ack is ignored
	})
}

func TestQueryRunsBetweenSteps(t *testing.T) {
	m := &fakeMachine{}
	tn := start(t, m, &fakeSink{auto: true}, nil)
	if _, err := tn.Do(context.Background(), cmd{name: "x"}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tn.Query(context.Background(), func(mm Machine) { n = len(mm.(*fakeMachine).steps) }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("query saw %d steps, want 1", n)
	}
}

// BenchmarkDo measures commands per second through one tenant with an
// immediately acknowledging sink: the runtime's own overhead.
func BenchmarkDo(b *testing.B) {
	tn, _ := Start(Config{Engine: &fakeMachine{}, Sink: &fakeSink{auto: true}})
	defer tn.Close(context.Background())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := tn.Do(context.Background(), cmd{name: "x", dn: "1", events: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// TestDoWithin: DoWithin ends a command's wait in the queue at its
// deadline with context.DeadlineExceeded, as Do with a context of that
// timeout does, and the command is never stepped; a command taken in time
// succeeds, and the request's timer serves again.
func TestDoWithin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeMachine{}
		tn := start(t, m, &fakeSink{auto: true}, nil)
		ctx := context.Background()
		for range 2 {
			if _, err := tn.DoWithin(ctx, time.Second, cmd{name: "fast", dn: "1", events: 1}); err != nil {
				t.Fatal(err)
			}
		}
		hold := make(chan struct{})
		go tn.Query(ctx, func(Machine) { <-hold })
		synctest.Wait()
		start := time.Now()
		_, err := tn.DoWithin(ctx, time.Second, cmd{name: "late", dn: "1", events: 1})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("queued past its deadline: %v after %v, want DeadlineExceeded after 1s", err, time.Since(start))
		}
		close(hold)
		if _, err := tn.DoWithin(ctx, time.Second, cmd{name: "again", dn: "1", events: 1}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		var names []string
		for _, s := range m.steps {
			names = append(names, s.cmd.(cmd).name)
		}
		if got := strings.Join(names, " "); got != "fast fast again" {
			t.Fatalf("stepped %q, want %q (the late command never)", got, "fast fast again")
		}
	})
}

// BenchmarkDoTimeout: a command bounded by a timeout, as sipfront runs
// each of a call's commands: /context with Do and context.WithTimeout,
// /within with DoWithin.
func BenchmarkDoTimeout(b *testing.B) {
	tn, _ := Start(Config{Engine: &fakeMachine{}, Sink: &fakeSink{auto: true}})
	defer tn.Close(context.Background())
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := cmd{name: "x", dn: "1", events: 1}
	b.Run("context", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(parent, time.Minute)
			_, err := tn.Do(ctx, c)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("within", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tn.DoWithin(parent, time.Minute, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
