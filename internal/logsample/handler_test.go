package logsample_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/logsample"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	buf.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestSamplesPerMessageAndReportsDropped(t *testing.T) {
	var buf bytes.Buffer
	clk := &clock{time.Unix(1000, 0)}
	h := logsample.NewHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}), logsample.Options{Rate: 2, Burst: 3, Now: clk.now})
	log := slog.New(h).With("component", "test")
	for i := range 100 {
		log.Info("refused", "i", i)
	}
	log.Info("other")
	got := lines(&buf)
	want := []string{
		`level=INFO msg=refused component=test i=0`,
		`level=INFO msg=refused component=test i=1`,
		`level=INFO msg=refused component=test i=2`,
		`level=INFO msg=other component=test`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("burst:\ngot  %q\nwant %q", got, want)
	}
	if d := h.Dropped(); d != 97 {
		t.Errorf("Dropped() = %d, want 97", d)
	}
	// Half a second gives one token at 2/s: the next line passes with the
	// count of the 97 dropped before it.
	clk.t = clk.t.Add(500 * time.Millisecond)
	log.Info("refused", "i", 100)
	log.Info("refused", "i", 101)
	got = lines(&buf)
	want = []string{`level=INFO msg=refused component=test i=100 dropped=97`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after refill:\ngot  %q\nwant %q", got, want)
	}
	if d := h.Dropped(); d != 1 {
		t.Errorf("Dropped() = %d, want 1", d)
	}
}

func TestBelowLevelIsNotCounted(t *testing.T) {
	var buf bytes.Buffer
	h := logsample.NewHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}), logsample.Options{Burst: 1})
	log := slog.New(h)
	for range 10 {
		log.Debug("quiet")
	}
	if h.Dropped() != 0 || buf.Len() != 0 {
		t.Fatalf("debug records below the level: dropped %d, output %q", h.Dropped(), buf.String())
	}
}

func TestMaxKeysForgetsOldest(t *testing.T) {
	var buf bytes.Buffer
	clk := &clock{time.Unix(1000, 0)}
	h := logsample.NewHandler(slog.NewTextHandler(&buf, nil), logsample.Options{Burst: 1, MaxKeys: 2, Now: clk.now})
	log := slog.New(h)
	log.Info("a")
	log.Info("a") // dropped
	clk.t = clk.t.Add(time.Millisecond)
	log.Info("b")
	clk.t = clk.t.Add(time.Millisecond)
	log.Info("c") // evicts a, the least recently seen
	if n := len(lines(&buf)); n != 3 {
		t.Fatalf("%d lines, want 3", n)
	}
	if d := h.Dropped(); d != 0 {
		t.Errorf("Dropped() = %d after a was forgotten, want 0", d)
	}
	log.Info("a") // a fresh bucket
	if n := len(lines(&buf)); n != 1 {
		t.Fatalf("a after eviction: %d lines, want 1", n)
	}
}
