package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/stats"
)

const statsClusterConfig = `server: sb
tenants:
  - id: t0
    tokens: [tok-t0]
    dns:
      - number: "1001"
        type: extension
      - number: "1002"
        type: extension
      - number: "7000"
        type: acd-queue
      - {number: pstn, type: trunk}
    agents:
      - id: agent1
      - id: agent2
`

// TestStatsBesideCluster: `switchboard stats --kafka-brokers` on its own
// beside two `serve --cluster` nodes reads the cluster's output topics
// (written by the shards' transactions) and counts the calls made through
// either node, and its /metrics carries the queue's figures. The nodes serve the statistics too (the tenant's owner
// answers, from its in-process consumer), on GET and on the WebSocket with
// a ticket, as the wallboard asks at any node.
func TestStatsBesideCluster(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) { statsBesideCluster(t, tg.Brokers) })
	}
}

func statsBesideCluster(t *testing.T, brokers []string) {
	prefix := kafkatest.UniqueTopicPrefix(t)
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(file, []byte(statsClusterConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	n1 := startClusterNode(t, brokers, prefix, file, "n1")
	n2 := startClusterNode(t, brokers, prefix, file, "n2")
	nodes := []*running{n1, n2}
	waitCluster(t, nodes, "n1", "n2")

	// The standalone consumer, started before the calls.
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var (
		logs strings.Builder
		mu   sync.Mutex
	)
	done := make(chan int, 1)
	go func() {
		done <- stats.Main(ctx, []string{"--kafka-brokers", strings.Join(brokers, ","), "--topic-prefix", prefix,
			"--config", file, "--listen", "127.0.0.1:0", "--group", "stats-beside-" + prefix}, pw, lockedWriter{&mu, &logs})
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("switchboard stats did not stop")
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("switchboard stats: %v", err)
	}
	go io.Copy(io.Discard, pr)
	_, base, ok := strings.Cut(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}

	// Two calls, one through each node.
	for i, n := range nodes {
		dn, agent := []string{"1001", "1002"}[i], []string{"agent1", "agent2"}[i]
		must := func(method, path, body string) string {
			t.Helper()
			st, out := do(t, method, "http://"+n.addrs.HTTP+"/v1/tenants/t0"+path, "tok-t0", body)
			if st/100 != 2 {
				t.Fatalf("%s %s via %s: %d %s", method, path, n.addrs.HTTP, st, out)
			}
			return out
		}
		must("POST", "/dns/"+dn+"/login", `{"agentId":"`+agent+`","queues":["7000"]}`)
		must("POST", "/dns/"+dn+"/ready", `{}`)
		var c struct{ ConnID string }
		json.Unmarshal([]byte(must("POST", "/network/calls", `{"trunk":"pstn","ani":"+3301","dnis":"7000"}`)), &c)
		must("POST", "/calls/"+c.ConnID+"/answer", `{"dn":"`+dn+`"}`)
	}

	// Each reader's figures for queue 7000 reach 2 offered and answered.
	wait := func(name, url string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second) // a bound: a new group's first assignment on a loaded machine
		var last string
		for time.Now().Before(deadline) {
			st, body := do(t, "GET", url+"/v1/tenants/t0/stats/queues", "tok-t0", "")
			last = body
			var qs stats.QueuesReply
			if st == 200 && json.Unmarshal([]byte(body), &qs) == nil && len(qs.Queues) == 1 {
				q := qs.Queues[0]
				if q.Today.Offered == 2 && q.Today.Answered == 2 {
					if q.Queue != "7000" || q.Agents["Talking"] != 2 {
						t.Fatalf("%s: %s", name, body)
					}
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: queue 7000 not at 2 offered and answered within 90 s: %s\n%s", name, last, func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }())
	}
	wait("switchboard stats", base)
	// Its Prometheus metrics: the configured queue's figures.
	m := scrapeURL(t, base)
	for outcome, want := range map[string]float64{"offered": 2, "answered": 2, "abandoned": 0} {
		labels := map[string]string{"tenant": "t0", "queue": "7000", "outcome": outcome}
		if v, ok := m.Value(metrics.NameStatsQueueCallsToday, labels); !ok || v != want {
			t.Errorf("switchboard stats /metrics: %s%v = %v (%v), want %v", metrics.NameStatsQueueCallsToday, labels, v, ok, want)
		}
	}
	if v, ok := m.Value(metrics.NameStatsQueueAgents, map[string]string{"tenant": "t0", "queue": "7000", "state": "Talking"}); !ok || v != 2 {
		t.Errorf("switchboard stats /metrics: agents Talking at 7000 = %v (%v), want 2", v, ok)
	}
	for i, n := range nodes {
		wait([]string{"n1", "n2"}[i]+" in-process", "http://"+n.addrs.HTTP)
		st, body := do(t, "POST", "http://"+n.addrs.HTTP+"/v1/tenants/t0/events/ticket", "tok-t0", "")
		var tk struct{ Ticket string }
		if st != 200 || json.Unmarshal([]byte(body), &tk) != nil || tk.Ticket == "" {
			t.Fatalf("ticket: %d %s", st, body)
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws, _, err := websocket.Dial(wctx, "ws://"+n.addrs.HTTP+"/v1/tenants/t0/stats/ws?ticket="+tk.Ticket, nil)
		if err != nil {
			wcancel()
			t.Fatalf("stats WebSocket via %s: %v", n.addrs.HTTP, err)
		}
		_, b, err := ws.Read(wctx)
		ws.CloseNow()
		wcancel()
		var u stats.Update
		if err != nil || json.Unmarshal(b, &u) != nil || u.Tenant.Today.Answered != 2 {
			t.Fatalf("stats WebSocket via %s: %v %s", n.addrs.HTTP, err, b)
		}
	}
}
