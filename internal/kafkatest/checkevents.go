package kafkatest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
)

// EnvCheckEvents names the independent contract checker
// (shared/tools/check-events); scripts/test sets it. Unset, the checker is
// looked up at ../shared/tools/check-events beside the repository root, where
// CI places shared/.
const EnvCheckEvents = "SWITCHBOARD_CHECK_EVENTS"

// KcatRecord is one record as `kcat -C -J` prints it, the input of
// check-events.
type KcatRecord struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	TSType    string   `json:"tstype"`
	TS        int64    `json:"ts"`
	Broker    int32    `json:"broker"`
	Headers   []string `json:"headers,omitempty"`
	Key       string   `json:"key"`
	Payload   string   `json:"payload"`
}

// KcatJSON formats records as `kcat -C -J` does: one JSON object a line.
func KcatJSON(recs []*kgo.Record) []byte {
	var out bytes.Buffer
	for _, r := range recs {
		k := KcatRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, TSType: "create",
			TS: r.Timestamp.UnixMilli(), Key: string(r.Key), Payload: string(r.Value)}
		for _, h := range r.Headers {
			k.Headers = append(k.Headers, h.Key, string(h.Value))
		}
		b, _ := json.Marshal(k)
		out.Write(append(b, '\n'))
	}
	return out.Bytes()
}

// EventRecords returns the records the publisher would write for evs
// (topic, key, headers, value), offsets numbered from 0 in order: a stream
// that never went through Kafka (an engine's or a tenant's events), ready
// for CheckEvents.
func EventRecords(evs []event.Event) []*kgo.Record {
	recs := make([]*kgo.Record, len(evs))
	for i := range evs {
		e := &evs[i]
		r := &kgo.Record{Topic: e.Topic(), Key: []byte(e.Key()), Value: e.AppendJSON(nil), Offset: int64(i)}
		for _, h := range e.Headers() {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
		}
		recs[i] = r
	}
	return recs
}

// CheckEventsPath returns the path of the independent checker, failing the
// test if it is not there (it is part of the project's shared contract, so
// its absence is never a reason to skip).
func CheckEventsPath(t testing.TB) string {
	t.Helper()
	p := os.Getenv(EnvCheckEvents)
	if p == "" {
		p = filepath.Join(RepoRoot(t), "..", "shared", "tools", "check-events")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("kafkatest: the contract checker is not at %s (set %s): %v", p, EnvCheckEvents, err)
	}
	return p
}

// CheckEvents pipes the records, formatted as kcat -J does, through the
// independent checker and fails the test unless it exits 0.
func CheckEvents(t testing.TB, recs []*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", CheckEventsPath(t))
	cmd.Stdin = bytes.NewReader(KcatJSON(recs))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("check-events: %v\n%s", err, out)
	}
	t.Logf("check-events: %s", bytes.TrimSpace(out))
}

// RepoRoot is the directory holding go.mod, found upwards from the test's
// working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("kafkatest: no go.mod above the working directory")
		}
		dir = parent
	}
}
