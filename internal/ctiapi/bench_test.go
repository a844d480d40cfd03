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

// BenchmarkCallRequests: full basic calls (make call, answer, release:
// three requests) per second over loopback HTTP, ten callers each on its
// own pair of the demo's extensions, with a sink that acknowledges at once:
// HTTP, parsing and the engine's call handling without Kafka. One b.N
// iteration is one call.
func BenchmarkCallRequests(b *testing.B) {
	f := newFixture(b, nil)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	cl := &http.Client{Transport: tr}
	base := f.http.URL + "/v1/tenants/demo/calls"
	post := func(url, body string, want int) (string, error) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+demoToken)
		res, err := cl.Do(req)
		if err != nil {
			return "", err
		}
		out, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			return "", fmt.Errorf("POST %s: %d %s", url, res.StatusCode, out)
		}
		return string(out), nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	for c := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := 1001+2*c, 1002+2*c
			for next.Add(1) <= int64(b.N) {
				out, err := post(base, fmt.Sprintf(`{"from":"%d","to":"%d"}`, from, to), http.StatusCreated)
				if err == nil {
					_, rest, _ := strings.Cut(out, `"connId":"`)
					conn, _, _ := strings.Cut(rest, `"`)
					if _, err = post(base+"/"+conn+"/answer", fmt.Sprintf(`{"dn":"%d"}`, to), http.StatusOK); err == nil {
						_, err = post(base+"/"+conn+"/release", fmt.Sprintf(`{"dn":"%d"}`, from), http.StatusOK)
					}
				}
				if err != nil {
					failed.Store(err)
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
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	b.ReportMetric(3*float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
