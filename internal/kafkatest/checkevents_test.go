package kafkatest

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
)

// TestCheckEventsBites: the checker accepts a valid record in the kcat -J
// shape KcatJSON writes and rejects the same record with a Seq gap, so a
// test relying on CheckEvents can fail.
func TestCheckEventsBites(t *testing.T) {
	ev := event.Event{ID: event.EventDNDOn, Server: "s1", Time: event.Time{Seconds: 1700000000},
		CustomerID: "t1", Seq: 1, SchemaVersion: event.SchemaVersion, ThisDN: "1001"}
	rec := func(seq int64) *kgo.Record {
		e := ev
		e.Seq = seq
		r := EventRecords([]event.Event{e})[0]
		r.Offset = seq - 1
		return r
	}
	run := func(recs ...*kgo.Record) error {
		cmd := exec.Command("python3", CheckEventsPath(t))
		cmd.Stdin = bytes.NewReader(KcatJSON(recs))
		out, err := cmd.CombinedOutput()
		t.Logf("%s", bytes.TrimSpace(out))
		return err
	}
	if err := run(rec(1), rec(2)); err != nil {
		t.Fatalf("valid stream refused: %v", err)
	}
	if err := run(rec(1), rec(3)); err == nil {
		t.Fatal("a Seq gap passed the checker")
	}
}
