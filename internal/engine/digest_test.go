package engine

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/switchboard-cc/switchboard/internal/config"
)

// digest is a complete, deterministic text of the engine's state, so that
// tests can check that a refused command changed nothing. It is written out
// for speed (the property tests take it at every step);
// TestStateFieldsCovered fails when it misses a field of the state structs.
func digest(e *Engine) string {
	var b strings.Builder
	w := func(s ...string) {
		for _, x := range s {
			b.WriteString(x)
			b.WriteByte(' ')
		}
		b.WriteByte('\n')
	}
	itoa := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, d := range e.dnList {
		ag, mon, monBy := "-", "-", "-"
		if d.agent != nil {
			ag = d.agent.id
		}
		if d.monitoring != nil {
			mon = d.monitoring.target.number + "/" + d.monitoring.typ.String()
		}
		if d.monitoredBy != nil {
			monBy = d.monitoredBy.number
		}
		w("dn", d.number, itoa(d.seq), ag, strconv.FormatBool(d.inService), strconv.FormatBool(d.dnd),
			strconv.FormatBool(d.offHook), d.fwdTo, d.fwdMode.String(), strconv.FormatBool(d.mwOn),
			itoa(int64(d.mwNew)), itoa(int64(d.mwOld)), mon, monBy, wrapUpDigest(d.wrapUp), strings.Join(d.prefixes, ","))
	}
	for _, a := range e.agList {
		dn := "-"
		if a.dn != nil {
			dn = a.dn.number
		}
		w("agent", a.id, itoa(a.seq), dn, a.state.String(), a.workMode.String(), a.readyMode.String(),
			strings.Join(a.queues, ","), itoa(a.since), formatKV(a.reasons), a.acwTimer,
			strconv.FormatBool(a.avail), strconv.FormatUint(a.availNo, 10), wrapUpDigest(a.wrapUp))
		for _, l := range append([]*qlink{&a.allLink}, a.links...) {
			w("  link", strconv.FormatBool(l.in), strconv.FormatBool(l.eligible))
		}
	}
	w("acd", strconv.FormatUint(e.qNo, 10), strconv.FormatUint(e.availNo, 10))
	queue := func(name string, q *queueState) {
		var wait, ready []string
		for p := q.waitHead; p != nil; p = p.w.qNext {
			wait = append(wait, p.call.conn)
		}
		for l := q.readyHead; l != nil; l = l.next {
			ready = append(ready, l.a.id)
		}
		w("queue", name, itoa(int64(q.waiting)), strings.Join(wait, ","), strings.Join(ready, ","))
	}
	queue("*", &e.allQ)
	for _, d := range e.dnList {
		if d.q != nil {
			queue(d.number, d.q)
		}
	}
	ids := make([]string, 0, len(e.timers))
	for id := range e.timers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := e.timers[id]
		who := "-"
		if t.agent != nil {
			who = t.agent.id
		}
		if t.party != nil {
			who = t.party.call.conn + "/" + t.party.name()
		}
		w("timer", id, itoa(int64(t.kind)), who, itoa(int64(t.n)), itoa(t.at))
	}
	w("timerNo", strconv.FormatUint(e.timerNo, 10))
	w("counters", strconv.FormatUint(e.connNo, 10), itoa(e.callNo), strconv.FormatUint(e.threadNo, 10))
	for _, d := range e.dnList {
		if d.monitoring != nil {
			w("monitor", d.number, strconv.FormatBool(d.monitoring.used))
		}
		if len(d.parties) > 0 {
			var conns []string
			for _, p := range d.parties {
				conns = append(conns, p.call.conn)
			}
			w("dncalls", d.number, strings.Join(conns, ","))
		}
	}
	cs := make([]*call, 0, len(e.calls))
	for _, c := range e.calls {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].callID < cs[j].callID })
	for _, c := range cs {
		w("call", strconv.FormatUint(c.n, 10), c.conn, itoa(c.callID), c.typ.String(), c.th.id, itoa(c.th.seq), itoa(int64(c.th.calls)),
			c.prevConn, c.ani, c.dnis, formatKV(c.userData), itoa(c.started))
		for _, p := range c.parties {
			line := "-"
			if p.line != nil {
				line = p.line.name()
			}
			mon := "-"
			if p.monitor != nil {
				mon = p.monitor.super.number
			}
			w("  party", p.name(), p.num, p.trunk, p.role.String(), partyStateNames[p.state], p.queue,
				strconv.FormatBool(p.muted), strconv.FormatBool(p.listenOff), p.timer, line, mon,
				strconv.FormatBool(p.call == c), waitDigest(p.w))
		}
	}
	return b.String()
}

func wrapUpDigest(w config.WrapUp) string {
	return strconv.FormatBool(w.Set) + "/" + strconv.FormatBool(w.Untimed) + "/" + w.Time.String()
}

func waitDigest(w *waitInfo) string {
	if w == nil {
		return "-"
	}
	return strings.Join([]string{strconv.FormatUint(w.qNo, 10), strconv.FormatUint(w.qPlace, 10),
		strings.Join(w.timers, ","), w.treat.typ.String(), formatKV(w.treat.parms), w.treat.timer,
		strconv.FormatBool(w.treat.digits), strconv.FormatBool(w.treated)}, "/")
}

// stateText is the engine's whole state as text, derived from the state
// structs by reflection: every field reached from the Engine except those
// notState names, so a field added to a state struct is in it without
// anyone writing it here. It is slower than digest; TestSnapshotRestore
// compares it between an engine and its restored snapshot, and
// TestStateFieldsCovered checks with it that digest and Snapshot see every
// field.
func stateText(e *Engine) string {
	d := digester{seen: map[seenKey]int{}}
	d.walk(reflect.ValueOf(e).Elem())
	return string(d.b)
}

// notState are the fields (Type.field) that are not the engine's state
// between steps: the per-step scratch, a test hook, and allocation buffers
// whose contents are reached through the pointers into them.
var notState = map[string]bool{
	"Engine.arena": true, "Engine.scratch": true, "Engine.outStart": true, "Engine.at": true, "Engine.now": true,
	"Engine.out": true, "Engine.effects": true, "Engine.reply": true, "Engine.end": true,
	"Engine.pending": true, "Engine.onDistribute": true,
	"call.pbuf": true, "call.buf": true, "call.tbuf": true, "call.used": true,
	"WrapUp.bad": true, // config's parse error, empty once the configuration is valid
}

type seenKey struct {
	t    reflect.Type
	addr uintptr
}

type digester struct {
	b    []byte
	seen map[seenKey]int // pointer -> its number, in the order first met
}

// stateFields are a struct type's fields that are state, by index.
type stateField struct {
	i    int
	name string
}

var fieldCache sync.Map // reflect.Type -> []stateField

func stateFields(t reflect.Type) []stateField {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]stateField)
	}
	var fs []stateField
	for i := range t.NumField() {
		if !notState[t.Name()+"."+t.Field(i).Name] {
			fs = append(fs, stateField{i, t.Field(i).Name})
		}
	}
	fieldCache.Store(t, fs)
	return fs
}

// walk writes v. A pointer is written in full where it is first met
// ("#n{...}") and as a reference to that ("@n") afterwards, so shared and
// cyclic structures (a party's call, an agent's DN) give the same text in
// two engines of the same shape.
func (d *digester) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			d.b = append(d.b, "nil"...)
			return
		}
		k := seenKey{v.Type(), v.Pointer()}
		if n, ok := d.seen[k]; ok {
			d.b = strconv.AppendInt(append(d.b, '@'), int64(n), 10)
			return
		}
		d.seen[k] = len(d.seen)
		d.b = strconv.AppendInt(append(d.b, '#'), int64(len(d.seen)-1), 10)
		d.walk(v.Elem())
	case reflect.Struct:
		d.b = append(d.b, '{')
		for _, f := range stateFields(v.Type()) {
			d.b = append(append(d.b, f.name...), ':')
			d.walk(v.Field(f.i))
			d.b = append(d.b, ' ')
		}
		d.b = append(d.b, "}\n"...)
	case reflect.Slice, reflect.Array:
		// nil and empty are the same state.
		d.b = append(d.b, '[')
		for i := range v.Len() {
			d.walk(v.Index(i))
			d.b = append(d.b, ',')
		}
		d.b = append(d.b, ']')
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, compareKeys)
		d.b = append(d.b, "map["...)
		for _, k := range keys {
			d.walk(k)
			d.b = append(d.b, ':')
			d.walk(v.MapIndex(k))
			d.b = append(d.b, ',')
		}
		d.b = append(d.b, ']')
	case reflect.String:
		d.b = strconv.AppendQuote(d.b, v.String())
	case reflect.Bool:
		d.b = strconv.AppendBool(d.b, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.b = strconv.AppendInt(d.b, v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.b = strconv.AppendUint(d.b, v.Uint(), 10)
	case reflect.Func:
		if !v.IsNil() {
			panic("digest: a func field is set: list it in notState or make it state")
		}
	default:
		panic(fmt.Sprintf("digest: kind %s not handled", v.Kind()))
	}
}

func compareKeys(a, b reflect.Value) int {
	switch a.Kind() {
	case reflect.String:
		return cmp.Compare(a.String(), b.String())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cmp.Compare(a.Uint(), b.Uint())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cmp.Compare(a.Int(), b.Int())
	}
	panic("digest: map key of kind " + a.Kind().String())
}
