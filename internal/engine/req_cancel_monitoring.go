package engine

// The cancel-monitoring request: type CancelMonitoring (command.go),
// handled by cancelMonitoring (dn.go).

func (CancelMonitoring) Kind() string { return "cancel-monitoring" }

func init() {
	register(request[CancelMonitoring]{
		step: func(e *Engine, c CancelMonitoring) error { return e.cancelMonitoring(&c) },
		parse: func(a goldenArgs, q Request) CancelMonitoring {
			return CancelMonitoring{Request: q, Supervisor: a.get("sup")}
		},
	})
}
