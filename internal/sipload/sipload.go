package sipload

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/config"
)

// ErrLoad is wrapped by Run's errors (sipp missing, no single tenant,
// sipp failing to start or write its statistics).
var ErrLoad = errors.New("sipload")

//go:embed scenarios/uac_load.xml scenarios/uas.xml scenarios/register.xml
var scenarios embed.FS

// Server is what the load goes through: a SIP server on loopback UDP
// (*sipfront.Server, *Kamailio).
type Server interface {
	Addr() string // host:port
}

// binder binds phones directly, without REGISTER (*sipfront.Server).
type binder interface {
	Bind(dn, hostport string, ttl time.Duration) error
	Unbind(dn string)
}

// Load DNs: caller i is CallerBase+i, its callee CalleeBase+i.
const (
	CallerBase = 10000
	CalleeBase = 20000
)

// Tenant is a tenant of pairs caller/callee extensions (see CallerBase)
// whose SIP password is password, validated.
func Tenant(id string, pairs int, password string) (*config.Tenant, error) {
	t := &config.Tenant{ID: id, Tokens: []string{"t"}, Defaults: config.Defaults{SIPPassword: password}}
	for i := 0; i < pairs; i++ {
		t.DNs = append(t.DNs, config.DN{Number: strconv.Itoa(CallerBase + i), Type: config.Extension},
			config.DN{Number: strconv.Itoa(CalleeBase + i), Type: config.Extension})
	}
	if err := (&config.File{Tenants: []config.Tenant{*t}}).Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// Config configures Run.
type Config struct {
	Sipp  string        // sipp binary; default: "sipp" on PATH
	Rate  int           // calls per second offered (default 100)
	Calls int           // calls to make (default Rate)
	Pairs int           // caller/callee DN pairs, all in the tenant (default 3 x Rate)
	Talk  time.Duration // time between 200 and BYE (sipp -d; default 0)
	// Timeout ends sipp if the load has not finished (default
	// Calls/Rate + 60 s): sipp may not end by itself after an overload.
	Timeout time.Duration
	// Password is the phones' SIP password (as given to Tenant): every
	// INVITE answers its 407 challenge with it, and so does REGISTER.
	// Register binds the phones by REGISTER with digest authentication
	// (password Password) from sipp at RegisterRate per second (default
	// 1,000), and measures it; without it the server must bind directly
	// (sipfront.Server.Bind). A Server that cannot bind directly is always
	// registered to.
	Register     bool
	Password     string
	RegisterRate int
	// Refresh registers every phone a second time once all are bound,
	// timed apart (Result.RefreshesPerSec).
	Refresh bool
	// CPU, when set, reads the server's CPU time: Run reads it around the
	// registrations and around the calls.
	CPU func() (time.Duration, error)
	// Transport is the phones' transport: "udp" (default), "tcp" (sipp
	// -t t1: one connection per sipp) or "tls": the callers over TLS to
	// TLSAddr (through a TLS tunnel in this process, as sipp has no TLS
	// here), the callees over TCP.
	Transport string
	TLSAddr   string
}

// Result are a load's figures.
type Result struct {
	OK, Failed  int           // sipp's final counters
	Elapsed     time.Duration // from the first call to sipp's end
	CallsPerSec float64       // OK / Elapsed
	// RTT are the INVITE-to-200 times through the B2BUA (sipp rtd), ms,
	// sorted.
	RTT []float64
	// Output is the tail of sipp's screen and Errors the head of its error
	// log, for a load with failed calls.
	Output, Errors string
	// Registered and RegisterFailed count the registrations (Config.Register),
	// RegisterElapsed is their time, RegisterCPU and CPU the server's CPU
	// time during the registrations and during the calls (Config.CPU).
	Registered, RegisterFailed int
	RegisterElapsed            time.Duration
	RegisterCPU, CPU           time.Duration
	// Refreshed counts the second pass's registrations (Config.Refresh),
	// RefreshElapsed is its time.
	Refreshed      int
	RefreshElapsed time.Duration
}

// RefreshesPerSec is the second pass's registrations per second.
func (r Result) RefreshesPerSec() float64 {
	if r.RefreshElapsed <= 0 {
		return 0
	}
	return float64(r.Refreshed) / r.RefreshElapsed.Seconds()
}

// RegistersPerSec is the registrations per second.
func (r Result) RegistersPerSec() float64 {
	if r.RegisterElapsed <= 0 {
		return 0
	}
	return float64(r.Registered) / r.RegisterElapsed.Seconds()
}

// CPUPerCall is the server's CPU time per call (successful or not), ms.
func (r Result) CPUPerCall() float64 {
	if n := r.OK + r.Failed; n > 0 {
		return float64(r.CPU) / float64(time.Millisecond) / float64(n)
	}
	return 0
}

// Percentile is the p-quantile (0..1) of RTT in ms, 0 without samples.
func (r Result) Percentile(p float64) float64 {
	if len(r.RTT) == 0 {
		return 0
	}
	return r.RTT[min(len(r.RTT)-1, int(p*float64(len(r.RTT))))]
}

// Run registers the cfg.Pairs caller and callee DNs of srv's (single)
// tenant (see Tenant; for Kamailio any DNs) to two sipp processes on free loopback UDP ports, a
// UAS that answers and a UAC that makes cfg.Calls basic calls at cfg.Rate
// calls per second (the caller hangs up), and returns the figures. Failed
// calls are counted, not an error; the error is for a load that could not
// run.
func Run(ctx context.Context, srv Server, cfg Config) (Result, error) {
	var res Result
	if cfg.Rate <= 0 {
		cfg.Rate = 100
	}
	if cfg.Calls <= 0 {
		cfg.Calls = cfg.Rate
	}
	if cfg.Pairs <= 0 {
		cfg.Pairs = 3 * cfg.Rate
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Duration(cfg.Calls/cfg.Rate+60) * time.Second
	}
	bin := cfg.Sipp
	if bin == "" {
		p, err := exec.LookPath("sipp")
		if err != nil {
			return res, fmt.Errorf("%w: %v", ErrLoad, err)
		}
		bin = p
	}
	dir, err := os.MkdirTemp("", "switchboard-sipload-")
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	defer os.RemoveAll(dir)
	if err := WriteScenarios(dir); err != nil {
		return res, err
	}
	var sb strings.Builder
	sb.WriteString("SEQUENTIAL\n")
	for i := 0; i < cfg.Pairs; i++ {
		// sipp reads an [authentication ...] keyword in a field.
		fmt.Fprintf(&sb, "%d;%d;[authentication username=%d password=%s]\n", CallerBase+i, CalleeBase+i, CallerBase+i, cfg.Password)
	}
	inf := filepath.Join(dir, "pairs.csv")
	if err := os.WriteFile(inf, []byte(sb.String()), 0o644); err != nil {
		return res, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	tr, err := cfg.transport()
	if err != nil {
		return res, err
	}
	callerAddr := srv.Addr()
	if tr.tls {
		t, err := startTLSTunnel(cfg.TLSAddr)
		if err != nil {
			return res, err
		}
		defer t.Close()
		callerAddr = t.Addr().String()
	}
	pa, err := freeLoopbackUDP()
	if err != nil {
		return res, err
	}
	pb, err := freeLoopbackUDP()
	if err != nil {
		return res, err
	}
	if b, ok := srv.(binder); ok && !cfg.Register {
		// Registered directly (registration is not what is measured).
		defer func() {
			for i := 0; i < cfg.Pairs; i++ {
				b.Unbind(strconv.Itoa(CallerBase + i))
				b.Unbind(strconv.Itoa(CalleeBase + i))
			}
		}()
		for i := 0; i < cfg.Pairs; i++ {
			for _, r := range [2]struct{ base, port int }{{CallerBase, pa}, {CalleeBase, pb}} {
				if err := b.Bind(strconv.Itoa(r.base+i), "127.0.0.1:"+strconv.Itoa(r.port)+tr.uriParam, time.Hour); err != nil {
					return res, fmt.Errorf("%w: %v", ErrLoad, err)
				}
			}
		}
	} else {
		// From the phones' own ports, as phones do (the B2BUA trusts a
		// caller's INVITE from its registered address).
		// The first pass binds every phone; the second (Config.Refresh)
		// refreshes them all with every binding in place.
		passes := 1
		if cfg.Refresh {
			passes = 2
		}
		for pass := 0; pass < passes; pass++ {
			c0, _ := readCPU(cfg.CPU)
			start := time.Now()
			var n int
			for _, r := range [2]struct {
				base, port int
				addr       string
			}{{CallerBase, pa, callerAddr}, {CalleeBase, pb, srv.Addr()}} {
				ok, failed, err := register(ctx, bin, dir, r.addr, r.base, r.port, tr.sipp, cfg)
				n += ok
				res.RegisterFailed += failed
				if err != nil {
					return res, err
				}
			}
			c1, _ := readCPU(cfg.CPU)
			if pass == 0 {
				res.Registered, res.RegisterElapsed, res.RegisterCPU = n, time.Since(start), c1-c0
			} else {
				res.Refreshed, res.RefreshElapsed = n, time.Since(start)
			}
		}
	}

	uas := exec.Command(bin, srv.Addr(), "-sf", filepath.Join(dir, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(pb), "-t", tr.sipp, "-nostdin")
	uas.Dir = dir
	if err := uas.Start(); err != nil {
		return res, fmt.Errorf("%w: sipp: %v", ErrLoad, err)
	}
	defer func() { uas.Process.Kill(); uas.Wait() }()
	time.Sleep(200 * time.Millisecond)

	c0, _ := readCPU(cfg.CPU)
	start := time.Now()
	// sipp's own -timeout ends it first, with its final statistics.
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout+15*time.Second)
	defer cancel()
	uac := exec.CommandContext(cctx, bin, callerAddr, "-sf", filepath.Join(dir, "uac_load.xml"), "-inf", inf,
		"-i", "127.0.0.1", "-p", strconv.Itoa(pa), "-t", tr.sipp,
		"-r", strconv.Itoa(cfg.Rate), "-m", strconv.Itoa(cfg.Calls), "-l", strconv.Itoa(max(1, cfg.Pairs/2)),
		"-d", strconv.FormatInt(cfg.Talk.Milliseconds(), 10), "-nostdin",
		"-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-stf", filepath.Join(dir, "stat.csv"),
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		// A call whose message was lost for good fails after 10 s rather
		// than holding its place until the end.
		"-recv_timeout", "10000",
		"-timeout", strconv.Itoa(int(cfg.Timeout/time.Second)+1)+"s", "-timeout_error")
	uac.Dir = dir
	out, err := uac.CombinedOutput()
	res.Elapsed = time.Since(start)
	c1, _ := readCPU(cfg.CPU)
	res.CPU = c1 - c0
	res.OK, res.Failed = sippCounter(out, "Successful call"), sippCounter(out, "Failed call")
	if err != nil || res.Failed > 0 {
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		res.Output, res.Errors = tailString(string(out), 1500), string(errs[:min(len(errs), 3000)])
	}
	if err != nil && res.OK+res.Failed == 0 {
		return res, fmt.Errorf("%w: sipp: %v\n%s", ErrLoad, err, res.Output)
	}
	res.CallsPerSec = float64(res.OK) / res.Elapsed.Seconds()
	res.RTT = readRTT(dir)
	return res, nil
}

func readCPU(f func() (time.Duration, error)) (time.Duration, error) {
	if f == nil {
		return 0, nil
	}
	return f()
}

// register binds DNs base..base+cfg.Pairs-1 at 127.0.0.1:port by REGISTER
// from sipp on that port, cfg.RegisterRate a second.
func register(ctx context.Context, bin, dir, addr string, base, port int, sippT string, cfg Config) (ok, failed int, err error) {
	rate := cfg.RegisterRate
	if rate <= 0 {
		rate = 1000
	}
	if strings.ContainsAny(cfg.Password, "; ]\n") {
		return 0, 0, fmt.Errorf("%w: a password with ';', ' ', ']' or a newline cannot go through sipp's injection file", ErrLoad)
	}
	var sb strings.Builder
	sb.WriteString("SEQUENTIAL\n")
	for i := 0; i < cfg.Pairs; i++ {
		fmt.Fprintf(&sb, "%d;[authentication username=%d password=%s]\n", base+i, base+i, cfg.Password)
	}
	inf := filepath.Join(dir, "register-"+strconv.Itoa(base)+".csv")
	if err := os.WriteFile(inf, []byte(sb.String()), 0o644); err != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	timeout := cfg.Pairs/rate + 60
	cctx, cancel := context.WithTimeout(ctx, time.Duration(timeout)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, bin, addr, "-sf", filepath.Join(dir, "register.xml"), "-inf", inf,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", sippT, "-r", strconv.Itoa(rate), "-m", strconv.Itoa(cfg.Pairs),
		"-l", strconv.Itoa(max(10, rate)), "-nostdin", "-timeout", strconv.Itoa(timeout+1)+"s", "-timeout_error")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	ok, failed = sippCounter(out, "Successful call"), sippCounter(out, "Failed call")
	if err != nil && ok+failed == 0 {
		return 0, 0, fmt.Errorf("%w: sipp register: %v\n%s", ErrLoad, err, tailString(string(out), 1500))
	}
	return ok, failed, nil
}

// WriteScenarios writes the load's sipp scenarios, uac_load.xml (a caller:
// INVITE, ACK, BYE, with the caller/callee pair from -inf), uas.xml (a
// callee: 180, 200, waits for the BYE) and register.xml (a phone
// registering with digest authentication, DN and password from -inf),
// into dir.
func WriteScenarios(dir string) error {
	for _, f := range []string{"uac_load.xml", "uas.xml", "register.xml"} {
		b, _ := scenarios.ReadFile("scenarios/" + f)
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return fmt.Errorf("%w: %v", ErrLoad, err)
		}
	}
	return nil
}

func freeLoopbackUDP() (int, error) { return FreeLoopbackPort() }

// FreeLoopbackPort is a port free on 127.0.0.1 for UDP and for TCP (a SIP
// server serves both on one port; sipp -t t1 binds TCP where -p says).
func FreeLoopbackPort() (int, error) {
	for try := 0; ; try++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrLoad, err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		c.Close()
		if err == nil {
			ln.Close()
			return port, nil
		}
		if try == 20 {
			return 0, fmt.Errorf("%w: %v", ErrLoad, err)
		}
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// sippCounter reads a cumulative counter of sipp's final statistics screen.
func sippCounter(out []byte, name string) int {
	re := regexp.MustCompile(regexp.QuoteMeta(name) + `\s*\|\s*\d+\s*\|\s*(\d+)`)
	m := re.FindAllSubmatch(out, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(string(m[len(m)-1][1]))
	return n
}

// readRTT reads sipp's -trace_rtt files (date_ms;response_time_ms;rtd_no),
// sorted.
func readRTT(dir string) []float64 {
	files, _ := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	var out []float64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			parts := strings.Split(sc.Text(), ";")
			if len(parts) < 2 {
				continue
			}
			if v, err := strconv.ParseFloat(parts[1], 64); err == nil {
				out = append(out, v)
			}
		}
	}
	sort.Float64s(out)
	return out
}
