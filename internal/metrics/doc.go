// Package metrics is switchboard's Prometheus instrumentation on the
// Prometheus Go client (client_golang): the set of switchboard's own
// metrics (Set) that the other packages update, scrape-time gauges
// (GaugeFunc) for values that live elsewhere, and the /metrics handler
// (Handler). The registry also holds the client's Go runtime (go_*) and
// process (process_*) collectors.
//
// The package owns metric names, help texts, label sets and bucket layouts.
// It must not import the packages it measures (tenant, publisher, journal,
// sipfront, ctiapi): they call into it, or app hands it functions that
// read them. A nil *Set turns metrics off: every update method does
// nothing. metricstest reads scrapes in tests.
//
// # Adding a metric
//
// Names follow Prometheus conventions: switchboard_ prefix, base unit in
// the name (_seconds, _bytes, _records), _total for counters. Label values
// must come from a small known set (a tenant id, a route pattern, a method
// bounded like sipMethod), never from a raw path, a caller id or an error
// text.
//
// A count or a duration that a package observes as it happens (a failed
// fsync, a dropped log line):
//
//  1. Add a Name constant beside the others in set.go.
//  2. Add a field to Set, made and registered in NewSet through the promauto
//     factory f there (example below).
//  3. Add a method that does nothing on a nil *Set and updates the field;
//     the package that observes the event calls it on the *Set it was given
//     in its configuration.
//
// For example, a counter of failed fsyncs by tenant:
//
//	// in NewSet
//	s.fsyncFailed = f.NewCounterVec(prometheus.CounterOpts{Name: NameFsyncFailed,
//		Help: "Journal fsyncs that failed, by tenant."}, []string{"tenant"})
//
//	// FsyncFailed counts one failed fsync of tenant's journal.
//	func (s *Set) FsyncFailed(tenant string) {
//		if s != nil {
//			s.fsyncFailed.WithLabelValues(tenant).Inc()
//		}
//	}
//
// A value that already exists elsewhere (a size, a fill level, a count of
// live things) is read at scrape time instead of being copied on every
// change: whoever owns it (usually app, in ops.go) registers a GaugeFunc,
// for example
//
//	set.GaugeFunc(metrics.NameRetained, "Bytes the broker retains, by topic.", []string{"topic"},
//		func(emit metrics.Emit) { for t, n := range b.Retained() { emit(float64(n), t) } })
//
// Either way, extend the golden tests: call the new method in
// TestSetFamilies, or make the traffic of app's TestServeMetricsFamilies
// produce the new family, run them with -rewrite, review the diff of
// testdata/*.golden, and add the metric to the README's table.
package metrics
