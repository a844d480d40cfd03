package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/metrics/metricstest"
	"github.com/switchboard-cc/switchboard/internal/verify"
)

// buildServe builds the switchboard binary for tests that run serve as a
// child process.
func buildServe(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "switchboard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/switchboard")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveProc is serve running as a child process.
type serveProc struct {
	cmd   *exec.Cmd
	base  string // http://host:port
	kafka string // the embedded broker
}

// startServeArgs starts serve on data with the given extra flags, logging to
// logs, and waits for its ready file.
func startServeArgs(t testing.TB, bin, data, logs string, args ...string) *serveProc {
	t.Helper()
	ready := filepath.Join(data, "ready.json")
	os.Remove(ready)
	lf, err := os.OpenFile(logs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--data", data, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0",
		"--ready-file", ready}, args...)...)
	cmd.Env = append(os.Environ(), EnvDemoToken+"=kill-test-token")
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil {
			var a struct {
				HTTP  string
				Kafka []string
			}
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			return &serveProc{cmd: cmd, base: "http://" + a.HTTP, kafka: a.Kafka[0]}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("serve not ready after 60s\n%s", tail(logs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop stops serve gracefully.
func (s *serveProc) stop(t testing.TB, logs string) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, tail(logs))
	}
}

// rss returns the resident set size of process pid, in bytes.
func rss(pid int) (int64, error) { return procStatus(pid, "VmRSS:") }

// procStatus returns a size field of /proc/pid/status ("VmRSS:", "VmHWM:"), in
// bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == field {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// callLoad makes and releases calls from DN 1001+2w to 1002+2w until stop,
// counting the events of the 2xx replies in events.
func callLoad(base string, w int, stop <-chan struct{}, events *atomic.Int64, failures *atomic.Int64) {
	cl := &http.Client{Timeout: 10 * time.Second}
	from, to := fmt.Sprint(1001+2*w), fmt.Sprint(1002+2*w)
	post := func(path, body string) (map[string]any, bool) {
		req, _ := http.NewRequest("POST", base+"/v1/tenants/demo"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer kill-test-token")
		resp, err := cl.Do(req)
		if err != nil {
			failures.Add(1)
			return nil, false
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode/100 != 2 {
			failures.Add(1)
			return out, false
		}
		n, _ := out["events"].(float64)
		events.Add(int64(n))
		return out, true
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		if out, ok := post("/calls", fmt.Sprintf(`{"from":%q,"to":%q}`, from, to)); ok {
			post("/calls/"+fmt.Sprint(out["connId"])+"/release", fmt.Sprintf(`{"dn":%q}`, from))
		}
	}
}

// scrapeURL reads /metrics at base.
func scrapeURL(t testing.TB, base string) metricstest.Exposition {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	e, err := metricstest.Parse(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var loadedLine = regexp.MustCompile(`loaded_records=(\d+) loaded_bytes=(\d+) load_took=(\S+) records_per_second=(\d+)`)

// TestEmbeddedBrokerSoak drives soakEvents events through serve (a child
// process, the embedded broker in it) with a small --kafka-retention-bytes,
// sampling serve's RSS: the broker keeps about the bound, and RSS levels off
// instead of growing with the events. Then verify passes on what is
// retained, and a restart loads exactly what was retained.
func TestEmbeddedBrokerSoak(t *testing.T) {
	if raceEnabled {
		t.Skip("the soak measures serve's memory, which the race detector multiplies; it runs without -race")
	}
	const (
		soakEvents = 400_000
		bound      = 4 << 20 // per topic
		workers    = 8
	)
	bin := buildServe(t)
	data := t.TempDir()
	logs := filepath.Join(t.TempDir(), "serve.log")
	args := []string{"--kafka-listen", "127.0.0.1:0", "--partitions", "3", "--kafka-retention-bytes", strconv.Itoa(bound),
		"--kafka-retention-check", "250ms", "--snapshot-every", "20000", "--log-level", "info"}
	s := startServeArgs(t, bin, data, logs, args...)

	var events, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); callLoad(s.base, w, stop, &events, &failures) }()
	}
	type sample struct {
		events int64
		rss    int64
	}
	var samples []sample
	began := time.Now()
	for events.Load() < soakEvents {
		r, err := rss(s.cmd.Process.Pid)
		if err != nil {
			close(stop)
			t.Fatalf("%v\n%s", err, tail(logs))
		}
		samples = append(samples, sample{events.Load(), r})
		if time.Since(began) > 5*time.Minute {
			close(stop)
			t.Fatalf("only %d events in 5 minutes (%d failed requests)\n%s", events.Load(), failures.Load(), tail(logs))
		}
		time.Sleep(250 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	took := time.Since(began)
	final, err := rss(s.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	samples = append(samples, sample{events.Load(), final})

	// Let the relay publish the last steps and a retention pass run, then
	// read the broker's own figures.
	time.Sleep(time.Second)
	e := scrapeURL(t, s.base)
	var retainedBytes, retainedRecords float64
	for _, topic := range []string{"voice-agentstate", "voice-callthread"} {
		b, ok := e.Value(metrics.NameBrokerRetainedBytes, map[string]string{"topic": topic})
		r, ok2 := e.Value(metrics.NameBrokerRetainedRecords, map[string]string{"topic": topic})
		if !ok || !ok2 {
			t.Fatalf("no retained bytes or records of %s in /metrics", topic)
		}
		if b > bound {
			t.Errorf("%s retains %.0f bytes, more than its bound %d", topic, b, bound)
		}
		retainedBytes += b
		retainedRecords += r
	}
	// Without retention every record would be there; the bound is in
	// bytes, and how many records it holds depends on how well batches
	// compress (larger batches since the relay lingers: about a quarter of
	// the records now), so the check is half.
	if retainedRecords >= float64(events.Load())/2 {
		t.Errorf("the broker retains %.0f of %d records: retention by size did not run", retainedRecords, events.Load())
	}
	s.stop(t, logs)

	// RSS levels off: from a third of the events to the end (two thirds of
	// the data going through the broker, many times its bound) it grows by
	// at most a tenth of that data (without the bound it grows by about a
	// third: kfake's index of the retained batches), and it ends within the
	// bound plus 100 MB.
	var third sample
	for _, x := range samples {
		if x.events >= soakEvents/3 {
			third = x
			break
		}
	}
	var peak int64
	for _, x := range samples {
		peak = max(peak, x.rss)
	}
	growth := final - third.rss
	produced := float64(samples[len(samples)-1].events-third.events) * retainedBytes / max(retainedRecords, 1)
	t.Logf("%d events in %v (%.0f/s, %d failed requests); retained %.0f records, %.1f MiB; RSS at a third %.1f MiB, at the end %.1f MiB (%.1f MiB more after about %.0f MiB of events), peak %.1f MiB",
		events.Load(), took.Round(time.Millisecond), float64(events.Load())/took.Seconds(), failures.Load(),
		retainedRecords, retainedBytes/(1<<20), float64(third.rss)/(1<<20), float64(final)/(1<<20),
		float64(growth)/(1<<20), produced/(1<<20), float64(peak)/(1<<20))
	// The curve, at every tenth of the events, for the figures.
	var curve []string
	next := int64(0)
	for _, x := range samples {
		if x.events >= next {
			curve = append(curve, fmt.Sprintf("%dk:%.1f", x.events/1000, float64(x.rss)/(1<<20)))
			next = x.events + soakEvents/10
		}
	}
	t.Logf("RSS (MiB) by events: %s", strings.Join(curve, " "))
	if limit := produced/10 + 2<<20; float64(growth) > limit {
		t.Errorf("RSS grew by %.1f MiB from a third of the events to the end, more than %.1f MiB: it grows with the events", float64(growth)/(1<<20), limit/(1<<20))
	}
	limit := int64(2*bound + 100<<20)
	if peak > limit {
		t.Errorf("RSS peaked at %.1f MiB, more than the retention bound of both topics plus 100 MiB (%.1f MiB)",
			float64(peak)/(1<<20), float64(limit)/(1<<20))
	}

	// A restart loads exactly what was retained, and verify passes on it.
	s = startServeArgs(t, bin, data, logs, args...)
	defer s.stop(t, logs)
	// The whole log: the start-up line can be more than tail's 4,000
	// bytes from the end once the statistics consumer has logged.
	whole, _ := os.ReadFile(logs)
	m := loadedLine.FindAllStringSubmatch(string(whole), -1)
	if len(m) == 0 {
		t.Fatalf("no start-up line with what was loaded\n%s", tail(logs))
	}
	last := m[len(m)-1]
	lr, _ := strconv.ParseFloat(last[1], 64)
	lb, _ := strconv.ParseFloat(last[2], 64)
	if lr != retainedRecords || lb != retainedBytes {
		t.Errorf("restart loaded %.0f records, %.0f bytes; %.0f and %.0f were retained", lr, lb, retainedRecords, retainedBytes)
	}
	hwm, err := procStatus(s.cmd.Process.Pid, "VmHWM:")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restart loaded %s records (%s bytes) in %s: %s records/s; RSS peak of the restarted serve %.1f MiB", last[1], last[2], last[3], last[4], float64(hwm)/(1<<20))
	if hwm > limit {
		t.Errorf("the restarted serve peaked at %.1f MiB RSS, more than %.1f MiB", float64(hwm)/(1<<20), float64(limit)/(1<<20))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := verify.Run(ctx, verify.Config{Brokers: []string{s.kafka}, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total == 0 || !rep.OK {
		t.Fatalf("verify on the retained records:\n%s", rep.Text())
	}
}
