package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// Reader yields the durable records of a Journal in LSN order, starting at a
// given LSN, and waits at the end for more. A Reader is not safe for
// concurrent use; any number of Readers may read one Journal.
type Reader struct {
	j      *Journal
	from   uint64 // records below are skipped
	next   uint64 // LSN of the next record to decode
	first  uint64 // first LSN of the open segment
	fr     *frameReader
	closed bool
	epoch  uint64 // the journal's epoch when the file was opened
	slab   []byte // payloads are carved from it: one allocation per many records
}

const slabSize = 64 << 10

// NewReader returns a Reader whose first record is the one with LSN from; 0
// means the first record kept. from may be LastLSN()+1 to read only records
// appended from now on. It fails with ErrTruncated if from was removed by
// TruncateBefore and ErrOutOfRange if from > LastLSN()+1.
func (j *Journal) NewReader(from uint64) (*Reader, error) {
	j.mu.Lock()
	first, next := j.segs[0].first, j.next
	j.mu.Unlock()
	if from == 0 {
		from = first
	}
	if from < first {
		return nil, fmt.Errorf("%w: lsn %d, first kept %d", ErrTruncated, from, first)
	}
	if from > next {
		return nil, fmt.Errorf("%w: lsn %d, last appended %d", ErrOutOfRange, from, next-1)
	}
	return &Reader{j: j, from: from, next: from}, nil
}

// NextLSN returns the LSN of the record the next call yields.
func (r *Reader) NextLSN() uint64 { return max(r.next, r.from) }

// TryNext returns the next durable record without waiting: ok is false when
// there is none yet. Errors: ErrTruncated when the next record was removed
// while the Reader lagged, ErrClosed when the reader or the journal is closed
// and every durable record has been read, ErrFailed (wrapped) when the
// journal failed and every durable record has been read (not final: once
// Journal.Heal succeeds, the Reader yields the records appended after it),
// a *CorruptError when a segment no longer decodes.
func (r *Reader) TryNext() (rec Record, ok bool, err error) {
	if r.closed {
		return Record{}, false, ErrClosed
	}
	for {
		if r.next > r.j.durable.Load() {
			select {
			case <-r.j.flushed:
				if r.next > r.j.durable.Load() {
					return Record{}, false, ErrClosed
				}
				continue
			default:
			}
			r.j.mu.Lock()
			err := r.j.err
			r.j.mu.Unlock()
			if err != nil && r.next > r.j.durable.Load() {
				return Record{}, false, err // no record will ever follow
			}
			return Record{}, false, nil
		}
		if r.fr != nil && r.epoch != r.j.epoch.Load() {
			// A heal rewrote what follows the records durable before
			// it, which this reader may have buffered: read the file
			// again (records already yielded are skipped).
			r.closeFile()
			r.first = 0
		}
		if r.fr == nil {
			if err := r.open(); err != nil {
				return Record{}, false, err
			}
		}
		// In the active segment, read no further than the durable records
		// (loaded after DurableLSN, so at least that far): the bytes after
		// them may be zeros about to be overwritten.
		r.fr.limit = -1
		if m := r.j.durMark.Load(); m.first == r.first {
			r.fr.limit = m.off
		}
		h, payload, err := r.fr.next(r.next, r.j.opts.MaxRecordSize)
		if errors.Is(err, io.EOF) {
			// The segment's records end (at its end or its zeroed tail)
			// and r.next is durable: it starts the next segment.
			r.closeFile()
			continue
		}
		if err != nil {
			var bf *badFrame
			if errors.As(err, &bf) {
				return Record{}, false, &CorruptError{Segment: segmentName(r.first), Offset: bf.pos, LSN: r.next, Reason: bf.reason}
			}
			return Record{}, false, fmt.Errorf("journal: read %s: %w", segmentName(r.first), err)
		}
		r.next++
		if h.lsn < r.from {
			continue
		}
		return Record{LSN: h.lsn, Type: h.typ, Payload: r.copyPayload(payload)}, true, nil
	}
}

// copyPayload returns a copy of p that the caller owns. Small payloads share
// a backing array (each with its capacity capped, so an append by the caller
// reallocates instead of overwriting a neighbour).
func (r *Reader) copyPayload(p []byte) []byte {
	if len(p) > slabSize/8 {
		return append([]byte(nil), p...)
	}
	if len(r.slab) < len(p) {
		r.slab = make([]byte, slabSize)
	}
	n := copy(r.slab, p)
	c := r.slab[:n:n]
	r.slab = r.slab[n:]
	return c
}

// Next returns the next durable record, waiting for it until ctx is done.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	for {
		ch := r.j.Wait()
		rec, ok, err := r.TryNext()
		if ok || err != nil {
			return rec, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
}

// Wait returns a channel closed when more durable records may be available
// (or the journal closed): for a caller that selects on several sources.
// Take it before calling TryNext, so no wake-up is missed.
func (r *Reader) Wait() <-chan struct{} { return r.j.Wait() }

// Close releases the Reader's file.
func (r *Reader) Close() error {
	r.closed = true
	r.closeFile()
	return nil
}

func (r *Reader) closeFile() {
	if r.fr != nil {
		r.fr.f.Close()
		r.fr = nil
	}
}

// open opens the segment holding r.next.
func (r *Reader) open() error {
	j := r.j
	j.mu.Lock()
	if r.next < j.segs[0].first {
		first := j.segs[0].first
		j.mu.Unlock()
		return fmt.Errorf("%w: lsn %d, first kept %d", ErrTruncated, r.next, first)
	}
	i := sort.Search(len(j.segs), func(i int) bool { return j.segs[i].first > r.next }) - 1
	first := j.segs[i].first
	j.mu.Unlock()
	if r.first != 0 && first == r.first {
		// The segment we just finished claims r.next: its file ended early.
		return &CorruptError{Segment: segmentName(first), LSN: r.next, Reason: "segment ends before a durable record"}
	}
	epoch := j.epoch.Load()
	f, err := os.Open(join(j.dir, segmentName(first)))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			j.mu.Lock()
			kept := j.segs[0].first
			j.mu.Unlock()
			if r.next < kept {
				return fmt.Errorf("%w: lsn %d, first kept %d", ErrTruncated, r.next, kept)
			}
		}
		return fmt.Errorf("journal: %w", err)
	}
	r.first = first
	r.epoch = epoch
	r.from = max(r.from, r.next) // never yield a record twice
	r.next = first
	r.fr = newFrameReader(f, 256<<10)
	return nil
}
