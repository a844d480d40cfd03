package publisher

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
	"github.com/switchboard-cc/switchboard/internal/logsample"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// Publisher produces events to Kafka. Its methods are safe for concurrent
// use.
type Publisher struct {
	cl  atomic.Pointer[kgo.Client] // replaced only by run (renew)
	log *slog.Logger
	c   *counters // shared with the transactional publishers made from it

	// opts are the client's options, for Transactional and renew.
	opts []kgo.Opt
	// txnID is the transactional id of a publisher made by Transactional
	// ("" otherwise): every flush is one transaction (see transact).
	txnID      string
	txnTimeout time.Duration
	renewing   bool  // run only: the next flush first renews the client
	fenced     error // set once (under mu): another producer took txnID
	children   []*Publisher

	agentTopic, callTopic string
	partitions            map[string]int32

	bufLimit int64
	linger   time.Duration

	// Batches reach the client only from run, which hands over every
	// pending batch and then flushes the client, producing nothing more
	// until the flush ends (see Publish).
	mu          sync.Mutex
	pending     []*batch
	outstanding int64         // records of batches accepted by Publish and not finished
	changed     chan struct{} // closed and replaced when outstanding falls or the publisher closes
	wake        chan struct{} // a batch is pending
	stop        chan struct{} // closed by Close
	stopped     chan struct{} // closed when run returns

	closed atomic.Bool
}

// counters are a publisher's figures, shared by the transactional
// publishers made from it (Stats of the first one counts them all).
type counters struct {
	produced, acked, failed atomic.Int64
	buffered                atomic.Int64
	lastLat                 atomic.Int64 // nanoseconds
}

// Stats are the publisher's counters since New.
type Stats struct {
	Produced       int64         // records accepted by Publish
	Acked          int64         // records Kafka acknowledged
	Failed         int64         // records that failed permanently
	Buffered       int64         // records accepted by Publish not yet acknowledged or failed
	BufferLimit    int64         // MaxBufferedRecords: Publish blocks while Buffered is at least this
	LastAckLatency time.Duration // Publish to acknowledgement of the most recently completed batch
}

// New connects to the brokers, creates the two topics if they are missing
// and cfg.CreateTopics is set, and verifies that both exist. ctx bounds
// these start-up steps.
func New(ctx context.Context, cfg Config) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.ReplicationFactor == 0 {
		cfg.ReplicationFactor = -1
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	switch {
	case cfg.Linger == 0:
		cfg.Linger = DefaultLinger
	case cfg.Linger < 0:
		cfg.Linger = 0
	}
	if cfg.MaxBufferedRecords == 0 {
		cfg.MaxBufferedRecords = DefaultMaxBufferedRecords
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "publisher")

	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.WithLogger(kgoLogger{kslog.New(log), logsample.New(log, 0)}),
		// Delivery: idempotent (the franz-go default, never disabled
		// here), acknowledged by all in-sync replicas, never given up:
		// the default record retries and delivery timeout are unlimited,
		// and a topic that briefly looks unknown (a broker restarting)
		// is waited for rather than failed.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.UnknownTopicRetries(-1),
		// A refused produce (NOT_LEADER...) waits for a metadata
		// refresh; franz-go's default floor between refreshes is 5s,
		// which would stall a partition that long after every leader
		// change.
		kgo.MetadataMinAge(500 * time.Millisecond),
		// Java's default partitioning of keyed records: murmur2 of the
		// key, positive, modulo the partition count (see event.Partition).
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// The client sends only when run flushes it, so that a
		// batch reaches it whole (see Publish); the bound on buffered
		// records is the publisher's own, per batch, so the client's
		// must never refuse a record.
		kgo.ManualFlushing(),
		kgo.MaxBufferedRecords(math.MaxInt32),
		kgo.ProducerBatchCompression(cfg.codec()),
	}
	if cfg.DisableClientMetrics {
		opts = append(opts, kgo.DisableClientMetrics())
	}
	if cfg.Dial != nil {
		opts = append(opts, kgo.Dialer(cfg.Dial))
	}
	tc, err := cfg.TLS.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := cfg.SASL.mechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConnect, err)
	}
	if cfg.TransactionTimeout <= 0 {
		cfg.TransactionTimeout = DefaultTransactionTimeout
	}
	p := &Publisher{
		log:        log,
		c:          &counters{},
		opts:       opts,
		txnTimeout: cfg.TransactionTimeout,
		agentTopic: cfg.TopicPrefix + event.AgentStateTopic,
		callTopic:  cfg.TopicPrefix + event.CallThreadTopic,
		bufLimit:   int64(cfg.MaxBufferedRecords),
		linger:     cfg.Linger,
		changed:    make(chan struct{}),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	p.cl.Store(cl)
	if err := p.ensureTopics(ctx, cfg); err != nil {
		cl.Close()
		return nil, err
	}
	go p.run()
	log.Info("publishing to Kafka", "brokers", cfg.Brokers, "topics", []string{p.agentTopic, p.callTopic},
		"partitions", p.partitions, "tls", cfg.TLS.Enabled, "sasl", cfg.SASL.Mechanism)
	return p, nil
}

// ensureTopics creates the topics if asked to, then waits until metadata
// shows both with their partitions (a real cluster may take a moment to
// propagate a new topic).
func (p *Publisher) ensureTopics(ctx context.Context, cfg Config) error {
	adm := kadm.NewClient(p.cl.Load())
	topics := []string{p.agentTopic, p.callTopic}
	if cfg.CreateTopics {
		resps, err := adm.CreateTopics(ctx, cfg.Partitions, cfg.ReplicationFactor, nil, topics...)
		if err != nil {
			return fmt.Errorf("%w: create topics: %w", ErrConnect, err)
		}
		for _, t := range topics {
			r, ok := resps[t]
			switch {
			case !ok:
				return fmt.Errorf("%w: create %s: no answer", ErrTopics, t)
			case r.Err == nil:
				p.log.Info("created topic", "topic", t, "partitions", cfg.Partitions, "replication_factor", cfg.ReplicationFactor)
			case errors.Is(r.Err, kerr.TopicAlreadyExists):
			default:
				return fmt.Errorf("%w: create %s: %w %s", ErrTopics, t, r.Err, r.ErrMessage)
			}
		}
	}
	for {
		td, err := adm.ListTopics(ctx, topics...)
		if err != nil {
			return fmt.Errorf("%w: metadata: %w", ErrConnect, err)
		}
		parts := make(map[string]int32, 2)
		var missing error
		for _, t := range topics {
			d, ok := td[t]
			switch {
			case !ok:
				missing = fmt.Errorf("%w: %s: not in metadata", ErrTopics, t)
			case d.Err != nil:
				missing = fmt.Errorf("%w: %s: %w", ErrTopics, t, d.Err)
			case len(d.Partitions) == 0:
				missing = fmt.Errorf("%w: %s: no partitions", ErrTopics, t)
			default:
				parts[t] = int32(len(d.Partitions))
			}
		}
		if missing == nil {
			p.partitions = parts
			for t, n := range parts {
				if n != cfg.Partitions {
					p.log.Warn("existing topic has another partition count than configured; keys are placed by its actual count",
						"topic", t, "partitions", n, "configured", cfg.Partitions)
				}
			}
			return nil
		}
		if !cfg.CreateTopics && errors.Is(missing, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("%w (CreateTopics is off)", missing)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", missing, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Topics returns the two full topic names: voice-agentstate and
// voice-callthread with the prefix.
func (p *Publisher) Topics() (agentState, callThread string) { return p.agentTopic, p.callTopic }

// Partitions returns the partition count of a full topic name as found at
// New, 0 for a topic the publisher does not write.
func (p *Publisher) Partitions(topic string) int32 { return p.partitions[topic] }

// Chunks of record bytes: a new chunk of up to chunkSize when fewer than
// chunkLow bytes are left (a typical event takes about 600 bytes with its key
// and headers).
const (
	chunkSize = 64 << 10
	chunkLow  = 1 << 10
)

// batch tracks one Publish call until all its records are finished.
type batch struct {
	p         *Publisher
	recs      []kgo.Record
	remaining atomic.Int64
	err       atomic.Pointer[error] // the first error
	start     time.Time
	done      func(error)
}

func (b *batch) promise(_ *kgo.Record, err error) {
	if err != nil {
		b.p.c.failed.Add(1)
		if errors.Is(err, kgo.ErrClientClosed) {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
		b.err.CompareAndSwap(nil, &err)
	} else {
		b.p.c.acked.Add(1)
	}
	if b.remaining.Add(-1) == 0 {
		b.p.c.lastLat.Store(int64(time.Since(b.start)))
		if b.done != nil {
			var err error
			if e := b.err.Load(); e != nil {
				err = *e
			}
			b.done(err)
		}
		b.p.finished(int64(len(b.recs)))
	}
}

// finished counts n records of a finished batch out of the outstanding
// ones and wakes whoever waits on that.
func (p *Publisher) finished(n int64) {
	p.c.buffered.Add(-n)
	p.mu.Lock()
	p.outstanding -= n
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Publish produces evs asynchronously, in order, and calls done exactly once:
// with nil when Kafka has acknowledged every record of evs, or with the first
// permanent error (then other records of evs may or may not be in Kafka).
// Records are never given up on while the publisher is open, so the
// permanent errors are the publisher being closed (ErrClosed), an event with
// no topic (ErrUnknownEvent: then nothing of evs is produced), and errors
// Kafka does not let a client retry (authorization, record too large).
//
// Each event becomes one record: topic prefix + e.Topic(), key e.Key(),
// value event.AppendJSON, headers e.Headers(). The records of one key keep
// the order of the Publish calls that produced them. Publish blocks while
// MaxBufferedRecords records are unacknowledged.
//
// done runs on the Kafka client's callback goroutine: it must be quick and
// must not call Publish, Flush or Close (they can wait for that goroutine).
// evs is not retained after Publish returns.
func (p *Publisher) Publish(evs []event.Event, done func(error)) {
	if len(evs) == 0 {
		if done != nil {
			done(nil)
		}
		return
	}
	if p.closed.Load() {
		if done != nil {
			done(ErrClosed)
		}
		return
	}
	if err := p.fencedErr(); err != nil {
		if done != nil {
			done(err)
		}
		return
	}
	for i := range evs {
		if p.topic(&evs[i]) == "" {
			if done != nil {
				done(fmt.Errorf("%w: event %d of %d has name %d", ErrUnknownEvent, i, len(evs), evs[i].ID))
			}
			return
		}
	}

	// One allocation each for the records and the headers; the bytes of
	// keys, values and header values go into chunks of chunkSize, a new
	// chunk when the current one runs low, so no event's bytes are copied
	// again as the batch grows. A record's slices keep their chunk alive.
	now := time.Now()
	recs := make([]kgo.Record, len(evs))
	hdrs := make([]kgo.RecordHeader, 3*len(evs))
	var buf []byte
	for i := range evs {
		if cap(buf)-len(buf) < chunkLow {
			buf = make([]byte, 0, min(chunkSize, chunkLow*(len(evs)-i)))
		}
		e := &evs[i]
		r := &recs[i]
		r.Topic = p.topic(e)
		r.Timestamp = now

		s := len(buf)
		buf = append(buf, e.Key()...)
		r.Key = buf[s:len(buf):len(buf)]

		s = len(buf)
		buf = e.AppendJSON(buf)
		r.Value = buf[s:len(buf):len(buf)]

		h := e.Headers()
		r.Headers = hdrs[3*i : 3*i+3 : 3*i+3]
		for j := range h {
			s = len(buf)
			buf = append(buf, h[j].Value...)
			r.Headers[j] = kgo.RecordHeader{Key: h[j].Key, Value: buf[s:len(buf):len(buf)]}
		}
	}

	b := &batch{p: p, recs: recs, start: now, done: done}
	b.remaining.Store(int64(len(evs)))
	p.mu.Lock()
	for p.outstanding >= p.bufLimit && !p.closed.Load() {
		ch := p.changed
		p.mu.Unlock()
		<-ch
		p.mu.Lock()
	}
	if p.closed.Load() {
		p.mu.Unlock()
		if done != nil {
			done(ErrClosed)
		}
		return
	}
	p.outstanding += int64(len(recs))
	p.c.buffered.Add(int64(len(recs)))
	p.pending = append(p.pending, b)
	p.c.produced.Add(int64(len(recs)))
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run hands the pending batches to the client and flushes it, over and
// over, until Close. Waking from idle it first waits Linger, gathering more
// batches into the flush; batches published during a flush wait for the
// next one.
func (p *Publisher) run() {
	defer close(p.stopped)
	var batches []*batch
	for {
		p.mu.Lock()
		idle := len(p.pending) == 0
		p.mu.Unlock()
		if idle {
			select {
			case <-p.wake:
			case <-p.stop:
				return
			}
			if p.linger > 0 {
				t := time.NewTimer(p.linger)
				select {
				case <-t.C:
				case <-p.stop:
					t.Stop()
					return
				}
			}
		}
		p.mu.Lock()
		batches, p.pending = p.pending, batches[:0]
		p.mu.Unlock()
		if len(batches) == 0 {
			continue
		}
		if p.txnID != "" {
			p.transact(batches)
			clear(batches)
			continue
		}
		cl := p.cl.Load()
		for i, b := range batches {
			promise := b.promise
			for j := range b.recs {
				cl.Produce(context.Background(), &b.recs[j], promise)
			}
			batches[i] = nil
		}
		// Returns once every record handed over is acknowledged or
		// failed (Close fails them).
		_ = cl.Flush(context.Background())
	}
}

// topic returns the full topic of e, "" if it has none.
func (p *Publisher) topic(e *event.Event) string {
	switch e.Topic() {
	case event.AgentStateTopic:
		return p.agentTopic
	case event.CallThreadTopic:
		return p.callTopic
	}
	return ""
}

// Ping checks that a broker answers, for readiness probes.
func (p *Publisher) Ping(ctx context.Context) error {
	if err := p.cl.Load().Ping(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrConnect, err)
	}
	return nil
}

// Flush waits until every batch published so far (and any published
// meanwhile) is acknowledged or failed, or ctx is done.
func (p *Publisher) Flush(ctx context.Context) error {
	for {
		p.mu.Lock()
		n, ch := p.outstanding, p.changed
		p.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("publisher: flush: %w", ctx.Err())
		}
	}
}

// Close closes the client without waiting: batches not yet acknowledged
// finish with ErrClosed (call Flush first to wait for them), and later
// Publish calls get ErrClosed. It is safe to call more than once.
func (p *Publisher) Close() {
	p.mu.Lock()
	if p.closed.Swap(true) {
		p.mu.Unlock()
		return
	}
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	children := p.children
	p.children = nil
	close(p.stop)
	p.cl.Load().Close() // fails what the client holds, ending run's flush
	<-p.stopped
	p.cl.Load().Close() // the client renew may have made meanwhile
	p.mu.Lock()
	left := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, b := range left {
		for range b.recs {
			b.promise(nil, ErrClosed)
		}
	}
	for _, c := range children {
		c.Close()
	}
	if p.txnID == "" {
		p.log.Info("publisher closed", "produced", p.c.produced.Load(), "acked", p.c.acked.Load(), "failed", p.c.failed.Load())
	}
}

// Stats returns the publisher's counters, those of the transactional
// publishers made from it included (they share them).
func (p *Publisher) Stats() Stats {
	return Stats{
		Produced:       p.c.produced.Load(),
		Acked:          p.c.acked.Load(),
		Failed:         p.c.failed.Load(),
		Buffered:       p.c.buffered.Load(),
		BufferLimit:    p.bufLimit,
		LastAckLatency: time.Duration(p.c.lastLat.Load()),
	}
}

// kgoLogger is franz-go's logger (kslog) with its "flushing" line, logged
// at info on every Flush, moved to debug: the publisher flushes every batch
// (see run), so at info it was one line per batch, thousands a second. Its
// other lines at info and above are sampled by message (once, then once
// per interval with the count suppressed): a broker refusing writes makes
// it log a few per refused batch, and the relay retries them.
type kgoLogger struct {
	*kslog.Logger
	sample *logsample.Sampler
}

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if msg == "flushing" && level == kgo.LogLevelInfo {
		level = kgo.LogLevelDebug
	}
	var sl slog.Level
	switch level {
	case kgo.LogLevelError:
		sl = slog.LevelError
	case kgo.LogLevelWarn:
		sl = slog.LevelWarn
	case kgo.LogLevelInfo:
		sl = slog.LevelInfo
	default:
		l.Logger.Log(level, msg, keyvals...)
		return
	}
	l.sample.Log(context.Background(), sl, msg, msg, keyvals...)
}
