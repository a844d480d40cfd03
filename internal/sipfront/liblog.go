package sipfront

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// The SIP library logs what it cannot parse, whole datagrams included, at
// its own levels and, in its transport layer, to a process-wide logger.
// Those lines are about input anyone can send: they go to our logger at
// debug level, never above.

// debugOnly returns log with every record lowered to debug level.
func debugOnly(log *slog.Logger) *slog.Logger {
	return slog.New(debugHandler{log.Handler()})
}

type debugHandler struct{ h slog.Handler }

func (d debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.h.Enabled(ctx, slog.LevelDebug)
}

func (d debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.h.Handle(ctx, r)
}

func (d debugHandler) WithAttrs(as []slog.Attr) slog.Handler { return debugHandler{d.h.WithAttrs(as)} }
func (d debugHandler) WithGroup(n string) slog.Handler       { return debugHandler{d.h.WithGroup(n)} }

// libLog is the logger the library's process-wide logger forwards to: the
// latest server's, lowered to debug.
var libLog atomic.Pointer[slog.Logger]

func init() {
	sip.SetDefaultLogger(slog.New(forwardHandler{}))
}

func useSIPLibLogger(log *slog.Logger) { libLog.Store(debugOnly(log)) }

// forwardHandler hands records to libLog (nothing before a server starts).
type forwardHandler struct{ attrs []slog.Attr }

func (forwardHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if lg := libLog.Load(); lg != nil {
		return lg.Handler().Enabled(ctx, l)
	}
	return false
}

func (f forwardHandler) Handle(ctx context.Context, r slog.Record) error {
	lg := libLog.Load()
	if lg == nil {
		return nil
	}
	h := lg.Handler()
	if len(f.attrs) > 0 {
		h = h.WithAttrs(f.attrs)
	}
	return h.Handle(ctx, r)
}

func (f forwardHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return forwardHandler{append(f.attrs[:len(f.attrs):len(f.attrs)], as...)}
}

func (f forwardHandler) WithGroup(string) slog.Handler { return f }
