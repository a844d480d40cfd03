package metrics

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the registry in the format the scraper asks for (the
// text format by default), GET and HEAD only, without authentication.
func (s *Set) Handler() http.Handler {
	h := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// Emit reports one sample of a scrape-time family: its value and its label
// values, in the order of the label names.
type Emit func(value float64, labelValues ...string)

// GaugeFunc registers a gauge family whose samples collect produces at
// every scrape, reading state that lives elsewhere (a journal's size, a
// buffer's fill). collect runs on a scraping goroutine: it must be quick
// and safe for concurrent use. When it emits one label set twice, the
// first value counts. Registering a name twice panics.
func (s *Set) GaugeFunc(name, help string, labels []string, collect func(Emit)) {
	s.Registry.MustRegister(&funcCollector{desc: prometheus.NewDesc(name, help, labels, nil), collect: collect, typ: prometheus.GaugeValue})
}

// CounterFunc is GaugeFunc for a counter whose total lives elsewhere (a
// journal's fsyncs since it opened).
func (s *Set) CounterFunc(name, help string, labels []string, collect func(Emit)) {
	s.Registry.MustRegister(&funcCollector{desc: prometheus.NewDesc(name, help, labels, nil), collect: collect, typ: prometheus.CounterValue})
}

type funcCollector struct {
	desc    *prometheus.Desc
	collect func(Emit)
	typ     prometheus.ValueType
}

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[string]bool{}
	c.collect(func(v float64, values ...string) {
		key := strings.Join(values, "\xff")
		if seen[key] {
			return
		}
		seen[key] = true
		m, err := prometheus.NewConstMetric(c.desc, c.typ, v, values...)
		if err != nil {
			m = prometheus.NewInvalidMetric(c.desc, err) // fails the scrape, names the family
		}
		ch <- m
	})
}

// Bucket layouts, in seconds.
var (
	// LatencyBuckets suit API requests and Kafka acknowledgements: 0.5ms
	// to 10s.
	LatencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)
