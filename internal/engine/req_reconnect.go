package engine

// The reconnect request: type Reconnect (command.go), handled by
// reconnect (callcmd.go).

func (Reconnect) Kind() string { return "reconnect" }

func init() {
	register(request[Reconnect]{
		step: func(e *Engine, c Reconnect) error { return e.reconnect(&c) },
		parse: func(a goldenArgs, q Request) Reconnect {
			return Reconnect{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), ConsultConnID: a.get("consult")}
		},
	})
}
