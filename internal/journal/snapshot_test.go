package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestSnapshots(t *testing.T) {
	dir := t.TempDir()
	o := smallOpts(t)
	j := mustOpen(t, dir, o)
	if _, err := j.LatestSnapshot(); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("LatestSnapshot of a new journal: %v", err)
	}
	appendN(t, j, 1, 30)
	if err := j.WriteSnapshot(31, []byte("future")); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("snapshot beyond durable: %v, want ErrOutOfRange", err)
	}
	for _, lsn := range []uint64{10, 20, 30} {
		if err := j.WriteSnapshot(lsn, []byte{byte(lsn), 'x'}); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := filepath.Glob(filepath.Join(dir, "snap-*"))
	if len(m) != 2 || filepath.Base(m[0]) != snapshotName(20) || filepath.Base(m[1]) != snapshotName(30) {
		t.Fatalf("snapshot files %v, want the two newest", m)
	}
	s, err := j.LatestSnapshot()
	if err != nil || s.LSN != 30 || string(s.Data) != "\x1ex" {
		t.Fatalf("LatestSnapshot: %+v %v", s, err)
	}
	// A damaged newest snapshot falls back to the previous one.
	p := filepath.Join(dir, snapshotName(30))
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 1
	os.WriteFile(p, b, 0o644)
	s, err = j.LatestSnapshot()
	if err != nil || s.LSN != 20 || string(s.Data) != "\x14x" {
		t.Fatalf("LatestSnapshot with the newest damaged: %+v %v", s, err)
	}
	mustClose(t, j)

	// Snapshot files survive reopen; an interrupted write (.tmp) does not.
	os.WriteFile(filepath.Join(dir, snapshotName(40)+tmpExt), []byte("half"), 0o644)
	j = mustOpen(t, dir, o)
	if s, err := j.LatestSnapshot(); err != nil || s.LSN != 20 {
		t.Fatalf("after reopen: %+v %v", s, err)
	}
	if _, err := os.Stat(filepath.Join(dir, snapshotName(40)+tmpExt)); !os.IsNotExist(err) {
		t.Fatalf("temporary snapshot file kept: %v", err)
	}
	mustClose(t, j)

	// Segments lost but a snapshot kept: numbering resumes after the
	// snapshot, never reusing an LSN it covers.
	for _, f := range segmentFiles(t, dir) {
		os.Remove(f)
	}
	j = mustOpen(t, dir, o)
	defer mustClose(t, j)
	if lsn, err := j.Append([]byte("after")); err != nil || lsn != 31 {
		t.Fatalf("first append after losing segments: %d %v, want 31 (newest snapshot file 30, even damaged)", lsn, err)
	}
}

func TestDecodeSnapshotRejects(t *testing.T) {
	good := encodeSnapshot(7, []byte("state"))
	tests := map[string][]byte{
		"empty":     nil,
		"short":     good[:10],
		"magic":     append([]byte("XXXXXXXX"), good[8:]...),
		"truncated": good[:len(good)-1],
		"extended":  append(append([]byte(nil), good...), 0),
		"checksum":  append(append([]byte(nil), good[:len(good)-1]...), good[len(good)-1]^1),
	}
	for name, b := range tests {
		if _, err := decodeSnapshot(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if s, err := decodeSnapshot(good); err != nil || s.LSN != 7 || string(s.Data) != "state" {
		t.Fatalf("good snapshot: %+v %v", s, err)
	}
}

// TestRecoveryBelowSnapshotIsLoud: a tail cut below the newest snapshot's
// LSN would drop records known durable: Open refuses and changes nothing.
func TestRecoveryBelowSnapshotIsLoud(t *testing.T) {
	dir := t.TempDir()
	o := smallOpts(t)
	j := mustOpen(t, dir, o)
	appendN(t, j, 1, 60)
	if err := j.WriteSnapshot(60, []byte("s")); err != nil {
		t.Fatal(err)
	}
	mustClose(t, j)
	files := segmentFiles(t, dir)
	final, _ := parseSegmentName(filepath.Base(files[len(files)-1]))
	os.Truncate(files[len(files)-1], recordBytes(final, 60)-1)
	before := snapshotDir(t, dir)
	if _, err := Open(dir, o); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
	if fmt.Sprint(snapshotDir(t, dir)) != fmt.Sprint(before) {
		t.Fatal("Open changed files")
	}
	// Without that snapshot the same damage is an ordinary torn tail.
	os.Remove(filepath.Join(dir, snapshotName(60)))
	j = mustOpen(t, dir, o)
	defer mustClose(t, j)
	if r := j.Recovery(); r.LastLSN != 59 || r.BytesCut == 0 {
		t.Fatalf("recovery %+v", r)
	}
}

// TestReaderPayloadsAreIndependent: payloads may share memory internally,
// but appending to one never changes another.
func TestReaderPayloadsAreIndependent(t *testing.T) {
	j := mustOpen(t, t.TempDir(), smallOpts(t))
	defer mustClose(t, j)
	appendN(t, j, 1, 50)
	recs := readAll(t, j, 0)
	for i := range recs {
		recs[i].Payload = append(recs[i].Payload, "XXXXXXXX"...)
	}
	for i, r := range recs {
		lsn := uint64(i + 1)
		if want := append(payloadFor(lsn), "XXXXXXXX"...); string(r.Payload) != string(want) {
			t.Fatalf("record %d changed by appends to others: %q", lsn, r.Payload)
		}
	}
}
