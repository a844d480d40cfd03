package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// FuzzDecodeCommand: DecodeCommand never panics, and what it accepts
// encodes and decodes again to the same bytes.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"kind":"login","cmd":{"dn":"1001","agentId":"agent1","queues":["7000"],"workMode":"ManualIn","referenceId":3,"reasons":{"a":"b"}}}`,
		`{"kind":"not-ready","cmd":{"dn":"1001","workMode":"AfterCallWork","extensions":{"WrapUpTime":10}}}`,
		`{"kind":"forward","cmd":{"dn":"1001","to":"1002","mode":"OnBusy"}}`,
		`{"kind":"monitor","cmd":{"supervisor":"1100","target":"1001","type":"AllCalls"}}`,
		`{"kind":"timer","cmd":{"id":"acw/agent1/1"}}`,
		`{"kind":"ready","cmd":{"dn":"1001","reasons":{"n":{"x":1}}}}`,
		`{"kind":"make-call","cmd":{"from":"1001","to":"+331234","userData":{"Order":"A-1","n":{"x":1}}}}`,
		`{"kind":"complete-transfer","cmd":{"connId":"19cad00b440b5f36","dn":"1002","consultConnId":"7e88de1c2b5df5cd","referenceId":4}}`,
		`{"kind":"network-call","cmd":{"trunk":"pstn","ani":"+3312","dnis":"1001"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		enc, err := EncodeCommand(c)
		if err != nil {
			t.Fatalf("decoded %#v but cannot encode it: %v", c, err)
		}
		c2, err := DecodeCommand(enc)
		if err != nil {
			t.Fatalf("cannot decode own encoding %s: %v", enc, err)
		}
		enc2, _ := EncodeCommand(c2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable encoding:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzRestore: Restore never panics on any bytes; what it refuses is an
// ErrSnapshot; what it accepts is a state Snapshot can write again, which
// restores to the same state (stateText), and on which the call
// generator's commands step without panicking. The seeds are snapshots of
// the agent and call generators' states on the golden tenant.
func FuzzRestore(f *testing.F) {
	for _, snap := range restoreSeeds(f) {
		f.Add(snap)
	}
	f.Fuzz(checkRestore)
}

// FuzzRestoreFields corrupts one value of a well-formed snapshot (a
// number, a string, a reference, a list length) rather than its bytes, so
// that the fuzzer reaches Restore's checks past the JSON parser: value
// number leaf of seed snapshot seed becomes num (numbers and booleans),
// str (strings), or is removed (drop).
func FuzzRestoreFields(f *testing.F) {
	seeds := restoreSeeds(f)
	f.Add(uint8(0), uint16(3), int64(-1), "", false)
	f.Add(uint8(1), uint16(40), int64(1<<40), "1001", false)
	f.Add(uint8(2), uint16(100), int64(0), "x", true)
	f.Fuzz(func(t *testing.T, seed uint8, leaf uint16, num int64, str string, drop bool) {
		var tree any
		if err := json.Unmarshal(seeds[int(seed)%len(seeds)], &tree); err != nil {
			t.Fatal(err)
		}
		n := int(leaf)
		tree = mutateLeaf(tree, &n, num, str, drop)
		b, err := json.Marshal(tree)
		if err != nil {
			t.Fatal(err)
		}
		checkRestore(t, b)
	})
}

// mutateLeaf replaces the *n-th leaf (depth first, object keys sorted)
// of v, counting down *n.
func mutateLeaf(v any, n *int, num int64, str string, drop bool) any {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if *n < 0 {
				break
			}
			if r := mutateLeaf(x[k], n, num, str, drop); r == nil && drop {
				delete(x, k)
			} else {
				x[k] = r
			}
		}
		return x
	case []any:
		for i := range x {
			x[i] = mutateLeaf(x[i], n, num, str, drop)
		}
		return x
	}
	*n--
	if *n != -1 {
		return v
	}
	if drop {
		return nil
	}
	switch v.(type) {
	case string:
		return str
	case bool:
		return num%2 == 0
	}
	return num
}

// restoreSeeds are snapshots of the agent and call generators' states
// (golden tenant).
func restoreSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for i := range 2 {
		generate(f, i, rand.New(rand.NewPCG(uint64(i), 11)), 600, 200, func(e *Engine) {
			snap, err := e.Snapshot()
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, snap)
		})
	}
	return seeds
}

func checkRestore(t *testing.T, b []byte) {
	e, err := New(goldenTenant(), Options{Server: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Restore(b); err != nil {
		if !errors.Is(err, ErrSnapshot) {
			t.Fatalf("error %v is not ErrSnapshot", err)
		}
		return
	}
	again, err := e.Snapshot()
	if err != nil {
		t.Fatalf("restored, but Snapshot fails: %v", err)
	}
	e2, _ := New(goldenTenant(), Options{Server: "n"})
	if err := e2.Restore(again); err != nil {
		t.Fatalf("its own snapshot does not restore: %v\n%s", err, again)
	}
	if s1, s2 := stateText(e), stateText(e2); s1 != s2 {
		t.Fatalf("restored twice, the state differs:\n%s", textDiff(s1, s2))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	next := stateGenerators[1].gen(rng)
	for step := range 20 {
		e.Step(goldenStart+int64(step), next(e))
	}
}
