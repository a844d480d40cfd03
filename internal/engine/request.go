package engine

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-cc/switchboard/event"
)

// One place per request. Every command kind registers itself from its own
// file, req_<kind>.go, in an init function (as franz-go's kfake registers
// each Kafka request): its Kind method gives its name, and the
// registration gives its handler (an adapter calling the handler where it
// lives) and its golden-file syntax. Its journal form is its JSON under
// that name. Step's dispatch, DecodeCommand, the journal prefixes and the
// golden-file parser are all derived from these registrations; the tests
// check that every registered kind has a golden flow and (in ctiapi) an
// API route, and that every type with a Kind method is registered.

// request is the registration of command type C.
type request[C Command] struct {
	// step runs the command. It takes the command by value and passes the
	// handler a pointer to its own copy, so the command does not escape
	// to the heap.
	step func(e *Engine, c C) error
	// golden names the command in golden files (testdata/*.txt) when that
	// is not its Kind.
	golden string
	// parse builds the command from the key=value arguments of a golden
	// line; q holds the request fields (ref=, reason.K=V, ext.K=V).
	parse func(a goldenArgs, q Request) C
}

// registered is one registration with its type erased.
type registered struct {
	kind   string
	golden string
	// prefix is the start of the journal form:
	// {"kind":"<kind>","cmd": (the kind as encoding/json writes it).
	prefix []byte
	step   func(e *Engine, c Command) error
	decode func(b []byte) (Command, error)
	parse  func(a goldenArgs, q Request) Command
}

// requests holds every registration by Kind.
var requests = map[string]*registered{}

// register adds C's registration; a kind registered twice, or a
// registration missing its handler or golden syntax, panics at start-up.
func register[C Command](r request[C]) {
	var zero C
	kind := zero.Kind()
	if kind == "" || r.step == nil || r.parse == nil {
		panic("engine: incomplete registration of command kind " + q(kind))
	}
	if requests[kind] != nil {
		panic("engine: command kind " + q(kind) + " registered twice")
	}
	qk, err := json.Marshal(kind)
	if err != nil {
		panic(err)
	}
	golden := r.golden
	if golden == "" {
		golden = kind
	}
	step, parse := r.step, r.parse
	requests[kind] = &registered{
		kind:   kind,
		golden: golden,
		prefix: append(append([]byte(`{"kind":`), qk...), `,"cmd":`...),
		step: func(e *Engine, cmd Command) error {
			c, ok := cmd.(C)
			if !ok { // a pointer, or another type under the same name
				return unknownKind(cmd)
			}
			return step(e, c)
		},
		decode: decodeAs[C],
		parse:  func(a goldenArgs, q Request) Command { return parse(a, q) },
	}
}

func unknownKind(cmd Command) error {
	return invalid("unknown command kind " + q(cmd.Kind()) + " (pass commands by value)")
}

// Kinds returns the Kind of every command Step accepts, sorted.
func Kinds() []string {
	out := make([]string, 0, len(requests))
	for k := range requests {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// goldenArgs are the key=value arguments of a golden-file command line, in
// order. Only the golden tests use them; they live here so that a
// command's golden syntax is part of its registration.
type goldenArgs [][2]string

func (a goldenArgs) get(k string) string {
	for _, p := range a {
		if p[0] == k {
			return p[1]
		}
	}
	return ""
}

func (a goldenArgs) bool(k string) bool { return a.get(k) == "true" }

func (a goldenArgs) int(k string) int {
	n, _ := strconv.Atoi(a.get(k))
	return n
}

// list splits a comma-separated value; nil when absent or empty.
func (a goldenArgs) list(k string) []string {
	if v := a.get(k); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// kv gathers the arguments prefix.K=V into K:V pairs (integer values
// become integer pairs): ud. for UserData, parm. for TreatmentParms.
func (a goldenArgs) kv(prefix string) event.KV {
	var kv event.KV
	for _, p := range a {
		if k, ok := strings.CutPrefix(p[0], prefix); ok {
			if n, err := strconv.ParseInt(p[1], 10, 64); err == nil {
				kv = append(kv, event.I(k, n))
			} else {
				kv = append(kv, event.S(k, p[1]))
			}
		}
	}
	return kv
}

// userData is kv("ud.").
func (a goldenArgs) userData() event.KV { return a.kv("ud.") }

// request builds the Request from ref=, reason.K=V and ext.K=V (integer
// values become integer pairs).
func (a goldenArgs) request() Request {
	var r Request
	for _, p := range a {
		val := func() event.Pair {
			k := p[0][strings.IndexByte(p[0], '.')+1:]
			if n, err := strconv.ParseInt(p[1], 10, 64); err == nil {
				return event.I(k, n)
			}
			return event.S(k, p[1])
		}
		switch {
		case p[0] == "ref":
			r.ReferenceID, _ = strconv.ParseInt(p[1], 10, 64)
		case strings.HasPrefix(p[0], "reason."):
			r.Reasons = append(r.Reasons, val())
		case strings.HasPrefix(p[0], "ext."):
			r.Extensions = append(r.Extensions, val())
		}
	}
	return r
}

// workMode reads mode=<AgentWorkMode name>; an unknown name gives an
// undefined mode (99), so goldens can show its refusal.
func (a goldenArgs) workMode() event.AgentWorkMode {
	s := a.get("mode")
	if s == "" {
		return 0
	}
	if m, ok := event.ParseAgentWorkMode(s); ok {
		return m
	}
	return 99
}
