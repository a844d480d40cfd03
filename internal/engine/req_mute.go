package engine

// The mute request: type Mute (command.go), handled by mute (callcmd.go).

func (Mute) Kind() string { return "mute" }

func init() {
	register(request[Mute]{
		step: func(e *Engine, c Mute) error { return e.mute(&c) },
		parse: func(a goldenArgs, q Request) Mute {
			return Mute{Request: q, DN: a.get("dn"), ConnID: a.get("conn"), On: a.bool("on")}
		},
	})
}
