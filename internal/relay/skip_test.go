package relay

import (
	"log/slog"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/logsample"
)

// TestSkipExact: the resume skips an event only when the partition tail
// holds its (topic, key, Seq). A tail holding Seq 3 and 5 of a key but not
// 4 (a record that landed after one Kafka refused) makes 4 published, not
// dropped as the highest-Seq rule would, and 6 published too.
func TestSkipExact(t *testing.T) {
	r := &Relay{log: slog.New(slog.DiscardHandler)}
	r.sample = logsample.New(r.log, 0)
	e := event.Event{ID: event.EventAgentReady, CustomerID: "c", AgentID: "a1"}
	topic := "p." + e.Topic()
	tk := topic + "\x00" + e.Key()
	k := &inKafka{has: map[keySeq]struct{}{{tk, 3}: {}, {tk, 5}: {}}, top: map[string]int64{tk: 5}}
	for seq, want := range map[int64]bool{2: false, 3: true, 4: false, 5: true, 6: false} {
		e.Seq = seq
		if got := k.skip(topic, &e, r); got != want {
			t.Errorf("Seq %d with 3 and 5 in Kafka: skip %v, want %v", seq, got, want)
		}
	}
	other := event.Event{ID: event.EventAgentReady, CustomerID: "c", AgentID: "a2", Seq: 3}
	if k.skip(topic, &other, r) {
		t.Error("skipped Seq 3 of another key")
	}
	if (*inKafka)(nil).skip(topic, &e, r) {
		t.Error("skipped with no tail read")
	}
}
