package engine

// The hold request: type Hold (command.go), handled by hold (callcmd.go).

func (Hold) Kind() string { return "hold" }

func init() {
	register(request[Hold]{
		step: func(e *Engine, c Hold) error { return e.hold(&c) },
		parse: func(a goldenArgs, q Request) Hold {
			return Hold{Request: q, ConnID: a.get("conn"), DN: a.get("dn")}
		},
	})
}
