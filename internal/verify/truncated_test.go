package verify_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/verify"
)

// A stream whose partitions lost their oldest records to retention checks
// clean when its topics are marked truncated: keys whose first retained
// record is not their first have their Seq checked from there and their
// call or agent flows taken up where they are. Unmarked, the same stream
// shows the missing starts; and a gap after the truncation point is still
// found.
func TestTruncatedStream(t *testing.T) {
	recs, _ := goodStream(t)
	// Retention deletes a prefix of every partition: here about a third.
	size := map[string]int64{}
	for _, r := range recs {
		tp := r.Topic + string(rune('a'+r.Partition))
		size[tp] = max(size[tp], r.Offset+1)
	}
	var kept []verify.Record
	for _, r := range recs {
		if r.Offset >= size[r.Topic+string(rune('a'+r.Partition))]/3 {
			kept = append(kept, r)
		}
	}
	run := func(recs []verify.Record, truncated bool) *verify.Report {
		opts := verify.Options{Partitions: map[string]int32{event.AgentStateTopic: parts, event.CallThreadTopic: parts}}
		if truncated {
			opts.Truncated = map[string]bool{event.AgentStateTopic: true, event.CallThreadTopic: true}
		}
		c := verify.NewChecker(opts)
		for _, r := range recs {
			c.Add(r)
		}
		return c.Finish()
	}
	if rep := run(kept, true); !rep.OK {
		t.Fatalf("truncated stream marked truncated reported:\n%s", rep.Text())
	}
	rep := run(kept, false)
	if rep.OK {
		t.Fatal("truncated stream not marked truncated passed")
	}
	rules := map[verify.Rule]bool{}
	for _, p := range rep.Problems {
		rules[p.Rule] = true
	}
	if !rules[verify.RuleSeqGap] || !rules[verify.RuleCallFlow] {
		t.Errorf("unmarked truncated stream: rules %v, want seq-gap and call-flow", rules)
	}
	// A record missing after the truncation point is still a gap: drop a
	// record that has records of its key before and after it.
	count := map[string]int{}
	for _, r := range kept {
		count[string(r.Key)]++
	}
	seen := map[string]int{}
	drop := -1
	for j, r := range kept {
		k := string(r.Key)
		if seen[k]++; drop < 0 && seen[k] == 2 && count[k] >= 3 {
			drop = j
		}
	}
	if drop < 0 {
		t.Fatal("no key with three retained records")
	}
	holed := append(append([]verify.Record{}, kept[:drop]...), kept[drop+1:]...)
	rep = run(holed, true)
	found := false
	for _, p := range rep.Problems {
		found = found || (p.Rule == verify.RuleSeqGap && p.Key == string(kept[drop].Key))
	}
	if !found {
		t.Fatalf("a record missing after the truncation point was not reported:\n%s", rep.Text())
	}
}

// --mid-stream takes keys up where they begin on topics that start at
// offset 0 (a copy of a truncated topic, or a cluster switchboard moved to
// while running), where nothing marks them truncated: the same events fail
// without it.
func TestMidStreamFlag(t *testing.T) {
	recs, _ := goodStream(t)
	var lines bytes.Buffer
	for _, r := range recs[len(recs)/3:] { // the first third is not there
		lines.Write(r.Value)
		lines.WriteByte('\n')
	}
	file := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(file, lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := verify.Main(context.Background(), []string{"--file", file}, &out, &out); code != 1 || !strings.Contains(out.String(), "first Seq of the key is") {
		t.Fatalf("without --mid-stream: exit %d, want 1 with the keys' missing starts:\n%s", code, out.String())
	}
	out.Reset()
	if code := verify.Main(context.Background(), []string{"--file", file, "--mid-stream"}, &out, &out); code != 0 {
		t.Fatalf("with --mid-stream: exit %d, want 0:\n%s", code, out.String())
	}
}
