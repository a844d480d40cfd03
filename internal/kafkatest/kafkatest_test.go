package kafkatest

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeTB records Fatalf instead of stopping the test.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }
func (f *fakeTB) Helper()                           {}

func TestRealKafkaFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name      string
		kafka, ci string
		require   string
		want      []string // nil: no target
		fatal     bool
	}{
		{"unset locally", "", "", "", nil, false},
		{"unset in CI", "", "true", "", nil, true},
		{"unset but required", "", "", "1", nil, true},
		{"set", "127.0.0.1:9093", "true", "", []string{"127.0.0.1:9093"}, false},
		{"list", " 127.0.0.1:1, 127.0.0.1:2 ,", "", "", []string{"127.0.0.1:1", "127.0.0.1:2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvKafka, tc.kafka)
			t.Setenv("CI", tc.ci)
			t.Setenv(EnvRequireKafka, tc.require)
			f := &fakeTB{TB: t}
			got := RealKafka(f)
			if (f.fatal != "") != tc.fatal {
				t.Fatalf("fatal = %q, want fatal %v", f.fatal, tc.fatal)
			}
			if tc.want == nil {
				if got != nil {
					t.Fatalf("RealKafka = %+v, want none", got)
				}
				return
			}
			if got == nil || got.Name != NameReal || got.Cluster != nil || fmt.Sprint(got.Brokers) != fmt.Sprint(tc.want) {
				t.Fatalf("RealKafka = %+v, want brokers %v", got, tc.want)
			}
		})
	}
}

func TestUniqueTopicPrefix(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9._-]+\.$`)
	seen := map[string]bool{}
	for range 50 {
		p := UniqueTopicPrefix(t)
		if !valid.MatchString(p) || len(p)+len("voice-agentstate") > 249 {
			t.Fatalf("prefix %q is not a valid topic prefix", p)
		}
		if seen[p] {
			t.Fatalf("prefix %q repeated", p)
		}
		seen[p] = true
	}
}

// The embedded target works end to end with Consume and RecordCount; the
// real target too when configured.
func TestTargetsRoundTrip(t *testing.T) {
	for _, tg := range Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			if (tg.Name == NameEmbedded) != (tg.Cluster != nil) {
				t.Fatalf("target %s: Cluster = %v", tg.Name, tg.Cluster)
			}
			topic := UniqueTopicPrefix(t) + "x"
			cl := Client(t, tg.Brokers)
			if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 2, -1, nil, topic); err != nil {
				t.Fatal(err)
			}
			var recs []*kgo.Record
			for i := range 10 {
				recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%d", i)})
			}
			ctx := t.Context()
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			got := Consume(t, tg.Brokers, []string{topic}, 10, 30*time.Second)
			if len(got) != 10 {
				t.Fatalf("Consume returned %d records", len(got))
			}
			if n := RecordCount(t, tg.Brokers, topic); n != 10 {
				t.Fatalf("RecordCount = %d, want 10", n)
			}
		})
	}
}
