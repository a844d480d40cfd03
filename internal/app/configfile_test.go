package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

const twoTenants = `server: node-a
tenants:
  - id: acme
    tokens: [acme-token]
    dns:
      - {number: "2001", type: extension}
    agents:
      - id: alice
  - id: globex
    tokens: [globex-token]
    dns:
      - {number: "3001", type: extension}
    agents:
      - id: hank
`

// TestConfigFileTenants runs serve with a configuration file of two
// tenants: each token acts on its own tenant only (through the whole
// server), and the events carry the file's tenant ids and server id.
func TestConfigFileTenants(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(path, []byte(twoTenants), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Data, cfg.HTTP, cfg.KafkaListen, cfg.SIP, cfg.Partitions, cfg.ConfigFile = dir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", 2, path
	ready := make(chan Addrs, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Main{Config: cfg, Logger: kafkatest.Logger(t, slog.LevelError), Stdout: &strings.Builder{},
			OnReady: func(a Addrs) { ready <- a }}.Run(ctx)
	}()
	var a Addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	call := func(token, path, body string) int {
		req, _ := http.NewRequest("POST", "http://"+a.HTTP+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	login := `{"agentId":"alice"}`
	if s := call("globex-token", "/v1/tenants/acme/dns/2001/login", login); s != http.StatusForbidden {
		t.Fatalf("globex's token on acme: %d, want 403", s)
	}
	if s := call("acme-token", "/v1/tenants/acme/dns/2001/login", login); s != http.StatusOK {
		t.Fatalf("acme login: %d", s)
	}
	if s := call("globex-token", "/v1/tenants/globex/dns/3001/login", `{"agentId":"hank"}`); s != http.StatusOK {
		t.Fatalf("globex login: %d", s)
	}
	if s := call("globex-token", "/v1/tenants/globex/dns/2001/dnd", `{"on":true}`); s != http.StatusNotFound {
		t.Fatalf("acme's DN through globex: %d, want 404", s)
	}
	recs := kafkatest.Consume(t, a.Kafka, []string{event.AgentStateTopic}, 2, 30*time.Second)
	got := map[string]bool{}
	for _, r := range recs {
		var ev event.Event
		if err := event.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Server != "node-a" {
			t.Errorf("Server %q, want the file's node-a", ev.Server)
		}
		got[string(r.Key)+" "+ev.CustomerID] = true
	}
	if !got["acme:alice acme"] || !got["globex:hank globex"] {
		t.Fatalf("events %v", got)
	}
}

func TestBadConfigFileRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte(strings.Replace(twoTenants, "type: extension}\n    agents:\n      - id: alice", "type: phone}\n    agents:\n      - id: alice", 1)), 0o644)
	cfg := DefaultConfig()
	cfg.Data, cfg.HTTP, cfg.KafkaListen, cfg.SIP, cfg.ConfigFile = dir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", path
	err := Main{Config: cfg, Logger: kafkatest.Logger(t, slog.LevelError)}.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), "tenants[0].dns[0].type") {
		t.Fatalf("err %v, want one naming the file and the field", err)
	}
	if errors.Is(err, ErrConfig) {
		t.Fatalf("a config file error is not a flag error: %v", err)
	}
}
