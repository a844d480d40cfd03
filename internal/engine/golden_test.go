package engine

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the time-of-day goldens need Europe/Paris on any machine

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

// Golden scenario files, in the style of cockroachdb datadriven as used by
// etcd raft: testdata/*.txt hold blocks of
//
//	<command> [key=value ...]
//	----
//	<expected output, one line per event, effect or error>
//	<blank line>
//
// Lines starting with '#' between blocks are comments. Run with -rewrite to
// write the actual output back into the files, then review the diff.
//
// Every file runs against the demo tenant (config.Demo), Server "node1",
// starting at goldenStart; "tick d=<duration>" moves the clock. The runner
// also checks, for every step, what every golden must hold: constant fields
// set, Seq gapless per key, and a refusal leaving the state unchanged.

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata with the actual output")

const (
	goldenServer = "node1"
	goldenStart  = int64(1_767_225_600_000_000) // 2026-01-01T00:00:00Z
)

// goldenTenant is the demo tenant with what call flows need besides: a
// tenant-wide no-answer timeout of 20 s, DN 1020 holding a bridged
// appearance of 1019's line, and call waiting on 1018.
func goldenTenant() *config.Tenant {
	f := config.Demo("tok", "pw")
	t := &f.Tenants[0]
	t.Defaults.NoAnswerTimeout = config.D(20 * time.Second)
	t.DN("1020").Bridged = []string{"1019"}
	t.DN("1018").CallWaiting = true
	// ACD beyond the demo: queue 7002 (skill english 50, at most one
	// waiting call, RONA after 8 s, overflow to 7000 after 30 s, music on
	// entry and a 5 s announcement every 20 s); routing points 5002
	// (longest-idle agent with english >= 60 logged in to 7002, else
	// 7000) and 5003 (time of day, Paris: weekdays 08:00-18:00 to 7000,
	// Saturday 09:00-12:00 to 7001, else 1010).
	t.DNs = append(t.DNs,
		config.DN{Number: "7002", Type: config.ACDQueue, Name: "english", Queue: &config.Queue{
			NoAnswerTimeout: config.D(8 * time.Second),
			MaxSize:         1,
			Overflow:        &config.Overflow{After: config.D(30 * time.Second), To: "7000"},
			Skills:          map[string]int{"english": 50},
			Treatments: []config.QueueTreatment{
				{Type: "Music", Parms: map[string]string{"MUSIC_DN": "9001"}},
				{Type: "PlayAnnouncement", After: config.D(20 * time.Second), Every: config.D(20 * time.Second),
					Parms: map[string]string{"ANNOUNCEMENT": "please-wait", "DURATION": "5"}},
			},
		}},
		config.DN{Number: "5002", Type: config.RoutingPoint, Name: "english agent", Routing: &config.Routing{
			Strategy: &config.Strategy{Type: config.StrategySkill, Skill: "english", MinLevel: 60, Queue: "7002", Fallback: "7000"},
		}},
		config.DN{Number: "5003", Type: config.RoutingPoint, Name: "office hours", Routing: &config.Routing{
			Strategy: &config.Strategy{Type: config.StrategyTimeOfDay, TimeZone: "Europe/Paris", Fallback: "1010",
				Rules: []config.TimeRule{
					{Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "08:00", To: "18:00", Destination: "7000"},
					{Days: []string{"sat"}, From: "09:00", To: "12:00", Destination: "7001"},
				}},
		}},
	)
	// RONA policies (5.16): queue 7003 keeps an agent who lets a call ring
	// out Ready (policy none, after 8 s); agent19 is logged out instead
	// (its own policy, over the queue's).
	t.DNs = append(t.DNs, config.DN{Number: "7003", Type: config.ACDQueue, Name: "no rona", Queue: &config.Queue{
		NoAnswerTimeout: config.D(8 * time.Second), RONA: config.RONANone}})
	for i := range t.Agents {
		switch t.Agents[i].ID {
		case "agent19":
			t.Agents[i].RONA = config.RONALogout
		case "agent1":
			t.Agents[i].Skills = map[string]int{"english": 70}
		case "agent2":
			t.Agents[i].Skills = map[string]int{"english": 50}
		case "agent3":
			t.Agents[i].Skills = map[string]int{"english": 90}
		}
	}
	return t
}

func newDemoEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := New(goldenTenant(), Options{Server: goldenServer})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type block struct {
	pre  []string // comments and blank lines before the command
	cmd  string
	want []string
	line int
}

func parseGolden(t *testing.T, path string) (blocks []block, trailer []string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var pre []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pre = append(pre, l)
			continue
		}
		b := block{pre: pre, cmd: l, line: i + 1}
		pre = nil
		i++
		if i >= len(lines) || lines[i] != "----" {
			t.Fatalf("%s:%d: want ---- after the command", path, b.line)
		}
		for i++; i < len(lines) && lines[i] != ""; i++ {
			b.want = append(b.want, lines[i])
		}
		blocks = append(blocks, b)
	}
	return blocks, pre
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			blocks, trailer := parseGolden(t, path)
			// The file runs twice, its steps alternating StepScratch (the
			// runtime's way) and Step, starting with either: every block
			// gives the golden output both ways, and a scratch step
			// reusing its buffer leaves the events Step handed out before
			// intact (checkKept).
			for parity := range 2 {
				r := &runner{t: t, e: newDemoEngine(t), at: goldenStart, seq: map[string]int64{}, mixed: true, steps: parity}
				for _, b := range blocks {
					got := r.run(b.cmd)
					if strings.Join(got, "\n") != strings.Join(b.want, "\n") && !*rewrite {
						t.Errorf("%s:%d (scratch steps %s): %s\ngot:\n%s\nwant:\n%s", path, b.line, [2]string{"even", "odd"}[parity], b.cmd,
							strings.Join(got, "\n"), strings.Join(b.want, "\n"))
					}
				}
				r.checkKept()
			}
			r := &runner{t: t, e: newDemoEngine(t), at: goldenStart, seq: map[string]int64{}}
			var out strings.Builder
			for _, b := range blocks {
				got := r.run(b.cmd)
				if *rewrite {
					for _, l := range b.pre {
						out.WriteString(l + "\n")
					}
					out.WriteString(b.cmd + "\n----\n")
					for _, l := range got {
						out.WriteString(l + "\n")
					}
					out.WriteString("\n")
					continue
				}
				if strings.Join(got, "\n") != strings.Join(b.want, "\n") {
					t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", path, b.line, b.cmd,
						strings.Join(got, "\n"), strings.Join(b.want, "\n"))
				}
			}
			if *rewrite {
				for _, l := range trailer {
					if strings.HasPrefix(l, "#") {
						out.WriteString(l + "\n")
					}
				}
				if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

type runner struct {
	t   *testing.T
	e   *Engine
	at  int64
	seq map[string]int64 // last Seq per key
	// mixed: alternate StepScratch and Step; kept holds the events Step
	// returned, with their text then, for checkKept.
	mixed bool
	steps int
	kept  []keptEvents
}

type keptEvents struct {
	evs  []event.Event
	text []string
}

// checkKept fails if an event Step handed out changed since (a later
// StepScratch wrote into it).
func (r *runner) checkKept() {
	for _, k := range r.kept {
		for i := range k.evs {
			if got := string(k.evs[i].AppendJSON(nil)); got != k.text[i] {
				r.t.Errorf("an event Step returned changed later:\n was %s\n now %s", k.text[i], got)
				return
			}
		}
	}
}

// run executes one command line and returns its output lines.
func (r *runner) run(line string) []string {
	t := r.t
	name, args := splitCommand(line)
	switch name {
	case "tick":
		d, err := time.ParseDuration(args.get("d"))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		r.at += d.Microseconds()
		return []string{"ok"}
	case "dn":
		v, err := r.e.DN(args.get("n"))
		return view(v, err)
	case "agent":
		v, err := r.e.Agent(args.get("id"))
		return view(v, err)
	case "call":
		v, err := r.e.Call(r.e.conn(args.get("conn")))
		return view(v, err)
	case "calls":
		return view(r.e.Calls(), nil)
	case "queue":
		v, err := r.e.Queue(args.get("n"))
		return view(v, err)
	case "mark-acd":
		// Stands in for the ACD: marks DN's party on a call as delivered
		// through queue (ThisQueue, after-call work at its end).
		c, err := r.e.lookupCall(r.e.conn(args.get("conn")))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		p := c.partyOf(r.e.dns[args.get("dn")])
		if p == nil {
			t.Fatalf("%s: DN not on call", line)
		}
		p.queue = args.get("queue")
		return []string{"ok"}
	}
	args = r.e.substitute(args)
	cmd, err := args.command(name)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	before := digest(r.e)
	step, scratch := r.e.Step, r.mixed && r.steps%2 == 0
	if scratch {
		step = r.e.StepScratch
	}
	r.steps++
	res, err := step(r.at, cmd)
	if !scratch && len(res.Events) > 0 {
		k := keptEvents{evs: res.Events}
		for i := range res.Events {
			k.text = append(k.text, string(res.Events[i].AppendJSON(nil)))
		}
		r.kept = append(r.kept, k)
	}
	if err != nil {
		if len(res.Events) != 0 || len(res.Effects) != 0 {
			t.Errorf("%s: refused with events or effects", line)
		}
		if after := digest(r.e); after != before {
			t.Errorf("%s: refused but the state changed:\n%s\n->\n%s", line, before, after)
		}
		var ee *Error
		if !errors.As(err, &ee) {
			t.Errorf("%s: error %v is not an *engine.Error", line, err)
			return []string{"error " + err.Error()}
		}
		return []string{"error " + string(ee.Code) + ": " + err.Error()}
	}
	var out []string
	for i := range res.Events {
		ev := &res.Events[i]
		r.checkCommon(line, ev)
		out = append(out, formatEvent(ev))
	}
	for _, f := range res.Effects {
		out = append(out, formatEffect(f))
	}
	if res.Reply != nil {
		b, _ := json.Marshal(res.Reply)
		out = append(out, "reply "+string(b))
	}
	if len(out) == 0 {
		out = []string{"ok (no events)"}
	}
	return out
}

// checkCommon checks what every event of a step must carry.
func (r *runner) checkCommon(line string, ev *event.Event) {
	t := r.t
	if ev.Server != goldenServer || ev.CustomerID != "demo" || ev.SchemaVersion != event.SchemaVersion {
		t.Errorf("%s: %s: Server %q CustomerID %q SchemaVersion %d", line, ev.ID, ev.Server, ev.CustomerID, ev.SchemaVersion)
	}
	if ev.Time != event.TimeFromUnixMicro(r.at) {
		t.Errorf("%s: %s: time %v, want %d", line, ev.ID, ev.Time, r.at)
	}
	if err := ev.Validate(); err != nil {
		t.Errorf("%s: %v", line, err)
	}
	k := ev.Key()
	if ev.Seq != r.seq[k]+1 {
		t.Errorf("%s: %s: key %s Seq %d after %d", line, ev.ID, k, ev.Seq, r.seq[k])
	}
	r.seq[k] = ev.Seq
}

func view(v any, err error) []string {
	if err != nil {
		var ee *Error
		errors.As(err, &ee)
		return []string{"error " + string(ee.Code) + ": " + err.Error()}
	}
	b, _ := json.Marshal(v)
	return []string{string(b)}
}

// formatEvent writes an event on one line: the name, key#Seq, then every
// present field in declaration order except the constant ones the runner
// checks (Server, CustomerID, SchemaVersion) and Time (checked against the
// clock).
func formatEvent(ev *event.Event) string {
	var b strings.Builder
	b.WriteString(ev.ID.String() + " " + ev.Key() + "#" + strconv.FormatInt(ev.Seq, 10))
	v := reflect.ValueOf(ev).Elem()
	ty := v.Type()
	for i := 0; i < ty.NumField(); i++ {
		f := ty.Field(i)
		switch f.Name {
		case "ID", "Server", "Time", "CustomerID", "Seq", "SchemaVersion":
			continue
		}
		fv := v.Field(i)
		if fv.IsZero() {
			continue
		}
		b.WriteString(" " + f.Name + "=")
		switch x := fv.Interface().(type) {
		case event.KV:
			b.WriteString(formatKV(x))
		case fmt.Stringer:
			b.WriteString(x.String())
		default:
			fmt.Fprint(&b, x)
		}
	}
	return b.String()
}

func formatKV(kv event.KV) string {
	parts := make([]string, len(kv))
	for i, p := range kv {
		switch p.Kind {
		case event.KindInt:
			parts[i] = p.Key + ":" + strconv.FormatInt(p.Int, 10)
		case event.KindList:
			parts[i] = p.Key + ":" + formatKV(p.List)
		default:
			parts[i] = p.Key + ":" + strconv.Quote(p.Str)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func formatEffect(f Effect) string {
	switch f := f.(type) {
	case StartTimer:
		return fmt.Sprintf("effect StartTimer %s at=+%s", f.ID, time.Duration(f.At-goldenStart)*time.Microsecond)
	case CancelTimer:
		return "effect CancelTimer " + f.ID
	}
	return fmt.Sprintf("effect %T %+v", f, f)
}

// args are the key=value arguments of a command line, in order.
type args = goldenArgs

func splitCommand(line string) (string, args) {
	fields := strings.Fields(line)
	var a args
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		a = append(a, [2]string{k, v})
	}
	return fields[0], a
}

// conn turns "$n" into the ConnID of the n-th call of the engine; other
// values are returned as they are.
func (e *Engine) conn(v string) string {
	if n, ok := strings.CutPrefix(v, "$"); ok {
		if i, err := strconv.ParseUint(n, 10, 64); err == nil {
			return connString(e.ids.perm(i))
		}
	}
	return v
}

var connRef = regexp.MustCompile(`\$[0-9]+`)

// substitute applies conn to every "$n" in the arguments (conn=$1,
// consult=$2, id=noanswer/$1/1002/3).
func (e *Engine) substitute(a args) args {
	out := make(args, len(a))
	for i, p := range a {
		p[1] = connRef.ReplaceAllStringFunc(p[1], e.conn)
		out[i] = p
	}
	return out
}

// goldenNames maps a command's golden-file name to its registration.
func goldenNames() map[string]*registered {
	m := make(map[string]*registered, len(requests))
	for _, r := range requests {
		m[r.golden] = r
	}
	return m
}

var goldenByName = sync.OnceValue(goldenNames)

// command builds the command a golden line names, with the syntax of its
// registration.
func (a args) command(name string) (Command, error) {
	r := goldenByName()[name]
	if r == nil {
		return nil, fmt.Errorf("unknown command %q", name)
	}
	return r.parse(a, a.request()), nil
}

// notYet are events no golden needs to produce (none now).
var notYet = map[event.Name]bool{}

// TestGoldenCoverage checks that the golden files produce every event and
// refuse with every code (TestEveryCommandHasGoldenFlow checks that they
// run every command).
func TestGoldenCoverage(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	seen := map[string]bool{}
	for _, path := range files {
		blocks, _ := parseGolden(t, path)
		for _, b := range blocks {
			for _, l := range b.want {
				seen[strings.Fields(l)[0]] = true
				if strings.HasPrefix(l, "error ") {
					seen[strings.Fields(l)[1]] = true
				}
			}
		}
	}
	for _, n := range event.Names() {
		if notYet[n] {
			continue
		}
		if !seen[n.String()] {
			t.Errorf("no golden produces %s", n)
		}
	}
	for _, want := range []string{"invalid:", "not_found:", "conflict:", "effect"} {
		if !seen[want] {
			t.Errorf("no golden shows %s", want)
		}
	}
}
