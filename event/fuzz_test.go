package event

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// FuzzUnmarshal states the decoder's invariants: it never panics, and what
// it accepts re-encodes to valid JSON that decodes to the same Event and
// encodes to the same bytes (decode, encode, decode, encode is stable).
// Seeded with the golden files; found inputs are kept in
// testdata/fuzz/FuzzUnmarshal.
func FuzzUnmarshal(f *testing.F) {
	for _, n := range Names() {
		b, err := os.ReadFile(goldenPath(n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{}`, `{"id":"EventFromTheFuture","x":[1,{"y":null}]}`, `{"UserData":{"a":{"b":{}},"t":true,"n":null}}`,
		`{"Seq":1e3,"CallState":50,"time":{"seconds":-1,"useconds":999999}}`,
		"{\"Server\":\"\\ud800\\udc00\\ud800 \xff <&> \\u2028\"}", `{"Server":"a","Server":"b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e1 Event
		if err := Unmarshal(data, &e1); err != nil {
			return
		}
		b1 := Marshal(&e1)
		if !json.Valid(b1) {
			t.Fatalf("Marshal wrote invalid JSON %q", b1)
		}
		var e2 Event
		if err := Unmarshal(b1, &e2); err != nil {
			t.Fatalf("Unmarshal(Marshal(...)) = %v for %q", err, b1)
		}
		if !reflect.DeepEqual(e1, e2) {
			t.Fatalf("decode, encode, decode differs:\n%+v\n%+v", e1, e2)
		}
		if b2 := Marshal(&e2); !bytes.Equal(b1, b2) {
			t.Fatalf("encoding is not stable:\n%q\n%q", b1, b2)
		}
	})
}
