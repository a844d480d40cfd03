package engine

// The network-call request: type NetworkCall (command.go), handled by
// networkCall (callcmd.go).

func (NetworkCall) Kind() string { return "network-call" }

func init() {
	register(request[NetworkCall]{
		step: func(e *Engine, c NetworkCall) error { return e.networkCall(&c) },
		parse: func(a goldenArgs, q Request) NetworkCall {
			return NetworkCall{Request: q, Trunk: a.get("trunk"), ANI: a.get("ani"), DNIS: a.get("dnis"), UserData: a.userData()}
		},
	})
}
