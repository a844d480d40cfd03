package journal

import (
	"errors"
	"fmt"
)

// Sentinel errors. Their text is stable; callers compare with errors.Is.
var (
	// ErrFull: the append would take the journal beyond Options.MaxSize.
	// Nothing was written; retry after TruncateBefore frees space.
	ErrFull = errors.New("journal: full")
	// ErrTooLarge: the payload exceeds Options.MaxRecordSize.
	ErrTooLarge = errors.New("journal: record too large")
	// ErrClosed: the journal (or reader) is closed.
	ErrClosed = errors.New("journal: closed")
	// ErrFailed: a write or fsync failed earlier; the journal accepts nothing
	// more until Heal succeeds (or it is reopened, which recovers what is
	// on disk).
	ErrFailed = errors.New("journal: failed")
	// ErrCorrupt: records that had been durable are damaged (see CorruptError).
	ErrCorrupt = errors.New("journal: corrupt")
	// ErrTruncated: the requested LSN was removed by TruncateBefore.
	ErrTruncated = errors.New("journal: truncated")
	// ErrOutOfRange: the LSN is beyond the records written so far.
	ErrOutOfRange = errors.New("journal: lsn out of range")
	// ErrLocked: another Journal (in this or another process) has the directory open.
	ErrLocked = errors.New("journal: directory locked")
	// ErrNoSnapshot: there is no intact snapshot.
	ErrNoSnapshot = errors.New("journal: no snapshot")
	// ErrBadType: a record type of 0 (reserved: it marks zeroed space).
	ErrBadType = errors.New("journal: bad record type")
)

// CorruptError says where durable records are damaged. errors.Is(err,
// ErrCorrupt) is true for it.
type CorruptError struct {
	Segment string // file name
	Offset  int64  // byte offset of the bad frame in the segment
	LSN     uint64 // LSN expected at Offset
	Reason  string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal: corrupt: segment %s offset %d (lsn %d): %s", e.Segment, e.Offset, e.LSN, e.Reason)
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
