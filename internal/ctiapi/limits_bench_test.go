package ctiapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/metrics"
)

// inUse is the heap and stack memory in use after a GC.
func inUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// openRawStream opens an event stream with a bare TCP handshake (so that
// the client side costs next to nothing) and returns the connection.
func openRawStream(b *testing.B, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(c, "GET /v1/tenants/demo/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", demoToken)
	r := bufio.NewReaderSize(c, 512)
	line, err := r.ReadString('\n')
	if err != nil || !strings.Contains(line, "101") {
		b.Fatalf("handshake: %q %v", line, err)
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	return c
}

// BenchmarkStreamMemory reports the server's memory per idle event stream
// (open, nothing to send), per slow stream (a client that never reads,
// its queue filled to the bound EventBuffer=1024 before it is dropped),
// and per idle keep-alive connection, each over n connections.
func BenchmarkStreamMemory(b *testing.B) {
	const n = 200
	f := newFixture(b, nil)
	_, addr := serveLimited(b, f.srv.Handler(Ops{}), ConnLimits{}, nil)

	base := inUse()
	var idle []net.Conn
	for range n {
		idle = append(idle, openRawStream(b, addr))
	}
	for f.srv.OpenStreams() < n {
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportMetric(float64(int64(inUse())-int64(base))/n, "B/idle-stream")
	for _, c := range idle {
		c.Close()
	}
	for f.srv.OpenStreams() > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportMetric(float64(int64(inUse())-int64(base))/n, "B/after-close")

	// Slow streams: events until every stream is dropped; the peak is
	// the bound's cost (the kernel's socket buffers hold some more).
	const slow = 20
	base = inUse()
	for range slow {
		defer openRawStream(b, addr).Close()
	}
	for f.srv.OpenStreams() < slow {
		time.Sleep(10 * time.Millisecond)
	}
	var peak uint64
	body := `{"on":true,"reasons":{"pad":"` + strings.Repeat("x", 200) + `"}}`
	for i := 0; f.srv.OpenStreams() > 0 && i < 20000; i++ {
		req, _ := http.NewRequest("POST", f.http.URL+"/v1/tenants/demo/dns/1001/dnd", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+demoToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("request %d: %v %v", i, res, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if i%128 == 0 {
			peak = max(peak, inUse())
		}
	}
	b.ReportMetric(float64(int64(peak)-int64(base))/slow, "B/slow-stream")

	// Idle keep-alive connections after one request each.
	base = inUse()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		buf := make([]byte, 512)
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	b.ReportMetric(float64(int64(inUse())-int64(base))/n, "B/keepalive-conn")
	for _, c := range conns {
		c.Close()
	}
}

// BenchmarkAuthGuessing runs a token guesser from 127.0.0.2 for 3 s and
// reports the guesses it got answered (401) before its first refusal and
// their rate, the guesses answered per second over the 3 s, and a normal
// client's requests per second from 127.0.0.1 during the attack as a
// ratio to the same client alone just before.
func BenchmarkAuthGuessing(b *testing.B) {
	f := newFixture(b, nil)
	_, addr := serveAsServe(b, f)
	normal := func(d time.Duration) float64 {
		return clientRate(b, d, func(int) *http.Request {
			r, _ := http.NewRequest("GET", "http://"+addr+"/v1/tenants/demo/agents", nil)
			return r
		})
	}
	const d = 3 * time.Second
	alone := normal(d)
	var guesses, refused atomic.Int64
	start := time.Now()
	var blockOnce sync.Once
	var beforeBlock int64
	var blockAfter time.Duration
	blocked := func() {
		blockOnce.Do(func() { beforeBlock, blockAfter = guesses.Load(), time.Since(start) })
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}
			cl := &http.Client{Transport: tr}
			for i := 0; time.Since(start) < d; i++ {
				req, _ := http.NewRequest("GET", "http://"+addr+"/v1/tenants/demo/agents", nil)
				req.Header.Set("Authorization", fmt.Sprintf("Bearer guess-%d-%d", w, i))
				res, err := cl.Do(req)
				if err != nil {
					blocked() // closed at accept
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				switch res.StatusCode {
				case 401:
					guesses.Add(1)
				case 429:
					refused.Add(1)
					blocked()
				}
			}
		}()
	}
	during := normal(d)
	wg.Wait()
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(beforeBlock), "guesses-before-block")
	b.ReportMetric(float64(beforeBlock)/blockAfter.Seconds(), "guesses/s-before-block")
	b.ReportMetric(float64(guesses.Load())/el, "guesses/s")
	b.ReportMetric(float64(refused.Load())/el, "refused/s")
	b.ReportMetric(alone, "normal-req/s")
	b.ReportMetric(during/alone, "normal-ratio")
}

// BenchmarkAttackRatios reports a normal client's requests per second
// while each attack of issue 16 runs, as a ratio to the same client alone
// just before it, on a server set up as serve sets it up (LimitListener,
// the default ConnLimits, blocked addresses refused at accept):
//
//   - connflood: 8 workers from 127.0.0.2 open keep-alive connections,
//     one GET /healthz each, and hold them (the per-address bound closes
//     the rest at accept, so they redial at once);
//   - slowstreams: from 127.0.0.3, with the tenant's token, 64 event
//     streams that never read, reopened as the server drops them; the
//     normal client's requests make the events that fill them.
//
// The normal client toggles DND on 1001 (each request makes an event).
// The attackers run in this process, on the same cores as the server:
// their own CPU counts against the ratio.
func BenchmarkAttackRatios(b *testing.B) {
	f := newFixture(b, nil)
	ll, addr := serveAsServe(b, f)
	const d = 3 * time.Second
	normal := func() float64 {
		return clientRate(b, d, func(n int) *http.Request {
			body := fmt.Sprintf(`{"on":%v,"reasons":{"pad":"%s"}}`, n%2 == 0, strings.Repeat("x", 200))
			r, _ := http.NewRequest("POST", "http://"+addr+"/v1/tenants/demo/dns/1001/dnd", strings.NewReader(body))
			return r
		})
	}
	from := func(ip byte) *net.Dialer {
		return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, ip)}}
	}

	// connflood
	alone := normal()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	var dials atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			for !stop.Load() {
				dials.Add(1)
				c, err := from(2).Dial("tcp", addr)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err == nil {
					if _, err := c.Read(buf); err == nil {
						mu.Lock()
						held = append(held, c)
						mu.Unlock()
						continue
					}
				}
				c.Close()
			}
		}()
	}
	during := normal()
	stop.Store(true)
	wg.Wait()
	b.ReportMetric(float64(len(held)), "connflood-held")
	b.ReportMetric(float64(dials.Load())/d.Seconds(), "connflood-dials/s")
	b.ReportMetric(alone, "connflood-alone-req/s")
	b.ReportMetric(during/alone, "connflood-ratio")
	for _, c := range held {
		c.Close()
	}
	for ll.Open() > 0 {
		time.Sleep(10 * time.Millisecond)
	}

	// slowstreams, and the same streams reading (what 64 subscribers
	// cost anyway: each event is written 64 times)
	for _, read := range []bool{false, true} {
		name := "slowstreams"
		if read {
			name = "readingstreams"
		}
		alone := normal()
		stop.Store(false)
		var streams []net.Conn
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				for f.srv.OpenStreams() < 64 && !stop.Load() {
					before := f.srv.OpenStreams()
					c, err := from(3).Dial("tcp", addr)
					if err != nil {
						break
					}
					fmt.Fprintf(c, "GET /v1/tenants/demo/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", demoToken)
					if read {
						go io.Copy(io.Discard, c)
					}
					streams = append(streams, c)
					// Wait for it to count (or for a drop meanwhile: 1 s).
					for end := time.Now().Add(time.Second); f.srv.OpenStreams() == before && time.Now().Before(end); {
						time.Sleep(time.Millisecond)
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		during := normal()
		stop.Store(true)
		<-done
		b.ReportMetric(float64(len(streams)), name+"-opened")
		b.ReportMetric(alone, name+"-alone-req/s")
		b.ReportMetric(during/alone, name+"-ratio")
		for _, c := range streams {
			c.Close()
		}
		for f.srv.OpenStreams() > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// serveAsServe serves f's API with its metrics on a LimitListener of
// 127.0.0.1 with the default ConnLimits, as serve does (a blocked
// guesser's connections closed at accept).
func serveAsServe(b *testing.B, f *fixture) (*LimitedListener, string) {
	m := metrics.NewSet()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ll := LimitListener(ln, ConnLimits{}, m, nil)
	ll.RefuseBlocked(f.srv)
	srv := ConnLimits{}.HTTPServer(f.srv.Handler(Ops{Metrics: m}), nil)
	go srv.Serve(ll)
	b.Cleanup(func() { srv.Close() })
	return ll, ln.Addr().String()
}

// clientRate is a normal client's requests per second over d: one at a
// time on a keep-alive connection, req(n) the n-th with the demo
// tenant's token; any answer but 200 fails.
func clientRate(b *testing.B, d time.Duration, req func(n int) *http.Request) float64 {
	cl := &http.Client{}
	defer cl.CloseIdleConnections()
	n, start := 0, time.Now()
	for time.Since(start) < d {
		r := req(n)
		r.Header.Set("Authorization", "Bearer "+demoToken)
		res, err := cl.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("normal request %d: %d", n, res.StatusCode)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}
