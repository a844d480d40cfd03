package engine

// The network-release request: type NetworkRelease (command.go), handled
// by networkRelease (callcmd.go).

func (NetworkRelease) Kind() string { return "network-release" }

func init() {
	register(request[NetworkRelease]{
		step: func(e *Engine, c NetworkRelease) error { return e.networkRelease(&c) },
		parse: func(a goldenArgs, q Request) NetworkRelease {
			return NetworkRelease{Request: q, ConnID: a.get("conn"), Party: a.get("party")}
		},
	})
}
