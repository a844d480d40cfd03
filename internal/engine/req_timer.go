package engine

// The timer request: type TimerFired (command.go), handled by timerFired
// (engine.go).

func (TimerFired) Kind() string { return "timer" }

func init() {
	register(request[TimerFired]{
		step: func(e *Engine, c TimerFired) error { return e.timerFired(&c) },
		parse: func(a goldenArgs, q Request) TimerFired {
			return TimerFired{ID: a.get("id")}
		},
	})
}
