package stats

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/metrics/metricstest"
)

// TestMetricsLabelsBounded: the per-queue metrics have a label set for
// each queue and routing point of the configuration (with zeros before
// any event) and none for a DN that only the events name, however many:
// the label sets stay bounded whatever the topics hold.
func TestMetricsLabelsBounded(t *testing.T) {
	s := NewService(Config{Options: Options{Tenants: map[string]TenantOptions{
		"demo": {Kinds: map[string]string{"7000": "acd-queue", "5000": "routing-point"}},
	}}})
	set := metrics.NewRuntimeSet()
	s.RegisterMetrics(set)
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	for i, q := range []string{"7000", "9001", "9002", "9003"} {
		s.take(&event.Event{ID: event.EventQueued, CustomerID: "demo", ConnID: "c" + q, CallType: event.CallTypeInbound,
			ThisDN: q, ThisQueue: q, Time: event.TimeFromUnixMicro(at.UnixMicro()), Seq: int64(i + 1)})
	}
	s.cfg.Now = func() time.Time { return at.Add(time.Minute) }
	rec := httptest.NewRecorder()
	set.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m, err := metricstest.Parse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{metrics.NameStatsQueueWaiting, metrics.NameStatsQueueCallsToday, metrics.NameStatsQueueAgents} {
		queues := map[string]bool{}
		for _, sm := range m.Find(name, nil) {
			queues[sm.Labels["queue"]] = true
		}
		if len(queues) != 2 || !queues["7000"] || !queues["5000"] {
			t.Errorf("%s: queues %v, want 7000 and 5000 only", name, queues)
		}
	}
	if v, ok := m.Value(metrics.NameStatsQueueWaiting, map[string]string{"tenant": "demo", "queue": "7000"}); !ok || v != 1 {
		t.Errorf("7000 waiting = %v (%v), want 1", v, ok)
	}
	if v, ok := m.Value(metrics.NameStatsQueueCallsToday, map[string]string{"tenant": "demo", "queue": "5000", "outcome": "offered"}); !ok || v != 0 {
		t.Errorf("5000 offered = %v (%v), want 0", v, ok)
	}
}
