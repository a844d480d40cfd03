package steprec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzDecode: Decode never panics on any bytes; what it refuses is an
// ErrBad with a zero Record (nothing of a corrupt record comes out), and
// what it accepts is exactly one record: written again field by field it
// is the input, but for overlong uvarints, which decode to the same record.
func FuzzDecode(f *testing.F) {
	evs := testEvents()
	f.Add(Append(nil, 42, []byte(`{"kind":"x"}`), evs))
	f.Add(Append(nil, -1, nil, nil))
	f.Add(Append(nil, 1<<62, make([]byte, 300), evs[:1]))
	f.Add([]byte{magic, version, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := Decode(p)
		if err != nil {
			if !errors.Is(err, ErrBad) {
				t.Fatalf("error %v is not ErrBad", err)
			}
			if r.At != 0 || r.Command != nil || r.Events != nil {
				t.Fatalf("refused record came out as %+v", r)
			}
			return
		}
		again := rewrite(r)
		if len(again) > len(p) {
			t.Fatalf("%x decoded to a record of %d bytes", p, len(again))
		}
		r2, err := Decode(again)
		if err != nil {
			t.Fatalf("the record written again does not decode: %v", err)
		}
		if r2.At != r.At || !bytes.Equal(r2.Command, r.Command) || len(r2.Events) != len(r.Events) {
			t.Fatalf("written again: %+v, want %+v", r2, r)
		}
		for i := range r.Events {
			if !bytes.Equal(r2.Events[i], r.Events[i]) {
				t.Fatalf("event %d written again: %q, want %q", i, r2.Events[i], r.Events[i])
			}
		}
	})
}

// rewrite writes r in the format with minimal uvarints.
func rewrite(r Record) []byte {
	b := appendHeader(nil, r.At)
	b = binary.AppendUvarint(b, uint64(len(r.Command)))
	b = append(b, r.Command...)
	b = binary.AppendUvarint(b, uint64(len(r.Events)))
	for _, e := range r.Events {
		b = binary.AppendUvarint(b, uint64(len(e)))
		b = append(b, e...)
	}
	return b
}
