package engine

import (
	"regexp"
	"strconv"
	"testing"
)

// The ConnID permutation is a bijection: unperm inverts perm, distinct
// counters give distinct ConnIDs, and seeds change the ids.
func TestConnIDPermutation(t *testing.T) {
	for _, seed := range []uint64{0, 1, 42, 1 << 63} {
		g := newIDs(seed, "demo")
		seen := map[uint64]bool{}
		for n := uint64(1); n <= 100_000; n++ {
			x := g.perm(n)
			if seen[x] {
				t.Fatalf("seed %d: ConnID %x repeats at counter %d", seed, x, n)
			}
			seen[x] = true
			if back := g.unperm(x); back != n {
				t.Fatalf("seed %d: unperm(perm(%d)) = %d", seed, n, back)
			}
			s := connString(x)
			if y, ok := parseConn(s); !ok || y != x {
				t.Fatalf("parseConn(%q) = %x %v, want %x", s, y, ok, x)
			}
		}
	}
	if newIDs(0, "a").perm(1) == newIDs(0, "b").perm(1) || newIDs(1, "a").perm(1) == newIDs(2, "a").perm(1) {
		t.Error("tenants or seeds share ConnIDs")
	}
	if newIDs(0, "demo") != newIDs(0, "demo") {
		t.Error("ids are not deterministic")
	}
	for _, bad := range []string{"", "0123", "0123456789ABCDEF", "0123456789abcdeg", "0123456789abcdef0"} {
		if _, ok := parseConn(bad); ok {
			t.Errorf("parseConn(%q) accepted", bad)
		}
	}
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Thread ids are UUIDv7 (RFC 9562): the step time in milliseconds, version
// 7, variant 10, distinct and sorting by start time.
func TestThreadIDs(t *testing.T) {
	g := newIDs(0, "demo")
	at := int64(1_767_225_600_123_456)
	seen := map[string]bool{}
	prev := ""
	for n := uint64(1); n <= 10_000; n++ {
		at += int64(n%3) * 1000 // several threads per millisecond too
		id := g.threadID(n, at)
		if !uuidV7.MatchString(id) {
			t.Fatalf("%q is not a UUIDv7", id)
		}
		ms, _ := strconv.ParseUint(id[0:8]+id[9:13], 16, 64)
		if int64(ms) != at/1000 {
			t.Fatalf("%q: timestamp %d, want %d", id, ms, at/1000)
		}
		if seen[id] {
			t.Fatalf("thread id %q repeats", id)
		}
		seen[id] = true
		if id[:13] < prev {
			t.Fatalf("%q sorts before %q", id, prev)
		}
		prev = id[:13]
		c, th := g.connAndThread(n, n, at)
		if c != connString(g.perm(n)) || th != id {
			t.Fatalf("connAndThread(%d) = %s %s", n, c, th)
		}
	}
}
