package engine

// The not-ready request: type NotReady (command.go), handled by notReady
// (agent.go).

func (NotReady) Kind() string { return "not-ready" }

func init() {
	register(request[NotReady]{
		step: func(e *Engine, c NotReady) error { return e.notReady(&c) },
		parse: func(a goldenArgs, q Request) NotReady {
			return NotReady{Request: q, DN: a.get("dn"), WorkMode: a.workMode()}
		},
	})
}
