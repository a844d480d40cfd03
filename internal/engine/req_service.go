package engine

// The service request: type SetService (command.go), handled by
// setService (dn.go).

func (SetService) Kind() string { return "service" }

func init() {
	register(request[SetService]{
		step: func(e *Engine, c SetService) error { return e.setService(&c) },
		parse: func(a goldenArgs, q Request) SetService {
			return SetService{Request: q, DN: a.get("dn"), InService: a.bool("in")}
		},
	})
}
