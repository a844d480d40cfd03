package engine

// The network-busy request: type NetworkBusy (command.go), handled by
// networkBusy (callcmd.go).

func (NetworkBusy) Kind() string { return "network-busy" }

func init() {
	register(request[NetworkBusy]{
		step: func(e *Engine, c NetworkBusy) error { return e.networkBusy(&c) },
		parse: func(a goldenArgs, q Request) NetworkBusy {
			return NetworkBusy{Request: q, ConnID: a.get("conn"), Party: a.get("party")}
		},
	})
}
