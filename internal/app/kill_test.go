package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

// killRounds is how many times TestKill9 kills serve.
const killRounds = 20

// TestKill9 runs `switchboard serve` as a child process on a journal in a
// temporary --data, drives requests at it and kills it with SIGKILL at a
// random moment, killRounds times, restarting it each time; Kafka (an
// embedded broker of the test's own, not killed) is given with
// --kafka-brokers. Then a last start is stopped gracefully, and a consumer
// checks that every request answered 2xx has exactly its events in Kafka
// (by referenceId), each (key, Seq) once, Seq gapless per key from 1, and
// the independent checker passes.
func TestKill9(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "switchboard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/switchboard")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	data := t.TempDir()
	logs := filepath.Join(t.TempDir(), "serve.log")

	var (
		mu     sync.Mutex
		want   = map[int64]int{} // referenceId -> events of a 2xx reply
		nextID atomic.Int64
	)
	for round := 0; round <= killRounds; round++ {
		last := round == killRounds
		cmd, base := startServe(t, bin, data, logs, tg.Brokers, prefix)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				killLoad(base, w, stop, &nextID, func(ref int64, events int) {
					mu.Lock()
					want[ref] = events
					mu.Unlock()
				})
			}()
		}
		if last {
			time.Sleep(300 * time.Millisecond)
			close(stop)
			wg.Wait()
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("graceful stop: %v\n%s", err, tail(logs))
			}
			break
		}
		time.Sleep(time.Duration(100+rand.IntN(700)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL) // under load
		cmd.Wait()
		close(stop)
		wg.Wait()
	}

	topics := []string{prefix + event.AgentStateTopic, prefix + event.CallThreadTopic}
	// serve writes transactions to --kafka-brokers: what a consumer reads
	// read_committed is what must hold each event once.
	recs := kafkatest.ConsumeCommitted(t, tg.Brokers, topics, time.Minute)
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
		t.Fatalf("%d Seq problems, %d requests whose events are not exactly in Kafka\n%s", bad, missing, tail(logs))
	}
	if len(want) < killRounds*10 {
		t.Fatalf("only %d requests answered 2xx over %d rounds", len(want), killRounds)
	}
	t.Logf("%d kills; %d requests answered 2xx with %d events; Kafka holds %d records over %d keys, each once and gapless",
		killRounds, len(want), total, len(recs), len(seq))
	checkEvents(t, recs)
}

// startServe starts serve and waits for its ready file.
func startServe(t *testing.T, bin, data, logs string, brokers []string, prefix string) (*exec.Cmd, string) {
	t.Helper()
	ready := filepath.Join(data, "ready.json")
	os.Remove(ready)
	lf, err := os.OpenFile(logs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cmd := exec.Command(bin, "serve", "--data", data, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0",
		"--kafka-brokers", brokers[0], "--topic-prefix", prefix, "--partitions", "6",
		"--snapshot-every", "500", "--ready-file", ready, "--log-level", "warn")
	cmd.Env = append(os.Environ(), EnvDemoToken+"=kill-test-token")
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil {
			var a struct{ HTTP string }
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			return cmd, "http://" + a.HTTP
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("serve not ready after 60s\n%s", tail(logs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killLoad sends requests until stop: worker w logs in on DN 1001+w, goes
// ready and not ready, and makes and releases calls to 1011+w. Each request
// carries a fresh referenceId; ok is called for every 2xx reply.
func killLoad(base string, w int, stop <-chan struct{}, nextID *atomic.Int64, ok func(ref int64, events int)) {
	cl := &http.Client{Timeout: 5 * time.Second}
	dn, peer := fmt.Sprint(1001+w), fmt.Sprint(1011+w)
	post := func(path string, body map[string]any) (map[string]any, bool) {
		ref := nextID.Add(1)
		body["referenceId"] = ref
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/v1/tenants/demo"+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer kill-test-token")
		resp, err := cl.Do(req)
		if err != nil {
			return nil, false
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode/100 != 2 {
			return out, false
		}
		n, _ := out["events"].(float64)
		ok(ref, int(n))
		return out, true
	}
	post("/dns/"+dn+"/login", map[string]any{"agentId": fmt.Sprint("agent", 1+w)})
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		switch i % 3 {
		case 0:
			post("/dns/"+dn+"/ready", map[string]any{})
		case 1:
			post("/dns/"+dn+"/not-ready", map[string]any{})
		case 2:
			if out, ok := post("/calls", map[string]any{"from": dn, "to": peer}); ok {
				post("/calls/"+fmt.Sprint(out["connId"])+"/release", map[string]any{"dn": dn})
			}
		}
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// TestJournalFullServe: serve with a 1 MiB journal and no snapshot (so
// nothing can be truncated) fills it with DND requests; then
// every request is answered 503, a GET shows the DN unchanged, and Kafka
// receives nothing more.
func TestJournalFullServe(t *testing.T) {
	r := startMainWith(t, nil, "", func(c *Config) {
		c.SIP = "127.0.0.1:0"
		c.Durability.JournalMaxSize = 1 << 20
		c.Durability.SnapshotEvery = 1 << 30
	})
	full := 0
	for i := 0; i < 20000 && full == 0; i++ {
		st, body := r.post(t, "POST", "/v1/tenants/demo/dns/1001/dnd", fmt.Sprintf(`{"on":%v}`, i%2 == 0))
		switch {
		case st == http.StatusServiceUnavailable:
			full = i
		case st != http.StatusOK:
			t.Fatalf("request %d: %d %s", i, st, body)
		}
	}
	if full == 0 {
		t.Fatal("the journal never filled")
	}
	r.waitPublished(t)
	topics := []string{event.AgentStateTopic, event.CallThreadTopic}
	before := kafkatest.CommittedCount(t, r.addrs.Kafka, topics...)
	st0, view0 := r.post(t, "GET", "/v1/tenants/demo/dns/1001", "")
	if st0 != http.StatusOK {
		t.Fatalf("GET dn: %d %s", st0, view0)
	}
	for _, req := range [][2]string{
		{"/v1/tenants/demo/dns/1001/dnd", fmt.Sprintf(`{"on":%v}`, full%2 == 0)},
		{"/v1/tenants/demo/dns/1002/login", `{"agentId":"agent2"}`},
		{"/v1/tenants/demo/calls", `{"from":"1003","to":"1004"}`},
	} {
		if st, body := r.post(t, "POST", req[0], req[1]); st != http.StatusServiceUnavailable || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s, want 503 with an error body", req[0], st, body)
		}
	}
	_, view1 := r.post(t, "GET", "/v1/tenants/demo/dns/1001", "")
	if view0 != view1 {
		t.Errorf("the DN changed although the journal is full:\n%s\n%s", view0, view1)
	}
	if st, calls := r.post(t, "GET", "/v1/tenants/demo/calls", ""); st != http.StatusOK || strings.Contains(calls, "1003") {
		t.Errorf("GET calls: %d %s, want 200 and no call of 1003", st, calls)
	}
	time.Sleep(200 * time.Millisecond)
	if after := kafkatest.CommittedCount(t, r.addrs.Kafka, topics...); after != before {
		t.Errorf("Kafka went from %d to %d records after the refusals", before, after)
	}
	t.Logf("journal full after %d requests", full)
}
