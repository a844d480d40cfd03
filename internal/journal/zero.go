package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// zeroBuf is the source of every write of zeros (never written to).
var zeroBuf = make([]byte, 256<<10)

// durMark is where the durable records end: in the segment starting at
// first, at byte off. A Reader of that segment reads no further (the bytes
// beyond are zeros about to be overwritten, or records not yet durable).
type durMark struct {
	first uint64
	off   int64
}

// zeroAhead starts writing zeros ahead of the records of the active
// segment, in the background, when less than half of Options.ZeroAhead is
// left: Options.ZeroAhead bytes after the records (at most up to
// SegmentSize), written and synced on a file descriptor of its own. The
// flusher's batches then overwrite blocks that are allocated and inside
// the file's durable size, so their fdatasync does not write the inode.
// Only the flusher calls it (and Open before the flusher starts).
func (j *Journal) zeroAhead() {
	if j.zeroing != nil {
		select {
		case err := <-j.zeroing:
			j.zeroDone(err)
		default:
			return // still running
		}
	}
	za := j.opts.ZeroAhead
	if za <= 0 || j.zeroStop || j.file == nil {
		return
	}
	start := max(j.zeroEnd, j.filePos)
	if start-j.filePos >= za/2 || start >= j.opts.SegmentSize {
		return
	}
	end := min(j.filePos+za, j.opts.SegmentSize)
	ch := make(chan error, 1)
	j.zeroing, j.zeroTo = ch, end
	j.zeroRunning.Add(1)
	path := j.filePath
	go func() {
		err := j.zeroFill(path, start, end)
		if err == nil {
			j.zeroed.Add(uint64(end - start))
		}
		j.zeroRunning.Add(-1)
		ch <- err
	}()
}

// zeroWait waits for the zeroing in progress, if any. The flusher calls it
// before it writes where the zeros are being written, before it closes the
// segment, and when it stops; Heal calls it while the flusher writes
// nothing.
func (j *Journal) zeroWait() {
	if j.zeroing != nil {
		j.zeroDone(<-j.zeroing)
	}
}

func (j *Journal) zeroDone(err error) {
	j.zeroing = nil
	if err == nil {
		j.zeroEnd = j.zeroTo
		return
	}
	// Not a failure of the journal: its batches extend the segment, as
	// without zeroing, and fail by themselves (logged as an error, as
	// always) if the disk is really full or failing. The zeroing's own
	// descriptor took any writeback error it met; the flusher's descriptor
	// still reports it (errors are reported per open file description), so
	// no fsync of records can miss one. Hence a debug line and a count
	// (Stats.ZeroFailures), not a warning next to the journal's error.
	j.zeroStop = true
	j.zeroFails.Add(1)
	j.sample.Log(context.Background(), slog.LevelDebug, "zero", "journal: writing zeros ahead failed; the active segment grows with each batch until the next segment",
		slog.String("dir", j.dir), slog.Any("err", err))
}

// zeroFill writes zeros over [start, end) of the segment at path and syncs
// them, through a file descriptor of its own.
func (j *Journal) zeroFill(path string, start, end int64) error {
	f, err := j.openFile(path, os.O_WRONLY, 0, 0)
	if err != nil {
		return fmt.Errorf("journal: zero ahead: %w", err)
	}
	for off := start; off < end; {
		n := min(int64(len(zeroBuf)), end-off)
		if _, err := f.WriteAt(zeroBuf[:n], off); err != nil {
			f.Close()
			return fmt.Errorf("journal: zero ahead: %w", err)
		}
		off += n
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("journal: zero ahead: %w", err)
	}
	return f.Close()
}

// nonZeroEnd returns the offset just after the last byte that is not zero
// in [from, size) of f, or from if there is none (a zeroed tail).
func nonZeroEnd(f *os.File, from, size int64) (int64, error) {
	end := from
	buf := make([]byte, min(1<<20, max(size-from, 0)))
	for off := from; off < size; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		for i := n - 1; i >= 0; i-- {
			if buf[i] != 0 {
				end = off + int64(i) + 1
				break
			}
		}
		off += int64(n)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, err
		}
	}
	return end, nil
}
