package tail

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadCommittedByDefault: the sample's first half is produced in a
// committed transaction, the second half in an aborted one (what a fenced
// cluster node leaves). tail --exit prints only the committed events, and
// stops although the partitions end with transaction markers;
// --read-uncommitted prints both halves.
func TestReadCommittedByDefault(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	ensureTopics(t, tg.Brokers, prefix)
	evs := sample()
	half := len(evs) / 2
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := kafkatest.Client(t, tg.Brokers, kgo.TransactionalID(prefix+"txn"))
	for i, part := range [][]event.Event{evs[:half], evs[half:]} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range part {
			e := &part[j]
			r := &kgo.Record{Topic: prefix + e.Topic(), Key: []byte(e.Key()), Value: event.Marshal(e)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		end := kgo.TryCommit
		if i == 1 {
			end = kgo.TryAbort
		}
		if err := cl.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
	want := func(evs []event.Event) []string {
		var out []string
		for i := range evs {
			out = append(out, string(event.Marshal(&evs[i])))
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		flags []string
		want  []string
	}{
		{nil, want(evs[:half])},
		{[]string{"--read-uncommitted"}, want(evs)},
	} {
		args := append([]string{"--kafka-brokers", tg.Brokers[0], "--topic-prefix", prefix, "--from-beginning", "--exit", "--json"}, c.flags...)
		code, out, errs := run(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.flags, code, errs)
		}
		got := lines(out)
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Fatalf("%v: got\n%s\nwant\n%s", c.flags, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}
