package sipfront_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
	"github.com/switchboard-cc/switchboard/internal/sipload"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// Load figures: sipp calls between registered SIP endpoints through
// switchboard (engine, runtime, sipfront in-process; events recorded by a
// sink that acknowledges at once, so the figure is SIP + engine capacity
// without Kafka). Environment:
//
//	SIPLOAD_RATE   calls per second offered (default 2000)
//	SIPLOAD_CALLS  calls to make (default 20000)
//	SIPLOAD_PAIRS  caller/callee DN pairs (default 3 x rate: a DN has one call at a
//	               time, and a pair is reused every pairs/rate seconds; a call slower
//	               than that makes the next call of its pair fail with 403)
//	SIPLOAD_TALK   talk time in ms (sipp -d, default 0)
//	SIPLOAD_ERRORS a file to keep sipp's error log in when calls fail
//	SIPLOAD_KAFKA  "embedded" (franz-go kfake broker in-process) or a broker
//	               host:port: events go to Kafka through the publisher
//	               (replies and SIP effects wait for Kafka's acknowledgement)
//
// Run: go test ./internal/sipfront -run '^$' -bench SIPLoad -benchtime 1x
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// loadFixture serves a tenant of pairs extensions 10000+i (callers) and
// 20000+i (callees), registered directly (not by sipp: registration is
// not what is measured): callers from 127.0.0.1:pa, callees at the sipp
// UAS on 127.0.0.1:pb.
func loadFixture(b *testing.B, pairs, pa, pb int) (*sipfront.Server, *tenant.Tenant) {
	t, err := sipload.Tenant("load", pairs, "x")
	if err != nil {
		b.Fatal(err)
	}
	eng, err := engine.New(t, engine.Options{Server: sipfront.TestServer})
	if err != nil {
		b.Fatal(err)
	}
	var sink tenant.Sink = discardSink{}
	if k := os.Getenv("SIPLOAD_KAFKA"); k != "" {
		brokers := []string{k}
		topics := []string{event.AgentStateTopic, event.CallThreadTopic}
		if k == "embedded" {
			br, err := broker.Start(context.Background(), broker.Config{Dir: b.TempDir(), Listen: "127.0.0.1:0",
				Topics: topics, Partitions: 12})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { br.Close() })
			brokers = []string{br.Addr()}
		}
		pub, err := publisher.New(context.Background(), publisher.Config{Brokers: brokers, Partitions: 12,
			CreateTopics: true, Linger: -1, TopicPrefix: "sipload" + strconv.FormatInt(time.Now().UnixNano(), 36) + "."})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			pub.Flush(context.Background())
			st := pub.Stats()
			b.Logf("Kafka %v: %d events produced, %d acknowledged, %d failed", brokers, st.Produced, st.Acked, st.Failed)
			pub.Close()
		})
		sink = pub
	}
	rt, err := tenant.Start(tenant.Config{Engine: eng, Sink: sink})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := sipfront.Start(sipfront.Config{Listen: "127.0.0.1:0", Tenants: []sipfront.Tenant{{Config: t, Runtime: rt}},
		// Every phone of the load shares one address: the per-address quota
		// of answers to unauthenticated requests (each call's 407) is for
		// attackers, not for this.
		UnauthRate: 1e6, UnauthBurst: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close(); rt.Close(context.Background()) })
	for i := 0; i < pairs; i++ {
		caller, callee := strconv.Itoa(sipload.CallerBase+i), strconv.Itoa(sipload.CalleeBase+i)
		if err := srv.Bind(caller, "127.0.0.1:"+strconv.Itoa(pa), time.Hour); err != nil {
			b.Fatal(err)
		}
		if err := srv.Bind(callee, "127.0.0.1:"+strconv.Itoa(pb), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	return srv, rt
}

type discardSink struct{}

func (discardSink) Publish(_ []event.Event, done func(error)) { done(nil) }

// BenchmarkSIPLoad runs one sipp load (b.N is not used: the load is the
// configured number of calls; sipload.Run drives it) and reports calls/s,
// failed calls, CPU and heap allocations per call and the p50/p99 of
// INVITE-to-200 through the B2BUA (sipp rtd, ms).
func BenchmarkSIPLoad(b *testing.B) {
	bin := sipfront.NeedSipp(b)
	rate, calls, talk := envInt("SIPLOAD_RATE", 2000), envInt("SIPLOAD_CALLS", 20000), envInt("SIPLOAD_TALK", 0)
	pairs := envInt("SIPLOAD_PAIRS", 3*rate)
	if os.Getenv("SIPLOAD_TALK") == "0" {
		talk = 0
	}
	srv, _ := loadFixture(b, pairs, sipfront.FreeUDPPort(b), sipfront.FreeUDPPort(b))

	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := processCPU()
	b.ResetTimer()
	res, err := sipload.Run(context.Background(), srv, sipload.Config{Sipp: bin, Rate: rate, Calls: calls, Pairs: pairs, Password: "x",
		Talk: time.Duration(talk) * time.Millisecond})
	cpu := processCPU() - cpu0
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors != "" || res.Output != "" {
		if keep := os.Getenv("SIPLOAD_ERRORS"); keep != "" {
			os.WriteFile(keep, []byte(res.Errors), 0o644)
		}
		b.Logf("sipp:\n%s\nfirst errors:\n%s", res.Output, res.Errors)
	}
	succ, failed := res.OK, res.Failed
	b.ReportMetric(res.CallsPerSec, "calls/s")
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(float64(succ), "ok")
	if succ > 0 {
		// CPU of the switchboard process (engine, runtime, sipfront,
		// sipgo; not the sipp processes) per completed call.
		b.ReportMetric(float64(cpu.Microseconds())/float64(succ), "cpu-us/call")
		// Heap allocations of the process (engine, runtime, sipfront,
		// sipgo) per completed call.
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(succ), "allocs/call")
	}
	if len(res.RTT) > 0 {
		b.ReportMetric(res.Percentile(0.50), "p50-ms")
		b.ReportMetric(res.Percentile(0.99), "p99-ms")
	}
	time.Sleep(time.Second)
	legs, open := sipfront.LeftOver(srv)
	b.Logf("offered %d cps, %d calls: %d ok, %d failed in %v; GC heap before %d MB; left over: %d legs, %d calls",
		rate, calls, succ, failed, res.Elapsed, (ms0.HeapInuse)>>20, legs, open)
}

// BenchmarkSIPMemoryPerCall holds SIPLOAD_ACTIVE (default 2000) answered
// SIP calls at once (sipp -d 60 s) and reports the live heap per active
// call: engine call state, runtime, sipfront legs and sipgo dialogs and
// transactions, measured in-process after a GC.
//
// Run: go test ./internal/sipfront -run '^$' -bench SIPMemory -benchtime 1x
// (SIPLOAD_HEAPPROFILE=FILE writes the heap profile of the held calls
// after the timers, and FILE.setup right after set-up).
func BenchmarkSIPMemoryPerCall(b *testing.B) {
	bin := sipfront.NeedSipp(b)
	n := envInt("SIPLOAD_ACTIVE", 2000)
	if os.Getenv("SIPLOAD_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 64 // fine enough to split a call's few KB by site
	}
	pa, pb := sipfront.FreeUDPPort(b), sipfront.FreeUDPPort(b)
	srv, rt := loadFixture(b, n, pa, pb)
	dir := b.TempDir()
	if err := sipload.WriteScenarios(dir); err != nil {
		b.Fatal(err)
	}
	inf := filepath.Join(dir, "pairs.csv")
	var sb strings.Builder
	sb.WriteString("SEQUENTIAL\n")
	for i := 0; i < n; i++ {
		// Every INVITE of a phone is challenged (407): the caller's credentials.
		fmt.Fprintf(&sb, "%d;%d;[authentication username=%d password=x]\n", sipload.CallerBase+i, sipload.CalleeBase+i, sipload.CallerBase+i)
	}
	os.WriteFile(inf, []byte(sb.String()), 0o644)
	uas := exec.Command(bin, srv.Addr(), "-sf", filepath.Join(dir, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(pb), "-nostdin")
	uas.Dir = dir
	if err := uas.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { uas.Process.Kill(); uas.Wait() }()
	time.Sleep(200 * time.Millisecond)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	// sipgo keeps finished transactions for a while (timer J/K); let the
	// registration traffic settle first.
	h0 := heap()
	uac := exec.Command(bin, srv.Addr(), "-sf", filepath.Join(dir, "uac_load.xml"), "-inf", inf, "-i", "127.0.0.1",
		"-p", strconv.Itoa(pa), "-r", "500", "-m", strconv.Itoa(n), "-l", strconv.Itoa(n), "-d", "60000", "-nostdin")
	uac.Dir = dir
	if err := uac.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { uac.Process.Kill(); uac.Wait() }()
	deadline := time.Now().Add(time.Duration(n/500+30) * time.Second)
	active := 0
	for time.Now().Before(deadline) {
		rt.Query(context.Background(), func(m tenant.Machine) {
			active = 0
			for _, c := range m.(*engine.Engine).Calls() {
				if len(c.Parties) == 2 && c.Parties[0].State == "Established" && c.Parties[1].State == "Established" {
					active++
				}
			}
		})
		if active == n {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if active != n {
		b.Fatalf("%d of %d calls active", active, n)
	}
	// Right after set-up: the last calls were answered within the last
	// poll (100 ms), the first n/500 s ago, all within the INVITE
	// transactions' timers L and M (32 s).
	hs := heap()
	if f := os.Getenv("SIPLOAD_HEAPPROFILE"); f != "" {
		if out, err := os.Create(f + ".setup"); err == nil {
			pprof.Lookup("heap").WriteTo(out, 0)
			out.Close()
		}
	}
	b.ReportMetric(float64(int64(hs)-int64(h0))/float64(n), "B/active-call-at-setup")
	b.ReportMetric(float64(runtime.NumGoroutine())/float64(n), "goroutines/call-at-setup")
	// Let the INVITE transactions of the set-up end (sipgo timer for 2xx
	// is short; wait 5 s to measure calls, not set-up transactions).
	time.Sleep(5 * time.Second)
	h1 := heap()
	b.ReportMetric(float64(h1-h0)/float64(n), "B/active-call")
	b.ReportMetric(float64(runtime.NumGoroutine())/float64(n), "goroutines/call")
	// sipgo keeps each finished transaction until its RFC 3261 timer
	// (L, M, J: 64 x T1 = 32 s) ends; after them what is left is the
	// calls' own state: sipgo's dialog sessions (each keeps its INVITE,
	// the response and the INVITE transaction for the call's life),
	// sipfront's legs, the engine's call.
	time.Sleep(29 * time.Second)
	h2 := heap()
	if f := os.Getenv("SIPLOAD_HEAPPROFILE"); f != "" {
		// The live heap of the held calls, by allocation site.
		if out, err := os.Create(f); err == nil {
			pprof.Lookup("heap").WriteTo(out, 0)
			out.Close()
		}
	}
	b.ReportMetric(float64(int64(h2)-int64(h0))/float64(n), "B/active-call-after-timers")
	b.Logf("%d active calls: heap %d -> %d bytes, %d after the transactions' timers", n, h0, h1, h2)
}

// processCPU is this process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
