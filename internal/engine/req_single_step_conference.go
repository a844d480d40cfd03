package engine

// The single-step-conference request: type SingleStepConference
// (command.go), handled by singleStepConference (callcmd.go).

func (SingleStepConference) Kind() string { return "single-step-conference" }

func init() {
	register(request[SingleStepConference]{
		step: func(e *Engine, c SingleStepConference) error { return e.singleStepConference(&c) },
		parse: func(a goldenArgs, q Request) SingleStepConference {
			return SingleStepConference{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), To: a.get("to")}
		},
	})
}
