package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
)

// healProbeSize is how many bytes Heal writes and syncs (then cuts) to see
// that writes succeed again before it takes the journal back into service.
const healProbeSize = 64 << 10

// Healed says what Heal did.
type Healed struct {
	DurableLSN      uint64 // the journal ends here now; the next record gets DurableLSN+1
	BytesCut        int64  // bytes after DurableLSN cut from the active segment
	SegmentsRemoved int    // segments holding nothing durable, removed
}

// Heal brings a failed journal (ErrFailed: a write or fsync failed) back
// into service in place, without closing it: it cuts every byte written
// after DurableLSN (records never reported durable, a torn frame), removes
// the segments that hold nothing durable, makes that durable, then checks
// that writes succeed again by writing and syncing healProbeSize bytes
// (which it cuts again). On success the journal accepts appends again from
// DurableLSN+1 and nil is returned; readers carry on (they never saw a
// record beyond DurableLSN). On failure the journal stays failed (what was
// cut stays cut) and Heal may be called again later. On a healthy journal
// Heal does nothing.
//
// The LSNs after DurableLSN are reused: the caller must not have a Sync or
// AppendAsync waiting for one of them (the runtime waits until every batch
// it handed over has failed before it heals). Heal holds the journal's lock
// while it works: appends wait (they would fail anyway).
func (j *Journal) Heal() (Healed, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return Healed{}, ErrClosed
	}
	if j.err == nil {
		return Healed{DurableLSN: j.durable.Load()}, nil
	}
	// Records appended before the failure are failed by the flusher
	// (with the sticky error) once it takes them; wait for that.
	for len(j.pend.buf) > 0 {
		select {
		case j.wake <- struct{}{}:
		default:
		}
		j.space.Wait()
	}
	d := j.durable.Load()
	h := Healed{DurableLSN: d}
	// The segment that holds (or would hold) record d+1 becomes the
	// active one; the ones after it hold nothing durable.
	i := sort.Search(len(j.segs), func(i int) bool { return j.segs[i].first > d+1 }) - 1
	if i < 0 {
		return h, fmt.Errorf("%w: heal: durable lsn %d is before the first segment %d", ErrCorrupt, d, j.segs[0].first)
	}
	j.zeroWait()
	if j.file != nil {
		j.file.Close()
		j.file = nil
	}
	var errs []error
	for _, s := range j.segs[i+1:] {
		if err := os.Remove(join(j.dir, segmentName(s.first))); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		h.SegmentsRemoved++
	}
	j.segs = j.segs[:i+1]
	seg := j.segs[i]
	path := join(j.dir, segmentName(seg.first))
	off, err := durableEnd(path, seg.first, d, j.opts.MaxRecordSize)
	if err != nil {
		return h, fmt.Errorf("journal: heal: %w", err)
	}
	f, err := j.openFile(path, os.O_CREATE|os.O_WRONLY, 0o644, off)
	if err != nil {
		return h, fmt.Errorf("journal: heal: %w", errors.Join(append(errs, err)...))
	}
	// Every byte past DurableLSN goes (zeros written ahead too: they are
	// written again once the journal is back): a reader may have buffered
	// some of them, so readers reopen their file (the epoch) before they
	// read a record past d.
	j.epoch.Add(1)
	h.BytesCut = cutBytes(path, off)
	if err := f.Truncate(off); err != nil {
		errs = append(errs, err)
	} else if err := f.Sync(); err != nil {
		errs = append(errs, err)
	}
	if err := syncDir(j.dir); err != nil {
		errs = append(errs, err)
	}
	seg.size = off
	j.size = 0
	for _, s := range j.segs {
		j.size += s.size
	}
	j.next = d + 1
	j.fill = fillLevel(j.size, j.opts.MaxSize)
	if len(errs) == 0 {
		errs = append(errs, probe(f, off))
	}
	if err := errors.Join(errs...); err != nil {
		f.Close()
		return h, fmt.Errorf("journal: heal: writes still fail: %w", err)
	}
	j.file, j.filePath, j.fileFirst = f, path, seg.first
	j.fileDirty = false
	j.filePos, j.zeroEnd, j.zeroStop = off, off, false
	j.durMark.Store(&durMark{first: seg.first, off: off})
	j.err = nil
	j.heals.Add(1)
	close(j.notifyCh)
	j.notifyCh = make(chan struct{})
	j.space.Broadcast()
	// The failure's cause ends: the next failure is logged at once again.
	j.sample.Resolve(context.Background(), slog.LevelInfo, "failed", "journal: healed, writes succeed again", slog.String("dir", j.dir),
		slog.Uint64("durable_lsn", d), slog.Int64("bytes_cut", h.BytesCut), slog.Int("segments_removed", h.SegmentsRemoved))
	return h, nil
}

// cutBytes returns how many bytes after off the file at path holds, up to
// its last nonzero byte (zeros written ahead are not records cut).
func cutBytes(path string, off int64) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	end, err := nonZeroEnd(f, off, fi.Size())
	if err != nil {
		return max(fi.Size()-off, 0)
	}
	return end - off
}

// probe writes healProbeSize zero bytes at off (leaving the file's offset
// there), syncs them and cuts the file back to off.
func probe(f File, off int64) error {
	_, werr := f.WriteAt(zeroBuf[:healProbeSize], off)
	if werr == nil {
		werr = f.Sync()
	}
	if err := f.Truncate(off); err != nil {
		return errors.Join(werr, err)
	}
	if werr != nil {
		return werr
	}
	return f.Sync()
}

// durableEnd returns the offset just after record last in the segment at
// path whose first record is first (0 when last < first, or when the file
// does not exist and nothing of it is durable).
func durableEnd(path string, first, last uint64, maxRecord int) (int64, error) {
	if last < first {
		return 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fr := newFrameReader(f, 1<<20)
	for lsn := first; lsn <= last; lsn++ {
		if _, _, err := fr.next(lsn, maxRecord); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, &CorruptError{Segment: segmentName(first), Offset: fr.pos, LSN: lsn,
				Reason: fmt.Sprintf("durable record unreadable while healing: %v", err)}
		}
	}
	return fr.pos, nil
}
