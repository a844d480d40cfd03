package engine

// The redirect request: type Redirect (command.go), handled by redirect
// (callcmd.go).

func (Redirect) Kind() string { return "redirect" }

func init() {
	register(request[Redirect]{
		step: func(e *Engine, c Redirect) error { return e.redirect(&c) },
		parse: func(a goldenArgs, q Request) Redirect {
			return Redirect{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), To: a.get("to")}
		},
	})
}
