package sipfront

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/logsample"
)

// logRecords is a slog.Handler keeping every record (attributes of
// WithAttrs dropped: the tests look at levels, messages and the records'
// own attributes).
type logRecords struct {
	mu  *sync.Mutex
	all *[]slog.Record
}

func newLogRecords() logRecords { return logRecords{mu: &sync.Mutex{}, all: &[]slog.Record{}} }

func (h logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h logRecords) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.all = append(*h.all, r.Clone())
	return nil
}
func (h logRecords) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logRecords) WithGroup(string) slog.Handler      { return h }

func (h logRecords) records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), *h.all...)
}

// TestRefusalLogsBounded: what outsiders send at will does not flood the
// log. 40 malformed datagrams give no line above debug (the SIP library's
// lines about them are lowered to debug), and 40 wrong passwords from one
// address give a few sampled "SIP authentication failed" lines, a later
// one carrying the count of those dropped, while every failure is counted
// in the metrics (switchboard_sip_auth_failures_total, checked in the
// metrics package's golden set through SIPAuthFailure).
func TestRefusalLogsBounded(t *testing.T) {
	logs := newLogRecords()
	f := newFixture(t, func(c *Config) {
		c.Logger = slog.New(logs)
		c.AuthBlockAfter, c.AuthSlowAfter = 1000, 1000 // neither slowed nor blocked
	})
	p := newUDPPhone(t, f.sip.Addr())
	for i := range 40 {
		// A request line and a Via the parser refuses.
		p.conn.WriteToUDP([]byte(fmt.Sprintf("INVITE sip:1002@demo SIP/2.0\r\nVia: SIP/2.0/UDP\r\nCall-ID: %d\r\nCSeq: x\r\n\r\n", i)), p.to)
	}
	start := time.Now()
	for i := range 40 {
		chal := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003"))
		if chal == nil {
			t.Fatalf("guess %d: no challenge", i)
		}
		if res := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003", answer(t, "REGISTER", "sip:demo", chal, "1003", fmt.Sprint("guess", i), 1))); res == nil || res.StatusCode != 403 {
			t.Fatalf("guess %d: %v, want 403", i, res)
		}
	}
	elapsed := time.Since(start)
	// A sentinel: sampling lets "SIP authentication failed" through again
	// once its bucket refills (2 a second), with the count dropped.
	time.Sleep(time.Second)
	chal := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003"))
	p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003", answer(t, "REGISTER", "sip:demo", chal, "1003", "last", 1)))

	failed, dropped, debug := 0, false, 0
	for _, r := range logs.records() {
		switch {
		case r.Message == "SIP authentication failed":
			failed++
			r.Attrs(func(a slog.Attr) bool {
				dropped = dropped || (a.Key == logsample.DroppedKey && a.Value.Uint64() > 0)
				return true
			})
		case r.Level > slog.LevelInfo:
			t.Errorf("%s line about unauthenticated input: %q", r.Level, r.Message)
		case r.Level == slog.LevelDebug:
			debug++
		}
	}
	// Burst 5 and 2 a second, over the guesses and the sentinel's second.
	if most := 5 + 2*int(elapsed.Seconds()+2); failed == 0 || failed > most {
		t.Errorf("%d lines for 41 failed authentications in %v, want 1 to %d", failed, elapsed, most)
	}
	if !dropped {
		t.Error("no line carries the count of lines dropped")
	}
	if debug == 0 {
		t.Error("no debug line: the malformed datagrams were not seen")
	}
}
