package engine

// The dnd request: type SetDND (command.go), handled by setDND (dn.go).

func (SetDND) Kind() string { return "dnd" }

func init() {
	register(request[SetDND]{
		step: func(e *Engine, c SetDND) error { return e.setDND(&c) },
		parse: func(a goldenArgs, q Request) SetDND {
			return SetDND{Request: q, DN: a.get("dn"), On: a.bool("on")}
		},
	})
}
