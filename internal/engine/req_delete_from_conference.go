package engine

// The delete-from-conference request: type DeleteFromConference
// (command.go), handled by deleteFromConference (callcmd.go).

func (DeleteFromConference) Kind() string { return "delete-from-conference" }

func init() {
	register(request[DeleteFromConference]{
		step: func(e *Engine, c DeleteFromConference) error { return e.deleteFromConference(&c) },
		parse: func(a goldenArgs, q Request) DeleteFromConference {
			return DeleteFromConference{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), Party: a.get("party")}
		},
	})
}
