package engine

// The listen request: type Listen (command.go), handled by listen
// (callcmd.go).

func (Listen) Kind() string { return "listen" }

func init() {
	register(request[Listen]{
		step: func(e *Engine, c Listen) error { return e.listen(&c) },
		parse: func(a goldenArgs, q Request) Listen {
			return Listen{Request: q, DN: a.get("dn"), ConnID: a.get("conn"), Party: a.get("party"), On: a.bool("on")}
		},
	})
}
