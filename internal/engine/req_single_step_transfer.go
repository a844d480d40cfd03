package engine

// The single-step-transfer request: type SingleStepTransfer (command.go),
// handled by singleStepTransfer (callcmd.go).

func (SingleStepTransfer) Kind() string { return "single-step-transfer" }

func init() {
	register(request[SingleStepTransfer]{
		step: func(e *Engine, c SingleStepTransfer) error { return e.singleStepTransfer(&c) },
		parse: func(a goldenArgs, q Request) SingleStepTransfer {
			return SingleStepTransfer{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), To: a.get("to")}
		},
	})
}
