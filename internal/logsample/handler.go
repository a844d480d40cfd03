package logsample

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"
)

// DroppedKey is the attribute that carries how many records of the same
// message were dropped before the one it is on.
const DroppedKey = "dropped"

// Options configures a Handler. The zero value is usable.
type Options struct {
	// Rate is how many records per second of one message pass on average.
	// Default 2.
	Rate float64
	// Burst is how many records of one message may pass at once. Default 5.
	Burst int
	// MaxKeys bounds how many distinct messages are tracked; beyond it the
	// least recently seen one is forgotten (it starts again with a full
	// burst). Default 1024.
	MaxKeys int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Handler is a sampling slog.Handler. Handlers derived with WithAttrs and
// WithGroup share its buckets: the message alone is the key.
type Handler struct {
	next slog.Handler
	st   *state
}

type state struct {
	opts Options
	mu   sync.Mutex
	keys map[string]*bucket
}

type bucket struct {
	tokens  float64
	last    time.Time
	dropped uint64
}

// NewHandler wraps next with sampling per opts.
func NewHandler(next slog.Handler, opts Options) *Handler {
	if opts.Rate <= 0 {
		opts.Rate = 2
	}
	if opts.Burst <= 0 {
		opts.Burst = 5
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 1024
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{next: next, st: &state{opts: opts, keys: map[string]*bucket{}}}
}

// Enabled reports whether the wrapped handler takes records of level l.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle passes r on if its message's bucket has a token, with the count of
// records dropped since the last one passed; otherwise it counts r as
// dropped and returns nil.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	ok, dropped := h.st.take(r.Message)
	if !ok {
		return nil
	}
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Uint64(DroppedKey, dropped))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a handler with attrs, sharing h's buckets.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), st: h.st}
}

// WithGroup returns a handler with the group, sharing h's buckets.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), st: h.st}
}

// Dropped returns how many records are dropped and not yet reported on a
// passed line, over all messages.
func (h *Handler) Dropped() uint64 {
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	var n uint64
	for _, b := range h.st.keys {
		n += b.dropped
	}
	return n
}

func (s *state) take(key string) (ok bool, dropped uint64) {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.keys[key]
	burst := float64(s.opts.Burst)
	if b == nil {
		if len(s.keys) >= s.opts.MaxKeys {
			s.evictLocked()
		}
		b = &bucket{tokens: burst, last: now}
		s.keys[key] = b
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(burst, b.tokens+d.Seconds()*s.opts.Rate)
		b.last = now
	}
	if b.tokens < 1 {
		b.dropped++
		return false, 0
	}
	b.tokens--
	dropped, b.dropped = b.dropped, 0
	return true, dropped
}

// evictLocked forgets the least recently refilled key.
func (s *state) evictLocked() {
	var oldest string
	var at time.Time
	first := true
	for k, b := range s.keys {
		if first || b.last.Before(at) {
			oldest, at, first = k, b.last, false
		}
	}
	delete(s.keys, oldest)
}
