package ctiapi

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkRequests: API requests per second over loopback HTTP with a
// sink that acknowledges at once: the cost of HTTP, parsing, auth and the
// runtime without Kafka.
func BenchmarkRequests(b *testing.B) {
	for _, clients := range []int{16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			f := newFixture(b, nil)
			benchRequests(b, f.http.URL, clients)
		})
	}
}

func benchRequests(b *testing.B, base string, clients int) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = clients
	cl := &http.Client{Transport: tr}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v1/tenants/demo/dns/%d/dnd", base, 1001+i%20),
					strings.NewReader(`{"on":true}`))
				req.Header.Set("Authorization", "Bearer "+demoToken)
				res, err := cl.Do(req)
				if err != nil {
					failed.Store(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					failed.Store(fmt.Errorf("status %d", res.StatusCode))
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
