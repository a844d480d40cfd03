package app

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/stats"
)

// TestStatsInServe: serve runs the statistics consumer by default on the
// broker it publishes to and serves it beside the CTI API with the same
// tokens. A call queued at 7000 and answered shows in /stats/queues; the
// WebSocket pushes the figures at once and again after the next call.
func TestStatsInServe(t *testing.T) {
	t.Run(kafkatest.NameEmbedded, func(t *testing.T) { statsInServe(t, nil, "") })
	if real := kafkatest.RealKafka(t); real != nil {
		t.Run(kafkatest.NameReal, func(t *testing.T) {
			statsInServe(t, real.Brokers, kafkatest.UniqueTopicPrefix(t))
		})
	}
}

func statsInServe(t *testing.T, brokers []string, prefix string) {
	r := startMain(t, brokers, prefix)
	must := func(method, path, body string) string {
		t.Helper()
		st, out := r.post(t, method, "/v1/tenants/demo"+path, body)
		if st/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, st, out)
		}
		return out
	}
	must("POST", "/dns/1001/login", `{"agentId":"agent1","queues":["7000"]}`)
	must("POST", "/dns/1001/ready", `{}`)

	// A bound, not a measure: a new consumer group on a real Kafka waits
	// for its first assignment (3 s of initial rebalance delay, far more
	// under -race on a loaded machine) before the first figures change.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+r.addrs.HTTP+"/v1/tenants/demo/stats/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + e2eToken}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	read := func() stats.Update {
		t.Helper()
		_, b, err := ws.Read(ctx)
		if err != nil {
			// Say which side stalled: the events not in Kafka (the relay)
			// or in Kafka but not consumed (the statistics consumer; its
			// client's warnings are in the log above).
			t.Fatalf("%v; records in %v: %d; publishing lag: %v records", err, r.addrs.Kafka,
				kafkatest.RecordCount(t, r.addrs.Kafka, prefix+event.AgentStateTopic, prefix+event.CallThreadTopic),
				scrape(t, r).Sum(metrics.NamePublishLag, nil))
		}
		var u stats.Update
		if err := json.Unmarshal(b, &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	read() // the figures at once

	var c struct{ ConnID string }
	json.Unmarshal([]byte(must("POST", "/network/calls", `{"trunk":"pstn","ani":"+3301","dnis":"7000"}`)), &c)
	must("POST", "/calls/"+c.ConnID+"/answer", `{"dn":"1001"}`)
	for {
		u := read()
		if len(u.Queues) > 0 && u.Queues[0].Today.Answered == 1 {
			q := u.Queues[0]
			if q.Queue != "7000" || q.Today.Offered != 1 || q.Kind != "acd-queue" || u.Tenant.Today.Answered != 1 {
				t.Fatalf("queue figures: %+v tenant %+v", q, u.Tenant.Today)
			}
			break
		}
	}

	get := func(path, token string) (int, []byte) {
		req, _ := http.NewRequest("GET", "http://"+r.addrs.HTTP+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b json.RawMessage
		json.NewDecoder(res.Body).Decode(&b)
		return res.StatusCode, b
	}
	if st, b := get("/v1/tenants/demo/stats/queues", e2eToken); st != 200 {
		t.Fatalf("queues: %d %s", st, b)
	} else {
		var qs struct{ Queues []stats.QueueStats }
		json.Unmarshal(b, &qs)
		if len(qs.Queues) != 1 || qs.Queues[0].Today.Answered != 1 {
			t.Fatalf("queues: %s", b)
		}
	}
	if st, b := get("/v1/tenants/demo/stats/agents", e2eToken); st != 200 {
		t.Fatalf("agents: %d %s", st, b)
	} else {
		var as struct{ Agents []stats.AgentStats }
		json.Unmarshal(b, &as)
		if len(as.Agents) != 1 || as.Agents[0].Agent != "agent1" || as.Agents[0].State != "Talking" {
			t.Fatalf("agents: %s", b)
		}
	}
	m := scrape(t, r)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{metrics.NameStatsQueueCallsToday, map[string]string{"tenant": "demo", "queue": "7000", "outcome": "offered"}, 1},
		{metrics.NameStatsQueueCallsToday, map[string]string{"tenant": "demo", "queue": "7000", "outcome": "answered"}, 1},
		{metrics.NameStatsQueueCallsToday, map[string]string{"tenant": "demo", "queue": "7001", "outcome": "offered"}, 0},
		{metrics.NameStatsQueueAgents, map[string]string{"tenant": "demo", "queue": "7000", "state": "Talking"}, 1},
		{metrics.NameStatsQueueWaiting, map[string]string{"tenant": "demo", "queue": "7000"}, 0},
	} {
		if v, ok := m.Value(c.name, c.labels); !ok || v != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if st, _ := get("/v1/tenants/demo/stats/tenant", ""); st != 401 {
		t.Errorf("no token: %d, want 401", st)
	}
	if st, _ := get("/v1/tenants/other/stats/tenant", e2eToken); st != 403 {
		t.Errorf("another tenant: %d, want 403", st)
	}
}
