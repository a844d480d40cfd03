package engine

import (
	"sort"
	"strconv"
	"strings"
)

// digest is a complete, deterministic text of the engine's state, so that
// tests can check that a refused command changed nothing.
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
			itoa(int64(d.mwNew)), itoa(int64(d.mwOld)), mon, monBy)
	}
	for _, a := range e.agList {
		dn := "-"
		if a.dn != nil {
			dn = a.dn.number
		}
		w("agent", a.id, itoa(a.seq), dn, a.state.String(), a.workMode.String(), a.readyMode.String(),
			strings.Join(a.queues, ","), itoa(a.since), formatKV(a.reasons), a.acwTimer,
			strconv.FormatBool(a.avail), strconv.FormatUint(a.availNo, 10))
	}
	w("acd", strconv.FormatUint(e.qNo, 10), strconv.FormatUint(e.availNo, 10))
	for _, d := range e.dnList {
		if d.q == nil {
			continue
		}
		var wait, ready []string
		for p := d.q.waitHead; p != nil; p = p.w.qNext {
			wait = append(wait, p.call.conn)
		}
		for l := d.q.readyHead; l != nil; l = l.next {
			ready = append(ready, l.a.id)
		}
		w("queue", d.number, itoa(int64(d.q.waiting)), strings.Join(wait, ","), strings.Join(ready, ","))
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
		w("timer", id, itoa(int64(t.kind)), who, itoa(t.at))
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
		w("call", c.conn, itoa(c.callID), c.typ.String(), c.th.id, itoa(c.th.seq), itoa(int64(c.th.calls)),
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
			w("  party", p.name(), p.trunk, p.role.String(), partyStateNames[p.state], p.queue,
				strconv.FormatBool(p.muted), strconv.FormatBool(p.listenOff), p.timer, line, mon,
				strconv.FormatBool(p.call == c), waitDigest(p.w))
		}
	}
	return b.String()
}

func waitDigest(w *waitInfo) string {
	if w == nil {
		return "-"
	}
	return strings.Join([]string{strconv.FormatUint(w.qNo, 10), strconv.FormatUint(w.qPlace, 10),
		strings.Join(w.timers, ","), w.treat.typ.String(), formatKV(w.treat.parms), w.treat.timer,
		strconv.FormatBool(w.treat.digits), strconv.FormatBool(w.treated)}, "/")
}
