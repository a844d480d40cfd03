package stats

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/internal/startoffset/startoffsettest"
)

// TestStartAtDayRace: a partition that is empty when its start is looked up
// by time, and gets its first records before the lookup's second request
// (the end offset asked for when no record is stamped after the time), must
// start at those records, not after them. Listing the end offsets by time
// alone (what the consumer's AfterMilli reset and kadm do) starts at 2 here.
func TestStartAtDayRace(t *testing.T) {
	const topic = "voice-callthread"
	adm, endListings := startoffsettest.RacyPartition(t, topic)
	s := &Service{log: slog.New(slog.DiscardHandler)}
	m := map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset()}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.startAtDay(ctx, adm, time.Now().Add(-time.Hour), map[string][]int32{topic: {0}}, m)
	if n := endListings(); n != 2 {
		t.Fatalf("%d end listings, want 2 (ours, then the lookup's)", n)
	}
	if got := m[topic][0].EpochOffset().Offset; got != 0 {
		t.Fatalf("start offset %d, want 0: the records appended during the lookup are skipped", got)
	}
}
