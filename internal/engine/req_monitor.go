package engine

import "github.com/switchboard-cc/switchboard/event"

// The monitor request: type MonitorNextCall (command.go), handled by
// monitorNextCall (dn.go).

func (MonitorNextCall) Kind() string { return "monitor" }

func init() {
	register(request[MonitorNextCall]{
		step: func(e *Engine, c MonitorNextCall) error { return e.monitorNextCall(&c) },
		parse: func(a goldenArgs, q Request) MonitorNextCall {
			var typ event.MonitorNextCallType
			if s := a.get("type"); s != "" {
				var ok bool
				if typ, ok = event.ParseMonitorNextCallType(s); !ok {
					typ = 99 // an undefined type, to show its refusal
				}
			}
			return MonitorNextCall{Request: q, Supervisor: a.get("sup"), Target: a.get("target"), Type: typ}
		},
	})
}
