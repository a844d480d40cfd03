package engine

// The initiate-conference request: type InitiateConference (command.go),
// handled by initiate (callcmd.go).

func (InitiateConference) Kind() string { return "initiate-conference" }

func init() {
	register(request[InitiateConference]{
		step: func(e *Engine, c InitiateConference) error {
			return e.initiate(&c.Request, c.ConnID, c.DN, c.To, c.UserData)
		},
		parse: func(a goldenArgs, q Request) InitiateConference {
			return InitiateConference{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), To: a.get("to"), UserData: a.userData()}
		},
	})
}
