package startoffset

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/internal/startoffset/startoffsettest"
)

// TestList: the start by time, from the beginning, and past the last
// record (the end); a topic that does not exist is Missing.
func TestList(t *testing.T) {
	const topic = "voice-agentstate"
	_, producer, adm := startoffsettest.Cluster(t, topic)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range 5 {
		r := &kgo.Record{Topic: topic, Value: []byte("x"), Timestamp: t0.Add(time.Duration(i) * time.Minute)}
		if err := producer.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	tp := Partition{topic, 0}
	for _, c := range []struct {
		name string
		o    Options
		want Range
	}{
		{"since the third record", Options{Since: t0.Add(2 * time.Minute)}, Range{2, 5}},
		{"since just after the second", Options{Since: t0.Add(time.Minute + time.Millisecond)}, Range{2, 5}},
		{"since before all", Options{Since: t0.Add(-time.Hour)}, Range{0, 5}},
		{"since after all", Options{Since: time.Now().Add(time.Hour)}, Range{5, 5}},
		{"from the beginning", Options{FromBeginning: true, Since: time.Now()}, Range{0, 5}},
		{"committed ends", Options{Committed: true, Since: t0.Add(4 * time.Minute)}, Range{4, 5}},
	} {
		l, err := List(ctx, adm, []string{topic, "no-such-topic"}, c.o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := l.Ranges[tp]; got != c.want || len(l.Ranges) != 1 {
			t.Errorf("%s: %v (%d partitions), want %v", c.name, got, len(l.Ranges), c.want)
		}
		if !slices.Equal(l.Missing, []string{"no-such-topic"}) {
			t.Errorf("%s: missing %v", c.name, l.Missing)
		}
	}
}

// TestListRace: a partition that is empty when its start is looked up by
// time, and gets its first records before the lookup's second request
// (kadm asks for the end when no record is stamped after the time), starts
// at those records, not after them: List listed the end before. With
// committed ends (tail's default) as with high watermarks (the
// statistics'). Listing by time alone starts at 2 here.
func TestListRace(t *testing.T) {
	for _, committed := range []bool{false, true} {
		const topic = "voice-callthread"
		adm, endListings := startoffsettest.RacyPartition(t, topic)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		l, err := List(ctx, adm, []string{topic}, Options{Since: time.Now().Add(-time.Hour), Committed: committed})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if n := endListings(); n != 2 {
			t.Fatalf("committed %v: %d end listings, want 2 (ours, then the lookup's)", committed, n)
		}
		if got := l.Ranges[Partition{topic, 0}]; got != (Range{0, 0}) {
			t.Errorf("committed %v: %v, want {0 0}: the records appended during the lookup are skipped", committed, got)
		}
	}
}
