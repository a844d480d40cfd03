package tenant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
	"github.com/switchboard-cc/switchboard/internal/logsample"
)

// Errors of the runtime. Both mean the request may be retried later; the
// API answers them with 503.
var (
	// ErrClosed: the tenant is shutting down and takes no more commands.
	ErrClosed = errors.New("tenant: tenant closed")
	// ErrNotRecorded: the Sink failed to record the step's events. The
	// engine has applied the command; its events may be missing downstream.
	ErrNotRecorded = errors.New("tenant: events not recorded")
	// ErrJournalFull: the journal has no room for another step; the
	// command was not applied (nothing changed). It wraps ErrNotRecorded,
	// so the API answers 503.
	ErrJournalFull = fmt.Errorf("%w: journal full", ErrNotRecorded)
	// ErrReplay: at recovery, a journaled command did not reproduce the
	// events it had produced (or could not be applied): the engine is not
	// the one that wrote the journal. The tenant does not start.
	ErrReplay = errors.New("tenant: journal replay diverged")
)

// Sink records the events of a batch of steps, in the order given, and calls
// done exactly once when all of them are recorded (err nil) or cannot be
// (err non-nil). done may be called on any goroutine, also before Publish
// returns. Batches are handed over in step order; a Sink must record them in
// that order per record key. *publisher.Publisher satisfies it (serve
// journals instead, see Config.Journal).
type Sink interface {
	Publish(evs []event.Event, done func(error))
}

// Machine is what the runtime drives: *engine.Engine in production, a
// scripted fake in the runtime's own tests.
type Machine interface {
	TenantID() string
	Step(at int64, cmd engine.Command) (engine.Result, error)
}

var _ Machine = (*engine.Engine)(nil)

// Config configures one tenant's runtime. Engine and one of Journal or Sink
// are required.
type Config struct {
	Engine Machine
	// Journal, if set, records every step (one record per step, see
	// package steprec) and a reply is released once its step is durable (fsync).
	// Start then first recovers the engine from the journal's latest
	// snapshot and the step records after it. The Journal must be the
	// tenant's own (the tenant goroutine is its only appender) and stays
	// open until Close returned; the runtime does not close it.
	Journal *journal.Journal
	// RecordReserve is the room a step record may need: a command is
	// applied only while Journal has that much room below its MaxSize, else
	// it gets ErrJournalFull. Set it to the journal's
	// Options.MaxRecordSize. Default journal.DefaultMaxRecordSize.
	RecordReserve int
	// SnapshotEvery is how many steps pass between snapshots of the
	// engine (journal mode, Machine implementing Snapshotter). Default
	// 100,000; negative disables periodic snapshots (Close still writes
	// one).
	SnapshotEvery int
	// SnapshotInterval, in Log mode, is the most time that passes between
	// a step and a snapshot including it (0: none; snapshots by
	// SnapshotEvery only). A quiet tenant is then snapshotted too, so a
	// new owner's replay of the log starts at most this long ago.
	SnapshotInterval time.Duration
	// RecoveryCommands, if set, is called after recovery, before any other
	// command, with the recovered engine; the commands it returns are
	// stepped and journaled like any other, and it is called again until it
	// returns none or a round changes nothing (at most 16 rounds). It is
	// how what cannot continue after a restart (calls whose SIP dialogs
	// died with the process) is released cleanly, with its events.
	RecoveryCommands func(Machine) []engine.Command
	// NewEngine, in journal mode, builds a fresh engine of the same
	// configuration as Engine. After a journal write failure the tenant
	// uses it to heal without a restart: once Journal.Heal succeeds it
	// restores the newest snapshot and replays the journal into a new
	// engine (the steps applied but never journaled vanish), then takes
	// commands again. Nil: the tenant refuses every command after a
	// write failure until it is restarted.
	NewEngine func() (Machine, error)
	// Sink receives the events of each batch when there is no Journal.
	Sink Sink
	// Log, if set instead of Journal or Sink (cluster mode), records each
	// batch's step records and events in one commit (see StepLog); Start
	// first recovers from LogState. SnapshotEvery applies to it too.
	Log StepLog
	// LogState is the state Start recovers from in Log mode (nil: none).
	LogState *LogState
	// Clock gives the time of each step. Default time.Now. Tests may pass a
	// fake clock or run under testing/synctest, where time.Now is fake.
	Clock func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// MaxBatch is the most commands stepped into one batch handed to the
	// Sink. Default 512.
	MaxBatch int
	// MaxInFlight is the most batches awaiting acknowledgement (or in-order
	// release). Default 64.
	MaxInFlight int
	// QueueSize is the capacity of the command queue. Default 4096.
	QueueSize int
}

func (c *Config) setDefaults() {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 512
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 64
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 4096
	}
	if c.RecordReserve <= 0 {
		c.RecordReserve = journal.DefaultMaxRecordSize
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 100_000
	}
}

// Validate reports a missing required field.
func (c *Config) Validate() error {
	switch {
	case c.Engine == nil:
		return errors.New("tenant: Config.Engine is nil")
	case c.Sink == nil && c.Journal == nil && c.Log == nil:
		return errors.New("tenant: Config.Journal, Config.Sink and Config.Log are nil")
	}
	return nil
}

// Outcome is what a command that succeeded gives back.
type Outcome struct {
	// Reply is the engine's command-specific reply (Result.Reply), often nil.
	Reply any
	// Events is how many events the command caused (all recorded).
	Events int
}

// Tenant owns one tenant's engine on one goroutine.
type Tenant struct {
	id     string
	cfg    Config
	eng    Machine
	log    *slog.Logger
	in     chan *request
	fired  chan timerFire
	stop   chan struct{}
	exited chan struct{}
	once   sync.Once
	hub    *hub
	ack    *acker
	// reqs pools Do's requests whose reply came (a command then costs the
	// caller no allocation of the runtime's). Per tenant, not global: a
	// reply channel belongs to the synctest bubble it was made in.
	reqs   sync.Pool
	sample *logsample.Sampler
	kick   chan struct{} // cap 1: the syncer saw a write failure

	// Owned by the tenant goroutine.
	last   int64 // unix micro of the last step; time never goes back
	timers map[string]*timerEntry
	gen    uint64

	// Journal mode.
	jr       *journal.Journal
	maxSize  int64
	rec      []byte // record buffer, reused
	recEnc   StepEncoder
	lastLSN  uint64 // LSN of the last step appended
	broken   error  // journal writes failed: the engine may hold steps the journal has not
	brokenAt time.Time
	healC    <-chan time.Time // next heal attempt, nil while healthy
	healWait time.Duration
	healedAt time.Time
	health   atomic.Pointer[Health]
	failures atomic.Uint64
	heals    atomic.Uint64
	refused  atomic.Uint64
	// refusedAtHeal is refused at the last heal (or start): the healed
	// line reports the commands refused since.
	refusedAtHeal uint64
	sinceSnap     int // steps since the last snapshot was taken
	syncq         chan syncItem
	synced        chan struct{} // closed when the syncer exits
	snapLSN       atomic.Uint64 // LSN of the newest snapshot written
	snapBusy      atomic.Bool
	snapWG        sync.WaitGroup
	recovery      Recovery

	lm        logMode               // Log mode
	logBroken atomic.Pointer[error] // a StepLog commit failed
}

type syncItem struct {
	n   uint64 // batch number
	lsn uint64 // the last step record appended when the batch ended
}

type request struct {
	ctx   context.Context
	cmd   engine.Command
	query func(Machine)
	reply chan result  // capacity 1
	state atomic.Int32 // reqQueued, reqTaken or reqAbandoned
	// DoWithin: the deadline (zero: none but ctx's), and the timer that
	// ends the caller's wait at it, kept with a pooled request for reuse.
	deadline time.Time
	timer    *time.Timer
}

// err is why r may no longer be stepped: its context ended, or its
// deadline passed (context.DeadlineExceeded, as a context's would say).
func (r *request) err() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// expired is the channel that fires at r's deadline; nil (never) without one.
func (r *request) expired() <-chan time.Time {
	if r.deadline.IsZero() {
		return nil
	}
	return r.timer.C
}

// Request states: queued until the tenant goroutine takes it (it is then
// stepped, or refused, and gets its reply) or the caller abandons it (its
// context ended first: it is never stepped). Exactly one of the two wins.
const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// take is the tenant goroutine taking r: false if the caller abandoned it,
// or if its context has ended (r then gets ctx's error).
func (r *request) take() bool {
	if err := r.err(); err != nil {
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			r.reply <- result{err: err}
		}
		return false
	}
	return r.state.CompareAndSwap(reqQueued, reqTaken)
}

type result struct {
	out Outcome
	err error
}

type timerEntry struct {
	t   *time.Timer
	gen uint64
	at  int64
}

type timerFire struct {
	id  string
	gen uint64
}

// Start starts the tenant's goroutine. Stop it with Close.
func Start(cfg Config) (*Tenant, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	t := &Tenant{
		id:     cfg.Engine.TenantID(),
		cfg:    cfg,
		eng:    cfg.Engine,
		log:    cfg.Logger,
		in:     make(chan *request, cfg.QueueSize),
		fired:  make(chan timerFire, 64),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
		hub:    newHub(),
		timers: make(map[string]*timerEntry),
	}
	t.sample = logsample.New(t.log, 0)
	t.kick = make(chan struct{}, 1)
	t.ack = newAcker(cfg.MaxInFlight, t.hub, t.log, t.sample, cfg.Journal != nil)
	t.ack.refused = &t.refused
	if cfg.Journal != nil {
		t.jr = cfg.Journal
		t.maxSize = t.jr.Stats().MaxSize
		if err := t.recover(); err != nil {
			return nil, err
		}
		if _, ok := t.eng.(Snapshotter); !ok {
			t.log.Warn("tenant: the engine cannot be snapshotted, so the journal is never truncated: "+
				"once it reaches its maximum size every command gets 503", "tenant", t.id,
				"journal_bytes", t.jr.Size(), "journal_max_bytes", t.maxSize)
		}
		t.syncq = make(chan syncItem, cfg.MaxInFlight+1)
		t.synced = make(chan struct{})
		go t.syncer()
	} else if cfg.Log != nil {
		t.lm.log = cfg.Log
		if err := t.recoverLog(); err != nil {
			return nil, err
		}
		t.lm.startTick(cfg.SnapshotInterval)
	}
	go t.run()
	return t, nil
}

// ID is the tenant id.
func (t *Tenant) ID() string { return t.id }

// Do applies cmd on the tenant goroutine and waits until its events are
// recorded by the Sink. A refusal is returned as the engine's *engine.Error
// (nothing changed, no events). ErrClosed and ErrNotRecorded (wrapped) mean
// the service is unavailable. If ctx ends before the tenant goroutine takes
// the command, Do returns ctx.Err() and the command is not applied; once
// taken, Do waits for its outcome whatever ctx does (it is bounded: the
// step becomes durable or its journal write fails), so an error never
// hides an applied command. Callers bound the wait in the queue with ctx.
func (t *Tenant) Do(ctx context.Context, cmd engine.Command) (Outcome, error) {
	return t.do(ctx, 0, cmd)
}

// DoWithin is Do with a context that ends d from now at the latest
// (context.WithTimeout(ctx, d)), without making that context and its
// timer for every command: the request keeps a timer for its next use.
// It ends with context.DeadlineExceeded where that context would have.
func (t *Tenant) DoWithin(ctx context.Context, d time.Duration, cmd engine.Command) (Outcome, error) {
	return t.do(ctx, d, cmd)
}

// do is Do, with a deadline d from now unless d is 0.
func (t *Tenant) do(ctx context.Context, d time.Duration, cmd engine.Command) (Outcome, error) {
	r, _ := t.reqs.Get().(*request)
	if r == nil {
		r = &request{reply: make(chan result, 1)}
	}
	r.ctx, r.cmd = ctx, cmd
	if d != 0 {
		r.deadline = time.Now().Add(d)
		if r.timer == nil {
			r.timer = time.NewTimer(d)
		} else {
			r.timer.Reset(d)
		}
	}
	res, err := t.submit(ctx, r)
	if r.timer != nil {
		r.timer.Stop()
	}
	if err != nil {
		return Outcome{}, err // r may still be queued: not reused
	}
	// The tenant is done with a request once it has sent its one reply:
	// the request and its channel serve another Do.
	r.ctx, r.cmd, r.deadline = nil, nil, time.Time{}
	r.state.Store(reqQueued)
	t.reqs.Put(r)
	return res.out, res.err
}

// Query runs f on the tenant goroutine, between steps, and waits for it. f
// gets the Config.Engine (an *engine.Engine in production) and may read it (its views are copies, safe to return) and must not
// keep the engine or call Step. Without a journal the state it sees may
// include steps whose events are not yet recorded. In journal mode Query
// returns only once every step f saw is durable, and fails with
// ErrNotRecorded (f's view must then be dropped) if one of them could not be
// journaled or the journal is failing: a reader never sees a change whose
// request got 503.
func (t *Tenant) Query(ctx context.Context, f func(Machine)) error {
	r := &request{ctx: ctx, query: f, reply: make(chan result, 1)}
	res, err := t.submit(ctx, r)
	if err != nil {
		return err
	}
	return res.err
}

// submit queues r and waits for its reply. It returns an error (and no
// reply was received) when r was not queued or was abandoned; otherwise r
// has had its reply and the tenant is done with it.
func (t *Tenant) submit(ctx context.Context, r *request) (result, error) {
	select {
	case <-t.stop:
		return result{}, ErrClosed
	default:
	}
	expired := r.expired()
	select {
	case t.in <- r:
	case <-t.stop:
		return result{}, ErrClosed
	case <-ctx.Done():
		return result{}, ctx.Err()
	case <-expired:
		return result{}, context.DeadlineExceeded
	}
	select {
	case res := <-r.reply:
		return res, nil
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return result{}, ctx.Err() // never stepped
		}
	case <-expired:
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return result{}, context.DeadlineExceeded // never stepped
		}
	case <-t.exited:
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return result{}, ErrClosed // never going to be taken
		}
	}
	// Taken: its reply comes, now or when its batch is released (or
	// failed by Close).
	return <-r.reply, nil
}

// Subscribe returns a subscription to the tenant's events that are recorded
// from now on, filtered by f, with a buffer of that many events (default
// 1024). A subscriber whose buffer is full is dropped (ErrSlowSubscriber).
func (t *Tenant) Subscribe(f Filter, buffer int) *Subscription {
	return t.hub.subscribe(f, buffer)
}

// SubscribeQueue is Subscribe for many long-lived subscribers (the API's
// event streams): nothing is reserved up front, the queue grows with use up
// to max events (default 1024) and is given back when drained; a
// subscriber with max events waiting is dropped (ErrSlowSubscriber). Wait
// on Ready, then Take.
func (t *Tenant) SubscribeQueue(f Filter, max int) *Subscription {
	return t.hub.subscribeQueue(f, max)
}

// Close stops taking commands, answers queued ones with ErrClosed, stops the
// timers, and waits until the Sink acknowledged every batch already handed
// to it, or until ctx ends; then the replies still waiting get
// ErrNotRecorded. Subscriptions end with ErrClosed. Close does not close the
// Sink.
func (t *Tenant) Close(ctx context.Context) error {
	t.once.Do(func() { close(t.stop) })
	select {
	case <-t.exited:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := t.ack.waitIdle(ctx)
	if err != nil {
		t.ack.failAll(fmt.Errorf("%w: %v", ErrNotRecorded, err))
	}
	if t.jr != nil {
		t.snapWG.Wait()
		if err == nil && t.sinceSnap > 0 && t.broken == nil {
			t.snapshot(true)
		}
	}
	if t.lm.log != nil && err == nil && t.sinceSnap > 0 && t.logBroken.Load() == nil {
		t.logSnapshot()
	}
	t.hub.close()
	return err
}

func (t *Tenant) run() {
	defer close(t.exited)
	defer t.drain()
	defer t.lm.stopTick()
	if t.syncq != nil {
		defer close(t.syncq)
	}
	for {
		var first *request
		var fire *timerFire
		select {
		case first = <-t.in:
		case f := <-t.fired:
			fire = &f
		case <-t.kick:
			t.failed(nil)
			continue
		case <-t.healC:
			t.heal()
			continue
		case <-t.lm.tick:
			t.logSnapshotDue()
			continue
		case <-t.stop:
			return
		}
		if first != nil && first.query != nil && t.jr == nil {
			t.runQuery(first)
			continue
		}
		// Back-pressure: wait for a free slot before stepping anything.
		select {
		case t.ack.slots <- struct{}{}:
		case <-t.stop:
			if first != nil {
				first.reply <- result{err: ErrClosed}
			}
			return
		}
		b := t.newBatch()
		if first != nil {
			t.handle(b, first)
		} else {
			t.fire(b, *fire)
		}
	more:
		for len(b.steps) < t.cfg.MaxBatch {
			select {
			case r := <-t.in:
				if r.query != nil && t.jr == nil {
					t.runQuery(r)
				} else {
					t.handle(b, r)
				}
			case f := <-t.fired:
				t.fire(b, f)
			default:
				break more
			}
		}
		if len(b.steps) == 0 {
			<-t.ack.slots
			continue
		}
		n := t.ack.add(b)
		if t.lm.log != nil {
			t.logCommit(n, b)
			continue
		}
		if t.jr != nil {
			// Every reply of the batch (refusals and queries too) was
			// decided on the state of the steps appended so far: it
			// waits until they are durable.
			t.syncq <- syncItem{n: n, lsn: t.lastLSN}
			t.maybeSnapshot()
			continue
		}
		if len(b.events) == 0 {
			t.ack.done(n, nil, 0)
			continue
		}
		t.cfg.Sink.Publish(b.events, func(err error) { t.ack.done(n, err, 0) })
	}
}

func (t *Tenant) runQuery(r *request) {
	if !r.take() {
		return
	}
	r.query(t.eng)
	r.reply <- result{}
}

// drain answers every queued request with ErrClosed and stops the timers.
func (t *Tenant) drain() {
	for {
		select {
		case r := <-t.in:
			r.reply <- result{err: ErrClosed}
		default:
			for id, e := range t.timers {
				e.t.Stop()
				delete(t.timers, id)
			}
			return
		}
	}
}

// now is the time of a step: the clock, but never before the previous
// step's, so that event times never go backwards (a clock stepped back by
// NTP holds them at the last one until it catches up).
func (t *Tenant) now() int64 {
	at := t.logicalNow()
	t.last = at
	return at
}

// logicalNow is the clock, never before the last step's time: timers are
// armed against it, so a clock stepped back does not delay them (their
// durations run on the monotonic clock).
func (t *Tenant) logicalNow() int64 {
	return max(t.cfg.Clock().UnixMicro(), t.last)
}

// handle runs a queued request: a command or, in journal mode, a query.
func (t *Tenant) handle(b *batch, r *request) {
	if r.query == nil {
		t.step(b, r)
		return
	}
	if !r.take() {
		return
	}
	if t.broken != nil {
		// The engine may hold steps the journal does not: nothing of it
		// is shown until it is healed.
		r.reply <- result{err: t.broken}
		return
	}
	r.query(t.eng)
	b.steps = append(b.steps, stepResult{req: r, lsn: t.lastLSN})
}

func (t *Tenant) step(b *batch, r *request) {
	if !r.take() {
		// The client gave up before the command was applied: skip it.
		return
	}
	if t.jr != nil {
		if err := t.room(); err != nil {
			t.refused.Add(1)
			r.reply <- result{err: err}
			return
		}
	}
	if t.lm.log != nil {
		if err := t.logRefuse(); err != nil {
			r.reply <- result{err: err}
			return
		}
	}
	at := t.now()
	res, err := t.stepEngine(b, at, r.cmd)
	if err != nil {
		b.steps = append(b.steps, stepResult{req: r, res: result{err: err}})
		return
	}
	if t.jr != nil {
		if err := t.record(b, at, r.cmd, res.Events); err != nil {
			t.refused.Add(1)
			b.steps = append(b.steps, stepResult{req: r, res: result{err: err}})
			return
		}
	}
	if t.lm.log != nil {
		if err := t.logRecord(b, at, r.cmd, res.Events); err != nil {
			b.steps = append(b.steps, stepResult{req: r, res: result{err: err}})
			return
		}
	}
	from := len(b.events)
	b.addEvents(res.Events)
	b.steps = append(b.steps, stepResult{req: r, res: result{out: Outcome{Reply: res.Reply, Events: len(res.Events)}},
		lsn: b.lsn, evFrom: from, evTo: len(b.events)})
	t.effects(res.Effects)
}

func (t *Tenant) fire(b *batch, f timerFire) {
	e, ok := t.timers[f.id]
	if !ok || e.gen != f.gen {
		return // cancelled or replaced after it fired
	}
	if t.jr != nil {
		if err := t.room(); err != nil {
			// Not applied: try again in a second.
			t.sample.Log(context.Background(), slog.LevelWarn, "timer postponed", "tenant: timer postponed, the journal takes no step",
				"tenant", t.id, "timer", f.id, "err", err)
			t.startTimer(f.id, t.logicalNow()+int64(time.Second/time.Microsecond))
			return
		}
	}
	if t.lm.log != nil && t.logRefuse() != nil {
		return // the tenant is being rebuilt from the log
	}
	delete(t.timers, f.id)
	at := e.at
	if at < t.last {
		at = t.last
	}
	t.last = at
	cmd := engine.TimerFired{ID: f.id}
	res, err := t.stepEngine(b, at, cmd)
	if err != nil {
		t.log.Warn("timer refused by engine", "tenant", t.id, "timer", f.id, "err", err)
		return
	}
	if t.jr != nil {
		if err := t.record(b, at, cmd, res.Events); err != nil {
			return
		}
	}
	if t.lm.log != nil {
		if err := t.logRecord(b, at, cmd, res.Events); err != nil {
			return
		}
	}
	from := len(b.events)
	b.addEvents(res.Events)
	b.steps = append(b.steps, stepResult{lsn: b.lsn, evFrom: from, evTo: len(b.events)})
	t.effects(res.Effects)
}

func (t *Tenant) effects(effs []engine.Effect) {
	for _, eff := range effs {
		switch e := eff.(type) {
		case engine.StartTimer:
			t.startTimer(e.ID, e.At)
		case *engine.StartTimer:
			t.startTimer(e.ID, e.At)
		case engine.CancelTimer:
			t.cancelTimer(e.ID)
		case *engine.CancelTimer:
			t.cancelTimer(e.ID)
		default:
			t.log.Error("unknown engine effect", "tenant", t.id, "effect", fmt.Sprintf("%T", eff))
		}
	}
}

func (t *Tenant) startTimer(id string, at int64) {
	t.cancelTimer(id)
	t.gen++
	f := timerFire{id: id, gen: t.gen}
	d := time.Duration(at-t.logicalNow()) * time.Microsecond
	e := &timerEntry{gen: t.gen, at: at}
	e.t = time.AfterFunc(max(d, 0), func() {
		select {
		case t.fired <- f:
		case <-t.stop:
		}
	})
	t.timers[id] = e
}

func (t *Tenant) cancelTimer(id string) {
	if e, ok := t.timers[id]; ok {
		e.t.Stop()
		delete(t.timers, id)
	}
}

// scratchStepper is a Machine that can step into an event buffer it reuses
// (*engine.Engine's StepScratch): the events it returns are valid until its
// next step.
type scratchStepper interface {
	StepScratch(at int64, cmd engine.Command) (engine.Result, error)
}

// stepEngine steps the engine for batch b. A batch of its own buffers
// (journal mode, newBatch) copies each step's events, so there the engine
// steps into its reused buffer: the step allocates no event storage.
func (t *Tenant) stepEngine(b *batch, at int64, cmd engine.Command) (engine.Result, error) {
	if s, ok := t.eng.(scratchStepper); ok && b.pooled {
		return s.StepScratch(at, cmd)
	}
	return t.eng.Step(at, cmd)
}

// newBatch returns an empty batch for the next steps. In journal mode it is
// pooled: its events and steps are its own buffers, reused once it is
// released (recycle), since nothing holds a batch's events after its
// release (the hub copies them, the journal has their record). The Sink
// and Log modes hand the events to code that may keep them.
func (t *Tenant) newBatch() *batch {
	if t.jr == nil {
		return &batch{}
	}
	if b, ok := batchPool.Get().(*batch); ok {
		return b
	}
	return &batch{pooled: true}
}

// batchPool holds released journal-mode batches, with their buffers.
var batchPool sync.Pool

// A batch whose buffers grew beyond these (a burst) is left to the garbage
// collector rather than pooled.
const (
	maxPooledEvents = 4096
	maxPooledSteps  = 1024
)

// recycle pools b, a pooled batch just released: its buffers are cleared
// (so they keep no event's or request's memory) and reused by newBatch.
func (b *batch) recycle() {
	if !b.pooled || cap(b.events) > maxPooledEvents || cap(b.steps) > maxPooledSteps {
		return
	}
	clear(b.events)
	clear(b.steps)
	*b = batch{pooled: true, events: b.events[:0], steps: b.steps[:0]}
	batchPool.Put(b)
}

// batch is the steps handed to the Sink in one Publish call.
type batch struct {
	// pooled: journal mode; events and steps are the batch's own buffers
	// (see newBatch), events copied in by addEvents.
	pooled  bool
	n       uint64
	lsn     uint64       // journal mode: LSN of the batch's last step record, 0 if none
	steps   []stepResult // req nil for timer steps
	events  []event.Event
	acked   bool
	err     error
	durable uint64 // journal mode, err set: the journal's durable LSN then

	logFirst uint64   // Log mode: number of the step of logRecs[0]
	logRecs  [][]byte // Log mode: the step records
}

// addEvents adds a step's events (which the runtime owns, Result.Events):
// the first step's slice is used as it is, later ones are appended. A
// pooled batch copies them all into its own buffer.
func (b *batch) addEvents(evs []event.Event) {
	if b.events == nil && !b.pooled {
		b.events = evs
		return
	}
	b.events = append(b.events, evs...)
}

type stepResult struct {
	req *request
	res result
	// Journal mode: lsn is the step's record (for a query, the last record
	// its view includes; 0 for a refusal), and b.events[evFrom:evTo] its
	// events. A step whose record is durable stands even if its batch
	// failed further on.
	lsn          uint64
	evFrom, evTo int
}

// acker releases batches in order once acknowledged.
type acker struct {
	slots   chan struct{}
	hub     *hub
	log     *slog.Logger
	sample  *logsample.Sampler
	journal bool
	refused *atomic.Uint64 // requests answered ErrNotRecorded, counted in Health

	mu      sync.Mutex
	next    uint64 // number of the next batch added
	head    uint64 // number of the oldest unreleased batch
	pending map[uint64]*batch
	idle    chan struct{} // closed when pending becomes empty; nil if nobody waits
}

func newAcker(maxInFlight int, h *hub, log *slog.Logger, sample *logsample.Sampler, journal bool) *acker {
	return &acker{slots: make(chan struct{}, maxInFlight), hub: h, log: log, sample: sample, journal: journal,
		pending: make(map[uint64]*batch)}
}

// inFlight is how many batches await acknowledgement.
func (a *acker) inFlight() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending)
}

func (a *acker) add(b *batch) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	b.n = a.next
	a.next++
	a.pending[b.n] = b
	return b.n
}

// done acknowledges batch n; durable is, in journal mode with err set, the
// journal's durable LSN (the steps up to it stand).
func (a *acker) done(n uint64, err error, durable uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.pending[n]
	if !ok || b.acked {
		return
	}
	b.acked, b.err, b.durable = true, err, durable
	if err != nil {
		a.sample.Log(context.Background(), slog.LevelError, "not recorded", "tenant: events not recorded; their requests get 503",
			"events", len(b.events), "err", err)
	}
	for {
		b, ok := a.pending[a.head]
		if !ok || !b.acked {
			break
		}
		delete(a.pending, a.head)
		a.head++
		a.release(b)
	}
	a.signalIdle()
}

func (a *acker) release(b *batch) {
	// The events go to the subscribers before the replies: a caller that
	// has its reply and then subscribes (a renewed subscription, a test)
	// does not get its own step's events a second time through the new
	// subscription.
	switch {
	case b.err == nil:
		a.hub.publish(b.events)
	case a.journal:
		// journal mode, failed batch: the events of the durable steps
		var evs []event.Event
		for _, s := range b.steps {
			if s.lsn <= b.durable {
				evs = append(evs, b.events[s.evFrom:s.evTo]...)
			}
		}
		if len(evs) > 0 {
			a.hub.publish(evs)
		}
	}
	for _, s := range b.steps {
		if s.req == nil {
			continue
		}
		stands := b.err == nil || (a.journal && s.lsn <= b.durable)
		res := s.res
		if !stands && res.err == nil && (a.journal || res.out.Events > 0) {
			res = result{err: fmt.Errorf("%w: %w", ErrNotRecorded, b.err)}
			if a.refused != nil {
				a.refused.Add(1)
			}
		}
		s.req.reply <- res
	}
	b.recycle()
	<-a.slots
}

func (a *acker) signalIdle() {
	if len(a.pending) == 0 && a.idle != nil {
		close(a.idle)
		a.idle = nil
	}
}

func (a *acker) waitIdle(ctx context.Context) error {
	a.mu.Lock()
	if len(a.pending) == 0 {
		a.mu.Unlock()
		return nil
	}
	if a.idle == nil {
		a.idle = make(chan struct{})
	}
	idle := a.idle
	a.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failAll releases every pending batch, in order, with err.
func (a *acker) failAll(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(a.pending) > 0 {
		b, ok := a.pending[a.head]
		if ok {
			delete(a.pending, a.head)
			if !b.acked {
				b.acked, b.err, b.durable = true, err, 0
			}
			a.release(b)
		}
		a.head++
	}
	a.signalIdle()
}
