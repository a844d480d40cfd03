package engine

// The logout request: type Logout (command.go), handled by logout
// (agent.go).

func (Logout) Kind() string { return "logout" }

func init() {
	register(request[Logout]{
		step: func(e *Engine, c Logout) error { return e.logout(&c) },
		parse: func(a goldenArgs, q Request) Logout {
			return Logout{Request: q, DN: a.get("dn"), Queues: a.list("queues")}
		},
	})
}
