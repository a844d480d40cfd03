package engine

// The login request: type Login (command.go), handled by login
// (agent.go).

func (Login) Kind() string { return "login" }

func init() {
	register(request[Login]{
		step: func(e *Engine, c Login) error { return e.login(&c) },
		parse: func(a goldenArgs, q Request) Login {
			return Login{Request: q, DN: a.get("dn"), AgentID: a.get("agent"), Queues: a.list("queues"), WorkMode: a.workMode()}
		},
	})
}
