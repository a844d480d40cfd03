package engine

// The forward request: type SetForward (command.go), handled by
// setForward (dn.go).

func (SetForward) Kind() string { return "forward" }

func init() {
	register(request[SetForward]{
		step: func(e *Engine, c SetForward) error { return e.setForward(&c) },
		parse: func(a goldenArgs, q Request) SetForward {
			m, ok := ParseForwardMode(a.get("mode"))
			if !ok {
				m = 99 // an undefined mode, to show its refusal
			}
			return SetForward{Request: q, DN: a.get("dn"), To: a.get("to"), Mode: m}
		},
	})
}
