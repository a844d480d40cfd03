package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// crashLog is a closed journal of n records and the layout of its final
// segment, for crash tests.
type crashLog struct {
	dir    string
	n      uint64 // records 1..n
	final  string // path of the final segment
	first  uint64 // first LSN of the final segment
	bounds []int64
	// bounds[k] is the offset of the k-th frame of the final segment
	// (bounds[len-1] is the file size), computed from the payload sizes.

	work      string          // scratch copy reused by damage
	orig      map[string]bool // file names of the log
	finalData []byte
}

func writeCrashLog(t *testing.T, o Options, n uint64) crashLog {
	t.Helper()
	dir := t.TempDir()
	j := mustOpen(t, dir, o)
	appendN(t, j, 1, n)
	mustClose(t, j)
	files := segmentFiles(t, dir)
	c := crashLog{dir: dir, n: n, final: files[len(files)-1]}
	c.first, _ = parseSegmentName(filepath.Base(c.final))
	off := int64(0)
	for lsn := c.first; lsn <= n; lsn++ {
		c.bounds = append(c.bounds, off)
		off += int64(headerSize + len(payloadFor(lsn)))
	}
	c.bounds = append(c.bounds, off)
	data, err := os.ReadFile(c.final)
	if err != nil || int64(len(data)) < off || nonZeroLen(data[off:]) != 0 {
		t.Fatalf("final segment is %d bytes, payloads say %d, or it holds more than zeros after them (%v)", len(data), off, err)
	}
	if len(files) < 3 || len(c.bounds) < 6 {
		t.Fatalf("want several segments and records in the final one: %d, %d", len(files), len(c.bounds))
	}
	c.work = t.TempDir()
	copyDir(t, dir, c.work)
	c.orig = map[string]bool{}
	for name := range snapshotDir(t, dir) {
		c.orig[name] = true
	}
	if c.finalData, err = os.ReadFile(c.final); err != nil {
		t.Fatal(err)
	}
	return c
}

// recordAt returns the index (in the final segment) of the frame holding off.
func (c crashLog) recordAt(off int64) int {
	for k := len(c.bounds) - 2; k >= 0; k-- {
		if c.bounds[k] <= off {
			return k
		}
	}
	return 0
}

// damage resets the scratch copy of the log and applies f to its final
// segment. Only the final segment and new files change when a damaged log is
// recovered and appended to, so only those are reset (creating thousands of
// copies is slow).
func (c crashLog) damage(t *testing.T, f func(path string)) string {
	t.Helper()
	ents, err := os.ReadDir(c.work)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !c.orig[e.Name()] {
			if err := os.Remove(filepath.Join(c.work, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := filepath.Join(c.work, filepath.Base(c.final))
	if err := os.WriteFile(path, c.finalData, 0o644); err != nil {
		t.Fatal(err)
	}
	f(path)
	return c.work
}

// checkRecovered opens dir and checks it holds exactly records 1..last,
// that Recovery says so, and (if more) that appending continues at last+1
// and survives another reopen.
func checkRecovered(t *testing.T, dir string, o Options, last uint64, cut int64, more bool) Recovery {
	t.Helper()
	j := mustOpen(t, dir, o)
	rec := j.Recovery()
	if rec.LastLSN != last || rec.FirstLSN != 1 || rec.Records != last || rec.BytesCut != cut {
		j.Close()
		t.Fatalf("recovery %+v, want records 1..%d and %d bytes cut", rec, last, cut)
	}
	checkRecords(t, readAll(t, j, 0), 1, last)
	if !more {
		mustClose(t, j)
		return rec
	}
	appendN(t, j, last+1, 2)
	mustClose(t, j)
	j = mustOpen(t, dir, o)
	defer mustClose(t, j)
	if r := j.Recovery(); r.BytesCut != 0 || r.LastLSN != last+2 {
		t.Fatalf("second recovery %+v, want nothing cut and last lsn %d", r, last+2)
	}
	checkRecords(t, readAll(t, j, 0), 1, last+2)
	return rec
}

// TestTornTail cuts the final segment at every byte offset of its last
// records (and at 0): Open keeps exactly the complete records before the cut.
func TestTornTail(t *testing.T) {
	t.Parallel()
	o := smallOpts(t)
	o.Logger = nil
	c := writeCrashLog(t, o, 60)
	size := c.bounds[len(c.bounds)-1]
	start := c.bounds[len(c.bounds)-5] // the last four records
	offsets := []int64{0, 1, headerSize - 1, headerSize}
	for off := start; off <= size; off++ {
		offsets = append(offsets, off)
	}
	for _, off := range offsets {
		k := c.recordAt(off)
		if off == size {
			k = len(c.bounds) - 1
		}
		dir := c.damage(t, func(path string) {
			if err := os.Truncate(path, off); err != nil {
				t.Fatal(err)
			}
		})
		last := c.first + uint64(k) - 1
		// Appending after recovery (more fsyncs) at frame boundaries and
		// every 7th byte. What is cut is counted up to its last nonzero
		// byte (a torn header whose bytes are all zeros is not a torn
		// record: the records end before it).
		more := off == c.bounds[k] || off%7 == 0
		checkRecovered(t, dir, o, last, nonZeroLen(c.finalData[c.bounds[k]:off]), more)
	}
}

// TestCorruptTail flips a byte at every offset of the final segment's last
// records: Open cuts at the damaged record and reports the intact records it
// found beyond the cut.
func TestCorruptTail(t *testing.T) {
	t.Parallel()
	o := smallOpts(t)
	o.Logger = nil
	c := writeCrashLog(t, o, 60)
	size := c.bounds[len(c.bounds)-1]
	for off := c.bounds[len(c.bounds)-5]; off < size; off++ {
		k := c.recordAt(off)
		var damaged []byte
		dir := c.damage(t, func(path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[off] ^= 0xA5
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			damaged = b
		})
		rec := checkRecovered(t, dir, o, c.first+uint64(k)-1, nonZeroLen(damaged[c.bounds[k]:]), off%7 == 0)
		if want := len(c.bounds) - 2 - k; rec.IntactAfterCut != want {
			t.Fatalf("offset %d: IntactAfterCut %d, want %d", off, rec.IntactAfterCut, want)
		}
	}
}

// TestGarbageTail: random bytes after the last record are cut, keeping
// every record; zeros after it (written ahead, or a zero-filled tail) are
// the end of the records: nothing is cut or reported, the zeros stay, and
// the next records overwrite them. Zeros followed by garbage are cut, the
// cut counted up to the last nonzero byte.
func TestGarbageTail(t *testing.T) {
	o := smallOpts(t)
	o.Logger = nil
	c := writeCrashLog(t, o, 60)
	end := c.bounds[len(c.bounds)-1]
	for name, tail := range map[string][]byte{
		"zeros":          make([]byte, 3000),
		"ones":           []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		"random":         []byte("\x8f\x12\x00\x00\x05\x00\x00\x00\x01\x3d\x00\x00\x00\x00\x00\x00\x00abcde garbage"),
		"zeros then one": append(make([]byte, 1000), 1, 0, 0),
		"short zeros":    make([]byte, headerSize-1),
	} {
		t.Run(name, func(t *testing.T) {
			dir := c.damage(t, func(path string) {
				if err := os.Truncate(path, end); err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteAt(tail, end)
				f.Close()
			})
			cut := nonZeroLen(tail)
			checkRecovered(t, dir, o, c.n, cut, false)
			data, err := os.ReadFile(filepath.Join(dir, filepath.Base(c.final)))
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(data)) < end || nonZeroLen(data[end:]) != 0 {
				t.Fatalf("final segment after recovery: %d bytes, nonzero bytes after the records", len(data))
			}
			checkRecovered(t, dir, o, c.n, 0, true) // appends overwrite the zeros
		})
	}
}

// TestCorruptionIsLoud: damage that proves fsynced records were lost fails
// Open with a *CorruptError and changes no file.
func TestCorruptionIsLoud(t *testing.T) {
	o := smallOpts(t)
	o.Logger = nil
	c := writeCrashLog(t, o, 60)
	files := segmentFiles(t, c.dir)
	second := filepath.Base(files[1])
	first2, _ := parseSegmentName(second)
	first3, _ := parseSegmentName(filepath.Base(files[2]))
	secondEnd := recordBytes(first2, first3-1) // the records of the second segment end here (zeros may follow)
	flip := func(name string, off int64) func(dir string) {
		return func(dir string) {
			p := filepath.Join(dir, name)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[off] ^= 0x01
			os.WriteFile(p, b, 0o644)
		}
	}
	tests := []struct {
		name    string
		damage  func(dir string)
		segment string
	}{
		{"bit flip in a non-final segment", flip(second, 100), second},
		{"bit flip in the last record of a non-final segment", flip(second, secondEnd-1), second},
		{"non-final segment cut short", func(dir string) { os.Truncate(filepath.Join(dir, second), secondEnd-5) }, second},
		{"non-final segment's last record zeroed", func(dir string) {
			p := filepath.Join(dir, second)
			last := secondEnd - int64(headerSize+len(payloadFor(first3-1)))
			f, _ := os.OpenFile(p, os.O_WRONLY, 0)
			f.WriteAt(make([]byte, secondEnd-last), last)
			f.Close()
		}, filepath.Base(files[2])},
		{"garbage after the zeroed tail of a non-final segment", func(dir string) {
			p := filepath.Join(dir, second)
			f, _ := os.OpenFile(p, os.O_WRONLY, 0)
			f.WriteAt([]byte{0, 0, 0, 7}, secondEnd+headerSize)
			f.Close()
		}, second},
		{"non-final segment emptied", func(dir string) { os.Truncate(filepath.Join(dir, second), 0) }, filepath.Base(files[2])},
		{"segment missing", func(dir string) { os.Remove(filepath.Join(dir, second)) }, filepath.Base(files[2])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, c.dir, dir)
			tt.damage(dir)
			before := snapshotDir(t, dir)
			_, err := Open(dir, o)
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Segment != tt.segment {
				t.Fatalf("Open: %v, want a CorruptError in %s", err, tt.segment)
			}
			if got := snapshotDir(t, dir); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatal("Open changed files of a corrupt journal")
			}
		})
	}

	// In the final segment, damage further from an intact record than a
	// crash can tear is corruption too.
	t.Run("final segment beyond the torn window", func(t *testing.T) {
		o := smallOpts(t)
		o.Logger = nil
		o.SegmentSize = 256 << 10
		dir := t.TempDir()
		j := mustOpen(t, dir, o)
		appendN(t, j, 1, 100) // about 16 KiB, beyond the 5137-byte window
		mustClose(t, j)
		name := filepath.Base(segmentFiles(t, dir)[0])
		flip(name, int64(headerSize+len(payloadFor(1))+3))(dir)
		before := snapshotDir(t, dir)
		_, err := Open(dir, o)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.LSN != 2 || ce.Offset != int64(headerSize+len(payloadFor(1))) {
			t.Fatalf("Open: %v, want a CorruptError at record 2", err)
		}
		if got := snapshotDir(t, dir); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Fatal("Open changed files of a corrupt journal")
		}
		// The same damage within the window of the tail is a torn write.
		sz := int64(0)
		for i := uint64(1); i <= 80; i++ {
			sz += int64(headerSize + len(payloadFor(i)))
		}
		dir2 := t.TempDir()
		j = mustOpen(t, dir2, o)
		appendN(t, j, 1, 100)
		mustClose(t, j)
		flip(name, sz+2)(dir2)
		checkRecovered(t, dir2, o, 80, 0+func() int64 {
			var tail int64
			for i := uint64(81); i <= 100; i++ {
				tail += int64(headerSize + len(payloadFor(i)))
			}
			return tail
		}(), true)
	})
}

func TestSegmentZeroIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, segmentName(0)), nil, 0o644)
	if _, err := Open(dir, smallOpts(t)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a segment named 0: %v, want ErrCorrupt", err)
	}
}

func TestRecoverStrayFiles(t *testing.T) {
	dir := t.TempDir()
	o := smallOpts(t)
	j := mustOpen(t, dir, o)
	appendN(t, j, 1, 10)
	mustClose(t, j)
	for _, name := range []string{"snap-00000000000000000007.bin.tmp", "x.log.tmp"} {
		os.WriteFile(filepath.Join(dir, name), []byte("partial"), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "README"), []byte("not ours"), 0o644)
	j = mustOpen(t, dir, o)
	defer mustClose(t, j)
	checkRecords(t, readAll(t, j, 0), 1, 10)
	got := snapshotDir(t, dir)
	if _, ok := got["x.log.tmp"]; ok {
		t.Fatal("leftover temporary file kept")
	}
	if _, ok := got["README"]; !ok {
		t.Fatal("unrelated file removed")
	}
}
