package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

// TestTwoServesFence: two serve processes with the same server id and
// tenant against the same Kafka (--kafka-brokers; their own data
// directories) fence each other: once the second one has started, the
// first one's relay stops publishing at its next batch, says it was
// fenced (relay stats and /readyz), and publishes nothing; the second one
// publishes.
func TestTwoServesFence(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			older := startMain(t, tg.Brokers, prefix)
			if st, body := older.post(t, "POST", "/v1/tenants/demo/dns/1001/dnd", `{"on":true,"referenceId":1}`); st != http.StatusOK {
				t.Fatalf("dnd on the older serve: %d %s", st, body)
			}
			older.waitPublished(t)

			newer := startMain(t, tg.Brokers, prefix)
			if st, body := older.post(t, "POST", "/v1/tenants/demo/dns/1001/dnd", `{"on":false,"referenceId":2}`); st != http.StatusOK {
				t.Fatalf("dnd off on the older serve: %d %s", st, body)
			}
			deadline := time.Now().Add(30 * time.Second)
			var stopped string
			for stopped == "" {
				for _, s := range older.addrs.Durability() {
					stopped = s.Err
				}
				if time.Now().After(deadline) {
					t.Fatalf("the older serve's relay still publishes after the newer one started: %+v", older.addrs.Durability())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.Contains(stopped, "fenced") {
				t.Fatalf("the older serve's relay stopped with %q, want it fenced", stopped)
			}
			res, err := http.Get("http://" + older.addrs.HTTP + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK || !strings.Contains(string(body), "fenced") {
				t.Errorf("the older serve's /readyz: %d %s, want not ready, fenced", res.StatusCode, body)
			}

			if st, body := newer.post(t, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true,"referenceId":3}`); st != http.StatusOK {
				t.Fatalf("dnd on the newer serve: %d %s", st, body)
			}
			newer.waitPublished(t)
			topics := []string{prefix + event.AgentStateTopic, prefix + event.CallThreadTopic}
			var refs []int64
			for _, r := range kafkatest.ConsumeCommitted(t, tg.Brokers, topics, 30*time.Second) {
				var e event.Event
				if err := event.Unmarshal(r.Value, &e); err != nil {
					t.Fatal(err)
				}
				refs = append(refs, e.ReferenceID)
			}
			if len(refs) != 2 || refs[0]+refs[1] != 4 {
				t.Fatalf("Kafka holds the events of references %v read_committed, want 1 (older, before the newer started) and 3 (newer)", refs)
			}
			t.Logf("older relay: %s", stopped)
		})
	}
}
