package journal

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tlog sends a Journal's log lines to t.Log.
type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// smallOpts gives small segments and batches so tests rotate and tear often.
func smallOpts(t testing.TB) Options {
	return Options{
		SegmentSize:   4096,
		MaxSize:       1 << 20,
		MaxRecordSize: 1024,
		MaxBatchBytes: 4096,
		Logger:        slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func mustOpen(t testing.TB, dir string, o Options) *Journal {
	t.Helper()
	j, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return j
}

func mustClose(t testing.TB, j *Journal) {
	t.Helper()
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// payloadFor is the deterministic payload of the i-th record of a test:
// lengths vary from 0 to 299 bytes and the content names i.
func payloadFor(i uint64) []byte {
	n := int(i*7919) % 300
	p := make([]byte, 0, n)
	stamp := fmt.Sprintf("rec-%d|", i)
	for len(p) < n {
		p = append(p, stamp...)
	}
	return p[:n]
}

// appendN appends payloadFor(first..first+n-1), checks the LSNs and waits
// until they are durable.
func appendN(t testing.TB, j *Journal, first, n uint64) {
	t.Helper()
	for i := first; i < first+n; i++ {
		lsn, err := j.Append(payloadFor(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if lsn != i {
			t.Fatalf("Append %d: lsn %d", i, lsn)
		}
	}
	if err := j.Sync(context.Background(), first+n-1); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// readAll returns every durable record from LSN from without waiting.
func readAll(t testing.TB, j *Journal, from uint64) []Record {
	t.Helper()
	r, err := j.NewReader(from)
	if err != nil {
		t.Fatalf("NewReader(%d): %v", from, err)
	}
	defer r.Close()
	var recs []Record
	for {
		rec, ok, err := r.TryNext()
		if err != nil {
			t.Fatalf("TryNext after %d records: %v", len(recs), err)
		}
		if !ok {
			return recs
		}
		recs = append(recs, rec)
	}
}

// checkRecords checks that recs are exactly payloadFor(first..last).
func checkRecords(t testing.TB, recs []Record, first, last uint64) {
	t.Helper()
	if got, want := uint64(len(recs)), last+1-first; got != want {
		t.Fatalf("got %d records, want %d (lsn %d..%d)", got, want, first, last)
	}
	for k, rec := range recs {
		lsn := first + uint64(k)
		if rec.LSN != lsn || rec.Type != TypeData || !bytes.Equal(rec.Payload, payloadFor(lsn)) {
			t.Fatalf("record %d: got lsn %d type %d payload %q, want lsn %d payload %q",
				k, rec.LSN, rec.Type, rec.Payload, lsn, payloadFor(lsn))
		}
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// snapshotDir returns the name and content of every file in dir.
func snapshotDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// recordBytes is the size of the frames of payloadFor(first..last).
func recordBytes(first, last uint64) int64 {
	var n int64
	for i := first; i <= last; i++ {
		n += int64(headerSize + len(payloadFor(i)))
	}
	return n
}

// nonZeroLen is len(b) without its trailing zero bytes.
func nonZeroLen(b []byte) int64 {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return int64(n)
}

// waitZeroIdle waits until no zeros are being written ahead (their writes
// change the files a test compares).
func waitZeroIdle(t testing.TB, j *Journal) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); j.zeroRunning.Load() != 0; {
		if time.Now().After(deadline) {
			t.Fatal("zeroing still running after 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
