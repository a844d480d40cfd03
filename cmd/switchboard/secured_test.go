package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/kafkasec/kafkasectest"
)

// TestSecuredKafka: against a broker that takes only TLS and SCRAM or
// PLAIN logins, sim publishes a day with the Kafka TLS/SASL flags (its
// password from the environment), and tail, verify and stats read it with
// the same flags (the password from a file): tail prints every record,
// verify finds the stream good with sim's counts, and stats takes every
// event. With a wrong password verify cannot read.
func TestSecuredKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker and a simulated day")
	}
	srvTLS, ca := kafkasectest.ServerTLS(t)
	const user, password = "sb-reader", "s3cret-scram"
	b, err := broker.Start(context.Background(), broker.Config{Dir: t.TempDir(), Listen: "127.0.0.1:0", TLS: srvTLS,
		SASL: []broker.SASLUser{
			{Mechanism: broker.MechanismScramSHA512, User: user, Password: password},
			{Mechanism: broker.MechanismPlain, User: "sb-plain", Password: "s3cret-plain"},
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	wrongFile := filepath.Join(dir, "wrong")
	os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
	os.WriteFile(wrongFile, []byte("not-"+password), 0o600)
	kafka := func(pw string) []string {
		return []string{"--kafka-brokers", b.Addr(), "--kafka-tls", "--kafka-tls-ca", ca,
			"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", user, "--kafka-sasl-password-file", pw}
	}
	ctx := context.Background()
	runOK := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(ctx, args, &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", args[0], code, out.String(), errb.String())
		}
		return out.String()
	}

	// sim publishes over TLS with PLAIN, its password from the environment
	t.Setenv("SWITCHBOARD_KAFKA_SASL_PASSWORD", "s3cret-plain")
	expect := filepath.Join(dir, "expect.json")
	runOK("sim", "--in-process", "--tenant", "demo", "--agents", "6", "--rate", "0.2", "--duration", "10m", "--seed", "7",
		"--progress", "never", "--partitions", "3", "--expect-out", expect,
		"--kafka-brokers", b.Addr(), "--kafka-tls", "--kafka-tls-ca", ca, "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "sb-plain")
	t.Setenv("SWITCHBOARD_KAFKA_SASL_PASSWORD", "")

	lines := strings.Count(runOK(append([]string{"tail", "--from-beginning", "--exit", "--json"}, kafka(pwFile)...)...), "\n")
	if lines < 100 {
		t.Fatalf("tail printed %d records of a simulated day", lines)
	}
	// exit 0: every rule of EVENTS.md holds and the counts are sim's
	t.Logf("verify: %s", strings.SplitN(runOK(append([]string{"verify", "--closed", "--expect", expect}, kafka(pwFile)...)...), "\n", 2)[0])

	var out, errb bytes.Buffer
	if code := run(ctx, append([]string{"verify", "--connect-timeout", "2s"}, kafka(wrongFile)...), &out, &errb); code != 1 {
		t.Fatalf("verify with a wrong password: exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}

	// stats takes every event
	const token = "secured-stats-token-0123456789"
	cfg := filepath.Join(dir, "stats.yaml")
	os.WriteFile(cfg, []byte("tenants:\n  - id: demo\n    tokens: ["+token+"]\n"), 0o644)
	sctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	var serr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(sctx, append([]string{"stats", "--listen", "127.0.0.1:0", "--config", cfg}, kafka(pwFile)...), pw, &serr)
		pw.Close()
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("stats: exit %d\n%s", code, serr.String())
		}
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	_, base, ok := strings.Cut(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("stats did not start: %q %v", line, err) // serr is not read while stats runs
	}
	go io.Copy(io.Discard, pr)
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest("GET", base+"/v1/tenants/demo/stats/tenant", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ts struct {
			Events int64 `json:"events"`
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET stats: %d %s", resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, &ts); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if ts.Events == int64(lines) {
			t.Logf("tail printed %d records; stats took %d events", lines, ts.Events)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats took %d of %d events in 60s", ts.Events, lines)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
