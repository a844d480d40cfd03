package engine

// The network-answer request: type NetworkAnswer (command.go), handled by
// networkAnswer (callcmd.go).

func (NetworkAnswer) Kind() string { return "network-answer" }

func init() {
	register(request[NetworkAnswer]{
		step: func(e *Engine, c NetworkAnswer) error { return e.networkAnswer(&c) },
		parse: func(a goldenArgs, q Request) NetworkAnswer {
			return NetworkAnswer{Request: q, ConnID: a.get("conn"), Party: a.get("party")}
		},
	})
}
