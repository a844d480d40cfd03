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
			strings.Join(a.queues, ","), itoa(a.since), formatKV(a.reasons), a.acwTimer)
	}
	ids := make([]string, 0, len(e.timers))
	for id := range e.timers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := e.timers[id]
		w("timer", id, itoa(int64(t.kind)), t.agent.id, itoa(t.at))
	}
	w("timerNo", strconv.FormatUint(e.timerNo, 10))
	return b.String()
}
