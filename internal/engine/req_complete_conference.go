package engine

// The complete-conference request: type CompleteConference (command.go),
// handled by completeConference (callcmd.go).

func (CompleteConference) Kind() string { return "complete-conference" }

func init() {
	register(request[CompleteConference]{
		step: func(e *Engine, c CompleteConference) error { return e.completeConference(&c) },
		parse: func(a goldenArgs, q Request) CompleteConference {
			return CompleteConference{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), ConsultConnID: a.get("consult")}
		},
	})
}
