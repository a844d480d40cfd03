package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func fuzzOpts() Options {
	return Options{SegmentSize: 4096, MaxSize: 1 << 20, MaxRecordSize: 1024, MaxBatchBytes: 4096}
}

// FuzzRecover: Open never panics and always recovers a valid prefix.
//
// Mode 0 writes the input as the only segment: if Open succeeds, the records
// it keeps re-encode to exactly the first bytes of the input (it recovered a
// prefix and invented nothing), and a second Open cuts nothing more.
//
// Mode 1 writes a valid log (records and sizes from the input, several
// segments) and damages it with operations from the input: if Open
// succeeds, it holds exactly the first k records written, with k at least
// the number of records entirely before the first damaged byte; it fails
// only with ErrCorrupt and only if a non-final segment was damaged.
func FuzzRecover(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(append([]byte{0}, appendFrame(nil, 1, TypeData, []byte("hello"), payloadCRC([]byte("hello")))...))
	f.Add([]byte{1, 30, 5, 200, 17, 0, 90, 1, 0, 0, 3, 0})
	f.Add([]byte{1, 63, 250, 250, 250, 250, 0, 0, 1, 16, 0, 1, 2, 8, 1, 0, 0, 2, 200, 2})
	f.Add([]byte{1, 10, 100, 1, 0, 3, 0, 255, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		dir := t.TempDir()
		if data[0]%2 == 0 {
			fuzzRaw(t, dir, data[1:])
		} else {
			fuzzDamaged(t, dir, data[1:])
		}
	})
}

func fuzzRaw(t *testing.T, dir string, seg []byte) {
	if err := os.WriteFile(filepath.Join(dir, segmentName(1)), seg, 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := Open(dir, fuzzOpts())
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open: %v", err)
		}
		return
	}
	recs := readAll(t, j, 0)
	rec := j.Recovery()
	mustClose(t, j)
	var enc []byte
	for i, r := range recs {
		if r.LSN != uint64(i+1) {
			t.Fatalf("record %d has lsn %d", i, r.LSN)
		}
		enc = appendFrame(enc, r.LSN, r.Type, r.Payload, payloadCRC(r.Payload))
	}
	// What follows the records is cut, counted up to its last nonzero
	// byte; zeros only are the end of the records (nothing cut).
	cut := max(nonZeroLen(seg)-int64(len(enc)), 0)
	if !bytes.HasPrefix(seg, enc) || rec.Bytes != int64(len(enc)) || rec.BytesCut != cut || rec.Records != uint64(len(recs)) {
		t.Fatalf("recovered %d records (%d bytes), not a prefix of the input or wrong report %+v", len(recs), len(enc), rec)
	}
	j, err = Open(dir, fuzzOpts())
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer j.Close()
	if r := j.Recovery(); r.BytesCut != 0 || r.Records != uint64(len(recs)) {
		t.Fatalf("second recovery %+v", r)
	}
}

func fuzzDamaged(t *testing.T, dir string, data []byte) {
	take := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	o := fuzzOpts()
	// A valid log written the way the journal writes it.
	n := int(take()%64) + 1
	var payloads [][]byte
	type seg struct {
		first uint64
		buf   []byte
	}
	segs := []*seg{{first: 1}}
	for i := range n {
		p := bytes.Repeat([]byte{byte(i)}, int(take())*3)
		payloads = append(payloads, p)
		last := segs[len(segs)-1]
		fl := headerSize + len(p)
		if len(last.buf) > 0 && int64(len(last.buf)+fl) > o.SegmentSize {
			last = &seg{first: uint64(i + 1)}
			segs = append(segs, last)
		}
		last.buf = appendFrame(last.buf, uint64(i+1), TypeData, p, payloadCRC(p))
	}
	// Zeros after the records of every segment (written ahead of them,
	// see Options.ZeroAhead) are not damage.
	zeros := int(take()) * 16
	// Damage: 4-byte operations (kind, segment, offset). What is damaged
	// is found afterwards by comparing each file with what it would be
	// undamaged (two flips of one byte cancel out; cutting zeros that the
	// zeros appended restore changes nothing).
	orig := make([][]byte, len(segs))
	for i, s := range segs {
		orig[i] = append([]byte(nil), s.buf...)
	}
	for len(data) >= 4 {
		kind, s := take()%3, int(take())%len(segs)
		off := int(binary.LittleEndian.Uint16([]byte{take(), take()}))
		b := segs[s].buf
		if len(b) == 0 {
			continue
		}
		off %= len(b)
		switch kind {
		case 0: // flip bits
			b[off] ^= byte(off) | 1
		case 1: // cut
			segs[s].buf = b[:off]
		case 2: // zero the rest
			clear(b[off:])
		}
	}
	nonFinal := false
	firstDamage := map[int]int{} // segment -> first damaged offset
	for i, s := range segs {
		got := append(s.buf, make([]byte, zeros)...)
		if err := os.WriteFile(filepath.Join(dir, segmentName(s.first)), got, 0o644); err != nil {
			t.Fatal(err)
		}
		d := 0
		for d < len(got) && d < len(orig[i]) && got[d] == orig[i][d] {
			d++
		}
		if d == len(orig[i]) && nonZeroLen(got[d:]) == 0 {
			continue // the records intact, then zeros only
		}
		firstDamage[i] = d
		nonFinal = nonFinal || i != len(segs)-1
	}

	j, err := Open(dir, o)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) || !nonFinal {
			t.Fatalf("Open: %v (non-final segment damaged: %v)", err, nonFinal)
		}
		return
	}
	defer j.Close()
	if nonFinal {
		t.Fatalf("Open accepted a damaged non-final segment")
	}
	recs := readAll(t, j, 0)
	for i, r := range recs {
		if r.LSN != uint64(i+1) || r.Type != TypeData || !bytes.Equal(r.Payload, payloads[i]) {
			t.Fatalf("record %d: lsn %d, payload of %d bytes: not the record written", i, r.LSN, len(r.Payload))
		}
	}
	// Records of the final segment entirely before its first damage survive.
	final := segs[len(segs)-1]
	want := int(final.first) - 1
	off := 0
	d, damaged := firstDamage[len(segs)-1]
	for i := int(final.first) - 1; i < n; i++ {
		off += headerSize + len(payloads[i])
		if damaged && off > d {
			break
		}
		want = i + 1
	}
	if len(recs) < want || len(recs) > n {
		t.Fatalf("recovered %d records, want at least %d of %d", len(recs), want, n)
	}
	if !damaged && len(recs) != n {
		t.Fatalf("recovered %d of %d undamaged records", len(recs), n)
	}
}
