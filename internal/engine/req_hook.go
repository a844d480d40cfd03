package engine

// The hook request: type Hook (command.go), handled by hook (dn.go).

func (Hook) Kind() string { return "hook" }

func init() {
	register(request[Hook]{
		step: func(e *Engine, c Hook) error { return e.hook(&c) },
		parse: func(a goldenArgs, q Request) Hook {
			return Hook{Request: q, DN: a.get("dn"), OffHook: a.get("state") == "off"}
		},
	})
}
