package stats

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

const killToken = "stats-test-token-0123456789abcdef"

// statsProc is a running `switchboard stats` child process.
type statsProc struct {
	cmd  *exec.Cmd
	base string
	logs *syncLog
}

// syncLog is a child's stderr, written by os/exec's copying goroutine
// while the test reads it.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startStats(t *testing.T, bin string, args ...string) *statsProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"stats", "--listen", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("stats did not start: %v\n%s", err, logs)
	}
	_, base, ok := strings.Cut(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("unexpected first line %q", line)
	}
	go io.Copy(io.Discard, out)
	return &statsProc{cmd: cmd, base: base, logs: logs}
}

func (p *statsProc) update(t *testing.T) (Update, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.base+"/v1/tenants/sim/stats", nil)
	req.Header.Set("Authorization", "Bearer "+killToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET stats: %d %s", resp.StatusCode, b)
	}
	var u Update
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	return u, b
}

// waitEvents polls until the process has taken n events.
func (p *statsProc) waitEvents(t *testing.T, n int64) []byte {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		u, b := p.update(t)
		if u.Tenant.Events == n {
			return b
		}
		if u.Tenant.Events > n {
			t.Fatalf("%d events taken, only %d produced", u.Tenant.Events, n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events taken after 60s\n%s", u.Tenant.Events, n, p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func buildBinary(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "switchboard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/switchboard")
	build.Dir = kafkatest.RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestKill9MidDay: a simulated day is produced to Kafka in parts;
// `switchboard stats` is killed with SIGKILL at a random moment while
// each middle part is being consumed (the first after at least one
// checkpoint) and started again on the same --data; at the end its figures equal, byte for byte, those of
// an uninterrupted in-process aggregation of the same events, and the
// events taken equal the events produced (none twice, none lost). A third
// instance with no checkpoint, reading from the start of the day, gives
// the same figures too.
func TestKill9MidDay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) { kill9MidDay(t, bin, tg) })
	}
}

func kill9MidDay(t *testing.T, bin string, tg kafkatest.Target) {
	prefix := kafkatest.UniqueTopicPrefix(t)
	ctx := context.Background()
	cl := kafkatest.Client(t, tg.Brokers)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 4, 1, nil, prefix+event.AgentStateTopic, prefix+event.CallThreadTopic); err != nil {
		t.Fatal(err)
	}

	recs, _ := runSim(t, simDay(11, true))
	evs := decodeAll(t, recs)
	end := endOf(evs)
	want := func() []byte {
		a := New(Options{})
		for i := range evs {
			a.Add(&evs[i])
		}
		b, _ := json.Marshal(UpdateOf(a, "sim", end))
		return b
	}()
	produce := func(from, to int) {
		var krs []*kgo.Record
		for i := from; i < to; i++ {
			krs = append(krs, &kgo.Record{
				Topic: prefix + evs[i].Topic(), Key: []byte(evs[i].Key()), Value: recs[i],
				Timestamp: time.UnixMicro(evs[i].Time.UnixMicro()),
			})
		}
		if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	cfg := filepath.Join(t.TempDir(), "stats.yaml")
	os.WriteFile(cfg, []byte("tenants:\n  - id: sim\n    tokens: ["+killToken+"]\n"), 0o644)
	data := t.TempDir()
	args := []string{"--kafka-brokers", strings.Join(tg.Brokers, ","), "--topic-prefix", prefix, "--config", cfg,
		"--data", data, "--checkpoint-every", "700ms", "--now", end.Format(time.RFC3339Nano)}

	n := len(evs)
	a := n * 2 / 5
	produce(0, a)
	p := startStats(t, bin, args...)
	p.waitEvents(t, int64(a))
	time.Sleep(time.Second) // a checkpoint is written
	if _, err := os.Stat(filepath.Join(data, "stats.checkpoint")); err != nil {
		t.Fatalf("no checkpoint: %v\n%s", err, p.logs)
	}
	// killRounds times: the next part of the day is produced while the
	// process consumes, and it is killed at a random moment, then
	// started again.
	const killRounds = 4
	var before string
	from := a
	for round := 1; round <= killRounds; round++ {
		to := a + (n*9/10-a)*round/killRounds
		done := make(chan struct{})
		go func() { defer close(done); produce(from, to) }()
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		<-done
		before += p.logs.String()
		// The checkpoint the restart resumes from is in the middle of
		// the day: past the first part, short of the end.
		cpb, err := os.ReadFile(filepath.Join(data, "stats.checkpoint"))
		if err != nil {
			t.Fatal(err)
		}
		var cp struct {
			State snapshot `json:"state"`
		}
		if err := json.Unmarshal(cpb, &cp); err != nil || len(cp.State.Tenants) != 1 {
			t.Fatalf("checkpoint: %v", err)
		}
		ev := cp.State.Tenants[0].Events
		if ev < int64(a) || ev >= int64(n) {
			t.Fatalf("checkpoint holds %d events; want between %d and %d", ev, a, n)
		}
		t.Logf("round %d: killed with a checkpoint of %d events (%d produced by then, %d in the day)", round, ev, to, n)
		from = to
		p = startStats(t, bin, args...)
	}
	produce(from, n)
	got := p.waitEvents(t, int64(n))
	if !strings.Contains(p.logs.String(), "resumed from checkpoint") {
		t.Errorf("the restart did not resume from the checkpoint:\n%s", p.logs)
	}
	if string(got) != string(want)+"\n" {
		t.Errorf("after kill -9 and restart the figures differ from an uninterrupted run:\ngot  %s\nwant %s\nfirst run's log:\n%s", got, want, before)
	}
	u, _ := p.update(t)
	if u.Tenant.Today.Offered == 0 || u.Tenant.Today.Answered == 0 {
		t.Fatalf("empty figures: %+v", u.Tenant.Today)
	}

	// A fresh instance, no checkpoint, its own group: from the start of
	// the day.
	fresh := append([]string{}, args...)
	fresh[7] = t.TempDir() // --data
	fresh = append(fresh, "--group", "stats-fresh")
	q := startStats(t, bin, fresh...)
	if got := q.waitEvents(t, int64(n)); string(got) != string(want)+"\n" {
		t.Errorf("a fresh instance's figures differ:\ngot  %s\nwant %s", got, want)
	}
}
