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
	"github.com/switchboard-cc/switchboard/internal/sipfront"
)

// ErrLoad is wrapped by Run's errors (sipp missing, no single tenant,
// sipp failing to start or write its statistics).
var ErrLoad = errors.New("sipload")

//go:embed scenarios/uac_load.xml scenarios/uas.xml
var scenarios embed.FS

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
}

// Percentile is the p-quantile (0..1) of RTT in ms, 0 without samples.
func (r Result) Percentile(p float64) float64 {
	if len(r.RTT) == 0 {
		return 0
	}
	return r.RTT[min(len(r.RTT)-1, int(p*float64(len(r.RTT))))]
}

// Run registers the cfg.Pairs caller and callee DNs of srv's (single)
// tenant (see Tenant) to two sipp processes on free loopback UDP ports, a
// UAS that answers and a UAC that makes cfg.Calls basic calls at cfg.Rate
// calls per second (the caller hangs up), and returns the figures. Failed
// calls are counted, not an error; the error is for a load that could not
// run.
func Run(ctx context.Context, srv *sipfront.Server, cfg Config) (Result, error) {
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
		fmt.Fprintf(&sb, "%d;%d\n", CallerBase+i, CalleeBase+i)
	}
	inf := filepath.Join(dir, "pairs.csv")
	if err := os.WriteFile(inf, []byte(sb.String()), 0o644); err != nil {
		return res, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	pa, err := freeLoopbackUDP()
	if err != nil {
		return res, err
	}
	pb, err := freeLoopbackUDP()
	if err != nil {
		return res, err
	}
	// Registered directly (registration is not what is measured).
	defer func() {
		for i := 0; i < cfg.Pairs; i++ {
			srv.Unbind(strconv.Itoa(CallerBase + i))
			srv.Unbind(strconv.Itoa(CalleeBase + i))
		}
	}()
	for i := 0; i < cfg.Pairs; i++ {
		for _, r := range [2]struct{ base, port int }{{CallerBase, pa}, {CalleeBase, pb}} {
			if err := srv.Bind(strconv.Itoa(r.base+i), "127.0.0.1:"+strconv.Itoa(r.port), time.Hour); err != nil {
				return res, fmt.Errorf("%w: %v", ErrLoad, err)
			}
		}
	}

	uas := exec.Command(bin, srv.Addr(), "-sf", filepath.Join(dir, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(pb), "-nostdin")
	uas.Dir = dir
	if err := uas.Start(); err != nil {
		return res, fmt.Errorf("%w: sipp: %v", ErrLoad, err)
	}
	defer func() { uas.Process.Kill(); uas.Wait() }()
	time.Sleep(200 * time.Millisecond)

	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	uac := exec.CommandContext(cctx, bin, srv.Addr(), "-sf", filepath.Join(dir, "uac_load.xml"), "-inf", inf,
		"-i", "127.0.0.1", "-p", strconv.Itoa(pa),
		"-r", strconv.Itoa(cfg.Rate), "-m", strconv.Itoa(cfg.Calls), "-l", strconv.Itoa(max(1, cfg.Pairs/2)),
		"-d", strconv.FormatInt(cfg.Talk.Milliseconds(), 10), "-nostdin",
		"-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-stf", filepath.Join(dir, "stat.csv"),
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-timeout", strconv.Itoa(int(cfg.Timeout/time.Second)+1)+"s", "-timeout_error")
	uac.Dir = dir
	out, err := uac.CombinedOutput()
	res.Elapsed = time.Since(start)
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

// WriteScenarios writes the load's sipp scenarios, uac_load.xml (a caller:
// INVITE, ACK, BYE, with the caller/callee pair from -inf) and uas.xml (a
// callee: 180, 200, waits for the BYE), into dir.
func WriteScenarios(dir string) error {
	for _, f := range []string{"uac_load.xml", "uas.xml"} {
		b, _ := scenarios.ReadFile("scenarios/" + f)
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return fmt.Errorf("%w: %v", ErrLoad, err)
		}
	}
	return nil
}

func freeLoopbackUDP() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
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
