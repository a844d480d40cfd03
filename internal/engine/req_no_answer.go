package engine

// The no-answer request: type NoAnswer (signal.go), handled by
// giveUpRinging (signal.go).

func (NoAnswer) Kind() string { return "no-answer" }

func init() {
	register(request[NoAnswer]{
		step: func(e *Engine, c NoAnswer) error { return e.giveUpRinging(&c) },
		parse: func(a goldenArgs, q Request) NoAnswer {
			return NoAnswer{Request: q, ConnID: a.get("conn"), DN: a.get("dn")}
		},
	})
}
