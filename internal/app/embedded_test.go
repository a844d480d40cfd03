package app

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/metrics"
)

// The embedded broker's flags: documented defaults, the environment under
// the flags, the broker's meaning of 0 (the default) mapped from the
// flags' (no limit), and the errors.
func TestEmbeddedFlags(t *testing.T) {
	got, err := ParseFlags(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if e := got.Embedded; e.Retention != 7*24*time.Hour || e.RetentionBytes != 256<<20 || e.RetentionCheck != 5*time.Minute || e.MemoryWarn != 0.25 {
		t.Fatalf("defaults %+v differ from the documented ones", e)
	}
	got, err = ParseFlags([]string{"--kafka-retention-bytes", "64MiB", "--kafka-memory-warn", "0"},
		env(map[string]string{"SWITCHBOARD_KAFKA_RETENTION": "24h", "SWITCHBOARD_KAFKA_RETENTION_BYTES": "1GiB",
			"SWITCHBOARD_KAFKA_RETENTION_CHECK": "30s"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := EmbeddedKafkaConfig{Retention: 24 * time.Hour, RetentionBytes: 64 << 20, RetentionCheck: 30 * time.Second}
	if got.Embedded != want {
		t.Fatalf("got %+v, want %+v", got.Embedded, want)
	}
	bc := got.Embedded.brokerConfig(broker.Config{Dir: "d"})
	if bc.Retention != 24*time.Hour || bc.RetentionBytes != 64<<20 || bc.RetentionCheck != 30*time.Second || bc.MemoryWarnShare >= 0 {
		t.Fatalf("broker config %+v", bc)
	}
	none := EmbeddedKafkaConfig{RetentionCheck: time.Minute}
	if bc := none.brokerConfig(broker.Config{}); bc.Retention >= 0 || bc.RetentionBytes >= 0 || bc.MemoryWarnShare >= 0 {
		t.Fatalf("0 (no limit, no warning) maps to %+v, want negative values", bc)
	}
	for _, c := range []struct{ args []string }{
		{[]string{"--kafka-retention", "-1h"}},
		{[]string{"--kafka-retention-bytes", "-5"}},
		{[]string{"--kafka-retention-check", "0s"}},
		{[]string{"--kafka-memory-warn", "1.5"}},
		{[]string{"--kafka-memory-warn", "lots"}},
	} {
		if _, err := ParseFlags(c.args, env(nil), &bytes.Buffer{}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), strings.TrimPrefix(c.args[0], "--")) {
			t.Errorf("%v: err %v, want ErrConfig naming the flag", c.args, err)
		}
	}
}

// /metrics has the embedded broker's retained records and bytes per topic,
// the records as many as Kafka holds.
func TestEmbeddedBrokerMetrics(t *testing.T) {
	r := startMainWith(t, nil, "", nil)
	for _, req := range [][3]string{
		{"POST", "/v1/tenants/demo/dns/1001/login", `{"agentId":"agent1"}`},
		{"POST", "/v1/tenants/demo/calls", `{"from":"1002","to":"1003"}`},
	} {
		if st, body := r.post(t, req[0], req[1], req[2]); st >= 300 {
			t.Fatalf("%s: %d %s", req[1], st, body)
		}
	}
	r.waitPublished(t)
	e := scrape(t, r)
	for _, topic := range []string{event.AgentStateTopic, event.CallThreadTopic} {
		recs, ok := e.Value(metrics.NameBrokerRetainedRecords, map[string]string{"topic": topic})
		if want := kafkatest.RecordCount(t, r.addrs.Kafka, topic); !ok || recs != float64(want) || want == 0 {
			t.Errorf("%s: %v retained records (found %v), Kafka holds %d", topic, recs, ok, want)
		}
		// A record batch is at least 61 bytes of header per record here
		// (one event a batch at most), plus the event.
		if b, ok := e.Value(metrics.NameBrokerRetainedBytes, map[string]string{"topic": topic}); !ok || b < 61*recs {
			t.Errorf("%s: %v retained bytes (found %v) for %v records", topic, b, ok, recs)
		}
	}
}
