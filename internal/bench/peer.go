package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/sipload"
)

// Rows of the SIP comparison with a peer (--peer kamailio), in table
// order: each figure for switchboard, for the peer, and their ratio
// (switchboard's over the peer's).
const (
	RowPeerCPU       = "SIP CPU per call, switchboard"
	RowPeerCPUPeer   = "SIP CPU per call, peer"
	RowPeerCPURatio  = "SIP CPU per call, switchboard/peer"
	RowPeerP99       = "SIP p99 INVITE-to-200, switchboard"
	RowPeerP99Peer   = "SIP p99 INVITE-to-200, peer"
	RowPeerP99Ratio  = "SIP p99, switchboard/peer"
	RowPeerReg       = "SIP registrations/s, switchboard"
	RowPeerRegPeer   = "SIP registrations/s, peer"
	RowPeerRegRatio  = "SIP registrations/s, switchboard/peer"
	RowPeerRef       = "SIP re-registrations/s, switchboard"
	RowPeerRefPeer   = "SIP re-registrations/s, peer"
	RowPeerRefRatio  = "SIP re-registrations/s, switchboard/peer"
	RowPeerIdle      = "idle CPU after the load, switchboard"
	RowPeerIdlePeer  = "idle CPU after the load, peer"
	RowPeerFailed    = "SIP failed calls and registrations, switchboard"
	RowPeerFailedPee = "SIP failed calls and registrations, peer"
)

// PeerRowNames are the comparison's rows in table order.
var PeerRowNames = []string{RowPeerCPU, RowPeerCPUPeer, RowPeerCPURatio, RowPeerP99, RowPeerP99Peer, RowPeerP99Ratio,
	RowPeerReg, RowPeerRegPeer, RowPeerRegRatio, RowPeerRef, RowPeerRefPeer, RowPeerRefRatio, RowPeerIdle, RowPeerIdlePeer, RowPeerFailed, RowPeerFailedPee}

// The unauthenticated-answer quota of the bench's serve: above any rate
// the bench offers from its one sipp address.
const (
	benchUnauthRate  = 1e6
	benchUnauthBurst = 1 << 20
)

// benchSIPPassword is the load tenant's SIP password, and the peer's.
const benchSIPPassword = "bench"

// PeerFigures are one server's figures under the comparison's load.
type PeerFigures struct {
	Load sipload.Result
	Idle float64 // CPU ms per second while idle after the load
}

// ComparePeer runs the same sipp load through `switchboard serve` (in
// this process, default settings but cfg.JournalMinSyncInterval: journal,
// embedded broker or cfg.Brokers) and through Kamailio (sipload.StartKamailio): cfg.Bindings
// phones registered by REGISTER with digest, cfg.SIPRate x cfg.Duration
// calls at cfg.SIPRate, then cfg.Idle idle; and returns both servers'
// figures. The phones register twice: the second pass, every binding in
// place, is the re-registration figure.
func ComparePeer(ctx context.Context, cfg Config) (sb, peer PeerFigures, err error) {
	sipp, err := lookSipp()
	if err != nil {
		return sb, peer, err
	}
	lc := cfg.loadConfig(sipp)
	self := os.Getpid()
	lc.CPU = func() (time.Duration, error) { return sipload.ProcessCPU(self) }
	if sb, err = serveLoad(ctx, cfg, lc); err != nil {
		return sb, peer, err
	}
	k, err := sipload.StartKamailio("", 2, benchSIPPassword)
	if err != nil {
		return sb, peer, err
	}
	defer k.Close()
	lc.CPU = k.CPU
	peer.Load, err = sipload.Run(ctx, k, lc)
	if err != nil {
		return sb, peer, err
	}
	peer.Idle, err = idleCPU(ctx, k.CPU, cfg.Idle)
	return sb, peer, err
}

func lookSipp() (string, error) {
	p, err := exec.LookPath("sipp")
	if err != nil {
		return "", fmt.Errorf("bench: --peer needs sipp (Debian package sip-tester): %w", err)
	}
	return p, nil
}

func (cfg Config) loadConfig(sipp string) sipload.Config {
	pairs := max(1, cfg.Bindings/2)
	return sipload.Config{Sipp: sipp, Rate: cfg.SIPRate, Calls: max(1, int(float64(cfg.SIPRate)*cfg.Duration.Seconds())),
		Pairs: pairs, Register: true, Refresh: true, Password: benchSIPPassword, RegisterRate: cfg.RegisterRate}
}

// serveLoad runs the load through serve started in this process.
func serveLoad(ctx context.Context, cfg Config, lc sipload.Config) (PeerFigures, error) {
	var out PeerFigures
	sipAddr, stop, err := startServe(ctx, cfg, lc.Pairs, nil)
	if err != nil {
		return out, err
	}
	defer stop()
	stopProfiles, err := startProfiles(cfg.Profiles)
	if err != nil {
		return out, err
	}
	out.Load, err = sipload.Run(ctx, addrServer(sipAddr), lc)
	if err == nil {
		out.Idle, err = idleCPU(ctx, lc.CPU, cfg.Idle)
	}
	if perr := stopProfiles(); err == nil {
		err = perr
	}
	return out, err
}

// startServe starts serve in this process (cfg.serveConfig: journal,
// embedded broker or cfg.Brokers, events published) for a tenant of
// pairs sipload caller/callee pairs, with SIP over TLS when tls is given;
// it returns the SIP address and the function that stops serve.
func startServe(ctx context.Context, cfg Config, pairs int, tls *app.SIPTLS) (string, func(), error) {
	dir, err := os.MkdirTemp("", "switchboard-bench-sip-")
	if err != nil {
		return "", nil, err
	}
	var y strings.Builder
	fmt.Fprintf(&y, "tenants:\n  - id: bench-sip\n    tokens: [bench-token]\n    defaults: {sip-password: %q}\n    dns:\n", benchSIPPassword)
	for i := 0; i < pairs; i++ {
		fmt.Fprintf(&y, "      - {number: \"%d\", type: extension}\n      - {number: \"%d\", type: extension}\n",
			sipload.CallerBase+i, sipload.CalleeBase+i)
	}
	if err := os.WriteFile(dir+"/bench.yaml", []byte(y.String()), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	sipAddr, err := freeUDP()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	ac := cfg.serveConfig()
	ac.Data, ac.HTTP, ac.KafkaListen, ac.SIP = dir+"/data", "127.0.0.1:0", "127.0.0.1:0", sipAddr
	ac.KafkaBrokers, ac.ConfigFile = cfg.Brokers, dir+"/bench.yaml"
	ac.TopicPrefix = fmt.Sprintf("bench-sip-%d.", time.Now().UnixNano())
	// Every sipp phone of the load shares one loopback address, and every
	// call and registration starts with a challenge: the per-address quota
	// of unauthenticated answers (100/s by default, against reflection) is
	// lifted for it, as an operator's load test does with
	// --sip-unauth-rate/--sip-unauth-burst. The default stays as it is.
	ac.Ops.SIPUnauthRate, ac.Ops.SIPUnauthBurst = benchUnauthRate, benchUnauthBurst
	if tls != nil {
		ac.SIPTLS = *tls
	}
	ready := make(chan app.Addrs, 1)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	m := app.Main{Config: ac, Stdout: io.Discard, Stderr: io.Discard, Logger: cfg.Logger,
		Getenv: func(string) string { return "" }, OnReady: func(a app.Addrs) { ready <- a }}
	go func() { done <- m.Run(sctx) }()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			cfg.Logger.Warn("bench: serve did not shut down within a minute; left running")
		}
		os.RemoveAll(dir)
	}
	select {
	case <-ready:
		return sipAddr, stop, nil
	case err := <-done:
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("bench: serve: %w", err)
	case <-time.After(2 * time.Minute):
		stop()
		return "", nil, errors.New("bench: serve did not start")
	}
}

// Profiles are files for profiles of serve under the --peer load (from
// the registrations to the end of the idle spell); empty: none.
type Profiles struct {
	CPU, Alloc, Trace string
}

// startProfiles starts the CPU profile and the execution trace; the
// returned function stops them and writes the allocation profile.
func startProfiles(p Profiles) (func() error, error) {
	var files []*os.File
	closeAll := func() error {
		var first error
		for _, f := range files {
			if err := f.Close(); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	if p.CPU != "" {
		f, err := os.Create(p.CPU)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		if err := pprof.StartCPUProfile(f); err != nil {
			closeAll()
			return nil, err
		}
	}
	if p.Trace != "" {
		f, err := os.Create(p.Trace)
		if err != nil {
			if p.CPU != "" {
				pprof.StopCPUProfile()
			}
			closeAll()
			return nil, err
		}
		files = append(files, f)
		if err := trace.Start(f); err != nil {
			if p.CPU != "" {
				pprof.StopCPUProfile()
			}
			closeAll()
			return nil, err
		}
	}
	return func() error {
		if p.CPU != "" {
			pprof.StopCPUProfile()
		}
		if p.Trace != "" {
			trace.Stop()
		}
		var err error
		if p.Alloc != "" {
			var f *os.File
			if f, err = os.Create(p.Alloc); err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
		}
		if cerr := closeAll(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

// idleCPU is the CPU ms per second used over d.
func idleCPU(ctx context.Context, cpu func() (time.Duration, error), d time.Duration) (float64, error) {
	c0, err := cpu()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	c1, err := cpu()
	if err != nil {
		return 0, err
	}
	return float64(c1-c0) / float64(time.Millisecond) / time.Since(start).Seconds(), nil
}

type addrServer string

func (a addrServer) Addr() string { return string(a) }

// freeUDP is a loopback address free for SIP (UDP and TCP).
func freeUDP() (string, error) {
	port, err := sipload.FreeLoopbackPort()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// peerRows are the comparison's rows.
func peerRows(cfg Config, sb, peer PeerFigures) []Row {
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	sbL, pL := sb.Load, peer.Load
	note := fmt.Sprintf("%d calls/s offered, %d calls, %d bindings; serve in-process (journal, min sync interval %v, %s), Kamailio 2 workers",
		cfg.SIPRate, sbL.OK+sbL.Failed, 2*max(1, cfg.Bindings/2), cfg.serveConfig().Durability.JournalMinSyncInterval, brokerNote(cfg))
	return []Row{
		{Name: RowPeerCPU, Value: sbL.CPUPerCall(), Unit: "ms", Note: note + "; /proc/PID/stat during the calls"},
		{Name: RowPeerCPUPeer, Value: pL.CPUPerCall(), Unit: "ms", Note: "Kamailio's processes"},
		{Name: RowPeerCPURatio, Value: ratio(sbL.CPUPerCall(), pL.CPUPerCall()), Unit: "x"},
		{Name: RowPeerP99, Value: sbL.Percentile(0.99), Unit: "ms", Note: fmt.Sprintf("sipp rtd, %d samples, ms resolution", len(sbL.RTT))},
		{Name: RowPeerP99Peer, Value: pL.Percentile(0.99), Unit: "ms", Note: fmt.Sprintf("%d samples", len(pL.RTT))},
		{Name: RowPeerP99Ratio, Value: ratio(sbL.Percentile(0.99), pL.Percentile(0.99)), Unit: "x"},
		{Name: RowPeerReg, Value: sbL.RegistersPerSec(), Unit: "registrations/s", Higher: true,
			Note: fmt.Sprintf("REGISTER with digest, %d/s offered, %d bindings", max(1, cfg.RegisterRate), sbL.Registered)},
		{Name: RowPeerRegPeer, Value: pL.RegistersPerSec(), Unit: "registrations/s", Higher: true, Note: fmt.Sprintf("%d bindings", pL.Registered)},
		{Name: RowPeerRegRatio, Value: ratio(sbL.RegistersPerSec(), pL.RegistersPerSec()), Unit: "x", Higher: true},
		{Name: RowPeerRef, Value: sbL.RefreshesPerSec(), Unit: "registrations/s", Higher: true,
			Note: fmt.Sprintf("every phone again, all %d bindings in place", sbL.Refreshed)},
		{Name: RowPeerRefPeer, Value: pL.RefreshesPerSec(), Unit: "registrations/s", Higher: true, Note: fmt.Sprintf("%d bindings", pL.Refreshed)},
		{Name: RowPeerRefRatio, Value: ratio(sbL.RefreshesPerSec(), pL.RefreshesPerSec()), Unit: "x", Higher: true},
		{Name: RowPeerIdle, Value: sb.Idle, Unit: "ms/s", Note: fmt.Sprintf("CPU over %v right after the load (finished transactions' timers fire up to 32 s after it: --idle 40s covers them)", cfg.Idle)},
		{Name: RowPeerIdlePeer, Value: peer.Idle, Unit: "ms/s"},
		{Name: RowPeerFailed, Value: float64(sbL.Failed + sbL.RegisterFailed), Unit: "count", Note: fmt.Sprintf("%d calls ok", sbL.OK)},
		{Name: RowPeerFailedPee, Value: float64(pL.Failed + pL.RegisterFailed), Unit: "count", Note: fmt.Sprintf("%d calls ok", pL.OK)},
	}
}

func brokerNote(cfg Config) string {
	if len(cfg.Brokers) > 0 {
		return "Kafka " + strings.Join(cfg.Brokers, ",")
	}
	return "embedded broker"
}
