// Package logsample keeps a repeated failure from flooding the log: the
// first line of a cause is logged at once, later ones at most once per
// interval with the count of lines suppressed since, and the end of the
// cause once with the total. Callers count every occurrence in their
// metrics themselves; this package only decides which lines are written.
package logsample
