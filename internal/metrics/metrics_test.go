package metrics_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/metrics/metricstest"
)

// get sends a request of method to s's handler.
func get(s *metrics.Set, method string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(method, "/metrics", nil))
	return rec
}

// scrape reads s through its handler as a scraper would.
func scrape(t *testing.T, s *metrics.Set) metricstest.Exposition {
	t.Helper()
	rec := get(s, "GET")
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	e, err := metricstest.Parse(rec.Body)
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.Body)
	}
	return e
}

// A scrape-time family exposes what its function emits at the moment of
// the scrape, one sample per label set (the first one emitted).
func TestGaugeFunc(t *testing.T) {
	s := metrics.NewSet()
	var mu sync.Mutex
	depth := map[string]float64{"b": 3, "a": 2}
	s.GaugeFunc("t_depth", "Depth.", []string{"queue"}, func(emit metrics.Emit) {
		mu.Lock()
		defer mu.Unlock()
		for q, v := range depth {
			emit(v, q)
		}
		emit(99, "a") // a repeat: ignored
	})
	s.GaugeFunc("t_plain", "No labels.", nil, func(emit metrics.Emit) { emit(1.5) })
	for _, tc := range []struct {
		labels map[string]string
		want   float64
	}{{map[string]string{"queue": "a"}, 2}, {map[string]string{"queue": "b"}, 3}} {
		if got, ok := scrape(t, s).Value("t_depth", tc.labels); !ok || got != tc.want {
			t.Errorf("t_depth%v = %v (found %v), want %v", tc.labels, got, ok, tc.want)
		}
	}
	mu.Lock()
	depth["a"] = 7
	delete(depth, "b")
	mu.Unlock()
	e := scrape(t, s)
	if got, _ := e.Value("t_depth", map[string]string{"queue": "a"}); got != 7 {
		t.Errorf("after a change: %v, want 7", got)
	}
	if n := len(e.Find("t_depth", nil)); n != 1 {
		t.Errorf("%d series after b went away, want 1", n)
	}
	if got, _ := e.Value("t_plain", nil); got != 1.5 {
		t.Errorf("t_plain = %v", got)
	}
	if typ := e.Families["t_depth"].GetType().String(); typ != "GAUGE" {
		t.Errorf("t_depth is a %s", typ)
	}
}

// A function that emits the wrong number of label values fails the
// scrape with an error naming the family, instead of exposing a wrong
// series or taking the process down.
func TestGaugeFuncWrongLabels(t *testing.T) {
	s := metrics.NewSet()
	s.GaugeFunc("t_bad", "Bad.", []string{"tenant"}, func(emit metrics.Emit) { emit(1, "a", "extra") })
	rec := get(s, "GET")
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "t_bad") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// Registering a family twice is a programming error found at start-up.
func TestGaugeFuncTwicePanics(t *testing.T) {
	s := metrics.NewSet()
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	s.GaugeFunc(metrics.NameGoroutines, "Again.", nil, func(metrics.Emit) {})
}

// Concurrent updates and scrapes: no update is lost, every scrape parses
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
			if _, err := metricstest.Parse(get(s, "GET").Body); err != nil {
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
	e := scrape(t, s)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{metrics.NameEventsProduced, map[string]string{"topic": "voice-callthread", "tenant": "acme"}, 2 * workers * n},
		{metrics.NameAPILatency + "_count", map[string]string{"method": "POST", "code": "2xx"}, workers * n},
		{metrics.NameAPILatency + "_sum", map[string]string{"method": "POST", "code": "2xx"}, workers * n * 0.001},
		{metrics.NameKafkaAckLatency + "_bucket", map[string]string{"le": "0.005"}, workers * n},
		{metrics.NameKafkaAckLatency + "_bucket", map[string]string{"le": "0.0025"}, 0},
		{metrics.NameKafkaAckLatency + "_bucket", map[string]string{"le": "+Inf"}, workers * n},
		{metrics.NameSIPTransactions, map[string]string{"method": "INVITE"}, workers * n},
		{metrics.NameSIPResponses, map[string]string{"method": "INVITE", "status": "200"}, workers * n},
	} {
		if got, ok := e.Value(tc.name, tc.labels); !ok || math.Abs(got-tc.want) > 1e-6 {
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
	e := scrape(t, s)
	if got, _ := e.Value(metrics.NameSIPTransactions, map[string]string{"method": "other"}); got != 2 {
		t.Errorf("other = %v, want 2", got)
	}
	if got, _ := e.Value(metrics.NameSIPResponses, map[string]string{"method": "other", "status": "other"}); got != 1 {
		t.Errorf("other/other = %v, want 1", got)
	}
	if got, _ := e.Value(metrics.NameAPILatency+"_count", map[string]string{"method": "other", "route": "unmatched"}); got != 2 {
		t.Errorf("API other/unmatched = %v, want 2", got)
	}
	if n := len(e.Find(metrics.NameSIPTransactions, nil)); n != 1 {
		t.Errorf("%d SIP transaction series, want 1", n)
	}
}

// Each method and status has its own series, counted by its own cached
// counter: the first and last status of the range, the statuses just
// outside it ("other"), and the same status under two methods.
func TestSIPSeriesPerLabelSet(t *testing.T) {
	s := metrics.NewSet()
	calls := []struct {
		method string
		status int
		times  int
	}{{"INVITE", 100, 1}, {"INVITE", 699, 2}, {"INVITE", 99, 3}, {"INVITE", 700, 4},
		{"INVITE", 200, 5}, {"BYE", 200, 6}, {"X-FOO", 200, 7}, {"UPDATE", 486, 8}}
	for _, c := range calls {
		for range c.times {
			s.SIPResponse(c.method, c.status)
			s.SIPTransaction(c.method)
		}
	}
	e := scrape(t, s)
	for _, tc := range []struct {
		method, status string
		want           float64
	}{{"INVITE", "100", 1}, {"INVITE", "699", 2}, {"INVITE", "other", 3 + 4}, {"INVITE", "200", 5},
		{"BYE", "200", 6}, {"other", "200", 7}, {"UPDATE", "486", 8}} {
		if got, ok := e.Value(metrics.NameSIPResponses, map[string]string{"method": tc.method, "status": tc.status}); !ok || got != tc.want {
			t.Errorf("responses %s %s = %v (found %v), want %v", tc.method, tc.status, got, ok, tc.want)
		}
	}
	if n := len(e.Find(metrics.NameSIPResponses, nil)); n != 7 {
		t.Errorf("%d SIP response series, want 7", n)
	}
	for m, want := range map[string]float64{"INVITE": 15, "BYE": 6, "other": 7, "UPDATE": 8} {
		if got, _ := e.Value(metrics.NameSIPTransactions, map[string]string{"method": m}); got != want {
			t.Errorf("transactions %s = %v, want %v", m, got, want)
		}
	}
}

// The handler serves the text format to a plain GET, with the Go runtime
// and process collectors beside switchboard's own families, and refuses
// other methods.
func TestHandler(t *testing.T) {
	s := metrics.NewSet()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if f := expfmt.ResponseFormat(resp.Header); f.FormatType() != expfmt.TypeTextPlain {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	e, err := metricstest.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{metrics.NameGoroutines, metrics.NameStartTime, "go_goroutines", "go_memstats_heap_alloc_bytes",
		"process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"} {
		if v, ok := e.Value(name, nil); !ok || v <= 0 {
			t.Errorf("%s = %v (found %v)", name, v, ok)
		}
	}
	if _, ok := e.Value("process_cpu_seconds_total", nil); !ok { // may still be 0 this early
		t.Error("no process_cpu_seconds_total")
	}
	if head := get(s, "HEAD"); head.Code != http.StatusOK {
		t.Errorf("HEAD: %d", head.Code)
	}
	resp2, err := http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusMethodNotAllowed || resp2.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %q", resp2.StatusCode, resp2.Header.Get("Allow"))
	}
}

// BenchmarkSIPCounters is what sipfront counts per transaction: the
// request and its final response.
func BenchmarkSIPCounters(b *testing.B) {
	s := metrics.NewSet()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.SIPTransaction("INVITE")
			s.SIPResponse("INVITE", 200)
		}
	})
}

func BenchmarkCounterWith(b *testing.B) {
	s := metrics.NewSet()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.APIRequest("POST", "/v1/tenants/{tenant}/dns/{dn}/ready", 200, time.Millisecond)
		}
	})
}
