package ctiapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/metrics"
)

// BenchmarkOpsOverhead: the cost Handler adds to a request (route lookup,
// latency histogram, token bucket), in process without HTTP: the same DND
// request through the bare server and through Handler with metrics and a
// limit high enough never to refuse.
func BenchmarkOpsOverhead(b *testing.B) {
	f := newFixture(b, nil)
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", f.srv},
		{"ops", f.srv.Handler(Ops{Metrics: metrics.NewSet(), Default: RateLimit{Rate: 1e9, Burst: 1e9}})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					req := httptest.NewRequest("POST", fmt.Sprintf("/v1/tenants/demo/dns/%d/dnd", 1001+i%20), strings.NewReader(`{"on":true}`))
					req.Header.Set("Authorization", "Bearer "+demoToken)
					rec := httptest.NewRecorder()
					tc.h.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
		})
	}
}
