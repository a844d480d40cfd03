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
// reports the guesses it got answered (401) per second, and a normal
// client's requests per second from 127.0.0.1 during the attack as a
// ratio to the same client alone just before.
func BenchmarkAuthGuessing(b *testing.B) {
	f := newFixture(b, nil)
	m := metrics.NewSet()
	h := f.srv.Handler(Ops{Metrics: m})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ll := LimitListener(ln, ConnLimits{}, m, nil)
	ll.RefuseBlocked(f.srv) // as serve does: a blocked guesser's connections are closed at accept
	srv := ConnLimits{}.HTTPServer(h, nil)
	go srv.Serve(ll)
	defer srv.Close()
	addr := ln.Addr().String()
	normal := func(d time.Duration, stop *atomic.Bool) float64 {
		cl := &http.Client{}
		n, start := 0, time.Now()
		for time.Since(start) < d && (stop == nil || !stop.Load()) {
			req, _ := http.NewRequest("GET", "http://"+addr+"/v1/tenants/demo/agents", nil)
			req.Header.Set("Authorization", "Bearer "+demoToken)
			res, err := cl.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			n++
		}
		return float64(n) / time.Since(start).Seconds()
	}
	const d = 3 * time.Second
	alone := normal(d, nil)
	var guesses, refused atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
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
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				switch res.StatusCode {
				case 401:
					guesses.Add(1)
				case 429:
					refused.Add(1)
				}
			}
		}()
	}
	during := normal(d, nil)
	wg.Wait()
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(guesses.Load())/el, "guesses/s")
	b.ReportMetric(float64(refused.Load())/el, "refused/s")
	b.ReportMetric(alone, "normal-req/s")
	b.ReportMetric(during/alone, "normal-ratio")
}
