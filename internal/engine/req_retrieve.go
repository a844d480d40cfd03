package engine

// The retrieve request: type Retrieve (command.go), handled by retrieve
// (callcmd.go).

func (Retrieve) Kind() string { return "retrieve" }

func init() {
	register(request[Retrieve]{
		step: func(e *Engine, c Retrieve) error { return e.retrieve(&c) },
		parse: func(a goldenArgs, q Request) Retrieve {
			return Retrieve{Request: q, ConnID: a.get("conn"), DN: a.get("dn")}
		},
	})
}
