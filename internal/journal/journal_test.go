package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		field string // "" = valid
	}{
		{"zero is valid", Options{}, ""},
		{"small but valid", Options{SegmentSize: 4096, MaxSize: 8192, MaxBatchBytes: 4096, MaxRecordSize: 1}, ""},
		{"segment too small", Options{SegmentSize: 100}, "SegmentSize"},
		{"max below two segments", Options{SegmentSize: 1 << 20, MaxSize: 1<<21 - 1}, "MaxSize"},
		{"negative record size", Options{MaxRecordSize: -1}, "MaxRecordSize"},
		{"record size beyond 1 GiB", Options{MaxRecordSize: 1<<30 + 1}, "MaxRecordSize"},
		{"batch too small", Options{MaxBatchBytes: 10}, "MaxBatchBytes"},
		{"negative keep", Options{KeepSnapshots: -1}, "KeepSnapshots"},
		{"negative sync interval", Options{MinSyncInterval: -1}, "MinSyncInterval"},
		{"sync interval beyond 1s", Options{MinSyncInterval: 2 * time.Second}, "MinSyncInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte("Options."+tt.field)) {
				t.Fatalf("Validate: got %v, want an error naming Options.%s", err, tt.field)
			}
			if _, err := Open(t.TempDir(), tt.opts); err == nil {
				t.Fatalf("Open accepted invalid options")
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, smallOpts(t))
	if r := j.Recovery(); r.FirstLSN != 1 || r.LastLSN != 0 || r.Records != 0 {
		t.Fatalf("new journal recovery: %+v", r)
	}
	const n = 500
	appendN(t, j, 1, n)
	checkRecords(t, readAll(t, j, 0), 1, n)
	checkRecords(t, readAll(t, j, 123), 123, n)
	checkRecords(t, readAll(t, j, n+1), n+1, n) // empty
	if _, err := j.NewReader(n + 2); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("NewReader beyond the end: %v, want ErrOutOfRange", err)
	}
	lsn, err := j.AppendRecord(TypeMarker, []byte("marker"), nil)
	if err != nil || lsn != n+1 {
		t.Fatalf("AppendRecord: %d, %v", lsn, err)
	}
	if _, err := j.AppendRecord(0, nil, nil); !errors.Is(err, ErrBadType) {
		t.Fatalf("type 0: %v, want ErrBadType", err)
	}
	sizeBefore := j.Size()
	mustClose(t, j)

	j = mustOpen(t, dir, smallOpts(t))
	defer mustClose(t, j)
	r := j.Recovery()
	if r.FirstLSN != 1 || r.LastLSN != n+1 || r.Records != n+1 || r.BytesCut != 0 || r.Bytes != sizeBefore {
		t.Fatalf("recovery: %+v, want lsn 1..%d, %d bytes, nothing cut", r, n+1, sizeBefore)
	}
	if got := j.Size(); got != sizeBefore {
		t.Fatalf("Size after reopen %d, want %d", got, sizeBefore)
	}
	recs := readAll(t, j, 0)
	checkRecords(t, recs[:n], 1, n)
	if m := recs[n]; m.LSN != n+1 || m.Type != TypeMarker || string(m.Payload) != "marker" {
		t.Fatalf("marker record: %+v", m)
	}
	// Numbering continues after reopen.
	lsn, err = j.AppendSync(context.Background(), payloadFor(n+2))
	if err != nil || lsn != n+2 {
		t.Fatalf("AppendSync after reopen: %d, %v", lsn, err)
	}
}

// TestConcurrentAppenders: many goroutines append with the three styles
// while a reader tails; the reader sees every record exactly once, in LSN
// order, and each goroutine's records in the order it appended them.
func TestConcurrentAppenders(t *testing.T) {
	o := smallOpts(t)
	o.SegmentSize = 64 << 10
	o.MaxSize = 64 << 20
	o.Logger = nil
	j := mustOpen(t, t.TempDir(), o)
	defer mustClose(t, j)

	const writers, perWriter = 16, 1000
	type rec struct{ w, i int }
	var wg sync.WaitGroup
	var cbCount atomic.Int64
	var cbMu sync.Mutex
	lastCB := uint64(0)
	cbErr := make(chan error, 1)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				p := fmt.Appendf(nil, "%d/%d", w, i)
				var err error
				switch w % 3 {
				case 0:
					_, err = j.AppendSync(context.Background(), p)
				case 1:
					_, err = j.AppendAsync(p, func(lsn uint64, err error) {
						cbMu.Lock()
						defer cbMu.Unlock()
						if err != nil || lsn <= lastCB || j.DurableLSN() < lsn {
							select {
							case cbErr <- fmt.Errorf("callback lsn %d err %v after %d, durable %d", lsn, err, lastCB, j.DurableLSN()):
							default:
							}
						}
						lastCB = lsn
						cbCount.Add(1)
					})
				default:
					_, err = j.Append(p)
				}
				if err != nil {
					t.Errorf("writer %d record %d: %v", w, i, err)
					return
				}
			}
		})
	}

	r, err := j.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	next := make([]int, writers)
	ctx := ctxTimeout(t, 60*time.Second)
	for k := uint64(1); k <= writers*perWriter; k++ {
		got, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d records: %v", k-1, err)
		}
		if got.LSN != k {
			t.Fatalf("record %d has lsn %d", k, got.LSN)
		}
		if got.LSN > j.DurableLSN() {
			t.Fatalf("reader saw lsn %d beyond durable %d", got.LSN, j.DurableLSN())
		}
		var x rec
		if _, err := fmt.Sscanf(string(got.Payload), "%d/%d", &x.w, &x.i); err != nil {
			t.Fatalf("payload %q: %v", got.Payload, err)
		}
		if next[x.w] != x.i {
			t.Fatalf("writer %d: got record %d, want %d", x.w, x.i, next[x.w])
		}
		next[x.w]++
	}
	wg.Wait()
	if _, ok, err := r.TryNext(); ok || err != nil {
		t.Fatalf("extra record after all: ok=%v err=%v", ok, err)
	}
	select {
	case err := <-cbErr:
		t.Fatal(err)
	default:
	}
	// Callbacks run after durability; all of them must arrive.
	wantCB := int64(0)
	for w := range writers {
		if w%3 == 1 {
			wantCB += perWriter
		}
	}
	deadline := time.After(30 * time.Second)
	for cbCount.Load() != wantCB {
		select {
		case <-deadline:
			t.Fatalf("callbacks: %d, want %d", cbCount.Load(), wantCB)
		case <-time.After(time.Millisecond):
		}
	}
	st := j.Stats()
	if st.Appends != writers*perWriter || st.LastLSN != writers*perWriter || st.DurableLSN != st.LastLSN {
		t.Fatalf("stats %+v", st)
	}
	if st.Fsyncs == 0 || st.Fsyncs > st.Appends {
		t.Fatalf("fsyncs %d for %d appends", st.Fsyncs, st.Appends)
	}
	t.Logf("%d appends in %d batches, %d fsyncs", st.Appends, st.Batches, st.Fsyncs)
}

func TestRotationAndTruncation(t *testing.T) {
	dir := t.TempDir()
	o := smallOpts(t)
	j := mustOpen(t, dir, o)
	const n = 400
	appendN(t, j, 1, n)

	files := segmentFiles(t, dir)
	st := j.Stats()
	if len(files) < 5 || st.Segments != len(files) {
		t.Fatalf("%d segment files, stats say %d; want several", len(files), st.Segments)
	}
	// Each file is named by its first record and stays within SegmentSize;
	// Size counts the bytes of the records (not the zeros written ahead).
	var firsts []uint64
	total := recordBytes(1, n)
	for _, f := range files {
		first, ok := parseSegmentName(filepath.Base(f))
		if !ok {
			t.Fatalf("bad name %s", f)
		}
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > o.SegmentSize {
			t.Fatalf("%s is %d bytes, beyond SegmentSize %d", f, fi.Size(), o.SegmentSize)
		}
		firsts = append(firsts, first)
	}
	if firsts[0] != 1 || total != j.Size() {
		t.Fatalf("first segment %d, files %d bytes, Size %d", firsts[0], total, j.Size())
	}
	for k, f := range files[:len(files)-1] {
		recs := readAll(t, j, firsts[k])
		if recs[0].LSN != firsts[k] {
			t.Fatalf("%s: first record %d", f, recs[0].LSN)
		}
	}

	// Truncating below the third segment's first LSN + 1 removes exactly two.
	cut := firsts[2] + 1
	removed, err := j.TruncateBefore(cut)
	if err != nil || removed != 2 {
		t.Fatalf("TruncateBefore(%d): %d, %v; want 2 segments", cut, removed, err)
	}
	if got := segmentFiles(t, dir); len(got) != len(files)-2 {
		t.Fatalf("%d files after truncation, want %d", len(got), len(files)-2)
	}
	if j.FirstLSN() != firsts[2] {
		t.Fatalf("FirstLSN %d, want %d", j.FirstLSN(), firsts[2])
	}
	if left := recordBytes(firsts[2], n); j.Size() != left {
		t.Fatalf("Size %d after truncation, files hold %d", j.Size(), left)
	}
	if _, err := j.NewReader(firsts[2] - 1); !errors.Is(err, ErrTruncated) {
		t.Fatalf("reader below the first kept: %v, want ErrTruncated", err)
	}
	checkRecords(t, readAll(t, j, 0), firsts[2], n)

	// The active segment is never removed.
	removed, err = j.TruncateBefore(n + 1)
	if err != nil || j.Stats().Segments != 1 || removed != len(files)-3 {
		t.Fatalf("TruncateBefore(all): removed %d, %v, %d segments left", removed, err, j.Stats().Segments)
	}
	last := firsts[len(firsts)-1]
	mustClose(t, j)

	j = mustOpen(t, dir, o)
	defer mustClose(t, j)
	if r := j.Recovery(); r.FirstLSN != last || r.LastLSN != n {
		t.Fatalf("recovery after truncation: %+v, want %d..%d", r, last, n)
	}
	appendN(t, j, n+1, 10)
	checkRecords(t, readAll(t, j, 0), last, n+10)
}

// TestReaderSurvivesTruncation: a reader inside a segment that is removed
// keeps reading it (the file stays open); a reader that lags behind removed
// segments gets ErrTruncated.
func TestReaderSurvivesTruncation(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, smallOpts(t))
	defer mustClose(t, j)
	appendN(t, j, 1, 200)
	inside, err := j.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	if _, ok, err := inside.TryNext(); !ok || err != nil {
		t.Fatalf("TryNext: %v %v", ok, err)
	}
	lagging, err := j.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer lagging.Close()
	st := j.Stats()
	if _, err := j.TruncateBefore(st.LastLSN + 1); err != nil {
		t.Fatal(err)
	}
	kept := j.FirstLSN()
	// inside still holds its segment open: it reads to that segment's end,
	// then finds the next one gone.
	var got uint64
	for {
		rec, ok, err := inside.TryNext()
		if errors.Is(err, ErrTruncated) {
			break
		}
		if err != nil || !ok {
			t.Fatalf("TryNext: ok=%v err=%v", ok, err)
		}
		got = rec.LSN
	}
	if got == 0 || got >= kept {
		t.Fatalf("inside reader read up to %d before ErrTruncated; first kept %d", got, kept)
	}
	if _, _, err := lagging.TryNext(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("lagging reader: %v, want ErrTruncated", err)
	}
}

func TestFull(t *testing.T) {
	dir := t.TempDir()
	o := smallOpts(t)
	o.MaxSize = 2 * o.SegmentSize
	var logs syncBuffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	j := mustOpen(t, dir, o)
	defer mustClose(t, j)

	var lsn uint64
	for i := uint64(1); ; i++ {
		got, err := j.Append(payloadFor(i))
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		lsn = got
	}
	if err := j.Sync(context.Background(), lsn); err != nil {
		t.Fatal(err)
	}
	waitZeroIdle(t, j)
	before := snapshotDir(t, dir)
	st := j.Stats()
	// Every further append fails and changes nothing, in memory or on disk.
	big := make([]byte, 1000)
	for range 5 {
		if _, err := j.Append(big); !errors.Is(err, ErrFull) {
			t.Fatalf("Append when full: %v, want ErrFull", err)
		}
		if _, err := j.AppendAsync(big, func(uint64, error) { t.Error("callback of a refused append") }); !errors.Is(err, ErrFull) {
			t.Fatalf("AppendAsync when full: %v, want ErrFull", err)
		}
	}
	after := j.Stats()
	if after.Size != st.Size || after.LastLSN != st.LastLSN || after.Rejected != st.Rejected+10 || st.Size > o.MaxSize {
		t.Fatalf("stats changed by refused appends: before %+v after %+v", st, after)
	}
	if err := j.Sync(context.Background(), lsn); err != nil {
		t.Fatal(err)
	}
	if got := snapshotDir(t, dir); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("files changed by refused appends")
	}
	// The operator saw it fill up: one line per level, one when full.
	out := logs.String()
	for _, want := range []string{"percent=75", "percent=90", "journal: full"} {
		if strings.Count(out, want) != 1 {
			t.Fatalf("log has %d lines with %q, want 1:\n%s", strings.Count(out, want), want, out)
		}
	}
	// Truncation frees space.
	if n, err := j.TruncateBefore(lsn); err != nil || n != 1 {
		t.Fatalf("TruncateBefore: %d, %v", n, err)
	}
	if !strings.Contains(logs.String(), "journal: no longer full") {
		t.Fatalf("no log line when space was freed:\n%s", logs.String())
	}
	got, err := j.Append(big)
	if err != nil || got != lsn+1 {
		t.Fatalf("Append after truncation: %d, %v; want %d", got, err, lsn+1)
	}
	if _, err := j.Append(make([]byte, o.MaxRecordSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v, want ErrTooLarge", err)
	}
}

// blockFlusher makes the flusher stop before each fsync until release is
// called, so a test can observe records written but not yet durable.
func blockFlusher(j *Journal) (arrived <-chan struct{}, release func(err error)) {
	arr := make(chan struct{}, 100)
	rel := make(chan error)
	j.testBeforeSync = func() error {
		arr <- struct{}{}
		return <-rel
	}
	return arr, func(err error) { rel <- err }
}

func TestReaderSeesOnlyDurable(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, smallOpts(t))
	defer mustClose(t, j)
	arrived, release := blockFlusher(j)

	r, err := j.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wait := r.Wait()
	lsn, err := j.Append(payloadFor(1))
	if err != nil {
		t.Fatal(err)
	}
	<-arrived // written to the file, not fsynced
	data, err := os.ReadFile(segmentFiles(t, dir)[0])
	if err != nil || !bytes.HasPrefix(data, appendFrame(nil, 1, TypeData, payloadFor(1), payloadCRC(payloadFor(1)))) {
		t.Fatalf("record not yet written to the file: %v", err)
	}
	if _, ok, err := r.TryNext(); ok || err != nil {
		t.Fatalf("TryNext before fsync: ok=%v err=%v, want nothing", ok, err)
	}
	if _, err := r.Next(ctxTimeout(t, 20*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next before fsync: %v, want deadline exceeded", err)
	}
	if err := j.Sync(ctxTimeout(t, 20*time.Millisecond), lsn); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync before fsync: %v, want deadline exceeded", err)
	}
	select {
	case <-wait:
		t.Fatal("Wait channel closed before fsync")
	default:
	}
	if j.DurableLSN() != 0 {
		t.Fatalf("DurableLSN %d before fsync", j.DurableLSN())
	}

	got := make(chan Record, 1)
	go func() {
		rec, err := r.Next(ctxTimeout(t, 30*time.Second))
		if err != nil {
			t.Error(err)
		}
		got <- rec
	}()
	release(nil)
	<-wait
	rec := <-got
	if rec.LSN != 1 || !bytes.Equal(rec.Payload, payloadFor(1)) {
		t.Fatalf("record after fsync: %+v", rec)
	}
	if err := j.Sync(context.Background(), lsn); err != nil {
		t.Fatal(err)
	}
}

func TestFsyncFailureIsSticky(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, smallOpts(t))
	appendN(t, j, 1, 3)
	arrived, release := blockFlusher(j)

	var cbErr atomic.Value
	done := make(chan struct{})
	if _, err := j.AppendAsync(payloadFor(4), func(lsn uint64, err error) {
		cbErr.Store(fmt.Sprint(lsn, err))
		close(done)
	}); err != nil {
		t.Fatal(err)
	}
	<-arrived
	release(errors.New("disk on fire"))
	<-done
	if got := cbErr.Load().(string); !bytes.Contains([]byte(got), []byte("disk on fire")) || got[:2] != "4 " {
		t.Fatalf("callback got %q", got)
	}
	if err := j.Sync(context.Background(), 4); !errors.Is(err, ErrFailed) {
		t.Fatalf("Sync after failure: %v, want ErrFailed", err)
	}
	if _, err := j.Append(payloadFor(5)); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append after failure: %v, want ErrFailed", err)
	}
	if j.DurableLSN() != 3 {
		t.Fatalf("DurableLSN %d, want 3", j.DurableLSN())
	}
	// A reader gets the durable records, then the failure.
	r, err := j.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 3; i++ {
		if rec, err := r.Next(context.Background()); err != nil || rec.LSN != i {
			t.Fatalf("Next: %+v %v", rec, err)
		}
	}
	if _, err := r.Next(context.Background()); !errors.Is(err, ErrFailed) {
		t.Fatalf("Next after the durable records of a failed journal: %v, want ErrFailed", err)
	}
	r.Close()
	if err := j.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Close: %v, want ErrFailed", err)
	}
	// Reopening recovers what reached the disk (here the page cache kept
	// record 4, written before the failed fsync).
	j = mustOpen(t, dir, smallOpts(t))
	defer mustClose(t, j)
	checkRecords(t, readAll(t, j, 0), 1, 4)
}

func TestClose(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, smallOpts(t))
	r, err := j.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var called atomic.Int64
	for i := uint64(1); i <= 100; i++ {
		if _, err := j.AppendAsync(payloadFor(i), func(lsn uint64, err error) {
			if err == nil && lsn == uint64(called.Load())+1 {
				called.Add(1)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, j) // flushes everything and completes every callback
	if called.Load() != 100 {
		t.Fatalf("%d callbacks in order before Close returned, want 100", called.Load())
	}
	if _, err := j.Append(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := j.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	// The reader drains the durable records, then reports the close.
	for i := uint64(1); i <= 100; i++ {
		rec, err := r.Next(context.Background())
		if err != nil || rec.LSN != i {
			t.Fatalf("Next: %+v %v", rec, err)
		}
	}
	if _, err := r.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next at the end after Close: %v, want ErrClosed", err)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, smallOpts(t))
	if _, err := Open(dir, smallOpts(t)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	mustClose(t, j)
	mustClose(t, mustOpen(t, dir, smallOpts(t)))
}

// TestBackPressure: with a tiny MaxBatchBytes and a stalled flusher,
// appenders wait rather than buffer without bound.
func TestBackPressure(t *testing.T) {
	j := mustOpen(t, t.TempDir(), smallOpts(t))
	defer mustClose(t, j)
	arrived, release := blockFlusher(j)
	if _, err := j.Append(payloadFor(1)); err != nil {
		t.Fatal(err)
	}
	<-arrived // the flusher holds batch 1; fill the pending batch
	big := make([]byte, 1000)
	for j.Stats().PendingBytes < j.opts.MaxBatchBytes {
		if _, err := j.Append(big); err != nil {
			t.Fatal(err)
		}
	}
	blocked := make(chan error, 1)
	go func() { _, err := j.Append(big); blocked <- err }()
	select {
	case err := <-blocked:
		t.Fatalf("Append with %d bytes pending did not wait: %v", j.Stats().PendingBytes, err)
	case <-time.After(20 * time.Millisecond):
	}
	release(nil) // batch 1 done; the flusher takes the pending batch
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-arrived:
				release(nil)
			case <-stop:
				return
			}
		}
	}()
	if err := j.Sync(context.Background(), j.LastLSN()); err != nil {
		t.Fatal(err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTruncateKeepsNonDurable: segments whose records are not all durable
// are never removed, whatever LSN the caller passes.
func TestTruncateKeepsNonDurable(t *testing.T) {
	o := smallOpts(t)
	o.MaxBatchBytes = 64 << 10 // room to pend several segments
	j := mustOpen(t, t.TempDir(), o)
	defer mustClose(t, j)
	arrived, release := blockFlusher(j)
	if _, err := j.Append(payloadFor(1)); err != nil {
		t.Fatal(err)
	}
	<-arrived // record 1 written, not durable
	for i := uint64(2); j.Stats().Segments < 4; i++ {
		if _, err := j.Append(payloadFor(i)); err != nil {
			t.Fatal(err)
		}
	}
	size := j.Size()
	if n, err := j.TruncateBefore(j.LastLSN() + 1); n != 0 || err != nil || j.Size() != size {
		t.Fatalf("TruncateBefore with nothing durable: removed %d, %v", n, err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		release(nil) // the fsync of record 1 waiting since the start
		for {
			select {
			case <-arrived:
				release(nil)
			case <-stop:
				return
			}
		}
	}()
	last := j.LastLSN()
	if err := j.Sync(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	if n, err := j.TruncateBefore(last + 1); n != 3 || err != nil {
		t.Fatalf("TruncateBefore once durable: removed %d, %v; want 3", n, err)
	}
}

// MinSyncInterval: while fsyncs would follow each other faster, small
// batches wait out the interval (fewer, larger batches); after a pause, a
// record is taken at once.
func TestMinSyncInterval(t *testing.T) {
	o := smallOpts(t)
	o.Logger = nil
	o.SegmentSize = 1 << 20
	o.MaxSize = 64 << 20
	o.MinSyncInterval = 20 * time.Millisecond
	o.MaxBatchBytes = 1 << 20 // no back-pressure: the writers never wait (a closed loop)
	j := mustOpen(t, t.TempDir(), o)
	defer mustClose(t, j)
	if _, err := j.AppendSync(context.Background(), payloadFor(1)); err != nil {
		t.Fatal(err)
	}
	// Writers that do not wait for their records (an open load, like many
	// independent callers): records keep arriving while a batch waits.
	// (Writers that each wait for their record, a closed loop, make the
	// pacer stop waiting: TestPacerLoads.)
	var wg sync.WaitGroup
	var n atomic.Int64
	stop := make(chan struct{})
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := j.Append(payloadFor(2)); err != nil {
					t.Error(err)
					return
				}
				n.Add(1)
				time.Sleep(time.Millisecond)
			}
		})
	}
	// The pacer learns the load first: a waiting phase and a probe that
	// takes every batch at once, paceProbe intervals each.
	time.Sleep(2*paceProbe*o.MinSyncInterval + 2*o.MinSyncInterval)
	start, n0 := j.Stats(), n.Load()
	t0 := time.Now()
	time.Sleep(time.Second)
	batches := j.Stats().Batches - start.Batches
	d := time.Since(t0)
	close(stop)
	wg.Wait()
	if max := uint64(d/o.MinSyncInterval) + 4; batches > max || n.Load()-n0 < 16 {
		t.Fatalf("%d records in %d batches over %v: want at most %d batches", n.Load()-n0, batches, d, max)
	}
	time.Sleep(o.MinSyncInterval + 50*time.Millisecond)
	t1 := time.Now()
	if _, err := j.AppendSync(context.Background(), payloadFor(3)); err != nil {
		t.Fatal(err)
	}
	if w := time.Since(t1); w >= o.MinSyncInterval {
		t.Fatalf("a record after a pause waited %v, want no wait for the interval", w)
	}
	t.Logf("%d records in %d batches over %v", n.Load()-n0, batches, d)
}
