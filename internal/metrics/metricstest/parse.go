package metricstest

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one series of a scrape: its name, labels and value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Exposition is a parsed scrape.
type Exposition struct {
	// Families are the metric families by name, as the parser gives them.
	Families map[string]*dto.MetricFamily
	// Samples are their series, histograms and summaries flattened into
	// _bucket (with le), _sum and _count series as the text format has them.
	Samples []Sample
}

// Parse parses a scrape in the text format.
func Parse(r io.Reader) (Exposition, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Exposition{}, err
	}
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	e := Exposition{Families: fams}
	for _, n := range names {
		vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, fams[n])
		if err != nil {
			return Exposition{}, fmt.Errorf("%s: %w", n, err)
		}
		for _, s := range vec {
			labels := map[string]string{}
			for k, v := range s.Metric {
				if k != model.MetricNameLabel {
					labels[string(k)] = string(v)
				}
			}
			e.Samples = append(e.Samples, Sample{Name: string(s.Metric[model.MetricNameLabel]), Labels: labels, Value: float64(s.Value)})
		}
	}
	return e, nil
}

// Find returns the samples of series name (a family's name, or a
// histogram's _count, _sum or _bucket series) whose labels include want.
func (e Exposition) Find(name string, want map[string]string) []Sample {
	var out []Sample
	for _, s := range e.Samples {
		if s.Name == name && includes(s.Labels, want) {
			out = append(out, s)
		}
	}
	return out
}

// Value returns the value of the series of name whose labels include want,
// and whether there is exactly one such series.
func (e Exposition) Value(name string, want map[string]string) (float64, bool) {
	ss := e.Find(name, want)
	if len(ss) != 1 {
		return 0, false
	}
	return ss[0].Value, true
}

// Sum adds the values of every series of name whose labels include want.
func (e Exposition) Sum(name string, want map[string]string) float64 {
	var total float64
	for _, s := range e.Find(name, want) {
		total += s.Value
	}
	return total
}

func includes(labels, want map[string]string) bool {
	for k, w := range want {
		if labels[k] != w {
			return false
		}
	}
	return true
}

// Describe writes the shape of every family whose name starts with prefix
// and that has at least one series, sorted by name: its name, type and
// label names, its help, and each series' label values (for a histogram,
// the label values without le, followed by the bucket bounds). Values are
// left out: Describe is for comparing what a scrape exposes, not what it
// counted. A family without series is left out as well: the Prometheus
// client library does not expose one.
func (e Exposition) Describe(prefix string) string {
	var names []string
	for n, f := range e.Families {
		if strings.HasPrefix(n, prefix) && len(f.GetMetric()) > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		f := e.Families[n]
		var labelNames []string
		var keys []string
		les := map[string][]string{} // label values without le -> bucket bounds
		for _, s := range e.Samples {
			if s.Name != n && s.Name != n+"_bucket" && s.Name != n+"_sum" && s.Name != n+"_count" {
				continue
			}
			key := labelKey(s.Labels, "le")
			if !slices.Contains(keys, key) {
				keys = append(keys, key)
			}
			for k := range s.Labels {
				if k != "le" && !slices.Contains(labelNames, k) {
					labelNames = append(labelNames, k)
				}
			}
			if s.Name == n+"_bucket" {
				les[key] = append(les[key], s.Labels["le"])
			}
		}
		sort.Strings(labelNames)
		sort.Strings(keys)
		fmt.Fprintf(&b, "%s %s %v\n\t# %s\n", n, strings.ToLower(f.GetType().String()), labelNames, f.GetHelp())
		for _, k := range keys {
			fmt.Fprintf(&b, "\t{%s}", k)
			if l := les[k]; l != nil {
				fmt.Fprintf(&b, " le=%v", l)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// labelKey writes labels sorted by name, without drop.
func labelKey(labels map[string]string, drop string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != drop {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, labels[k])
	}
	return strings.Join(parts, ",")
}
