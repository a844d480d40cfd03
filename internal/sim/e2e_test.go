package sim_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/sim"
	"github.com/switchboard-cc/switchboard/internal/verify"
)

// dayYAML is a short busy day for the tests (wall-clock seconds against a
// server).
const dayYAML = `
agents: 8
rate: 2
duration: 8s
answer-delay: {median: 300ms, sigma: 0.5}
talk-time: {median: 2s, sigma: 0.6}
wrap-up: {median: 300ms, sigma: 0.5}
patience: {median: 1500ms, sigma: 0.8}
consult-time: {median: 500ms, sigma: 0.5}
break-time: {median: 2s, sigma: 0.4}
transfer-rate: 0.2
conference-rate: 0.15
breaks-per-hour: 360
monitors-per-hour: 1800
monitor-time: {median: 3s, sigma: 0.3}
login-spread: 0.1
logout-at-end: true
drain: 30s
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSimAgainstServeThenVerify: serve runs in this process on each Kafka
// target with a configuration sim wrote; sim drives it through the API
// for a short seeded day; verify reads the topics and must pass with
// --closed and the counts sim wrote, and check-events must accept them.
func TestSimAgainstServeThenVerify(t *testing.T) {
	modes := map[string]string{
		"direct": dayYAML + "direct: true\n",
		// the switch's ACD picks the agent; sim answers what rings (WebSocket)
		"queue": strings.Replace(dayYAML, "duration: 8s", "duration: 6s", 1) + "targets: [{dnis: \"7000\", weight: 1}]\n",
	}
	for _, target := range kafkatest.Targets(t) {
		for _, mode := range []string{"direct", "queue"} {
			t.Run(target.Name+"/"+mode, func(t *testing.T) {
				simDay(t, target, writeFile(t, "day.yaml", modes[mode]))
			})
		}
	}
}

func simDay(t *testing.T, target kafkatest.Target, dayFile string) {
	{
		{
			prefix := kafkatest.UniqueTopicPrefix(t)
			serveCfg := filepath.Join(t.TempDir(), "serve.yaml")
			var out, errb bytes.Buffer
			ctx := context.Background()
			if code := sim.Main(ctx, []string{"--config", dayFile, "--write-config", serveCfg, "--tenant", "acme", "--token", "tok-acme"}, &out, &errb); code != 0 {
				t.Fatalf("write-config: exit %d: %s", code, errb.String())
			}
			ac := app.DefaultConfig()
			ac.Data, ac.HTTP, ac.KafkaListen, ac.SIP = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
			ac.KafkaBrokers, ac.TopicPrefix, ac.Partitions, ac.ConfigFile = target.Brokers, prefix, 3, serveCfg
			ready := make(chan app.Addrs, 1)
			sctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			m := app.Main{Config: ac, Stdout: io.Discard, Logger: kafkatest.Logger(t, slog.LevelWarn), Getenv: func(string) string { return "" },
				OnReady: func(a app.Addrs) { ready <- a }}
			go func() { done <- m.Run(sctx) }()
			defer func() {
				stop()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			}()
			var addrs app.Addrs
			select {
			case addrs = <-ready:
			case err := <-done:
				t.Fatalf("serve: %v", err)
			case <-time.After(time.Minute):
				t.Fatal("serve did not start")
			}
			expect := filepath.Join(t.TempDir(), "expect.json")
			out.Reset()
			errb.Reset()
			code := sim.Main(ctx, []string{"--api", "http://" + addrs.HTTP, "--tenant", "acme", "--token", "tok-acme",
				"--config", dayFile, "--seed", "11", "--expect-out", expect, "--progress", "always"}, &out, &errb)
			t.Logf("sim:\n%s", errb.String())
			if code != 0 {
				t.Fatalf("sim: exit %d", code)
			}
			if !strings.Contains(errb.String(), "refused 0") {
				t.Errorf("sim had refusals")
			}
			exp, err := verify.ReadExpect(expect)
			if err != nil {
				t.Fatal(err)
			}
			if exp.Counts[verify.CountOffered] < 5 || exp.Counts[verify.CountAnswered] == 0 {
				t.Fatalf("the day did too little: %v", exp.Counts)
			}
			// serve publishes asynchronously after answering: verify again
			// until it passes or a deadline (the stream only grows toward
			// the complete day, so an early failure is a stream not yet
			// complete, a late one a real problem).
			var vout, verr bytes.Buffer
			args := []string{"--kafka-brokers", strings.Join(addrs.Kafka, ","), "--topic-prefix", prefix,
				"--tenant", "acme", "--closed", "--expect", expect}
			deadline := time.Now().Add(30 * time.Second)
			for {
				vout.Reset()
				verr.Reset()
				code = verify.Main(ctx, args, &vout, &verr)
				if code == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			t.Logf("verify:\n%s%s", vout.String(), verr.String())
			if code != 0 {
				t.Fatalf("verify: exit %d", code)
			}
			// The same topics through the independent checker: a day
			// driven through the API (monitored calls, transfers and
			// consultations through the trunk among them).
			topics := []string{prefix + event.AgentStateTopic, prefix + event.CallThreadTopic}
			// read_committed: with --kafka-brokers serve's relay writes
			// in transactions, whose markers the end offsets count.
			kafkatest.CheckEvents(t, kafkatest.ConsumeCommitted(t, addrs.Kafka, topics, 30*time.Second))
		}
	}
}

// TestInProcessEventsOutThenVerify: the in-process mode writes JSON lines
// and the summary; verify --file checks them; the same seed gives the same
// bytes.
func TestInProcessEventsOutThenVerify(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, "day.yaml", strings.Replace(dayYAML, "duration: 8s", "duration: 20m", 1))
	run := func(name string) []byte {
		var out, errb bytes.Buffer
		code := sim.Main(context.Background(), []string{"--in-process", "--config", cfg, "--seed", "5", "--tenant", "acme",
			"--events-out", filepath.Join(dir, name+".jsonl"), "--expect-out", filepath.Join(dir, name+".json")}, &out, &errb)
		if code != 0 {
			t.Fatalf("sim: exit %d: %s", code, errb.String())
		}
		b, err := os.ReadFile(filepath.Join(dir, name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := run("a"), run("b")
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("two runs with seed 5 differ (%d and %d bytes)", len(a), len(b))
	}
	var out, errb bytes.Buffer
	code := verify.Main(context.Background(), []string{"--file", filepath.Join(dir, "a.jsonl"), "--closed",
		"--expect", filepath.Join(dir, "a.json")}, &out, &errb)
	if code != 0 {
		t.Fatalf("verify: exit %d:\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "OK: no problems") {
		t.Fatalf("verify report:\n%s", out.String())
	}
}

func TestHelpAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := sim.Main(context.Background(), []string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--in-process") {
		t.Fatalf("sim --help: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := verify.Main(context.Background(), []string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--closed") {
		t.Fatalf("verify --help: exit %d\n%s", code, out.String())
	}
	if code := sim.Main(context.Background(), []string{"--agents", "0", "--in-process"}, &out, &errb); code != 2 {
		t.Fatalf("sim --agents 0: exit %d", code)
	}
	if code := sim.Main(context.Background(), []string{}, &out, &errb); code != 2 {
		t.Fatalf("sim without token: exit %d", code)
	}
}
