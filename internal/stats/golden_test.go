package stats

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // goldens use Europe/Paris on any machine

	"github.com/switchboard-cc/switchboard/event"
)

// Golden files, testdata/*.txt, in the engine's datadriven style: blocks of
//
//	<command> [key=value ...]
//	[input lines]
//	----
//	<expected output>
//	<blank line>
//
// Commands:
//
//	options [tz=Zone] [sl.<queue>=<duration>]   tenant "demo"'s options (first block)
//	events [day=YYYY-MM-DD]                      one event per input line (below)
//	stats at=HH:MM:SS [what=tenant|queues|agents]  the figures at that instant
//
// An event line is `HH:MM:SS[.ffffff] <EventName> Field=value ...`: the time
// (UTC, on the day given, default 2026-01-05), the event name and its fields
// as EVENTS.md spells them (enums by name). Tenant "demo" and Seq are
// filled in. The line is encoded as the record value and decoded with
// event.Unmarshal, so the aggregator sees what a consumer sees.
//
// -rewrite writes the actual output back; review it as a diff.
var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata with the actual output")

const goldenDay = "2026-01-05"

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runGolden(t, f) })
	}
}

type block struct {
	cmd   string
	input []string
	want  string
	pre   []string // comment lines before it
}

func parseBlocks(t *testing.T, text string) []block {
	var bs []block
	var cur *block
	var pre []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if cur == nil {
			if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
				pre = append(pre, l)
				continue
			}
			cur = &block{cmd: l, pre: pre}
			pre = nil
			continue
		}
		if l == "----" {
			var out []string
			for i++; i < len(lines) && lines[i] != ""; i++ {
				out = append(out, lines[i])
			}
			cur.want = strings.Join(out, "\n")
			bs = append(bs, *cur)
			cur = nil
			continue
		}
		cur.input = append(cur.input, l)
	}
	if cur != nil {
		t.Fatalf("block %q has no ----", cur.cmd)
	}
	return append(bs, block{pre: pre, cmd: ""})
}

func runGolden(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := parseBlocks(t, string(b))
	opts := TenantOptions{Location: time.UTC, ServiceLevel: map[string]time.Duration{}}
	var agg *Aggregator
	seq := map[string]int64{}
	var out strings.Builder
	for _, bl := range blocks {
		for _, p := range bl.pre {
			out.WriteString(p + "\n")
		}
		if bl.cmd == "" {
			break
		}
		got := ""
		fields := strings.Fields(bl.cmd)
		args := kv(t, fields[1:])
		day := goldenDay
		switch fields[0] {
		case "options":
			for k, v := range args {
				switch {
				case k == "tz":
					loc, err := time.LoadLocation(v)
					if err != nil {
						t.Fatal(err)
					}
					opts.Location = loc
				case strings.HasPrefix(k, "sl."):
					d, err := time.ParseDuration(v)
					if err != nil {
						t.Fatal(err)
					}
					opts.ServiceLevel[strings.TrimPrefix(k, "sl.")] = d
				default:
					t.Fatalf("options: unknown %s", k)
				}
			}
			got = "ok"
		case "events":
			if agg == nil {
				agg = New(Options{Tenants: map[string]TenantOptions{"demo": opts}})
			}
			if d, ok := args["day"]; ok {
				day = d
			}
			for _, l := range bl.input {
				ev := parseEvent(t, day, l, seq)
				agg.Add(ev)
			}
			got = "ok"
		case "stats":
			if d, ok := args["day"]; ok {
				day = d
			}
			now := parseTime(t, day, args["at"])
			got = render(agg, "demo", now, args["what"])
		default:
			t.Fatalf("unknown command %q", bl.cmd)
		}
		out.WriteString(bl.cmd + "\n")
		for _, l := range bl.input {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n" + got + "\n")
		if !*rewrite && got != bl.want {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", path, bl.cmd, got, bl.want)
		}
		out.WriteString("\n")
	}
	if *rewrite {
		s := strings.TrimRight(out.String(), "\n") + "\n"
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func kv(t *testing.T, fs []string) map[string]string {
	m := map[string]string{}
	for _, f := range fs {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("%q: want key=value", f)
		}
		m[k] = v
	}
	return m
}

func parseTime(t *testing.T, day, hms string) time.Time {
	tm, err := time.Parse("2006-01-02 15:04:05.999999", day+" "+hms)
	if err != nil {
		t.Fatalf("time %q: %v", hms, err)
	}
	return tm
}

// parseEvent builds the record value of an event line and decodes it.
func parseEvent(t *testing.T, day, line string, seq map[string]int64) *event.Event {
	t.Helper()
	fs := strings.Fields(line)
	if len(fs) < 2 {
		t.Fatalf("event line %q", line)
	}
	at := parseTime(t, day, fs[0])
	name, ok := event.ParseName(fs[1])
	if !ok {
		t.Fatalf("%q: unknown event %s", line, fs[1])
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"id":%q,"Server":"node1","time":{"seconds":%d,"useconds":%d},"CustomerID":"demo"`,
		name.String(), at.Unix(), at.Nanosecond()/1000)
	m := kv(t, fs[2:])
	key := m["AgentID"]
	if name.Topic() == event.CallThreadTopic {
		if m["CallThreadID"] == "" {
			th := m["ConnID"]
			if p := m["PreviousConnID"]; p != "" && m["CallType"] == "Consult" {
				th = p
			}
			m["CallThreadID"] = "thread-" + th
		}
		key = m["CallThreadID"]
		if m["CallID"] == "" {
			m["CallID"] = "1"
		}
	} else if key == "" {
		key = m["ThisDN"]
	}
	seq[key]++
	fmt.Fprintf(&b, `,"Seq":%d,"SchemaVersion":2`, seq[key])
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		v := m[k]
		switch k {
		case "CallID":
			fmt.Fprintf(&b, `,%q:%s`, k, v)
		case "Reasons", "Extensions":
			kk, vv, _ := strings.Cut(v, ":")
			fmt.Fprintf(&b, `,%q:{%q:%q}`, k, kk, vv)
		default:
			fmt.Fprintf(&b, `,%q:%q`, k, v)
		}
	}
	b.WriteString("}")
	var ev event.Event
	if err := event.Unmarshal([]byte(b.String()), &ev); err != nil {
		t.Fatalf("%q: %v\n%s", line, err, b.String())
	}
	return &ev
}

// render writes the figures as text: zero figures are left out.
func render(a *Aggregator, tenant string, now time.Time, what string) string {
	var lines []string
	if what == "" || what == "tenant" {
		ts, ok := a.Tenant(tenant, now)
		if !ok {
			return "no tenant"
		}
		lines = append(lines, fmt.Sprintf("tenant %s day=%s waiting=%d longestWait=%s agents=%s calls=%s",
			ts.Tenant, ts.Day, ts.Waiting, num(ts.LongestWait), counts(ts.Agents), counts(ts.Calls)))
		lines = append(lines, intervals(ts.Intervals)...)
	}
	if what == "" || what == "queues" {
		for _, q := range a.Queues(tenant, now) {
			lines = append(lines, fmt.Sprintf("queue %s kind=%s sl=%s waiting=%d longestWait=%s agents=%s calls=%s",
				q.Queue, q.Kind, num(q.ServiceLevelThreshold), q.Waiting, num(q.LongestWait), counts(q.Agents), counts(q.Calls)))
			lines = append(lines, intervals(q.Intervals)...)
			for _, g := range intervals(q.Group) {
				lines = append(lines, "  group "+g[2:])
			}
		}
	}
	if what == "" || what == "agents" {
		for _, ag := range a.Agents(tenant, now) {
			lines = append(lines, fmt.Sprintf("agent %s dn=%s state=%s for=%s queues=%s",
				ag.Agent, ag.DN, ag.State, num(ag.TimeInState), strings.Join(ag.Queues, ",")))
			lines = append(lines, intervals(ag.Intervals)...)
		}
	}
	return strings.Join(lines, "\n")
}

func intervals(iv Intervals) []string {
	var out []string
	for _, x := range []struct {
		n string
		v Interval
	}{{"today", iv.Today}, {"15m", iv.Last15}, {"60m", iv.Last60}} {
		if s := fields(x.v); s != "" {
			out = append(out, "  "+x.n+": "+s)
		}
	}
	return out
}

// fields lists an interval's non-zero figures (a service level of 100
// with nothing answered or abandoned is left out too).
func fields(iv Interval) string {
	var parts []string
	v := reflect.ValueOf(iv)
	ty := v.Type()
	for i := 0; i < ty.NumField(); i++ {
		name := strings.Split(ty.Field(i).Tag.Get("json"), ",")[0]
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Int64:
			if f.Int() != 0 {
				parts = append(parts, name+"="+strconv.FormatInt(f.Int(), 10))
			}
		case reflect.Float64:
			x := f.Float()
			if x != 0 && !(name == "serviceLevel" && x == 100 && iv.Answered+iv.Abandoned == 0) {
				parts = append(parts, name+"="+num(x))
			}
		case reflect.Map:
			m := iv.TimeInState
			for _, k := range slices.Sorted(mapKeys(m)) {
				if m[k] != 0 {
					parts = append(parts, k+"="+num(m[k]))
				}
			}
		}
	}
	return strings.Join(parts, " ")
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(mapKeys(m)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
