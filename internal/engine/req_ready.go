package engine

// The ready request: type Ready (command.go), handled by ready
// (agent.go).

func (Ready) Kind() string { return "ready" }

func init() {
	register(request[Ready]{
		step: func(e *Engine, c Ready) error { return e.ready(&c) },
		parse: func(a goldenArgs, q Request) Ready {
			return Ready{Request: q, DN: a.get("dn"), WorkMode: a.workMode()}
		},
	})
}
