package engine

// The release request: type Release (command.go), handled by release
// (callcmd.go).

func (Release) Kind() string { return "release" }

func init() {
	register(request[Release]{
		step: func(e *Engine, c Release) error { return e.release(&c) },
		parse: func(a goldenArgs, q Request) Release {
			return Release{Request: q, ConnID: a.get("conn"), DN: a.get("dn")}
		},
	})
}
