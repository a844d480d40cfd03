package journal

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// checkZeroTail checks that the file at path holds the frames of
// payloadFor(first..last) and zeros after them.
func checkZeroTail(t testing.TB, path string, first, last uint64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := first; i <= last; i++ {
		want = appendFrame(want, i, TypeData, payloadFor(i), payloadCRC(payloadFor(i)))
	}
	if !bytes.HasPrefix(data, want) || nonZeroLen(data[len(want):]) != 0 {
		t.Fatalf("%s: %d bytes, want the records %d..%d (%d bytes) and zeros only after them", filepath.Base(path), len(data), first, last, len(want))
	}
}

// The active segment holds zeros written ahead of its records, and records
// overwrite them in place: while they fit, appending does not change the
// file's size (so an fdatasync has no inode to write). The zeros never go
// beyond SegmentSize, Size counts the records only, and a reopen takes the
// zeroed tail as the end of the records, cutting and reporting nothing.
// With ZeroAhead negative the segment grows with every batch, as before.
func TestZeroAheadOverwritesInPlace(t *testing.T) {
	o := smallOpts(t)
	o.SegmentSize = 64 << 10
	o.ZeroAhead = 16 << 10
	dir := t.TempDir()
	j := mustOpen(t, dir, o)
	defer func() { j.Close() }()
	waitZeroIdle(t, j) // Open zeroes ahead in a new segment
	path := segmentFiles(t, dir)[0]
	if got := fileSize(t, path); got != o.ZeroAhead {
		t.Fatalf("new segment: %d bytes, want %d of zeros", got, o.ZeroAhead)
	}
	// Less than half of the zeros: nothing more is zeroed, the size stays.
	var n uint64
	for recordBytes(1, n+1) < o.ZeroAhead/2 {
		n++
	}
	for i := uint64(1); i <= n; i++ {
		appendN(t, j, i, 1) // one batch and fsync each
		waitZeroIdle(t, j)
		if got := fileSize(t, path); got != o.ZeroAhead {
			t.Fatalf("after record %d: segment is %d bytes, want still %d", i, got, o.ZeroAhead)
		}
	}
	checkZeroTail(t, path, 1, n)
	if st := j.Stats(); st.ZeroedBytes != uint64(o.ZeroAhead) || st.Size != recordBytes(1, n) {
		t.Fatalf("stats: zeroed %d, size %d; want %d and %d", st.ZeroedBytes, st.Size, o.ZeroAhead, recordBytes(1, n))
	}
	// Past half, the zeros are kept ahead, up to SegmentSize at most, in
	// every segment.
	const total = 1000
	appendN(t, j, n+1, total-n)
	waitZeroIdle(t, j)
	files := segmentFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("%d segments, want several", len(files))
	}
	for k, f := range files {
		first, _ := parseSegmentName(filepath.Base(f))
		last := uint64(total)
		if k+1 < len(files) {
			next, _ := parseSegmentName(filepath.Base(files[k+1]))
			last = next - 1
		}
		checkZeroTail(t, f, first, last)
		if sz := fileSize(t, f); sz > o.SegmentSize || sz < min(recordBytes(first, last)+o.ZeroAhead/2, o.SegmentSize) {
			t.Fatalf("%s: %d bytes for %d bytes of records: want zeros at least ZeroAhead/2 ahead, and at most SegmentSize %d", filepath.Base(f), sz, recordBytes(first, last), o.SegmentSize)
		}
	}
	if st := j.Stats(); st.Size != recordBytes(1, total) || st.ZeroFailures != 0 {
		t.Fatalf("stats: size %d (want %d), %d zeroing failures", st.Size, recordBytes(1, total), st.ZeroFailures)
	}
	mustClose(t, j)
	j = mustOpen(t, dir, o)
	if r := j.Recovery(); r.BytesCut != 0 || r.LastLSN != total || r.Bytes != recordBytes(1, total) || j.Size() != r.Bytes {
		t.Fatalf("reopen: %+v, Size %d; want nothing cut, %d records of %d bytes", r, j.Size(), total, recordBytes(1, total))
	}
	checkRecords(t, readAll(t, j, 0), 1, total)
	appendN(t, j, total+1, 5) // after the reopen too, records overwrite the zeros
	mustClose(t, j)
	j = mustOpen(t, dir, o)
	checkRecords(t, readAll(t, j, 0), 1, total+5)

	t.Run("off", func(t *testing.T) {
		o := o
		o.ZeroAhead = -1
		dir := t.TempDir()
		j := mustOpen(t, dir, o)
		appendN(t, j, 1, 10)
		if got, want := fileSize(t, segmentFiles(t, dir)[0]), recordBytes(1, 10); got != want || j.Stats().ZeroedBytes != 0 {
			t.Fatalf("segment is %d bytes, want %d: the records only", got, want)
		}
		mustClose(t, j)
	})
}

// A Reader tailing the active segment reads no further than the durable
// records: it must not take the zeros it would otherwise buffer after
// them for the end of the segment once records overwrite them.
func TestReaderTailsZeroedSegment(t *testing.T) {
	o := smallOpts(t)
	o.SegmentSize = 256 << 10
	j := mustOpen(t, t.TempDir(), o)
	defer mustClose(t, j)
	waitZeroIdle(t, j)
	r, err := j.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := uint64(1); i <= 300; i++ {
		appendN(t, j, i, 1)
		rec, ok, err := r.TryNext()
		if err != nil || !ok || rec.LSN != i || !bytes.Equal(rec.Payload, payloadFor(i)) {
			t.Fatalf("record %d: %+v ok=%v err=%v", i, rec, ok, err)
		}
	}
}

// A full disk while writing zeros ahead is not a failure of the journal:
// it logs a debug line, counts it, and the segment grows with each batch as
// without zeroing. When the records' own writes then fail, the journal
// fails as on any full disk (ErrFailed wrapping ENOSPC), Heal takes it
// back once there is room, and the zeros are written ahead again.
func TestZeroAheadDiskFull(t *testing.T) {
	fs := &faults{}
	o := smallOpts(t)
	o.SegmentSize = 64 << 10
	o.ZeroAhead = 16 << 10
	o.WrapFile = fs.wrap
	var logs syncBuffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := t.TempDir()
	j := mustOpen(t, dir, o)
	defer func() { j.Close() }()
	waitZeroIdle(t, j)
	path := segmentFiles(t, dir)[0]

	fs.set(&fs.zeroErr, syscall.ENOSPC) // the zeros ahead fail, records still fit
	var n uint64
	for n = 1; recordBytes(1, n) < o.ZeroAhead+4096; n++ {
		appendN(t, j, n, 1)
		waitZeroIdle(t, j)
	}
	last := n - 1
	st := j.Stats()
	if st.ZeroFailures != 1 || st.Err != nil || st.DurableLSN != last {
		t.Fatalf("after the zeroing failed: %d zeroing failures, err %v, durable %d; want 1, nil, %d", st.ZeroFailures, st.Err, st.DurableLSN, last)
	}
	if got := fileSize(t, path); got != recordBytes(1, last) {
		t.Fatalf("segment is %d bytes, want %d: grown by the records past the zeros", got, recordBytes(1, last))
	}
	if !strings.Contains(logs.String(), "writing zeros ahead failed") || !strings.Contains(logs.String(), "no space left") {
		t.Fatalf("no warning about the zeroing:\n%s", logs.String())
	}

	fs.set(&fs.writeErr, syscall.ENOSPC) // now the disk is full for records too
	lsn, err := j.Append(payloadFor(n))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Sync(ctxTimeout(t, 10*time.Second), lsn); !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Sync on a full disk: %v, want ErrFailed wrapping ENOSPC", err)
	}
	if _, err := j.Heal(); err == nil {
		t.Fatal("Heal succeeded on a full disk")
	}
	fs.set(&fs.writeErr, nil)
	fs.set(&fs.zeroErr, nil)
	if _, err := j.Heal(); err != nil {
		t.Fatalf("Heal: %v", err)
	}
	zeroed := j.Stats().ZeroedBytes
	appendN(t, j, n, 3)
	waitZeroIdle(t, j)
	if st := j.Stats(); st.ZeroedBytes <= zeroed {
		t.Fatalf("no zeros written ahead after the heal: %d bytes, %d before", st.ZeroedBytes, zeroed)
	}
	mustClose(t, j)
	j = mustOpen(t, dir, o)
	if r := j.Recovery(); r.BytesCut != 0 || r.LastLSN != n+2 {
		t.Fatalf("reopen: %+v", r)
	}
	checkRecords(t, readAll(t, j, 0), 1, n+2)
}

// A journal directory written before zeros were written ahead (testdata,
// written by the code of commit 4254f6f: segments end with their last
// record, the final one too) opens as it did: nothing cut, the snapshot
// kept, appends continue in the final segment, overwriting the zeros
// written ahead of them from then on.
func TestOpenUnzeroedJournal(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, filepath.Join("testdata", "unzeroed"), dir)
	o := smallOpts(t)
	j := mustOpen(t, dir, o)
	if r := j.Recovery(); r.BytesCut != 0 || r.FirstLSN != 1 || r.LastLSN != 60 || r.Segments != 3 || r.Bytes != recordBytes(1, 60) {
		t.Fatalf("recovery %+v, want 60 records in 3 segments, nothing cut", r)
	}
	if s, err := j.LatestSnapshot(); err != nil || s.LSN != 40 {
		t.Fatalf("snapshot: %+v %v", s, err)
	}
	checkRecords(t, readAll(t, j, 0), 1, 60)
	appendN(t, j, 61, 5)
	mustClose(t, j)
	j = mustOpen(t, dir, o)
	defer mustClose(t, j)
	if r := j.Recovery(); r.BytesCut != 0 || r.LastLSN != 65 {
		t.Fatalf("second recovery %+v", r)
	}
	checkRecords(t, readAll(t, j, 0), 1, 65)
}
