package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Kind is the TYPE of a metric family.
type Kind string

// Kinds of metric families.
const (
	KindCounter   Kind = "counter"
	KindGauge     Kind = "gauge"
	KindHistogram Kind = "histogram"
)

// Registry holds metric families and writes them in the text exposition
// format. Its methods are safe for concurrent use. Registering the same name
// twice panics (a programming error, found by the first test that builds the
// set).
type Registry struct {
	mu       sync.Mutex
	families map[string]family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]family{}} }

type family interface {
	write(b []byte) []byte
}

var reName = func(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (r *Registry) register(name string, labels []string, f family) {
	if !reName(name) {
		panic("metrics: bad metric name " + strconv.Quote(name))
	}
	for _, l := range labels {
		if !reName(l) || strings.Contains(l, ":") || strings.HasPrefix(l, "__") || l == "le" {
			panic("metrics: bad label name " + strconv.Quote(l) + " of " + name)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.families[name]; dup {
		panic("metrics: " + name + " registered twice")
	}
	r.families[name] = f
}

// WriteTo writes every family, sorted by name, in the text format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	names := make([]string, 0, len(r.families))
	for n := range r.families {
		names = append(names, n)
	}
	fams := make([]family, 0, len(names))
	sort.Strings(names)
	for _, n := range names {
		fams = append(fams, r.families[n])
	}
	r.mu.Unlock()
	var b []byte
	for _, f := range fams {
		b = f.write(b)
	}
	n, err := w.Write(b)
	return int64(n), err
}

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the registry (GET and HEAD; no authentication).
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		if req.Method == http.MethodHead {
			return
		}
		r.WriteTo(w)
	})
}

// header writes the HELP and TYPE lines.
func header(b []byte, name, help string, k Kind) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendEscaped(b, help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, k...)
	return append(b, '\n')
}

// appendEscaped escapes \ and newline (and " in label values).
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendSample writes name{labels,extra} value.
func appendSample(b []byte, name string, names, values []string, extraName, extraValue string, v float64) []byte {
	b = append(b, name...)
	if len(names) > 0 || extraName != "" {
		b = append(b, '{')
		for i, n := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, n...)
			b = append(b, `="`...)
			b = appendEscaped(b, values[i], true)
			b = append(b, '"')
		}
		if extraName != "" {
			if len(names) > 0 {
				b = append(b, ',')
			}
			b = append(b, extraName...)
			b = append(b, `="`...)
			b = append(b, extraValue...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	return append(b, '\n')
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// vec is the label handling shared by the families: children by their
// label values joined with a 0xff separator.
type vec[T any] struct {
	name, help string
	labels     []string
	children   sync.Map // string -> *child[T]
	make       func() *T
}

type child[T any] struct {
	values []string
	m      *T
}

func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	var key string
	switch len(values) {
	case 0:
	case 1:
		key = values[0]
	default:
		key = strings.Join(values, "\xff")
	}
	if c, ok := v.children.Load(key); ok {
		return c.(*child[T]).m
	}
	c, _ := v.children.LoadOrStore(key, &child[T]{values: slices.Clone(values), m: v.make()})
	return c.(*child[T]).m
}

// sorted returns the children ordered by label values.
func (v *vec[T]) sorted() []*child[T] {
	var out []*child[T]
	v.children.Range(func(_, c any) bool {
		out = append(out, c.(*child[T]))
		return true
	})
	sort.Slice(out, func(i, j int) bool { return slices.Compare(out[i].values, out[j].values) < 0 })
	return out
}

// Counter is a monotonically increasing integer count.
type Counter struct{ n atomic.Uint64 }

// Inc adds one. A nil Counter does nothing.
func (c *Counter) Inc() {
	if c != nil {
		c.n.Add(1)
	}
}

// Add adds n. A nil Counter does nothing.
func (c *Counter) Add(n uint64) {
	if c != nil {
		c.n.Add(n)
	}
}

// Value returns the count.
func (c *Counter) Value() uint64 { return c.n.Load() }

// CounterVec is a counter family with labels.
type CounterVec struct{ v vec[Counter] }

// NewCounterVec registers a counter family; its name should end in _total.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{vec[Counter]{name: name, help: help, labels: labels, make: func() *Counter { return new(Counter) }}}
	r.register(name, labels, c)
	return c
}

// With returns the counter of the label values (in the order of the label
// names), creating it at zero. Callers on hot paths keep the result.
func (c *CounterVec) With(values ...string) *Counter { return c.v.with(values) }

func (c *CounterVec) write(b []byte) []byte {
	b = header(b, c.v.name, c.v.help, KindCounter)
	for _, ch := range c.v.sorted() {
		b = appendSample(b, c.v.name, c.v.labels, ch.values, "", "", float64(ch.m.Value()))
	}
	return b
}

// Gauge is a value that goes up and down.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the value. A nil Gauge does nothing.
func (g *Gauge) Set(v float64) {
	if g != nil {
		g.bits.Store(math.Float64bits(v))
	}
}

// Add adds d (negative to subtract). A nil Gauge does nothing.
func (g *Gauge) Add(d float64) {
	if g == nil {
		return
	}
	for {
		old := g.bits.Load()
		if g.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// Value returns the value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// GaugeVec is a gauge family with labels.
type GaugeVec struct{ v vec[Gauge] }

// NewGaugeVec registers a gauge family.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	g := &GaugeVec{vec[Gauge]{name: name, help: help, labels: labels, make: func() *Gauge { return new(Gauge) }}}
	r.register(name, labels, g)
	return g
}

// With returns the gauge of the label values, creating it at zero.
func (g *GaugeVec) With(values ...string) *Gauge { return g.v.with(values) }

func (g *GaugeVec) write(b []byte) []byte {
	b = header(b, g.v.name, g.v.help, KindGauge)
	for _, ch := range g.v.sorted() {
		b = appendSample(b, g.v.name, g.v.labels, ch.values, "", "", ch.m.Value())
	}
	return b
}

// Emit reports one sample of a scrape-time family: its value and its label
// values, in the order of the label names.
type Emit func(value float64, labelValues ...string)

// funcFamily is a family whose samples are produced at scrape time.
type funcFamily struct {
	name, help string
	kind       Kind
	labels     []string
	collect    func(Emit)
}

// NewGaugeFunc registers a gauge family whose samples collect produces at
// every scrape (reading state that lives elsewhere). collect runs on the
// scraping goroutine; it must be quick and safe for concurrent use.
func (r *Registry) NewGaugeFunc(name, help string, labels []string, collect func(Emit)) {
	r.register(name, labels, &funcFamily{name, help, KindGauge, labels, collect})
}

// NewCounterFunc is NewGaugeFunc for a value that only grows (a counter
// kept by another package).
func (r *Registry) NewCounterFunc(name, help string, labels []string, collect func(Emit)) {
	r.register(name, labels, &funcFamily{name, help, KindCounter, labels, collect})
}

func (f *funcFamily) write(b []byte) []byte {
	type sample struct {
		v      float64
		values []string
	}
	var ss []sample
	f.collect(func(v float64, values ...string) {
		if len(values) != len(f.labels) {
			panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", f.name, len(f.labels), len(values)))
		}
		ss = append(ss, sample{v, slices.Clone(values)})
	})
	sort.SliceStable(ss, func(i, j int) bool { return slices.Compare(ss[i].values, ss[j].values) < 0 })
	b = header(b, f.name, f.help, f.kind)
	for i, s := range ss {
		if i > 0 && slices.Equal(s.values, ss[i-1].values) {
			continue // one sample per label set
		}
		b = appendSample(b, f.name, f.labels, s.values, "", "", s.v)
	}
	return b
}

// Histogram counts observations in cumulative buckets.
type Histogram struct {
	upper  []float64 // bucket upper bounds, ascending, +Inf excluded
	counts []atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Uint64 // float64 bits
}

// Observe records one value. A nil Histogram does nothing.
func (h *Histogram) Observe(v float64) {
	if h == nil {
		return
	}
	i := sort.SearchFloat64s(h.upper, v) // first bound >= v
	if i < len(h.counts) {
		h.counts[i].Add(1)
	}
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	h.count.Add(1)
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Sum returns the sum of the observations.
func (h *Histogram) Sum() float64 { return math.Float64frombits(h.sum.Load()) }

// HistogramVec is a histogram family with labels.
type HistogramVec struct {
	v     vec[Histogram]
	upper []float64
}

// NewHistogramVec registers a histogram family with the given bucket upper
// bounds (ascending; +Inf is implicit).
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if !sort.Float64sAreSorted(buckets) || len(buckets) == 0 {
		panic("metrics: " + name + ": buckets must be ascending and not empty")
	}
	for i := 1; i < len(buckets); i++ {
		if buckets[i] == buckets[i-1] {
			panic("metrics: " + name + ": duplicate bucket")
		}
	}
	upper := slices.Clone(buckets)
	if math.IsInf(upper[len(upper)-1], 1) {
		upper = upper[:len(upper)-1]
	}
	h := &HistogramVec{upper: upper}
	h.v = vec[Histogram]{name: name, help: help, labels: labels, make: func() *Histogram {
		return &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper))}
	}}
	r.register(name, labels, h)
	return h
}

// With returns the histogram of the label values, creating it empty.
func (h *HistogramVec) With(values ...string) *Histogram { return h.v.with(values) }

func (h *HistogramVec) write(b []byte) []byte {
	name := h.v.name
	b = header(b, name, h.v.help, KindHistogram)
	var le []byte
	for _, ch := range h.v.sorted() {
		m := ch.m
		// Read count first: observations that land while we read only
		// add to buckets, and the +Inf bucket is written as the larger of
		// count and the cumulative bucket sum, so the series stays
		// cumulative.
		count := m.count.Load()
		var cum uint64
		for i, u := range m.upper {
			cum += m.counts[i].Load()
			le = appendFloat(le[:0], u)
			b = appendSample(b, name+"_bucket", h.v.labels, ch.values, "le", string(le), float64(cum))
		}
		count = max(count, cum)
		b = appendSample(b, name+"_bucket", h.v.labels, ch.values, "le", "+Inf", float64(count))
		b = appendSample(b, name+"_sum", h.v.labels, ch.values, "", "", m.Sum())
		b = appendSample(b, name+"_count", h.v.labels, ch.values, "", "", float64(count))
	}
	return b
}

// Bucket layouts, in seconds.
var (
	// LatencyBuckets suit API requests and Kafka acknowledgements: 0.5ms
	// to 10s.
	LatencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)
