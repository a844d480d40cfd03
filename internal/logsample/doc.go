// Package logsample keeps a flood of alike log lines from filling the log:
// a slog.Handler that passes at most a few records per second for each
// message (a token bucket per message) and drops the rest, counting them;
// the next record of that message that passes carries the count of what
// was dropped since the last one ("dropped" attribute).
//
// It is meant for lines an outsider can cause at will: refused requests,
// failed authentications, refused journal writes. Wrap the logger those
// lines go to, not the process's root logger:
//
//	refusals := slog.New(logsample.New(log.Handler(), logsample.Options{}))
//	refusals.Info("authentication failed", "addr", addr)
//
// A record's level decides nothing: sampling is by message only, and a
// record below the wrapped handler's level is neither passed nor counted.
// Metrics, not logs, are the count of record: a sampled line says that it
// happened and how often since the last line, a counter says how many.
//
// It must not touch what it logs about (no metrics, no state besides its
// buckets).
package logsample
