package journal

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// faultFile is the file layer of the fault tests: while writeErr or
// syncErr is set, writes or syncs fail with it (the write lands in the
// file first, as a kernel that accepted the bytes and failed the fsync
// would leave them); syncDelay or syncGate slow every sync down.
type faults struct {
	writeErr, syncErr atomic.Pointer[error]
	zeroErr           atomic.Pointer[error] // WriteAt only: the zeros ahead of the records
	syncDelay         atomic.Int64          // nanoseconds
	syncGate          atomic.Pointer[chan struct{}]
	syncs             atomic.Int64
}

func (fs *faults) set(p *atomic.Pointer[error], err error) {
	if err == nil {
		p.Store(nil)
		return
	}
	p.Store(&err)
}

func (fs *faults) wrap(f File) File { return &faultFile{File: f, fs: fs} }

type faultFile struct {
	File
	fs *faults
}

func (f *faultFile) Write(p []byte) (int, error) {
	if e := f.fs.writeErr.Load(); e != nil {
		return 0, *e
	}
	return f.File.Write(p)
}

// WriteAt is how the zeros ahead of the records are written: a full disk
// fails them too.
func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if e := f.fs.writeErr.Load(); e != nil {
		return 0, *e
	}
	if e := f.fs.zeroErr.Load(); e != nil {
		return 0, *e
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	f.fs.syncs.Add(1)
	if g := f.fs.syncGate.Load(); g != nil {
		<-*g
	}
	if d := f.fs.syncDelay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if e := f.fs.syncErr.Load(); e != nil {
		return *e
	}
	return f.File.Sync()
}

// altPayload is a payload that differs from payloadFor(i) and has the
// same LSN stamp, so a reader yielding a stale copy is caught.
func altPayload(i uint64) []byte { return append([]byte("healed|"), payloadFor(i)...) }

// An fsync failing with EIO fails the journal; Heal refuses while syncs
// still fail, and once they succeed it cuts what was never durable, in
// place: the LSNs after the durable ones are reused by new records, a
// reader that had buffered the failed bytes yields the new ones, and a
// reopen finds exactly the durable records and the new ones, nothing torn.
func TestHealAfterEIO(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write bool // fail the write (ENOSPC) rather than the fsync (EIO)
	}{{"fsync-eio", false}, {"write-enospc", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := &faults{}
			o := smallOpts(t)
			o.WrapFile = fs.wrap
			j := mustOpen(t, dir, o)
			defer func() { j.Close() }()

			const good = 30 // spans several 4 KiB segments
			appendN(t, j, 1, good)
			rd, err := j.NewReader(0)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()

			failErr := error(syscall.EIO)
			p := &fs.syncErr
			if tc.write {
				failErr, p = syscall.ENOSPC, &fs.writeErr
			}
			fs.set(p, failErr)
			var last uint64
			for i := uint64(good + 1); i <= good+20; i++ {
				lsn, err := j.Append(payloadFor(i))
				if err != nil {
					break // the flusher failed already
				}
				last = lsn
			}
			if last == 0 {
				t.Fatal("no append accepted after the fault was set")
			}
			if err := j.Sync(ctxTimeout(t, 10*time.Second), last); !errors.Is(err, ErrFailed) || !errors.Is(err, failErr) {
				t.Fatalf("Sync over the fault: %v, want ErrFailed wrapping %v", err, failErr)
			}
			if _, err := j.Append([]byte("x")); !errors.Is(err, ErrFailed) {
				t.Fatalf("Append after the failure: %v, want ErrFailed", err)
			}
			if st := j.Stats(); st.Err == nil || st.Failures != 1 || st.DurableLSN != good {
				t.Fatalf("Stats after the failure: err %v failures %d durable %d, want failed once at %d", st.Err, st.Failures, st.DurableLSN, good)
			}
			// The reader yields every durable record, reading the
			// failed bytes into its buffer too, then reports the failure.
			var got []Record
			for {
				rec, ok, err := rd.TryNext()
				if err != nil {
					if !errors.Is(err, ErrFailed) {
						t.Fatalf("reader at the end: %v, want ErrFailed", err)
					}
					break
				}
				if !ok {
					t.Fatal("reader: no record and no error on a failed journal")
				}
				got = append(got, rec)
			}
			checkRecords(t, got, 1, good)

			h0, err := j.Heal()
			if err == nil {
				t.Fatal("Heal succeeded while the disk still fails")
			}
			if _, err := j.Append([]byte("x")); !errors.Is(err, ErrFailed) {
				t.Fatalf("Append after a failed heal: %v, want ErrFailed", err)
			}
			fs.set(p, nil)
			h, err := j.Heal()
			if err != nil {
				t.Fatalf("Heal: %v", err)
			}
			if h.DurableLSN != good || j.LastLSN() != good {
				t.Fatalf("Heal: %+v, LastLSN %d; want both at %d", h, j.LastLSN(), good)
			}
			if !tc.write && h0.BytesCut+h.BytesCut == 0 {
				t.Fatalf("Heal cut nothing, but the failed fsync's bytes were written: %+v, %+v", h0, h)
			}
			const more = 25
			for i := uint64(good + 1); i <= good+more; i++ {
				lsn, err := j.Append(altPayload(i))
				if err != nil || lsn != i {
					t.Fatalf("Append %d after heal: lsn %d, %v", i, lsn, err)
				}
			}
			if err := j.Sync(ctxTimeout(t, 10*time.Second), good+more); err != nil {
				t.Fatal(err)
			}
			check := func(recs []Record, from uint64) {
				t.Helper()
				for k, rec := range recs {
					lsn := from + uint64(k)
					want := payloadFor(lsn)
					if lsn > good {
						want = altPayload(lsn)
					}
					if rec.LSN != lsn || !bytes.Equal(rec.Payload, want) {
						t.Fatalf("lsn %d: got lsn %d payload %q, want %q", lsn, rec.LSN, rec.Payload, want)
					}
				}
			}
			var after []Record
			for len(after) < more {
				rec, err := rd.Next(ctxTimeout(t, 10*time.Second))
				if err != nil {
					t.Fatalf("reader after heal: %v", err)
				}
				after = append(after, rec)
			}
			check(after, good+1)
			if st := j.Stats(); st.Err != nil || st.Heals != 1 {
				t.Fatalf("Stats after heal: err %v heals %d", st.Err, st.Heals)
			}
			mustClose(t, j)
			j = mustOpen(t, dir, o)
			if r := j.Recovery(); r.BytesCut != 0 || r.LastLSN != good+more {
				t.Fatalf("reopen: %+v, want nothing cut and lsn %d last", r, good+more)
			}
			all := readAll(t, j, 0)
			if len(all) != good+more {
				t.Fatalf("reopen: %d records, want %d", len(all), good+more)
			}
			check(all, 1)
		})
	}
}

// While an fsync is stuck, appends, Stats, LastLSN and readers do not wait
// for it (no lock is held across the sync), and the sync's duration shows
// in Stats.
func TestSlowFsyncHoldsNoLock(t *testing.T) {
	fs := &faults{}
	o := smallOpts(t)
	o.WrapFile = fs.wrap
	j := mustOpen(t, t.TempDir(), o)
	defer mustClose(t, j)
	appendN(t, j, 1, 3)

	gate := make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(gate) }) }
	t.Cleanup(release) // before Close waits for the flusher
	fs.syncGate.Store(&gate)
	before := fs.syncs.Load()
	lsn, err := j.Append(payloadFor(4))
	if err != nil {
		t.Fatal(err)
	}
	for fs.syncs.Load() == before {
		time.Sleep(time.Millisecond) // until the flusher is inside the sync
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Fewer bytes than MaxBatchBytes: more would wait for the
		// flusher by design (back-pressure), not for a lock.
		for i := uint64(5); i < 13; i++ {
			if _, err := j.Append(payloadFor(i)); err != nil {
				t.Errorf("Append during a stuck fsync: %v", err)
			}
		}
		_ = j.Stats()
		_ = j.LastLSN()
		_ = j.Size()
		checkRecords(t, readAll(t, j, 0), 1, 3)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("appends and reads waited for a stuck fsync")
	}
	if j.DurableLSN() >= lsn {
		t.Fatalf("record %d durable while its fsync is stuck", lsn)
	}
	fs.syncDelay.Store(int64(20 * time.Millisecond))
	fs.syncGate.Store(nil)
	release()
	if err := j.Sync(ctxTimeout(t, 10*time.Second), 12); err != nil {
		t.Fatal(err)
	}
	if st := j.Stats(); st.MaxFsync < 20*time.Millisecond || st.FsyncTime < st.MaxFsync {
		t.Fatalf("Stats: max fsync %v, total %v; want at least the injected 20ms", st.MaxFsync, st.FsyncTime)
	}
}

// Heal on a healthy journal changes nothing; concurrent Heal calls on a
// failed one heal it once.
func TestHealIdempotent(t *testing.T) {
	fs := &faults{}
	o := smallOpts(t)
	o.WrapFile = fs.wrap
	j := mustOpen(t, t.TempDir(), o)
	defer mustClose(t, j)
	appendN(t, j, 1, 5)
	if h, err := j.Heal(); err != nil || h.DurableLSN != 5 || h.BytesCut != 0 {
		t.Fatalf("Heal on a healthy journal: %+v, %v", h, err)
	}
	fs.set(&fs.syncErr, syscall.EIO)
	lsn, _ := j.Append(payloadFor(6))
	if err := j.Sync(context.Background(), lsn); err == nil {
		t.Fatal("Sync succeeded over EIO")
	}
	fs.set(&fs.syncErr, nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := j.Heal(); err != nil {
				t.Errorf("Heal: %v", err)
			}
		}()
	}
	wg.Wait()
	if st := j.Stats(); st.Heals != 1 || st.Err != nil {
		t.Fatalf("after concurrent heals: %d heals, err %v", st.Heals, st.Err)
	}
	appendN(t, j, 6, 3)
	checkRecords(t, readAll(t, j, 0), 1, 8)
}
