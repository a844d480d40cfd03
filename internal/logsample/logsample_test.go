package logsample

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// 10,000 occurrences of one cause over 25 (fake) seconds give the first
// line and one per interval, each carrying what it stood for, and the
// resolution line accounts for every occurrence; another cause is logged
// at once on its own.
func TestSampler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	s := New(log, 10*time.Second)
	clock := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return clock }
	ctx := context.Background()
	written := 0
	for i := range 10_000 {
		clock = time.Unix(1_000_000, 0).Add(time.Duration(i) * 2500 * time.Microsecond) // 25s in all
		if s.Log(ctx, slog.LevelError, "disk", "journal failed") {
			written++
		}
	}
	if written != 3 { // at 0s, 10s, 20s
		t.Fatalf("%d lines written for 10,000 occurrences over 25s, want 3:\n%s", written, buf.String())
	}
	if !s.Log(ctx, slog.LevelWarn, "other", "another cause") {
		t.Fatal("a second cause was not logged at once")
	}
	if !s.Resolve(ctx, slog.LevelInfo, "disk", "healed") {
		t.Fatal("Resolve of an active cause reported none")
	}
	if s.Resolve(ctx, slog.LevelInfo, "disk", "healed") {
		t.Fatal("second Resolve logged again")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), buf.String())
	}
	var sum int
	for _, l := range lines[1:3] {
		var sup, total int
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, "suppressed="); ok {
				sup = atoi(t, v)
			}
			if v, ok := strings.CutPrefix(f, "total="); ok {
				total = atoi(t, v)
			}
		}
		sum += sup + 1
		if total != sum+1 {
			t.Fatalf("line %q: total %d, want %d", l, total, sum+1)
		}
	}
	if !strings.Contains(lines[4], "msg=healed") || !strings.Contains(lines[4], "total=10000") {
		t.Fatalf("resolution line %q: want msg=healed total=10000", lines[4])
	}
	if !s.Log(ctx, slog.LevelError, "disk", "journal failed") {
		t.Fatal("after Resolve the cause is not logged at once")
	}
	var nilS *Sampler
	nilS.Log(ctx, slog.LevelError, "x", "y")
	nilS.Resolve(ctx, slog.LevelError, "x", "y")
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
