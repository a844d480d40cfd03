// Package metricstest reads a scrape for tests: it parses the Prometheus
// text format with the Prometheus parser (expfmt) and finds series by name
// and labels, histogram _bucket, _sum and _count series included.
//
// It belongs to internal/metrics and is imported only by tests.
package metricstest
