package engine

// The alternate request: type Alternate (command.go), handled by
// alternate (callcmd.go).

func (Alternate) Kind() string { return "alternate" }

func init() {
	register(request[Alternate]{
		step: func(e *Engine, c Alternate) error { return e.alternate(&c) },
		parse: func(a goldenArgs, q Request) Alternate {
			return Alternate{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), ConsultConnID: a.get("consult")}
		},
	})
}
