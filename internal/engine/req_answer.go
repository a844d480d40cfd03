package engine

// The answer request: type Answer (command.go), handled by answer
// (callcmd.go).

func (Answer) Kind() string { return "answer" }

func init() {
	register(request[Answer]{
		step: func(e *Engine, c Answer) error { return e.answer(&c) },
		parse: func(a goldenArgs, q Request) Answer {
			return Answer{Request: q, ConnID: a.get("conn"), DN: a.get("dn")}
		},
	})
}
