package ctiapi

import (
	"context"
	"log/slog"
)

// ContextLogHandler wraps h so that a record logged with the context of an
// API request (slog's ...Context methods, or Logger.Log(ctx, ...)) carries
// that request's request_id, unless the record has one already. Give it to
// the process's root logger and every package that logs with a request's
// context gets the id on every line.
func ContextLogHandler(h slog.Handler) slog.Handler {
	if c, ok := h.(contextHandler); ok {
		return c
	}
	return contextHandler{h}
}

// RequestID returns the id of the API request whose context ctx is, or "".
func RequestID(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	if l, ok := ctx.Value(logKey{}).(reqLog); ok {
		return l.id
	}
	return ""
}

type contextHandler struct{ h slog.Handler }

func (c contextHandler) Enabled(ctx context.Context, l slog.Level) bool { return c.h.Enabled(ctx, l) }

func (c contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			r = r.Clone()
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return c.h.Handle(ctx, r)
}

func (c contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	for _, a := range as {
		if a.Key == "request_id" {
			return c.h.WithAttrs(as) // the id is bound: no need to look for it
		}
	}
	return contextHandler{c.h.WithAttrs(as)}
}

func (c contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{c.h.WithGroup(name)}
}
