package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/sipload"
)

// The --sip-transports rows, in table order.
const (
	RowSIPUDP      = "SIP calls/s over UDP, serve"
	RowSIPTCP      = "SIP calls/s over TCP, serve"
	RowSIPTLS      = "SIP calls/s over TLS, serve"
	RowSIPTCPRatio = "SIP calls/s TCP / UDP"
	RowSIPTLSRatio = "SIP calls/s TLS / UDP"
	RowSIPTCPCPU   = "SIP CPU per call TCP / UDP"
	RowSIPTLSCPU   = "SIP CPU per call TLS / UDP"
)

// TransportRowNames are the --sip-transports rows in table order.
var TransportRowNames = []string{RowSIPUDP, RowSIPTCP, RowSIPTLS, RowSIPTCPRatio, RowSIPTLSRatio, RowSIPTCPCPU, RowSIPTLSCPU}

// SIPTransports runs the same sipp load (cfg.SIPRate calls a second for
// cfg.Duration, phones registered by REGISTER) through one serve in this
// process (journal, embedded broker or cfg.Brokers: the events are
// published) over UDP, then TCP, then TLS (a self-signed certificate made
// here; the callers over TLS, the callees over TCP), after a warm-up
// second over UDP, and returns each transport's figures.
func SIPTransports(ctx context.Context, cfg Config, say func(string)) (map[string]sipload.Result, error) {
	sipp, err := lookSipp()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "switchboard-bench-tls-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tls := app.SIPTLS{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	if err := selfSigned(tls.Cert, tls.Key); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tls.Listen = ln.Addr().String()
	ln.Close()
	pairs := 3 * cfg.SIPRate
	sipAddr, stop, err := startServe(ctx, cfg, pairs, &tls)
	if err != nil {
		return nil, err
	}
	defer stop()
	out := map[string]sipload.Result{}
	self := os.Getpid()
	// A first round over UDP warms serve up (topics, journal, first
	// allocations) and is not reported: the transport measured first
	// would otherwise pay for it.
	for i, tr := range []string{"udp", "udp", "tcp", "tls"} {
		d := cfg.Duration
		if i == 0 {
			say("SIP warm-up over udp (sipp, serve)")
			d = min(d, time.Second)
		} else {
			say("SIP load over " + tr + " (sipp, serve)")
		}
		lc := sipload.Config{Sipp: sipp, Rate: cfg.SIPRate, Calls: max(1, int(float64(cfg.SIPRate)*d.Seconds())),
			Pairs: pairs, Register: true, Password: benchSIPPassword, RegisterRate: cfg.RegisterRate,
			Transport: tr, TLSAddr: tls.Listen, CPU: func() (time.Duration, error) { return sipload.ProcessCPU(self) }}
		r, err := sipload.Run(ctx, addrServer(sipAddr), lc)
		if err != nil {
			return nil, fmt.Errorf("bench: SIP over %s: %w", tr, err)
		}
		if i == 0 {
			continue
		}
		if r.Failed > 0 {
			cfg.Logger.Warn("bench: SIP calls failed", "transport", tr, "failed", r.Failed, "sipp", r.Output, "errors", r.Errors)
		}
		out[tr] = r
	}
	return out, nil
}

// transportRows are SIPTransports' figures as rows.
func transportRows(cfg Config, rs map[string]sipload.Result) []Row {
	row := func(name, tr, how string) Row {
		r := rs[tr]
		return Row{Name: name, Value: r.CallsPerSec, Unit: "calls/s", Higher: true,
			Note: fmt.Sprintf("sipp %d calls/s offered, %d ok, %d failed, %.2f ms CPU per call, INVITE-to-200 p99 %.0f ms; %s; serve in-process, events published",
				cfg.SIPRate, r.OK, r.Failed, r.CPUPerCall(), r.Percentile(0.99), how)}
	}
	ratio := func(name string, a, udp float64, higher bool, note string) Row {
		v := 0.0
		if udp > 0 {
			v = a / udp
		}
		return Row{Name: name, Value: v, Unit: "x", Higher: higher, Note: note}
	}
	calls := func(name, tr string) Row {
		return ratio(name, rs[tr].CallsPerSec, rs["udp"].CallsPerSec, true,
			"same run, same serve; over UDP every call's challenge counts against the reflection quota of the callers' address (100 a second by default), over TCP and TLS it does not")
	}
	cpu := func(name, tr string) Row {
		return ratio(name, rs[tr].CPUPerCall(), rs["udp"].CPUPerCall(), false, "process CPU (serve, and the TLS tunnel) per call, same run")
	}
	return []Row{
		row(RowSIPUDP, "udp", "sipp -t u1"),
		row(RowSIPTCP, "tcp", "sipp -t t1: one connection per sipp"),
		row(RowSIPTLS, "tls", "callers over TLS (a TLS tunnel in this process, its CPU counted: sipp has no TLS), callees over TCP"),
		calls(RowSIPTCPRatio, "tcp"),
		calls(RowSIPTLSRatio, "tls"),
		cpu(RowSIPTCPCPU, "tcp"),
		cpu(RowSIPTLSCPU, "tls"),
	}
}

// selfSigned writes a new self-signed certificate for 127.0.0.1 and its
// key as PEM files.
func selfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "switchboard bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}
