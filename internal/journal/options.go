package journal

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults of Options (a zero field takes its default).
const (
	DefaultSegmentSize   = 64 << 20 // 64 MiB
	DefaultMaxSize       = 4 << 30  // 4 GiB
	DefaultMaxRecordSize = 4 << 20  // 4 MiB
	DefaultMaxBatchBytes = 4 << 20  // 4 MiB
	DefaultKeepSnapshots = 2
	// DefaultZeroAhead bounds the default of Options.ZeroAhead.
	DefaultZeroAhead = 4 << 20 // 4 MiB
)

// Options configures a Journal. The zero value is valid: every zero field
// takes the default documented on it.
type Options struct {
	// SegmentSize is the size at which the active segment is closed and a new
	// one started (a record is never split; a single record larger than this
	// gets a segment of its own). Default 64 MiB; at least 4 KiB.
	SegmentSize int64
	// MaxSize bounds Size(), the bytes of the live segments plus the records
	// not yet written: an append beyond it fails with ErrFull. Default 4 GiB;
	// at least 2*SegmentSize, so that truncation can always free a segment.
	MaxSize int64
	// MaxRecordSize bounds one payload. Default 4 MiB; at most 1 GiB.
	MaxRecordSize int
	// MaxBatchBytes bounds the bytes appended but not yet handed to the
	// flusher: appenders wait (back-pressure) while that much is pending, so
	// no more than MaxBatchBytes+MaxRecordSize+17 bytes are ever written
	// between two fsyncs. Default 4 MiB; at least 4 KiB.
	MaxBatchBytes int
	// KeepSnapshots is how many snapshots WriteSnapshot keeps. Default 2.
	KeepSnapshots int
	// Logger receives recovery reports, fill warnings and failures.
	// Default: discard.
	Logger *slog.Logger
	// WrapFile, if set, wraps every segment file the journal opens for
	// writing (the zeroing ahead included): tests inject write errors,
	// EIO and slow syncs through it.
	WrapFile func(File) File
	// ZeroAhead is how many bytes of zeros a background goroutine keeps
	// written and synced ahead of the records in the active segment (never
	// beyond SegmentSize), so that a batch overwrites allocated blocks
	// inside the file's durable size and its fdatasync writes the data
	// pages only, not the inode (see the package doc). Default
	// min(SegmentSize, 4 MiB); negative turns it off: the segment then
	// grows with every batch, as journals written before it did.
	ZeroAhead int64
	// MinSyncInterval, if positive, makes group commit gather records
	// under load: a batch smaller than 64 KiB waits until this long after
	// the previous batch started, but only while records arrive at 4 or
	// more per interval (an exponentially weighted rate over the last 4
	// intervals, the pending records included), so that at high rates
	// records gather into fewer batches (each batch costs an fsync and
	// wakes the flusher, the notifier, the appenders and every Reader). A
	// record then waits up to MinSyncInterval more. Below that rate
	// nothing waits: a chain of requests (a reply, then the next request
	// just after the previous batch started) at a low rate pays nothing,
	// and neither does the first record after the journal was idle for an
	// interval. Waiting that slows the records down (a closed loop: few
	// callers, each waiting for its record before appending the next) is
	// found by trying: every 1,000 intervals the other way is probed for
	// 32, and batches are taken at once for the next 1,000 intervals if
	// that brings records 1.3 times faster than waiting (pace.go). Default
	// 0: a batch is taken as soon as the previous one is durable.
	MinSyncInterval time.Duration
}

// Validate checks the options after defaults are applied and names the first
// bad field.
func (o Options) Validate() error {
	o = o.withDefaults()
	switch {
	case o.SegmentSize < 4<<10:
		return fmt.Errorf("journal: Options.SegmentSize %d: must be at least 4096", o.SegmentSize)
	case o.MaxSize < 2*o.SegmentSize:
		return fmt.Errorf("journal: Options.MaxSize %d: must be at least 2*SegmentSize (%d)", o.MaxSize, 2*o.SegmentSize)
	case o.MaxRecordSize < 0 || o.MaxRecordSize > 1<<30:
		return fmt.Errorf("journal: Options.MaxRecordSize %d: must be between 1 and 1 GiB", o.MaxRecordSize)
	case o.MaxBatchBytes < 4<<10:
		return fmt.Errorf("journal: Options.MaxBatchBytes %d: must be at least 4096", o.MaxBatchBytes)
	case o.MinSyncInterval < 0 || o.MinSyncInterval > time.Second:
		return fmt.Errorf("journal: Options.MinSyncInterval %v: must be between 0 and 1s", o.MinSyncInterval)
	case o.KeepSnapshots < 1:
		return fmt.Errorf("journal: Options.KeepSnapshots %d: must be at least 1", o.KeepSnapshots)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxRecordSize == 0 {
		o.MaxRecordSize = DefaultMaxRecordSize
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.KeepSnapshots == 0 {
		o.KeepSnapshots = DefaultKeepSnapshots
	}
	if o.ZeroAhead == 0 {
		o.ZeroAhead = min(o.SegmentSize, DefaultZeroAhead)
	}
	o.ZeroAhead = min(o.ZeroAhead, o.SegmentSize)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// tornWindow is the most bytes of a segment that can be written but not yet
// fsynced, hence the most a crash can tear (see the package doc).
func (o Options) tornWindow() int64 {
	return int64(o.MaxBatchBytes) + int64(o.MaxRecordSize) + headerSize
}
