package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/internal/logsample"
)

// Journal is a durable append-only log in one directory. All methods are safe
// for concurrent use.
type Journal struct {
	dir      string
	opts     Options
	log      *slog.Logger
	lockFile *os.File
	recovery Recovery

	mu       sync.Mutex
	space    *sync.Cond // signalled when the flusher takes the pending batch
	segs     []*segment // live segments in LSN order; the last one is active
	next     uint64     // LSN of the next record
	size     int64      // bytes of live segments, pending records included
	pend     batch      // appended, not yet taken by the flusher
	closed   bool
	err      error         // sticky failure, wraps ErrFailed
	notifyCh chan struct{} // closed (and replaced) when DurableLSN advances
	fill     int           // fill level last logged: 0, 75, 90 or 100

	durable atomic.Uint64
	wake    chan struct{} // cap 1: there is a pending batch, or Close
	flushed chan struct{} // closed when the flusher exits
	cbDone  chan struct{} // closed when the notifier exits

	// Completions handed from the flusher to the notifier. The queue is
	// unbounded so the flusher never waits for a completion function (which
	// may itself be waiting for the flusher).
	cbMu    sync.Mutex
	cbQueue []completion
	cbStop  bool
	cbWake  chan struct{} // cap 1

	// Owned by the flusher goroutine (and by Heal while the journal has
	// failed: the flusher then writes nothing; and by Open before the
	// flusher starts).
	file      File
	fileDirty bool   // written since the last fsync
	filePath  string // the active segment's path
	fileFirst uint64 // its first LSN
	filePos   int64  // where the next batch is written: the end of its records
	zeroEnd   int64  // zeros written and synced from filePos up to here
	zeroing   chan error
	zeroTo    int64 // zeros are being written up to here while zeroing != nil
	zeroStop  bool  // zeroing failed in this segment: not again until the next one or Heal

	durMark     atomic.Pointer[durMark] // stored before durable, so a reader that sees an LSN durable sees its bytes' end
	zeroRunning atomic.Int32            // zeroing goroutines running (tests wait for none)
	zeroed      atomic.Uint64           // bytes of zeros written ahead since Open
	zeroFails   atomic.Uint64

	// testBeforeSync, if set before the first append, runs in the flusher
	// after a batch is written and before its fsync; an error it returns is
	// treated as an fsync failure. Tests only.
	testBeforeSync func() error

	appends    atomic.Uint64
	rejected   atomic.Uint64
	fsyncs     atomic.Uint64
	lastFsync  atomic.Int64 // nanoseconds
	maxFsync   atomic.Int64 // nanoseconds
	sumFsync   atomic.Int64 // nanoseconds
	failures   atomic.Uint64
	heals      atomic.Uint64 // successful Heal calls
	epoch      atomic.Uint64 // bumped when Heal cuts: the bytes past DurableLSN may be rewritten
	batches    atomic.Uint64
	batchBytes atomic.Uint64

	snapMu sync.Mutex
	sample *logsample.Sampler // failures and heals: a flapping disk logs a line per interval
}

type batch struct {
	buf     []byte
	breaks  []segBreak // where in buf a new segment starts
	waiters []waiter
	first   uint64 // LSN of the first record in buf
	last    uint64 // LSN of the last record in buf
}

// records is how many records b holds.
func (b *batch) records() int {
	if len(b.buf) == 0 {
		return 0
	}
	return int(b.last - b.first + 1)
}

type segBreak struct {
	off   int
	first uint64
}

type waiter struct {
	lsn uint64
	fn  func(lsn uint64, err error)
}

// completion is a batch's waiters and the outcome of its write.
type completion struct {
	ws  []waiter
	err error
}

// Open opens (creating if needed) the journal in dir, recovering it: every
// segment is verified and a torn tail is cut (see the package doc). A
// *CorruptError (errors.Is ErrCorrupt) means durable records are damaged and
// nothing was changed. What was recovered is logged and returned by Recovery.
func Open(dir string, opts Options) (*Journal, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	start := time.Now()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	j, err := open(dir, opts, lock)
	if err != nil {
		lock.Close()
		return nil, err
	}
	j.recovery.Duration = time.Since(start)
	j.logRecovery()
	go j.flushLoop()
	go j.notifyLoop()
	return j, nil
}

func open(dir string, opts Options, lock *os.File) (*Journal, error) {
	segs, snaps, err := listDir(dir)
	if err != nil {
		return nil, err
	}
	var snapLSN uint64
	if len(snaps) > 0 {
		snapLSN = snaps[len(snaps)-1]
	}
	rec, err := recoverSegments(dir, segs, opts, snapLSN)
	if err != nil {
		return nil, err
	}
	j := &Journal{
		dir:      dir,
		opts:     opts,
		log:      opts.Logger,
		lockFile: lock,
		recovery: rec,
		sample:   logsample.New(opts.Logger, 0),
		notifyCh: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		flushed:  make(chan struct{}),
		cbDone:   make(chan struct{}),
		cbWake:   make(chan struct{}, 1),
	}
	j.space = sync.NewCond(&j.mu)
	if len(segs) == 0 {
		// A new journal, or one whose segments were all removed by hand:
		// never reuse an LSN a snapshot already covers.
		first := uint64(1)
		if len(snaps) > 0 {
			first = snaps[len(snaps)-1] + 1
		}
		segs = []*segment{{first: first}}
		j.recovery.FirstLSN, j.recovery.LastLSN = first, first-1
		if err := j.createSegment(first); err != nil {
			return nil, err
		}
	} else {
		last := segs[len(segs)-1]
		path := join(dir, segmentName(last.first))
		f, err := j.openFile(path, os.O_WRONLY, 0, last.size)
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		j.file, j.filePath, j.fileFirst = f, path, last.first
		j.filePos, j.zeroEnd = last.size, last.fileEnd
	}
	j.segs = segs
	j.next = j.recovery.LastLSN + 1
	j.durMark.Store(&durMark{first: j.fileFirst, off: j.filePos})
	j.durable.Store(j.recovery.LastLSN)
	for _, s := range segs {
		j.size += s.size
	}
	j.zeroAhead()
	return j, nil
}

func (j *Journal) logRecovery() {
	r := j.recovery
	attrs := []any{
		slog.String("dir", j.dir), slog.Int("segments", r.Segments),
		slog.Uint64("first_lsn", r.FirstLSN), slog.Uint64("last_lsn", r.LastLSN),
		slog.Uint64("records", r.Records), slog.Int64("bytes", r.Bytes),
		slog.Duration("took", r.Duration),
	}
	switch {
	case r.BytesCut > 0 && r.IntactAfterCut > 0:
		j.log.Error("journal: recovered, cut a torn tail with intact records beyond it",
			append(attrs, slog.Int64("bytes_cut", r.BytesCut), slog.String("segment", r.CutSegment),
				slog.Int64("offset", r.CutOffset), slog.String("reason", r.CutReason),
				slog.Int("intact_after_cut", r.IntactAfterCut))...)
	case r.BytesCut > 0:
		j.log.Warn("journal: recovered, cut a torn tail",
			append(attrs, slog.Int64("bytes_cut", r.BytesCut), slog.String("segment", r.CutSegment),
				slog.Int64("offset", r.CutOffset), slog.String("reason", r.CutReason))...)
	default:
		j.log.Info("journal: recovered", attrs...)
	}
}

// Recovery returns what Open recovered.
func (j *Journal) Recovery() Recovery { return j.recovery }

// Dir returns the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// Append appends a TypeData record and returns its LSN. The record is not yet
// durable: see Sync, AppendSync and AppendAsync. It fails with ErrFull
// (nothing written) when the journal is at Options.MaxSize, and may wait
// briefly while Options.MaxBatchBytes are pending (back-pressure).
func (j *Journal) Append(payload []byte) (uint64, error) {
	return j.AppendRecord(TypeData, payload, nil)
}

// AppendAsync appends a TypeData record. If it returns an error, nothing was
// appended and done is never called; otherwise done is called exactly once,
// with a nil error once the record is durable (or the error that prevented
// it). See AppendRecord for the rules done must follow.
func (j *Journal) AppendAsync(payload []byte, done func(lsn uint64, err error)) (uint64, error) {
	return j.AppendRecord(TypeData, payload, done)
}

// AppendSync appends a TypeData record and waits until it is durable.
func (j *Journal) AppendSync(ctx context.Context, payload []byte) (uint64, error) {
	lsn, err := j.AppendRecord(TypeData, payload, nil)
	if err != nil {
		return 0, err
	}
	return lsn, j.Sync(ctx, lsn)
}

// AppendRecord is the general form of Append: a record of type t (not 0)
// with an optional completion function. done, if not nil, is called exactly
// once when the record is durable or cannot become so, from a single
// notifier goroutine in LSN order; it should return quickly (it delays the
// completions after it) and may call any Journal method but Close.
//
// The payload is copied; the caller may reuse it when AppendRecord returns.
func (j *Journal) AppendRecord(t Type, payload []byte, done func(lsn uint64, err error)) (uint64, error) {
	if t == 0 {
		return 0, ErrBadType
	}
	if len(payload) > j.opts.MaxRecordSize {
		return 0, fmt.Errorf("%w: %d bytes, MaxRecordSize %d", ErrTooLarge, len(payload), j.opts.MaxRecordSize)
	}
	n := int64(headerSize + len(payload))
	pcrc := payloadCRC(payload)

	j.mu.Lock()
	for len(j.pend.buf) >= j.opts.MaxBatchBytes && j.err == nil && !j.closed {
		j.space.Wait()
	}
	if j.closed {
		j.mu.Unlock()
		return 0, ErrClosed
	}
	if j.err != nil {
		err := j.err
		j.mu.Unlock()
		return 0, err
	}
	if j.size+n > j.opts.MaxSize {
		logFull := j.fill < 100
		j.fill = 100
		size := j.size
		j.mu.Unlock()
		j.rejected.Add(1)
		if logFull {
			j.log.Error("journal: full, rejecting appends until truncation frees space",
				slog.Int64("size", size), slog.Int64("max_size", j.opts.MaxSize))
		}
		return 0, ErrFull
	}
	active := j.segs[len(j.segs)-1]
	if active.size > 0 && active.size+n > j.opts.SegmentSize {
		active = &segment{first: j.next}
		j.segs = append(j.segs, active)
		j.pend.breaks = append(j.pend.breaks, segBreak{off: len(j.pend.buf), first: j.next})
	}
	lsn := j.next
	j.next++
	if len(j.pend.buf) == 0 {
		j.pend.first = lsn
	}
	j.pend.buf = appendFrame(j.pend.buf, lsn, t, payload, pcrc)
	j.pend.last = lsn
	if done != nil {
		j.pend.waiters = append(j.pend.waiters, waiter{lsn: lsn, fn: done})
	}
	active.size += n
	j.size += n
	level := fillLevel(j.size, j.opts.MaxSize)
	logLevel := level > j.fill
	if logLevel {
		j.fill = level
	}
	size := j.size
	j.mu.Unlock()

	j.appends.Add(1)
	select {
	case j.wake <- struct{}{}:
	default:
	}
	if logLevel {
		j.log.Warn("journal: filling up", slog.Int("percent", level),
			slog.Int64("size", size), slog.Int64("max_size", j.opts.MaxSize))
	}
	return lsn, nil
}

func fillLevel(size, maxSize int64) int {
	switch {
	case size*10 >= maxSize*9:
		return 90
	case size*4 >= maxSize*3:
		return 75
	}
	return 0
}

// Sync waits until every record up to lsn is durable, ctx is done, or the
// journal fails or closes with lsn not durable.
func (j *Journal) Sync(ctx context.Context, lsn uint64) error {
	for {
		if j.durable.Load() >= lsn {
			return nil
		}
		j.mu.Lock()
		ch, err, next := j.notifyCh, j.err, j.next
		j.mu.Unlock()
		if j.durable.Load() >= lsn {
			return nil
		}
		if lsn >= next {
			return fmt.Errorf("%w: sync %d, last appended %d", ErrOutOfRange, lsn, next-1)
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-j.flushed:
			if j.durable.Load() >= lsn {
				return nil
			}
			j.mu.Lock()
			err := j.err
			j.mu.Unlock()
			if err != nil {
				return err
			}
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// DurableLSN returns the LSN up to which every record is durable.
func (j *Journal) DurableLSN() uint64 { return j.durable.Load() }

// LastLSN returns the LSN of the last record appended (durable or not).
func (j *Journal) LastLSN() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.next - 1
}

// FirstLSN returns the LSN of the first record kept (greater than LastLSN
// when the journal holds no record).
func (j *Journal) FirstLSN() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.segs[0].first
}

// Size returns the bytes of the live segments plus the records not yet written.
func (j *Journal) Size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// Wait returns a channel closed when DurableLSN next advances, or the
// journal closes or fails.
func (j *Journal) Wait() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.notifyCh
}

// TruncateBefore removes every segment whose records all have LSNs below lsn
// and are durable. The active segment is never removed, so records below lsn
// may remain; the numbering continues regardless. It returns how many
// segments it removed.
func (j *Journal) TruncateBefore(lsn uint64) (int, error) {
	j.mu.Lock()
	durable := j.durable.Load()
	var victims []uint64
	for len(j.segs) > 1 && j.segs[1].first <= lsn && j.segs[1].first <= durable+1 {
		victims = append(victims, j.segs[0].first)
		j.size -= j.segs[0].size
		j.segs[0] = nil
		j.segs = j.segs[1:]
	}
	wasFull := j.fill == 100
	if len(victims) > 0 && j.fill > 0 && fillLevel(j.size, j.opts.MaxSize) < j.fill {
		j.fill = fillLevel(j.size, j.opts.MaxSize)
	}
	wasFull = wasFull && j.fill < 100
	size := j.size
	j.mu.Unlock()
	if len(victims) == 0 {
		return 0, nil
	}
	var errs []error
	for _, first := range victims {
		if err := os.Remove(join(j.dir, segmentName(first))); err != nil {
			errs = append(errs, fmt.Errorf("journal: truncate: %w", err))
		}
	}
	if err := syncDir(j.dir); err != nil {
		errs = append(errs, err)
	}
	if wasFull {
		j.log.Info("journal: no longer full", slog.Int64("size", size), slog.Int64("max_size", j.opts.MaxSize))
	}
	j.log.Debug("journal: truncated", slog.Int("segments", len(victims)),
		slog.Uint64("before_lsn", lsn), slog.Int64("size", size))
	return len(victims), errors.Join(errs...)
}

// Stats is a snapshot of the journal's counters, for metrics.
type Stats struct {
	Size         int64         // bytes of live segments plus pending records
	MaxSize      int64         // Options.MaxSize
	Segments     int           // live segment files
	FirstLSN     uint64        // first record kept
	LastLSN      uint64        // last record appended
	DurableLSN   uint64        // last durable record
	Appends      uint64        // records appended since Open
	Rejected     uint64        // appends refused with ErrFull since Open
	Fsyncs       uint64        // fsyncs of segment files since Open
	LastFsync    time.Duration // duration of the last one
	MaxFsync     time.Duration // longest since Open
	FsyncTime    time.Duration // all of them together
	Failures     uint64        // write or fsync failures since Open
	Heals        uint64        // successful Heal calls since Open
	Err          error         // the sticky failure (wraps ErrFailed), nil while healthy
	Batches      uint64        // batches written (one fsync each, more on rotation)
	BatchBytes   uint64        // bytes written in those batches
	PendingBytes int           // appended, not yet taken by the flusher
	ZeroedBytes  uint64        // zeros written ahead of the records since Open (Options.ZeroAhead)
	ZeroFailures uint64        // zeroings that failed (the segment then grew with each batch)
}

// Stats returns the current counters.
func (j *Journal) Stats() Stats {
	j.mu.Lock()
	s := Stats{
		Size:         j.size,
		MaxSize:      j.opts.MaxSize,
		Segments:     len(j.segs),
		FirstLSN:     j.segs[0].first,
		LastLSN:      j.next - 1,
		PendingBytes: len(j.pend.buf),
		Err:          j.err,
	}
	j.mu.Unlock()
	s.DurableLSN = j.durable.Load()
	s.Appends = j.appends.Load()
	s.Rejected = j.rejected.Load()
	s.Fsyncs = j.fsyncs.Load()
	s.LastFsync = time.Duration(j.lastFsync.Load())
	s.MaxFsync = time.Duration(j.maxFsync.Load())
	s.FsyncTime = time.Duration(j.sumFsync.Load())
	s.Failures = j.failures.Load()
	s.Heals = j.heals.Load()
	s.Batches = j.batches.Load()
	s.BatchBytes = j.batchBytes.Load()
	s.ZeroedBytes = j.zeroed.Load()
	s.ZeroFailures = j.zeroFails.Load()
	return s
}

// Close writes and fsyncs the pending records, completes their waiters,
// stops the journal and releases the directory. Readers return their
// remaining durable records, then ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	j.closed = true
	j.space.Broadcast()
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	<-j.flushed
	<-j.cbDone
	var errs []error
	j.mu.Lock()
	if j.err != nil {
		errs = append(errs, j.err)
	}
	j.mu.Unlock()
	if j.file != nil {
		if err := j.file.Close(); err != nil {
			errs = append(errs, fmt.Errorf("journal: close: %w", err))
		}
	}
	if err := j.lockFile.Close(); err != nil {
		errs = append(errs, fmt.Errorf("journal: close: %w", err))
	}
	return errors.Join(errs...)
}

// minSyncBatch is the batch size from which Options.MinSyncInterval no
// longer applies: such a batch is worth its fsync at once. Below it, the
// pacer (pace.go) decides whether the batch waits.
const minSyncBatch = 64 << 10

// flushLoop is the single goroutine that writes and fsyncs batches.
func (j *Journal) flushLoop() {
	defer close(j.flushed)
	defer func() {
		j.cbMu.Lock()
		j.cbStop = true
		j.cbMu.Unlock()
		j.kickNotifier()
	}()
	var spare batch
	pace := pacer{iv: j.opts.MinSyncInterval}
	for {
		j.mu.Lock()
		if len(j.pend.buf) == 0 {
			if j.closed {
				// Wake every waiter for good: Sync and readers see flushed.
				close(j.notifyCh)
				j.mu.Unlock()
				j.zeroWait() // no write after Close returns
				return
			}
			j.mu.Unlock()
			<-j.wake
			continue
		}
		if pace.iv > 0 {
			now := time.Now()
			if len(j.pend.buf) < minSyncBatch && !j.closed && j.err == nil {
				// After the sleep the interval is over: no second wait.
				if d := pace.wait(now, j.pend.records()); d > 0 {
					j.mu.Unlock()
					time.Sleep(d) // let more records join this batch
					continue
				}
			}
			pace.took(now, j.pend.records())
		}
		b := j.pend
		j.pend = spare
		failed := j.err
		j.space.Broadcast()
		j.mu.Unlock()

		err := failed
		if err == nil {
			if err = j.writeBatch(&b); err != nil {
				err = fmt.Errorf("%w: %w", ErrFailed, err)
				j.failures.Add(1)
				j.sample.Log(context.Background(), slog.LevelError, "failed", "journal: write failed; the journal accepts nothing more until healed or reopened",
					slog.String("dir", j.dir), slog.Uint64("durable_lsn", j.durable.Load()), slog.Any("err", err))
			}
		}
		j.mu.Lock()
		if err != nil {
			// A batch failed because of an earlier failure leaves the
			// sticky error alone: Heal may have cleared it meanwhile.
			if failed == nil {
				j.err = err
			}
			j.space.Broadcast()
		} else {
			j.durable.Store(b.last)
		}
		close(j.notifyCh)
		j.notifyCh = make(chan struct{})
		j.mu.Unlock()

		if len(b.waiters) > 0 {
			j.cbMu.Lock()
			j.cbQueue = append(j.cbQueue, completion{ws: b.waiters, err: err})
			j.cbMu.Unlock()
			j.kickNotifier()
		}
		spare = batch{buf: b.buf[:0], breaks: b.breaks[:0]} // first and last are set by the next record
		if cap(spare.buf) > 4*j.opts.MaxBatchBytes {
			spare.buf = nil // do not keep a huge buffer after a burst
		}
	}
}

func (j *Journal) kickNotifier() {
	select {
	case j.cbWake <- struct{}{}:
	default:
	}
}

// notifyLoop calls the completion functions of AppendAsync, in LSN order.
func (j *Journal) notifyLoop() {
	defer close(j.cbDone)
	for {
		j.cbMu.Lock()
		q, stop := j.cbQueue, j.cbStop
		j.cbQueue = nil
		j.cbMu.Unlock()
		for _, c := range q {
			for _, w := range c.ws {
				w.fn(w.lsn, c.err)
			}
		}
		if len(q) == 0 {
			if stop {
				return
			}
			<-j.cbWake
		}
	}
}

// writeBatch writes b to the segment files, rotating at its breaks, and
// fsyncs. Only the flusher calls it.
func (j *Journal) writeBatch(b *batch) error {
	pos := 0
	for _, br := range b.breaks {
		if br.off > pos {
			if err := j.write(b.buf[pos:br.off]); err != nil {
				return err
			}
		}
		if j.fileDirty {
			if err := j.fsync(); err != nil {
				return err
			}
		}
		j.zeroWait()
		if err := j.file.Close(); err != nil {
			return fmt.Errorf("journal: close segment: %w", err)
		}
		j.file = nil
		if err := j.createSegment(br.first); err != nil {
			return err
		}
		pos = br.off
	}
	if err := j.write(b.buf[pos:]); err != nil {
		return err
	}
	j.batches.Add(1)
	j.batchBytes.Add(uint64(len(b.buf)))
	if err := j.fsync(); err != nil {
		return err
	}
	j.durMark.Store(&durMark{first: j.fileFirst, off: j.filePos})
	j.zeroAhead()
	return nil
}

func (j *Journal) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if j.zeroing != nil && j.filePos+int64(len(p)) > j.zeroEnd {
		j.zeroWait() // never write where zeros are being written
	}
	j.fileDirty = true
	n, err := j.file.Write(p)
	j.filePos += int64(n)
	if err != nil {
		return fmt.Errorf("journal: write: %w", err)
	}
	return nil
}

func (j *Journal) fsync() error {
	if j.testBeforeSync != nil {
		if err := j.testBeforeSync(); err != nil {
			return fmt.Errorf("journal: fsync: %w", err)
		}
	}
	t := time.Now()
	if err := j.file.Sync(); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	d := int64(time.Since(t))
	j.lastFsync.Store(d)
	j.sumFsync.Add(d)
	if d > j.maxFsync.Load() {
		j.maxFsync.Store(d) // only the flusher writes it
	}
	j.fsyncs.Add(1)
	j.fileDirty = false
	return nil
}

// createSegment creates the segment starting at first, makes its directory
// entry durable and makes it the file the flusher writes.
func (j *Journal) createSegment(first uint64) error {
	path := join(j.dir, segmentName(first))
	f, err := j.openFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644, 0)
	if err != nil {
		return fmt.Errorf("journal: create segment: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return err
	}
	j.file, j.filePath, j.fileFirst = f, path, first
	j.fileDirty = false
	j.filePos, j.zeroEnd, j.zeroStop = 0, 0, false
	return nil
}
