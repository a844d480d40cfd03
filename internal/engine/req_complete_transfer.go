package engine

// The complete-transfer request: type CompleteTransfer (command.go),
// handled by completeTransfer (callcmd.go).

func (CompleteTransfer) Kind() string { return "complete-transfer" }

func init() {
	register(request[CompleteTransfer]{
		step: func(e *Engine, c CompleteTransfer) error { return e.completeTransfer(&c) },
		parse: func(a goldenArgs, q Request) CompleteTransfer {
			return CompleteTransfer{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), ConsultConnID: a.get("consult")}
		},
	})
}
