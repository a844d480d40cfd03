package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/journal"
	"github.com/switchboard-cc/switchboard/internal/logsample"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/switchboard-cc/switchboard/internal/steprec"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Errors of the relay.
var (
	// ErrConfig: a required Config field is missing.
	ErrConfig = errors.New("relay: invalid config")
	// ErrStopped: the publisher was closed, or the journal could not be
	// read; the relay stopped. A restart publishes again from the
	// checkpoint. (A batch Kafka refuses only pauses publishing: see
	// Stats.Paused.)
	ErrStopped = errors.New("relay: stopped")
)

// Publisher is what the relay hands events to; *publisher.Publisher
// satisfies it. done is called once when Kafka has all of evs (nil) or
// cannot (an error). Publish must not retain evs (the slice or its
// elements) after it returns: the relay reuses the slice for its next
// batch.
type Publisher interface {
	Publish(evs []event.Event, done func(error))
}

// DefaultLinger is serve's Config.Linger (--relay-linger). Measured with
// `switchboard bench --peer kamailio --sip-only --sip-rate 1000` (1,000 SIP
// calls/s, ten events a call, embedded broker, 2 cores, runs of each value
// alternated in one window, load 1-6): serve's median CPU per call was
// 0.80 ms with no lingering, 0.73 ms at 5 ms and 10 ms, 0.66 ms at 20 ms
// and 30 ms, 0.64 ms at 50 ms (6 runs each for none, 10, 20 and 50 ms;
// same-run ratio to Kamailio 3.3, 3.0, 2.6, 2.6). 20 ms takes nearly all
// of the saving for the least delay of the events.
const DefaultLinger = 20 * time.Millisecond

// Config configures the relay of one tenant.
type Config struct {
	// Tenant is the tenant id, for logs.
	Tenant string
	// Journal is the tenant's journal (required).
	Journal *journal.Journal
	// Publisher produces the events (required).
	Publisher Publisher
	// Checkpoint is the path of the checkpoint file (required), outside
	// the journal's directory.
	Checkpoint string
	// Kafka are the client options (seed brokers, TLS, SASL) of the
	// relay's own clients, which read end offsets and partition tails
	// (required: at least kgo.SeedBrokers).
	Kafka []kgo.Opt
	// TopicPrefix is the publisher's topic prefix.
	TopicPrefix string
	// ReadCommitted: the publisher writes each batch as a Kafka
	// transaction (publisher.Transactional), whose transactional id it
	// initialised before Start; the partition tails are then read
	// read_committed (see "Exactly once across crashes" in the package
	// doc).
	ReadCommitted bool
	// SnapshotLSN returns the LSN of the newest snapshot (runtime's
	// Tenant.SnapshotLSN); the journal is truncated before
	// min(acked, snapshot)+1. Nil: never truncate.
	SnapshotLSN func() uint64
	// CheckpointEvery is how often the checkpoint is brought up to date.
	// Default 250ms.
	CheckpointEvery time.Duration
	// LogEvery is how often a line with the journal size and the
	// publishing lag is logged (Info; Warn while Kafka is not
	// acknowledging). Default 30s; negative: never.
	LogEvery time.Duration
	// MaxBatch is the most step records handed to the publisher in one
	// Publish call (one batch is in flight at a time; the step records
	// read meanwhile make up the next). Default 512.
	MaxBatch int
	// Linger is how long a batch that is not full (fewer than MaxBatch
	// step records) is held, counted from when its first step record was
	// read, so that the records arriving meanwhile go out with it in one
	// produce request; a full batch, and every batch while Flush or Close
	// waits, is handed over at once. 0 (the zero value) or negative: no
	// lingering, a batch is handed over as soon as the one before is
	// acknowledged. serve's default is DefaultLinger (--relay-linger).
	// Lingering delays only when Kafka has an event (a request's reply
	// waits for the journal, not for Kafka).
	Linger time.Duration
	// Logger; default discards.
	Logger *slog.Logger
}

// Stats are the relay's figures, for the operator's log lines and metrics.
type Stats struct {
	Tenant          string
	JournalSize     int64  // bytes of the live segments
	JournalMaxSize  int64  // the journal's MaxSize
	JournalSegments int    // live segment files
	FirstLSN        uint64 // first step record kept
	DurableLSN      uint64 // last durable step record
	HandedLSN       uint64 // last step record handed to the publisher
	AckedLSN        uint64 // every step record up to it is in Kafka
	CheckpointLSN   uint64 // AckedLSN as last written to the checkpoint
	LagRecords      uint64 // DurableLSN - AckedLSN: step records not yet in Kafka
	LagSince        time.Duration
	EventsPublished int64 // events handed to the publisher since Start
	EventsSkipped   int64 // events skipped at start because Kafka had them
	Resolving       bool  // reading the partition tails (at start, and after a pause)
	Err             string
	// Paused is why publishing is paused (Kafka refused a batch; it is
	// retried with backoff), "" while publishing. Pauses counts them.
	Paused string
	Pauses uint64
	// JournalErr is the journal's write failure while it lasts ("" when
	// healthy); the fsync figures and failure/heal counts are the journal's.
	JournalErr       string
	JournalFailures  uint64
	JournalHeals     uint64
	JournalFsyncs    uint64
	JournalFsyncTime time.Duration
	JournalMaxFsync  time.Duration
}

// Relay publishes one tenant's journal. Its methods are safe for
// concurrent use.
type Relay struct {
	cfg  Config
	j    *journal.Journal
	log  *slog.Logger
	adm  *kadm.Client
	acl  *kgo.Client
	stop chan struct{}
	done chan struct{}
	ckpt chan struct{} // checkpointer exited
	kick chan struct{} // the batch handed over finished (capacity 1)
	// hurry wakes publish when a Flush or Close starts (capacity 1):
	// while urgent is positive no batch lingers.
	hurry  chan struct{}
	urgent atomic.Int32

	handed    atomic.Uint64
	acked     atomic.Uint64
	written   atomic.Uint64
	published atomic.Int64
	skipped   atomic.Int64
	resolving atomic.Bool
	lagSince  atomic.Int64 // unix nanos when acked last stopped matching durable; 0 none
	pauses    atomic.Uint64
	resuming  atomic.Bool // rewound after a pause, no acknowledgement yet
	busy      atomic.Bool // a batch is handed over and not finished
	sample    *logsample.Sampler

	mu          sync.Mutex
	queue       []inflight // batches handed over, oldest first
	failed      error
	paused      error // Kafka refused a batch: publishing pauses, then rewinds
	pausedSince time.Time
	cur         checkpoint
	stopMu      sync.Once
}

type inflight struct {
	last   uint64
	done   bool
	failed bool
}

// Start reads the checkpoint and starts publishing in the background: first
// it reads the partition tails to skip what Kafka already has (waiting for
// Kafka if it is down), then it follows the journal.
func Start(cfg Config) (*Relay, error) {
	switch {
	case cfg.Journal == nil:
		return nil, fmt.Errorf("%w: Journal is nil", ErrConfig)
	case cfg.Publisher == nil:
		return nil, fmt.Errorf("%w: Publisher is nil", ErrConfig)
	case cfg.Checkpoint == "":
		return nil, fmt.Errorf("%w: Checkpoint is empty", ErrConfig)
	case len(cfg.Kafka) == 0:
		return nil, fmt.Errorf("%w: Kafka has no client options", ErrConfig)
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 250 * time.Millisecond
	}
	if cfg.LogEvery == 0 {
		cfg.LogEvery = 30 * time.Second
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := readCheckpoint(cfg.Checkpoint)
	if err != nil {
		return nil, err
	}
	if first := cfg.Journal.FirstLSN(); c.Acked+1 < first {
		return nil, fmt.Errorf("relay: checkpoint at lsn %d but the journal starts at %d: records were truncated before Kafka had them", c.Acked, first)
	}
	if last := cfg.Journal.LastLSN(); c.Acked > last {
		return nil, fmt.Errorf("relay: checkpoint at lsn %d is beyond the journal's last record %d", c.Acked, last)
	}
	acl, err := kgo.NewClient(cfg.Kafka...)
	if err != nil {
		return nil, fmt.Errorf("relay: kafka client: %w", err)
	}
	r := &Relay{
		cfg:   cfg,
		j:     cfg.Journal,
		log:   cfg.Logger.With("component", "relay", "tenant", cfg.Tenant),
		acl:   acl,
		adm:   kadm.NewClient(acl),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		ckpt:  make(chan struct{}),
		kick:  make(chan struct{}, 1),
		hurry: make(chan struct{}, 1),
		cur:   c,
	}
	r.sample = logsample.New(r.log, 0)
	r.handed.Store(c.Acked)
	r.acked.Store(c.Acked)
	r.written.Store(c.Acked)
	go r.run()
	go r.checkpointer()
	return r, nil
}

// AckedLSN returns the LSN up to which Kafka has every step record.
func (r *Relay) AckedLSN() uint64 { return r.acked.Load() }

// KeepFrom returns the first offset of partition p of topic that the relay
// may still read: the durable checkpoint's offset, from which a restart
// reads the partition's tail to skip the events Kafka already has (see the
// package doc); 0 when the checkpoint has none (the tail is read from the
// partition's start); math.MaxInt64 when the checkpoint covers the whole
// journal, since a restart then reads no tail (the events of a step
// journaled after this call are produced after it, beyond the offsets a
// caller saw before calling). A broker's retention must not delete records
// at or after it, or a restart would publish their events again.
func (r *Relay) KeepFrom(topic string, p int32) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur.Acked >= r.j.LastLSN() {
		return math.MaxInt64
	}
	if o, ok := r.cur.Offsets[topic][p]; ok {
		return o
	}
	return 0
}

// Stats returns the relay's figures.
func (r *Relay) Stats() Stats {
	js := r.j.Stats()
	s := Stats{
		Tenant:          r.cfg.Tenant,
		JournalSize:     js.Size,
		JournalMaxSize:  js.MaxSize,
		JournalSegments: js.Segments,
		FirstLSN:        js.FirstLSN,
		DurableLSN:      js.DurableLSN,
		HandedLSN:       r.handed.Load(),
		AckedLSN:        r.acked.Load(),
		CheckpointLSN:   r.written.Load(),
		EventsPublished: r.published.Load(),
		EventsSkipped:   r.skipped.Load(),
		Resolving:       r.resolving.Load(),
	}
	if s.DurableLSN > s.AckedLSN {
		s.LagRecords = s.DurableLSN - s.AckedLSN
		if since := r.lagSince.Load(); since > 0 {
			s.LagSince = time.Since(time.Unix(0, since))
		}
	}
	r.mu.Lock()
	if r.failed != nil {
		s.Err = r.failed.Error()
	}
	if r.paused != nil {
		s.Paused = r.paused.Error()
	}
	r.mu.Unlock()
	s.Pauses = r.pauses.Load()
	if js.Err != nil {
		s.JournalErr = js.Err.Error()
	}
	s.JournalFailures, s.JournalHeals = js.Failures, js.Heals
	s.JournalFsyncs, s.JournalFsyncTime, s.JournalMaxFsync = js.Fsyncs, js.FsyncTime, js.MaxFsync
	return s
}

// Flush waits until Kafka has every step record durable when Flush was
// called, or ctx ends, or publishing stopped (ErrStopped).
func (r *Relay) Flush(ctx context.Context) error {
	r.hasten()
	defer r.urgent.Add(-1)
	target := r.j.DurableLSN()
	var err error
	for r.acked.Load() < target && err == nil {
		r.mu.Lock()
		err = r.failed
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("relay: %d step records not in Kafka: %w", target-r.acked.Load(), err)
	}
	return nil
}

// Close waits until Kafka has every record durable when Close was called
// (or ctx ends), stops the relay and brings the checkpoint up to date. It
// does not close the journal or the publisher; while Kafka is away a
// Publish call may block the relay until the publisher is closed, so close
// the publisher first when ctx has ended. Once ctx has ended and the
// publisher is closed, Close returns within about two seconds even when
// Kafka does not answer (the final checkpoint round waits
// finalEndOffsetsWait at most, then the Kafka client closes).
func (r *Relay) Close(ctx context.Context) error {
	r.hasten() // for good: the relay stops
	target := r.j.DurableLSN()
	var err error
	for r.acked.Load() < target && err == nil {
		r.mu.Lock()
		err = r.failed
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	r.stopMu.Do(func() { close(r.stop) })
	<-r.done
	<-r.ckpt
	r.acl.Close()
	if err != nil {
		return fmt.Errorf("relay: %d step records not in Kafka at close: %w", r.j.DurableLSN()-r.acked.Load(), err)
	}
	return nil
}

// hasten makes publish hand over what it holds without lingering until the
// caller undoes it (urgent.Add(-1)).
func (r *Relay) hasten() {
	r.urgent.Add(1)
	select {
	case r.hurry <- struct{}{}:
	default:
	}
}

func (r *Relay) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// Backoff between publishing attempts after Kafka refused a batch.
const (
	retryMinWait = 100 * time.Millisecond
	retryMaxWait = 5 * time.Second
)

func (r *Relay) run() {
	defer close(r.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := retryMinWait
	for r.publish(ctx) {
		// Kafka refused a batch: let every batch handed over finish,
		// wait, then rewind to the first step record Kafka has not
		// acknowledged; the partition tails tell what of the rest it
		// has (as at start), so nothing is published twice.
		for r.inFlight() > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		if !r.resuming.Load() {
			wait = retryMinWait // the previous attempt got through
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMaxWait)
		r.mu.Lock()
		r.queue = r.queue[:0]
		r.paused = nil
		r.mu.Unlock()
		r.handed.Store(r.acked.Load())
		r.resuming.Store(true)
	}
}

// inFlight is how many batches handed over are neither acknowledged nor
// failed.
func (r *Relay) inFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.queue {
		if !q.done && !q.failed {
			n++
		}
	}
	return n
}

// publish hands the journal's events to the publisher from the first step
// record Kafka has not acknowledged, skipping what the partition tails
// show Kafka has. It hands one batch at a time: the next only once Kafka
// has acknowledged the one before (meanwhile the records read accumulate,
// up to MaxBatch), so nothing is handed over after a batch Kafka refuses
// (see "One batch at a time" in the package doc). A batch that is not
// full is handed over only once its first record has waited Linger, or
// at once while a Flush or Close waits. It returns true when Kafka
// refused a batch (publishing pauses and rewinds), false when the relay
// stops.
func (r *Relay) publish(ctx context.Context) bool {
	from := r.acked.Load() + 1
	end := r.j.DurableLSN()
	var have *inKafka
	if end >= from {
		have = r.resolve(ctx, from, end)
		if have == nil {
			return false // stopped
		}
	}
	rd, err := r.j.NewReader(from)
	if err != nil {
		r.fail(fmt.Errorf("relay: reader: %w", err))
		return false
	}
	defer rd.Close()

	var evs []event.Event
	records := 0
	var last uint64
	var first time.Time // when the batch's first record was read
	// linger fires when the batch's first record has waited Linger; it
	// runs only while a batch that is not full waits for it.
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	var lingerC <-chan time.Time
	flush := func() {
		r.mu.Lock()
		r.queue = append(r.queue, inflight{last: last})
		r.mu.Unlock()
		r.busy.Store(true)
		r.handed.Store(last)
		r.published.Add(int64(len(evs)))
		lsn := last
		r.cfg.Publisher.Publish(evs, func(err error) { r.acknowledge(lsn, err) })
		// Not retained by Publish (see Publisher): the next batch
		// reuses the slice, cleared so that it holds no event's memory.
		clear(evs)
		evs, records = evs[:0], 0
	}
	for {
		if r.failedErr() != nil {
			return false
		}
		if r.pausedErr() != nil {
			return true
		}
		busy := r.busy.Load()
		if records > 0 && !busy {
			wait := r.cfg.Linger - time.Since(first)
			if records >= r.cfg.MaxBatch || wait <= 0 || r.urgent.Load() > 0 {
				if lingerC != nil {
					linger.Stop()
					lingerC = nil
				}
				flush()
				continue
			}
			if lingerC == nil {
				// Read on meanwhile; the timer brings the loop back.
				linger.Reset(wait)
				lingerC = linger.C
			}
		}
		if records >= r.cfg.MaxBatch {
			// A full batch waits for the one in flight.
			select {
			case <-r.kick:
			case <-r.stop:
				return false
			}
			continue
		}
		rec, ok, err := rd.TryNext()
		if errors.Is(err, journal.ErrFailed) {
			// The journal failed to write; the tenant heals it, and
			// the records appended then follow.
			w := rd.Wait()
			if r.j.Stats().Err != nil {
				select {
				case <-w:
				case <-r.kick:
				case <-lingerC:
					lingerC = nil
				case <-r.hurry:
				case <-time.After(time.Second):
				case <-r.stop:
					return false
				}
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, journal.ErrClosed) {
				r.fail(fmt.Errorf("relay: read journal at lsn %d: %w", rd.NextLSN(), err))
			}
			return false
		}
		if !ok {
			// Take the channel, then look again: a record made durable
			// between the look and the wait is not missed.
			w := rd.Wait()
			if rd.NextLSN() <= r.j.DurableLSN() {
				continue
			}
			select {
			case <-w:
			case <-r.kick: // the batch in flight finished: hand over the next, or pause
			case <-lingerC: // the batch held has waited Linger
				lingerC = nil
			case <-r.hurry: // a Flush or Close waits
			case <-r.stop:
				return false
			}
			continue
		}
		sr, err := steprec.Decode(rec.Payload)
		if err != nil {
			r.fail(fmt.Errorf("relay: lsn %d: %w", rec.LSN, err))
			return false
		}
		for _, b := range sr.Events {
			var e event.Event
			if err := event.Unmarshal(b, &e); err != nil {
				r.fail(fmt.Errorf("relay: lsn %d: %w", rec.LSN, err))
				return false
			}
			if rec.LSN <= end && have.skip(r.topic(&e), &e, r) {
				r.skipped.Add(1)
				continue
			}
			evs = append(evs, e)
		}
		if records == 0 {
			first = time.Now()
		}
		records++
		last = rec.LSN
	}
}

func (r *Relay) pausedErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paused
}

func (r *Relay) topic(e *event.Event) string { return r.cfg.TopicPrefix + e.Topic() }

func (r *Relay) acknowledge(lsn uint64, err error) {
	defer func() {
		r.busy.Store(false)
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if r.failed == nil && errors.Is(err, publisher.ErrClosed) {
			r.failed = fmt.Errorf("%w: publishing up to lsn %d: %w", ErrStopped, lsn, err)
			r.log.Info("relay: publisher closed with events unacknowledged; the journal keeps them for the next start", "lsn", lsn)
		}
		if r.failed == nil && errors.Is(err, publisher.ErrFenced) {
			r.failed = fmt.Errorf("%w: %w", ErrStopped, err)
			r.log.Error("relay: fenced: another process publishes this tenant's events (same server id and tenant); this one stopped publishing, the journal keeps its events",
				"lsn", lsn, "err", err)
		}
		for i := range r.queue {
			if r.queue[i].last == lsn {
				r.queue[i].failed = true
				break
			}
		}
		if r.failed == nil && r.paused == nil {
			r.paused = fmt.Errorf("relay: Kafka refused events up to lsn %d: %w", lsn, err)
			r.pauses.Add(1)
			if r.pausedSince.IsZero() {
				r.pausedSince = time.Now()
			}
			r.sample.Log(context.Background(), slog.LevelError, "kafka",
				"relay: Kafka refused events; publishing pauses and retries with backoff (the journal keeps them)", "lsn", lsn, "err", err)
		}
		return
	}
	// Every batch of before a rewind has finished by then: this one was
	// handed over after it.
	if r.resuming.CompareAndSwap(true, false) && !r.pausedSince.IsZero() {
		r.sample.Resolve(context.Background(), slog.LevelInfo, "kafka", "relay: Kafka takes events again; publishing resumed",
			"lsn", lsn, "paused_for", time.Since(r.pausedSince).Round(time.Millisecond))
		r.pausedSince = time.Time{}
	}
	for i := range r.queue {
		if r.queue[i].last == lsn {
			r.queue[i].done = true
			break
		}
	}
	n := 0
	for n < len(r.queue) && r.queue[n].done {
		n++
	}
	if n > 0 {
		r.acked.Store(r.queue[n-1].last)
		r.queue = append(r.queue[:0], r.queue[n:]...)
	}
}

func (r *Relay) fail(err error) {
	r.mu.Lock()
	if r.failed == nil {
		r.failed = err
	}
	r.mu.Unlock()
	r.log.Error("relay: stopped", "err", err)
}

func (r *Relay) failedErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// How long the checkpointer waits for the partitions' end offsets: in its
// rounds (cut short when Close stops the relay), and in the final one
// Close waits for (shorter: a broker that hangs must not hold a shutdown;
// the checkpoint then stays where it was and the next start reads the
// partition tails from there).
const (
	endOffsetsWait      = 5 * time.Second
	finalEndOffsetsWait = time.Second
)

// checkpointer brings the checkpoint up to date (see the package doc),
// truncates the journal and logs the operator's line.
func (r *Relay) checkpointer() {
	defer close(r.ckpt)
	// running ends when Close stops the relay: a round waiting for Kafka
	// then gives way to the final one at once.
	running, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-running.Done():
		}
	}()
	tick := time.NewTicker(r.cfg.CheckpointEvery)
	defer tick.Stop()
	var logC <-chan time.Time
	if r.cfg.LogEvery > 0 {
		lt := time.NewTicker(r.cfg.LogEvery)
		defer lt.Stop()
		logC = lt.C
	}
	var cand *checkpoint // offsets taken; Acked holds P, the LSN handed over before they were
	final := false
	for {
		select {
		case <-tick.C:
		case <-logC:
			r.logStats()
			continue
		case <-r.stop:
			final = true
		}
		acked := r.acked.Load()
		if d := r.j.DurableLSN(); d > acked {
			r.lagSince.CompareAndSwap(0, time.Now().UnixNano())
		} else {
			r.lagSince.Store(0)
		}
		if acked > r.written.Load() && !r.resolving.Load() {
			if cand == nil {
				parent, wait := running, endOffsetsWait
				if final {
					parent, wait = context.Background(), finalEndOffsetsWait
				}
				ctx, cancel := context.WithTimeout(parent, wait)
				offs, err := r.endOffsets(ctx)
				cancel()
				if err == nil {
					cand = &checkpoint{Acked: r.handed.Load(), Offsets: offs}
					acked = r.acked.Load()
				}
			}
			if cand != nil && acked >= cand.Acked {
				c := checkpoint{Acked: acked, Offsets: cand.Offsets}
				if err := writeCheckpoint(r.cfg.Checkpoint, c); err != nil {
					// Tried a few times a second: logged once, then
					// sampled (a full disk fails every one).
					r.sample.Log(context.Background(), slog.LevelError, "checkpoint",
						"relay: checkpoint not written; the journal keeps what Kafka has until one is", "err", err)
				} else {
					r.sample.Resolve(context.Background(), slog.LevelInfo, "checkpoint", "relay: checkpoint written again")
					r.written.Store(acked)
					r.mu.Lock()
					r.cur = c
					r.mu.Unlock()
					r.truncate(acked)
				}
				cand = nil
			}
		}
		if final {
			return
		}
	}
}

func (r *Relay) truncate(acked uint64) {
	if r.cfg.SnapshotLSN == nil {
		return
	}
	upto := min(acked, r.cfg.SnapshotLSN())
	if upto == 0 {
		return
	}
	if n, err := r.j.TruncateBefore(upto + 1); err != nil {
		r.log.Error("relay: journal truncation", "err", err)
	} else if n > 0 {
		r.log.Debug("relay: journal truncated", "segments", n, "before_lsn", upto+1)
	}
}

func (r *Relay) logStats() {
	s := r.Stats()
	attrs := []any{
		slog.Int64("journal_bytes", s.JournalSize), slog.Int64("journal_max_bytes", s.JournalMaxSize),
		slog.Int("journal_percent", int(100*s.JournalSize/max(s.JournalMaxSize, 1))),
		slog.Uint64("durable_lsn", s.DurableLSN), slog.Uint64("acked_lsn", s.AckedLSN),
		slog.Uint64("lag_records", s.LagRecords), slog.Duration("lag_for", s.LagSince.Round(time.Second)),
		slog.Int64("events_published", s.EventsPublished),
	}
	switch {
	case s.Err != "":
		r.log.Error("relay: publishing stopped", append(attrs, slog.String("err", s.Err))...)
	case s.Paused != "":
		r.log.Warn("relay: publishing paused, retrying", append(attrs, slog.String("err", s.Paused))...)
	case s.LagRecords > 0 && s.LagSince > 5*time.Second:
		r.log.Warn("relay: Kafka is not keeping up; the journal holds the events", attrs...)
	default:
		r.log.Info("relay", attrs...)
	}
}

func (r *Relay) topics() []string {
	return []string{r.cfg.TopicPrefix + event.AgentStateTopic, r.cfg.TopicPrefix + event.CallThreadTopic}
}

func (r *Relay) endOffsets(ctx context.Context) (map[string]map[int32]int64, error) {
	ends, err := r.adm.ListEndOffsets(ctx, r.topics()...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out, nil
}
