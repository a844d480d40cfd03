// Package metrics is switchboard's Prometheus instrumentation: a small
// registry of counters, gauges and histograms with labels, written in the
// Prometheus text exposition format (version 0.0.4) by hand, without a
// client library, and the set of switchboard's own metrics (Set) that the
// other packages update.
//
// The hot paths (a request, a published batch, a SIP transaction) only touch
// atomics: a labelled child is looked up once in a sync.Map (or cached by the
// caller) and then updated with atomic adds. Values that already exist
// elsewhere (journal size, publisher buffer, active calls) are read at scrape
// time by gauge functions instead of being copied on every change.
//
// The package owns metric names, help texts, label sets and the exposition
// format. It must not import the packages it measures (runtime, publisher,
// journal, sipfront, ctiapi): they call into it, or app hands it functions
// that read them. metricstest parses the exposition for tests.
package metrics
