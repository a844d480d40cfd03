package metricstest

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Sample is one line: a series name, its labels and its value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Family is one metric family.
type Family struct {
	Name, Help, Type string
	Samples          []Sample
}

// Exposition is a parsed scrape, by family name.
type Exposition map[string]*Family

// Parse parses and checks a scrape.
func Parse(r io.Reader) (Exposition, error) {
	out := Exposition{}
	var cur *Family
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		l := sc.Text()
		bad := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", line, l, fmt.Sprintf(format, args...))
		}
		switch {
		case l == "":
			return nil, bad("empty line")
		case strings.HasPrefix(l, "# HELP "):
			name, help, _ := strings.Cut(l[len("# HELP "):], " ")
			if !validName(name) {
				return nil, bad("bad metric name")
			}
			if _, dup := out[name]; dup {
				return nil, bad("family %s twice", name)
			}
			if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(help, `\\`, ""), `\n`, ""), `\`) {
				return nil, bad("bad escape in HELP")
			}
			cur = &Family{Name: name, Help: help}
			out[name] = cur
		case strings.HasPrefix(l, "# TYPE "):
			name, typ, _ := strings.Cut(l[len("# TYPE "):], " ")
			if cur == nil || cur.Name != name || cur.Type != "" {
				return nil, bad("TYPE without its HELP line just before")
			}
			switch typ {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				return nil, bad("unknown type %q", typ)
			}
			cur.Type = typ
		case strings.HasPrefix(l, "#"):
			// comment
		default:
			s, err := parseSample(l)
			if err != nil {
				return nil, bad("%v", err)
			}
			if cur == nil || cur.Type == "" {
				return nil, bad("sample outside a family")
			}
			if !belongs(cur, s.Name) {
				return nil, bad("sample %s in family %s", s.Name, cur.Name)
			}
			key := s.Name + "{" + labelKey(s.Labels) + "}"
			if seen[key] {
				return nil, bad("series %s twice", key)
			}
			seen[key] = true
			cur.Samples = append(cur.Samples, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, f := range out {
		if f.Type == "" {
			return nil, fmt.Errorf("family %s has no TYPE", f.Name)
		}
		if f.Type == "histogram" {
			if err := checkHistogram(f); err != nil {
				return nil, err
			}
		}
		if f.Type == "counter" {
			for _, s := range f.Samples {
				if s.Value < 0 || math.IsNaN(s.Value) {
					return nil, fmt.Errorf("counter %s: value %v", f.Name, s.Value)
				}
			}
		}
	}
	return out, nil
}

func belongs(f *Family, name string) bool {
	if f.Type == "histogram" {
		return name == f.Name+"_bucket" || name == f.Name+"_sum" || name == f.Name+"_count"
	}
	return name == f.Name
}

func validName(s string) bool {
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

func parseSample(l string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(l, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no value")
	}
	s.Name = l[:i]
	if !validName(s.Name) {
		return s, fmt.Errorf("bad name %q", s.Name)
	}
	rest := l[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 {
				return s, fmt.Errorf("bad label")
			}
			name := rest[:eq]
			if !validName(name) || strings.Contains(name, ":") {
				return s, fmt.Errorf("bad label name %q", name)
			}
			rest = rest[eq+1:]
			if !strings.HasPrefix(rest, `"`) {
				return s, fmt.Errorf("label %s: value not quoted", name)
			}
			rest = rest[1:]
			var v strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' {
					if j+1 >= len(rest) {
						return s, fmt.Errorf("label %s: dangling escape", name)
					}
					switch rest[j+1] {
					case '\\':
						v.WriteByte('\\')
					case '"':
						v.WriteByte('"')
					case 'n':
						v.WriteByte('\n')
					default:
						return s, fmt.Errorf("label %s: bad escape", name)
					}
					j++
					continue
				}
				if c == '"' {
					rest = rest[j+1:]
					closed = true
					break
				}
				v.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("label %s: unterminated value", name)
			}
			if _, dup := s.Labels[name]; dup {
				return s, fmt.Errorf("label %s twice", name)
			}
			s.Labels[name] = v.String()
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
			} else if !strings.HasPrefix(rest, "}") {
				return s, fmt.Errorf("expected , or }")
			}
		}
	}
	if !strings.HasPrefix(rest, " ") {
		return s, fmt.Errorf("no space before the value")
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return s, fmt.Errorf("want a value and an optional timestamp")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("bad value %q", fields[0])
	}
	s.Value = v
	return s, nil
}

func labelKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, m[k])
	}
	return b.String()
}

func without(m map[string]string, drop string) string {
	c := map[string]string{}
	for k, v := range m {
		if k != drop {
			c[k] = v
		}
	}
	return labelKey(c)
}

// checkHistogram: per label set, buckets ascending in le and cumulative,
// a +Inf bucket equal to _count, and a _sum.
func checkHistogram(f *Family) error {
	type series struct {
		les      []float64
		counts   []float64
		count    float64
		hasCount bool
		hasSum   bool
	}
	by := map[string]*series{}
	get := func(k string) *series {
		if by[k] == nil {
			by[k] = &series{}
		}
		return by[k]
	}
	for _, s := range f.Samples {
		switch s.Name {
		case f.Name + "_bucket":
			le, ok := s.Labels["le"]
			if !ok {
				return fmt.Errorf("%s: bucket without le", f.Name)
			}
			v, err := strconv.ParseFloat(le, 64)
			if err != nil {
				return fmt.Errorf("%s: bad le %q", f.Name, le)
			}
			sr := get(without(s.Labels, "le"))
			sr.les = append(sr.les, v)
			sr.counts = append(sr.counts, s.Value)
		case f.Name + "_count":
			sr := get(labelKey(s.Labels))
			sr.count, sr.hasCount = s.Value, true
		case f.Name + "_sum":
			get(labelKey(s.Labels)).hasSum = true
		}
	}
	for k, sr := range by {
		if !sr.hasCount || !sr.hasSum || len(sr.les) == 0 {
			return fmt.Errorf("%s{%s}: missing _count, _sum or buckets", f.Name, k)
		}
		for i := 1; i < len(sr.les); i++ {
			if sr.les[i] <= sr.les[i-1] || sr.counts[i] < sr.counts[i-1] {
				return fmt.Errorf("%s{%s}: buckets not ascending and cumulative", f.Name, k)
			}
		}
		last := len(sr.les) - 1
		if !math.IsInf(sr.les[last], 1) || sr.counts[last] != sr.count {
			return fmt.Errorf("%s{%s}: +Inf bucket %v, _count %v", f.Name, k, sr.counts[last], sr.count)
		}
	}
	return nil
}

// Value returns the value of the series of name (a family's name, or a
// histogram's _count/_sum/_bucket series) whose labels include want, and
// whether there is exactly one such series.
func (e Exposition) Value(name string, want map[string]string) (float64, bool) {
	fam := e[name]
	if fam == nil {
		for _, suf := range []string{"_bucket", "_count", "_sum"} {
			if f := e[strings.TrimSuffix(name, suf)]; f != nil && strings.HasSuffix(name, suf) {
				fam = f
			}
		}
	}
	if fam == nil {
		return 0, false
	}
	var v float64
	n := 0
	for _, s := range fam.Samples {
		if s.Name != name {
			continue
		}
		match := true
		for k, w := range want {
			if s.Labels[k] != w {
				match = false
				break
			}
		}
		if match {
			v, n = s.Value, n+1
		}
	}
	return v, n == 1
}

// Sum adds the values of every series of name whose labels include want.
func (e Exposition) Sum(name string, want map[string]string) float64 {
	var total float64
	for _, f := range e {
		for _, s := range f.Samples {
			if s.Name != name {
				continue
			}
			match := true
			for k, w := range want {
				if s.Labels[k] != w {
					match = false
				}
			}
			if match {
				total += s.Value
			}
		}
	}
	return total
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
	for n, f := range e {
		if strings.HasPrefix(n, prefix) && len(f.Samples) > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		f := e[n]
		labelNames := map[string]bool{}
		series := map[string][]string{} // label values without le -> le values
		for _, s := range f.Samples {
			key := without(s.Labels, "le")
			if _, ok := series[key]; !ok {
				series[key] = nil
			}
			for k := range s.Labels {
				if k != "le" {
					labelNames[k] = true
				}
			}
			if le, ok := s.Labels["le"]; ok && s.Name == n+"_bucket" {
				series[key] = append(series[key], le)
			}
		}
		ln := make([]string, 0, len(labelNames))
		for k := range labelNames {
			ln = append(ln, k)
		}
		sort.Strings(ln)
		fmt.Fprintf(&b, "%s %s %v\n\t# %s\n", n, f.Type, ln, f.Help)
		keys := make([]string, 0, len(series))
		for k := range series {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "\t{%s}", strings.TrimSuffix(k, ","))
			if les := series[k]; les != nil {
				fmt.Fprintf(&b, " le=%v", les)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}
