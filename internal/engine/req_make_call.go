package engine

// The make-call request: type MakeCall (command.go), handled by makeCall
// (callcmd.go).

func (MakeCall) Kind() string { return "make-call" }

func init() {
	register(request[MakeCall]{
		step: func(e *Engine, c MakeCall) error { return e.makeCall(&c) },
		parse: func(a goldenArgs, q Request) MakeCall {
			return MakeCall{Request: q, From: a.get("from"), To: a.get("to"), UserData: a.userData()}
		},
	})
}
