package engine

// The collect-digits request: type CollectDigits (command.go), handled by
// collectDigits (acd.go).

func (CollectDigits) Kind() string { return "collect-digits" }

func init() {
	register(request[CollectDigits]{
		step:   func(e *Engine, c CollectDigits) error { return e.collectDigits(&c) },
		golden: "digits",
		parse: func(a goldenArgs, q Request) CollectDigits {
			return CollectDigits{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), Digits: a.get("digits")}
		},
	})
}
