// Package metricstest parses the Prometheus text exposition format strictly,
// for tests: every sample must belong to a family announced by HELP and TYPE,
// label syntax and escapes must be valid, a label set must not repeat, and
// histograms must be cumulative with +Inf equal to _count.
//
// It belongs to internal/metrics and is imported only by tests.
package metricstest
