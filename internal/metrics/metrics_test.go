package metrics_test

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/metrics/metricstest"
)

func scrape(t *testing.T, r *metrics.Registry) (metricstest.Exposition, string) {
	t.Helper()
	var b bytes.Buffer
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	e, err := metricstest.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return e, b.String()
}

// Counters, gauges, scrape-time gauges and histograms come out in the text
// format with the values put in, label values escaped.
func TestExposition(t *testing.T) {
	r := metrics.NewRegistry()
	c := r.NewCounterVec("t_requests_total", "Requests.\nWith a \\ newline.", "tenant", "topic")
	g := r.NewGaugeVec("t_depth", "Depth.", "q")
	h := r.NewHistogramVec("t_latency_seconds", "Latency.", []float64{0.1, 1}, "route")
	r.NewGaugeFunc("t_calls", "Calls.", []string{"tenant"}, func(emit metrics.Emit) {
		emit(3, "b")
		emit(2, "a")
	})
	c.With("acme", "voice-callthread").Add(5)
	c.With("acme", "voice-callthread").Inc()
	c.With(`we"ird\`+"\n", "x").Inc()
	g.With("q1").Set(7.5)
	g.With("q1").Add(-2)
	hh := h.With("/v1/x")
	for _, v := range []float64{0.05, 0.1, 0.5, 2, 3} {
		hh.Observe(v)
	}
	e, text := scrape(t, r)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"t_requests_total", map[string]string{"tenant": "acme", "topic": "voice-callthread"}, 6},
		{"t_requests_total", map[string]string{"tenant": `we"ird\` + "\n"}, 1},
		{"t_depth", map[string]string{"q": "q1"}, 5.5},
		{"t_calls", map[string]string{"tenant": "a"}, 2},
		{"t_calls", map[string]string{"tenant": "b"}, 3},
		{"t_latency_seconds_bucket", map[string]string{"le": "0.1"}, 2},
		{"t_latency_seconds_bucket", map[string]string{"le": "1"}, 3},
		{"t_latency_seconds_bucket", map[string]string{"le": "+Inf"}, 5},
		{"t_latency_seconds_count", nil, 5},
		{"t_latency_seconds_sum", nil, 5.65},
	} {
		got, ok := e.Value(tc.name, tc.labels)
		if !ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	for _, want := range []string{
		"# HELP t_requests_total Requests.\\nWith a \\\\ newline.\n# TYPE t_requests_total counter\n",
		"# TYPE t_latency_seconds histogram\n",
		`t_requests_total{tenant="we\"ird\\\n",topic="x"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q:\n%s", want, text)
		}
	}
	if e["t_calls"].Type != "gauge" || e["t_requests_total"].Type != "counter" {
		t.Errorf("types: %+v %+v", e["t_calls"], e["t_requests_total"])
	}
}

// The parser refuses what a Prometheus server would: it is what makes the
// exposition tests able to fail.
func TestParserRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"no type":         "# HELP a A.\na 1\n",
		"orphan sample":   "a 1\n",
		"wrong family":    "# HELP a A.\n# TYPE a counter\nb 1\n",
		"bad escape":      "# HELP a A.\n# TYPE a gauge\na{x=\"\\q\"} 1\n",
		"unquoted":        "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n",
		"duplicate":       "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",
		"bad value":       "# HELP a A.\n# TYPE a gauge\na one\n",
		"not cumulative":  "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
		"inf not count":   "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n",
		"negative count":  "# HELP a A.\n# TYPE a counter\na -1\n",
		"empty line":      "# HELP a A.\n\n# TYPE a counter\na 1\n",
		"label twice":     "# HELP a A.\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n",
		"family twice":    "# HELP a A.\n# TYPE a gauge\n# HELP a A.\n# TYPE a gauge\n",
		"unknown type":    "# HELP a A.\n# TYPE a thing\n",
		"no +Inf bucket":  "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
		"bad metric name": "# HELP 1a A.\n# TYPE 1a gauge\n",
	} {
		if _, err := metricstest.Parse(strings.NewReader(text)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// Concurrent updates and scrapes: no update is lost, every scrape is valid
// (run with -race).
func TestConcurrent(t *testing.T) {
	s := metrics.NewSet()
	const workers, n = 4, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	scraped := make(chan error, 1)
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var b bytes.Buffer
			s.Registry.WriteTo(&b)
			if _, err := metricstest.Parse(&b); err != nil {
				scraped <- err
				return
			}
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				s.EventsPublished("voice-callthread", "acme", 2, true)
				s.APIRequest("POST", "/v1/tenants/{tenant}/calls", 201, time.Millisecond)
				s.KafkaAck(3 * time.Millisecond)
				s.SIPTransaction("INVITE")
				s.SIPResponse("INVITE", 200)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-scraped; err != nil {
		t.Fatal(err)
	}
	e, _ := scrape(t, s.Registry)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{metrics.NameEventsProduced, map[string]string{"topic": "voice-callthread", "tenant": "acme"}, 2 * workers * n},
		{metrics.NameAPILatency + "_count", map[string]string{"method": "POST", "code": "2xx"}, workers * n},
		{metrics.NameKafkaAckLatency + "_bucket", map[string]string{"le": "0.005"}, workers * n},
		{metrics.NameKafkaAckLatency + "_bucket", map[string]string{"le": "0.0025"}, 0},
		{metrics.NameSIPTransactions, map[string]string{"method": "INVITE"}, workers * n},
		{metrics.NameSIPResponses, map[string]string{"method": "INVITE", "status": "200"}, workers * n},
	} {
		if got, ok := e.Value(tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
}

// Label values that come from the network are bounded: an unknown SIP
// method or status does not create a series of its own.
func TestBoundedLabels(t *testing.T) {
	s := metrics.NewSet()
	s.SIPTransaction("X-EVIL-1")
	s.SIPTransaction("X-EVIL-2")
	s.SIPResponse("FOO", 9999)
	s.APIRequest("X-RANDOM-1", "unmatched", 404, time.Millisecond)
	s.APIRequest("X-RANDOM-2", "unmatched", 404, time.Millisecond)
	var nilSet *metrics.Set
	nilSet.SIPTransaction("INVITE") // metrics off: no panic
	nilSet.APIRequest("GET", "/", 200, 0)
	e, _ := scrape(t, s.Registry)
	if got, _ := e.Value(metrics.NameSIPTransactions, map[string]string{"method": "other"}); got != 2 {
		t.Errorf("other = %v, want 2", got)
	}
	if got, _ := e.Value(metrics.NameSIPResponses, map[string]string{"method": "other", "status": "other"}); got != 1 {
		t.Errorf("other/other = %v, want 1", got)
	}
	if got, _ := e.Value(metrics.NameAPILatency+"_count", map[string]string{"method": "other", "route": "unmatched"}); got != 2 {
		t.Errorf("API other/unmatched = %v, want 2", got)
	}
	if n := len(e[metrics.NameSIPTransactions].Samples); n != 1 {
		t.Errorf("%d SIP transaction series, want 1", n)
	}
}

func TestHandler(t *testing.T) {
	s := metrics.NewSet()
	srv := httptest.NewServer(s.Registry.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != metrics.ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	e, err := metricstest.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Value(metrics.NameGoroutines, nil); !ok {
		t.Errorf("no %s", metrics.NameGoroutines)
	}
	resp2, err := http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp2.StatusCode)
	}
}

func BenchmarkCounterWith(b *testing.B) {
	s := metrics.NewSet()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.APIRequest("POST", "/v1/tenants/{tenant}/dns/{dn}/ready", 200, time.Millisecond)
		}
	})
}
