package engine

// The cancel-forward request: type CancelForward (command.go), handled by
// cancelForward (dn.go).

func (CancelForward) Kind() string { return "cancel-forward" }

func init() {
	register(request[CancelForward]{
		step: func(e *Engine, c CancelForward) error { return e.cancelForward(&c) },
		parse: func(a goldenArgs, q Request) CancelForward {
			return CancelForward{Request: q, DN: a.get("dn")}
		},
	})
}
