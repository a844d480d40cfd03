package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/testenv"
)

// countingHandler counts the log lines by level and keeps the last ones.
type countingHandler struct {
	level slog.Level
	mu    *sync.Mutex
	lines *[]string
	byMsg map[string]int // level and message -> lines
	n     *atomic.Int64
	errs  *atomic.Int64
	attrs []slog.Attr
}

func newCountingHandler() *countingHandler {
	return &countingHandler{level: slog.LevelInfo, mu: &sync.Mutex{}, lines: &[]string{}, byMsg: map[string]int{}, n: &atomic.Int64{}, errs: &atomic.Int64{}}
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.n.Add(1)
	if r.Level >= slog.LevelError {
		h.errs.Add(1)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s", a); return true })
	h.mu.Lock()
	h.byMsg[r.Level.String()+" "+r.Message]++
	*h.lines = append(*h.lines, b.String())
	if len(*h.lines) > 400 {
		*h.lines = (*h.lines)[200:]
	}
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}
func (h *countingHandler) WithGroup(string) slog.Handler { return h }

// counts returns the lines so far by level and message.
func (h *countingHandler) counts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.byMsg)
}

// window returns how many lines of each level and message were logged
// between the counts from and to.
func (h *countingHandler) window(from, to map[string]int) map[string]int {
	out := map[string]int{}
	for m, n := range to {
		if d := n - from[m]; d > 0 {
			out[m] = d
		}
	}
	return out
}

// since returns the lines by level and message logged after the counts
// before, most first.
func (h *countingHandler) since(before map[string]int) string {
	var out []string
	for m, n := range h.counts() {
		if d := n - before[m]; d > 0 {
			out = append(out, fmt.Sprintf("%5d %s", d, m))
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return strings.Join(out, "\n")
}
func (h *countingHandler) tail() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := *h.lines
	if len(l) > 60 {
		l = l[len(l)-60:]
	}
	return strings.Join(l, "\n")
}

// TestDiskFullHeals runs serve with its data (journal, snapshots, the
// embedded broker's storage) on a 40 MB tmpfs mounted by the test and
// eight clients toggling agents and making calls with referenceIds until
// the disk is full: requests then get 503, /readyz says 503, and the log
// stays bounded (refusals sampled). Then the tmpfs is grown to 300 MB,
// and without a restart requests succeed again within 20 s, the relay
// publishes what it held back, and Kafka has every event of every 2xx
// request exactly once, Seq gapless per key, the independent checker passing. Mounting
// needs root: without it the test runs itself again in a user and mount
// namespace of its own (as root there, see rerunInUserNS). Only where
// neither works is it skipped, and never in CI (CI=true): there it fails.
func TestDiskFullHeals(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=40m"); err != nil {
		nsErr := errors.New("already in one")
		if os.Getenv(envUserNS) == "" {
			if nsErr = rerunInUserNS(t); nsErr == nil {
				return // the run in the namespace passed
			}
		}
		testenv.Unavailable(t, "cannot mount a tmpfs for the disk-full test (%v), nor in a user namespace (%v): it needs root or user namespaces", err, nsErr)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	logs := newCountingHandler()
	cfg := DefaultConfig()
	cfg.Data = dir
	cfg.HTTP = "127.0.0.1:0"
	cfg.KafkaListen = "127.0.0.1:0"
	cfg.SIP = "127.0.0.1:0"
	cfg.Partitions = 3
	cfg.Durability.JournalMaxSize = 16 << 20
	cfg.Durability.SnapshotEvery = 2000
	ready := make(chan Addrs, 1)
	m := Main{Config: cfg, Stdout: &bytes.Buffer{}, Logger: slog.New(logs),
		Getenv: func(k string) string {
			if k == EnvDemoToken {
				return e2eToken
			}
			return ""
		},
		OnReady: func(a Addrs) { ready <- a }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var addrs Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("Main.Run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve not ready")
	}
	stopped := false
	stopMain := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Main.Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("Main.Run did not return")
		}
	}
	defer stopMain()
	base := "http://" + addrs.HTTP

	var (
		mu       sync.Mutex
		want     = map[int64]int{} // referenceId -> events of a 2xx reply
		nextID   atomic.Int64
		refused  atomic.Int64 // 503s
		lastOK   atomic.Int64 // unix nanos of the latest 2xx
		firstBad atomic.Int64 // unix nanos of the first 503
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			diskLoad(base, w, stop, &nextID, func(ref int64, status, events int) {
				switch {
				case status/100 == 2:
					lastOK.Store(time.Now().UnixNano())
					mu.Lock()
					want[ref] = events
					mu.Unlock()
				case status == http.StatusServiceUnavailable:
					refused.Add(1)
					firstBad.CompareAndSwap(0, time.Now().UnixNano())
				}
			})
		}()
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	deadline := time.Now().Add(5 * time.Minute)
	for firstBad.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the disk never filled (%d requests answered)\n%s", len(want), logs.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The whole time the disk is full, from (20 ms after) the first 503.
	linesAtFull, refusedAtFull, msgsAtFull := logs.n.Load(), refused.Load(), logs.counts()
	// Full: requests keep failing for a while; the log must not follow.
	time.Sleep(time.Second)
	linesBefore, errsBefore, refusedBefore, msgsBefore := logs.n.Load(), logs.errs.Load(), refused.Load(), logs.counts()
	time.Sleep(3 * time.Second)
	// /readyz answers from a one-second cache, and a journal may heal
	// for a moment while the disk is still full (the cut freed some
	// room): look for its 503 over a few seconds.
	readyDeadline := time.Now().Add(5 * time.Second)
	for {
		st, body := get(t, base+"/readyz")
		if st == http.StatusServiceUnavailable {
			t.Logf("/readyz while the disk is full: %s", strings.TrimSpace(body))
			break
		}
		if time.Now().After(readyDeadline) {
			t.Errorf("/readyz while the disk is full: %d %s, want 503", st, body)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	lines, errLines, refusedFull := logs.n.Load()-linesBefore, logs.errs.Load()-errsBefore, refused.Load()-refusedBefore
	msgsFull := logs.counts()
	linesFull := logs.since(msgsBefore)
	okDuringFull := lastOK.Load()
	wholeLines, wholeRefused, wholeMsgs := logs.n.Load()-linesAtFull, refused.Load()-refusedAtFull, logs.since(msgsAtFull)

	grown := time.Now()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size=300m"); err != nil {
		t.Fatalf("grow the tmpfs: %v", err)
	}
	// Within seconds: heal attempts are at most a second apart, ten
	// where the disk failed again right after a heal (a full disk may
	// heal for a moment when the cut frees room); the rest is margin for
	// a loaded machine.
	for lastOK.Load() <= max(okDuringFull, grown.UnixNano()) {
		if time.Since(grown) > 20*time.Second {
			t.Fatalf("no request succeeded in the 20 s after the disk got room (%d refused)\n%s", refused.Load(), logs.tail())
		}
		time.Sleep(2 * time.Millisecond)
	}
	recovered := time.Unix(0, lastOK.Load()).Sub(grown)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	// The relay resumes by itself: every journaled step reaches Kafka.
	pubDeadline := time.Now().Add(2 * time.Minute)
	for {
		lag := uint64(0)
		for _, s := range addrs.Durability() {
			lag += s.LagRecords
		}
		if lag == 0 {
			break
		}
		if time.Now().After(pubDeadline) {
			t.Fatalf("%d step records not in Kafka 2 minutes after the disk got room: %+v\n%s", lag, addrs.Durability(), logs.tail())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Ready again by itself. The journal may stand near its own size
	// bound (readiness says so at 90%) until the relay's next checkpoint
	// lets it drop the published segments: wait for that, bounded.
	readyBy := time.Now().Add(time.Minute)
	for {
		st, body := get(t, base+"/readyz")
		if st == http.StatusOK {
			break
		}
		if time.Now().After(readyBy) {
			t.Errorf("/readyz a minute after healing: %d %s; %+v", st, body, addrs.Durability())
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stats := addrs.Durability()
	topics := []string{event.AgentStateTopic, event.CallThreadTopic}
	n := kafkatest.RecordCount(t, addrs.Kafka, topics...)
	recs := kafkatest.Consume(t, addrs.Kafka, topics, int(n), time.Minute)
	stopMain()
	// The embedded broker's storage went through the full disk: it
	// starts again on it with every record.
	b, err := broker.Start(context.Background(), broker.Config{Dir: filepath.Join(dir, "kafka"), Listen: "127.0.0.1:0",
		Topics: topics, Partitions: int32(cfg.Partitions)})
	if err != nil {
		t.Fatalf("the embedded broker does not start again on its storage: %v", err)
	}
	if again := kafkatest.RecordCount(t, []string{b.Addr()}, topics...); again != n {
		t.Errorf("the embedded broker restarted on its storage holds %d records, it had %d", again, n)
	}
	b.Close()
	seq := map[string]int64{}
	got := map[int64]int{}
	bad := 0
	for _, r := range recs {
		var e event.Event
		if err := event.Unmarshal(r.Value, &e); err != nil {
			t.Fatal(err)
		}
		if e.Seq != seq[string(r.Key)]+1 {
			if bad++; bad <= 10 {
				t.Errorf("key %s: Seq %d after %d (duplicate or gap)", r.Key, e.Seq, seq[string(r.Key)])
			}
		}
		seq[string(r.Key)] = e.Seq
		if e.ReferenceID != 0 {
			got[e.ReferenceID]++
		}
	}
	missing, total := 0, 0
	for ref, evs := range want {
		total += evs
		if got[ref] != evs {
			if missing++; missing <= 10 {
				t.Errorf("referenceId %d answered 2xx with %d events; Kafka has %d", ref, evs, got[ref])
			}
		}
	}
	if bad > 0 || missing > 0 {
		t.Fatalf("%d Seq problems, %d requests whose events are not exactly in Kafka", bad, missing)
	}
	checkEvents(t, recs)
	perTenK := float64(lines) * 10000 / float64(max(refusedFull, 1))
	t.Logf("disk full after %d requests answered; while full: %d requests refused with 503 in 3s, %d log lines (%d ERROR): %.1f lines per 10,000 refused; the lines:\n%s",
		len(want), refusedFull, lines, errLines, perTenK, linesFull)
	t.Logf("from the first 503 to space returning: %d requests refused, %d log lines: %.1f lines per 10,000 refused; the lines:\n%s",
		wholeRefused, wholeLines, float64(wholeLines)*10000/float64(max(wholeRefused, 1)), wholeMsgs)
	t.Logf("first successful request %v after the disk got room; %d requests answered 2xx in all with %d events, all in Kafka once (%d records, %d keys); relay %+v",
		recovered.Round(time.Millisecond), len(want), total, len(recs), len(seq), stats)
	if refusedFull < 100 {
		t.Fatalf("only %d requests refused while the disk was full: the test did not exercise the refusals", refusedFull)
	}
	if lines > 200 {
		t.Fatalf("%d log lines for %d refused requests while the disk was full: the log is not bounded\n%s", lines, refusedFull, logs.tail())
	}
	// Each cause logs once, then once per 10 s: a message repeated more
	// often in those 3 s is not sampled (a journal healing for a moment
	// and failing again logs a few lines each time, backing off).
	for m, n := range logs.window(msgsBefore, msgsFull) {
		if n > 5 {
			t.Errorf("%d lines %q in the 3 s the disk was full: not sampled", n, m)
		}
	}
}

// envUserNS is set in the run of a test that rerunInUserNS started.
const envUserNS = "SWITCHBOARD_TEST_USERNS"

// rerunInUserNS runs t's test again in a child process (this test binary)
// in a user and mount namespace of its own, where it is root and may mount
// a tmpfs (unprivileged user namespaces, on by default in Debian), and
// reports the child's result as t's: nil when it passed (its output
// logged), a failed test when it failed. It returns an error when no such
// child can be started (user namespaces disabled), or when the child could
// not mount either, so the caller can skip or fail.
func rerunInUserNS(t *testing.T) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envUserNS+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s in a new user namespace: %w", filepath.Base(exe), err)
	}
	err = cmd.Wait()
	t.Logf("run again as root in a user namespace of its own (not root here):\n%s", out.Bytes())
	switch {
	case err != nil:
		t.Fatalf("the run in the user namespace failed: %v", err)
	case bytes.Contains(out.Bytes(), []byte("--- SKIP: "+t.Name())):
		return errors.New("the run in the user namespace could not mount either (see its output)")
	case !bytes.Contains(out.Bytes(), []byte("--- PASS: "+t.Name())):
		t.Fatalf("the run in the user namespace did not report %s passed", t.Name())
	}
	return nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return res.StatusCode, b.String()
}

// diskLoad is killLoad reporting every reply's status.
func diskLoad(base string, w int, stop <-chan struct{}, nextID *atomic.Int64, reply func(ref int64, status, events int)) {
	cl := &http.Client{Timeout: 10 * time.Second}
	dn, peer := fmt.Sprint(1001+w), fmt.Sprint(1011+w)
	post := func(path string, body map[string]any) (map[string]any, bool) {
		ref := nextID.Add(1)
		body["referenceId"] = ref
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/v1/tenants/demo"+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := cl.Do(req)
		if err != nil {
			return nil, false
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		n, _ := out["events"].(float64)
		reply(ref, resp.StatusCode, int(n))
		return out, resp.StatusCode/100 == 2
	}
	loggedIn := false
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if !loggedIn {
			_, loggedIn = post("/dns/"+dn+"/login", map[string]any{"agentId": fmt.Sprint("agent", 1+w)})
			if !loggedIn {
				time.Sleep(time.Millisecond)
			}
			continue
		}
		switch i % 3 {
		case 0:
			post("/dns/"+dn+"/ready", map[string]any{})
		case 1:
			post("/dns/"+dn+"/not-ready", map[string]any{})
		case 2:
			if out, ok := post("/calls", map[string]any{"from": dn, "to": peer}); ok {
				for {
					if _, ok := post("/calls/"+fmt.Sprint(out["connId"])+"/release", map[string]any{"dn": dn}); ok {
						break
					}
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}
		}
	}
}
