// Package logsample keeps a repeated failure from flooding the log: the
// first line of a cause is logged at once, later ones at most once per
// interval with the count of lines suppressed since, and the end of the
// cause once with the total. Callers count every occurrence in their
// metrics themselves; this package only decides which lines are written.
//
// Two forms. Sampler (New) is for failures with a cause that starts and
// ends (a full disk): Log per occurrence, Resolve at the end. Handler
// (NewHandler) is a slog.Handler for lines an outsider can cause at will
// (refused requests, failed authentications): it passes at most a few
// records per second of each message (a token bucket per message), drops
// the rest, and the next record of that message that passes carries the
// count dropped since ("dropped" attribute). Wrap the logger those lines go
// to, not the process's root logger:
//
//	refusals := slog.New(logsample.NewHandler(log.Handler(), logsample.Options{}))
//	refusals.Info("authentication failed", "addr", addr)
//
// Handler samples by message only; a record below the wrapped handler's
// level is neither passed nor counted.
//
// It must not touch what it logs about (no metrics, no state besides its
// counts).
package logsample
