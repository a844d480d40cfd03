package logsample

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is the interval between two lines of one cause.
const DefaultEvery = 10 * time.Second

// Sampler samples log lines by cause. Its methods are safe for concurrent
// use; a nil *Sampler logs nothing.
type Sampler struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu     sync.Mutex
	causes map[string]*cause
}

type cause struct {
	last       time.Time // when a line was last written
	suppressed uint64    // lines not written since
	total      uint64    // occurrences since the cause began
}

// New returns a Sampler writing to log, at most one line per cause every
// every (DefaultEvery if not positive).
func New(log *slog.Logger, every time.Duration) *Sampler {
	if every <= 0 {
		every = DefaultEvery
	}
	return &Sampler{log: log, every: every, now: time.Now, causes: map[string]*cause{}}
}

// Log logs msg for cause if it is the cause's first occurrence or every
// has passed since its last line, adding "suppressed" (lines dropped
// since the last one) and "total" (occurrences so far) after the first. It
// reports whether the line was written.
func (s *Sampler) Log(ctx context.Context, level slog.Level, key, msg string, args ...any) bool {
	if s == nil || !s.log.Enabled(ctx, level) {
		return false
	}
	now := s.now()
	s.mu.Lock()
	c := s.causes[key]
	if c == nil {
		c = &cause{last: now, total: 1}
		s.causes[key] = c
		s.mu.Unlock()
		s.log.Log(ctx, level, msg, args...)
		return true
	}
	c.total++
	if now.Sub(c.last) < s.every {
		c.suppressed++
		s.mu.Unlock()
		return false
	}
	sup, total := c.suppressed, c.total
	c.suppressed, c.last = 0, now
	s.mu.Unlock()
	s.log.Log(ctx, level, msg, append(args, slog.Uint64("suppressed", sup), slog.Uint64("total", total))...)
	return true
}

// Resolve ends cause: if it had occurred, msg is logged once with its
// total and the lines suppressed since the last one, and the next
// occurrence is logged at once again. It reports whether cause had
// occurred.
func (s *Sampler) Resolve(ctx context.Context, level slog.Level, key, msg string, args ...any) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	c := s.causes[key]
	delete(s.causes, key)
	s.mu.Unlock()
	if c == nil {
		return false
	}
	s.log.Log(ctx, level, msg, append(args, slog.Uint64("suppressed", c.suppressed), slog.Uint64("total", c.total))...)
	return true
}

// Active reports whether cause has occurred and not been resolved.
func (s *Sampler) Active(key string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.causes[key] != nil
}
