package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// benchClient is an HTTP client with enough kept-alive connections for the
// load generators.
func benchClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// dndRequest is the load: do-not-disturb on or off on one of the demo's 20
// extensions. It is always accepted and causes exactly one event.
func dndRequest(b *testing.B, base string, i int) *http.Request {
	on := "true"
	if i%2 == 1 {
		on = "false"
	}
	req, err := http.NewRequest("POST", fmt.Sprintf("%s/v1/tenants/demo/dns/%d/dnd", base, 1001+i%20),
		strings.NewReader(`{"on":`+on+`,"referenceId":`+fmt.Sprint(i+1)+`}`))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	return req
}

func send(cl *http.Client, req *http.Request) error {
	res, err := cl.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}

// BenchmarkAPIThroughput: closed-loop clients drive API requests end to
// end (HTTP, engine, Kafka acknowledgement by the embedded broker) as fast
// as they are answered.
func BenchmarkAPIThroughput(b *testing.B) {
	type target struct {
		name    string
		brokers []string
	}
	targets := []target{{kafkatest.NameEmbedded, nil}}
	if os.Getenv(kafkatest.EnvKafka) != "" {
		real := kafkatest.RealKafka(b)
		targets = append(targets, target{kafkatest.NameReal, real.Brokers})
	}
	for _, tg := range targets {
		for _, clients := range []int{16, 64} {
			b.Run(fmt.Sprintf("kafka=%s/clients=%d", tg.name, clients), func(b *testing.B) {
				prefix := ""
				if tg.brokers != nil {
					prefix = kafkatest.UniqueTopicPrefix(b)
				}
				r := startMain(b, tg.brokers, prefix)
				base := "http://" + r.addrs.HTTP
				cl := benchClient()
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
							if err := send(cl, dndRequest(b, base, int(i))); err != nil {
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
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		}
	}
}

// BenchmarkAPILatencyAt5k: an open-loop generator sends requests at a fixed
// 5,000 per second (each b.N iteration is one request, so the run lasts
// b.N/5000 s; use -benchtime=15000x for 3 s) regardless of how fast they
// are answered, and reports latency percentiles measured from each
// request's scheduled send time (so queueing delay is not hidden).
func BenchmarkAPILatencyAt5k(b *testing.B) {
	b.Run("kafka="+kafkatest.NameEmbedded, func(b *testing.B) { latencyAt(b, 5000, nil) })
	if os.Getenv(kafkatest.EnvKafka) != "" {
		real := kafkatest.RealKafka(b)
		b.Run("kafka="+kafkatest.NameReal, func(b *testing.B) { latencyAt(b, 5000, real.Brokers) })
	}
}

func latencyAt(b *testing.B, rate int, brokers []string) {
	prefix := ""
	if brokers != nil {
		prefix = kafkatest.UniqueTopicPrefix(b)
	}
	r := startMain(b, brokers, prefix)
	base := "http://" + r.addrs.HTTP
	cl := benchClient()
	// Warm up the connections and the engine.
	for i := range 200 {
		if err := send(cl, dndRequest(b, base, i)); err != nil {
			b.Fatal(err)
		}
	}
	// A scheduler releases request i at start + i/rate into a queue served
	// by a fixed pool of connections; a request that waits in the queue
	// because the pool is busy counts that wait in its latency.
	const conns = 128
	lat := make([]time.Duration, b.N)
	type job struct {
		i  int
		at time.Time
	}
	queue := make(chan job, b.N)
	var wg sync.WaitGroup
	var errs atomic.Int64
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				if err := send(cl, dndRequest(b, base, j.i)); err != nil {
					errs.Add(1)
				}
				lat[j.i] = time.Since(j.at)
			}
		}()
	}
	interval := time.Second / time.Duration(rate)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		queue <- job{i, at}
	}
	close(queue)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := errs.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
}

// BenchmarkCommandsToKafka: commands per second through one tenant's
// runtime to the embedded broker, each answered after Kafka acknowledged
// its event, without HTTP: the capacity behind the API.
func BenchmarkCommandsToKafka(b *testing.B) {
	for _, callers := range []int{16, 256} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			ctx := context.Background()
			br, err := broker.Start(ctx, broker.Config{Dir: b.TempDir(), Listen: "127.0.0.1:0",
				Topics: []string{event.AgentStateTopic, event.CallThreadTopic}, Partitions: 12})
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			pub, err := publisher.New(ctx, publisher.Config{Brokers: []string{br.Addr()}, CreateTopics: true, Linger: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Close()
			eng, err := engine.New(&config.Demo("t", "p").Tenants[0], engine.Options{Server: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			rt, err := tenant.Start(tenant.Config{Engine: eng, Sink: pub})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close(ctx)
			var next atomic.Int64
			var wg sync.WaitGroup
			var failed atomic.Value
			b.ResetTimer()
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						cmd := engine.SetDND{DN: strconv.Itoa(1001 + int(i%20)), On: i%2 == 0, Request: engine.Request{ReferenceID: i + 1}}
						if _, err := rt.Do(ctx, cmd); err != nil {
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
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
		})
	}
}

// BenchmarkCallsAPI: closed-loop callers each run full basic calls (make
// call, answer, release: three requests, ten events) between their own two
// extensions, end to end (HTTP, engine, Kafka acknowledgement). One b.N
// iteration is one call. The tenant has 2x256 extensions, so each caller
// has its own pair.
func BenchmarkCallsAPI(b *testing.B) {
	type target struct {
		name    string
		brokers []string
	}
	targets := []target{{kafkatest.NameEmbedded, nil}}
	if os.Getenv(kafkatest.EnvKafka) != "" {
		targets = append(targets, target{kafkatest.NameReal, kafkatest.RealKafka(b).Brokers})
	}
	const pairs = 256
	var yaml strings.Builder
	yaml.WriteString("tenants:\n  - id: demo\n    tokens: [" + e2eToken + "]\n    dns:\n")
	for i := range 2 * pairs {
		fmt.Fprintf(&yaml, "      - {number: \"%d\", type: extension}\n", 20000+i)
	}
	yaml.WriteString("      - {number: pstn, type: trunk}\n")
	path := b.TempDir() + "/calls.yaml"
	if err := os.WriteFile(path, []byte(yaml.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, tg := range targets {
		for _, callers := range []int{16, 256} {
			b.Run(fmt.Sprintf("kafka=%s/callers=%d", tg.name, callers), func(b *testing.B) {
				prefix := ""
				if tg.brokers != nil {
					prefix = kafkatest.UniqueTopicPrefix(b)
				}
				r := startMainWith(b, tg.brokers, prefix, func(c *Config) { c.ConfigFile = path })
				base := "http://" + r.addrs.HTTP + "/v1/tenants/demo/calls"
				cl := benchClient()
				post := func(url, body string, want int) (string, error) {
					req, _ := http.NewRequest("POST", url, strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+e2eToken)
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
				call := func(a, bDN int) error {
					out, err := post(base, fmt.Sprintf(`{"from":"%d","to":"%d"}`, a, bDN), http.StatusCreated)
					if err != nil {
						return err
					}
					_, rest, _ := strings.Cut(out, `"connId":"`)
					conn, _, _ := strings.Cut(rest, `"`)
					if _, err := post(base+"/"+conn+"/answer", fmt.Sprintf(`{"dn":"%d"}`, bDN), http.StatusOK); err != nil {
						return err
					}
					_, err = post(base+"/"+conn+"/release", fmt.Sprintf(`{"dn":"%d"}`, a), http.StatusOK)
					return err
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				var failed atomic.Value
				b.ResetTimer()
				for c := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if err := call(20000+2*c, 20001+2*c); err != nil {
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
			})
		}
	}
}
