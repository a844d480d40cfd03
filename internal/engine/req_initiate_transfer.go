package engine

// The initiate-transfer request: type InitiateTransfer (command.go),
// handled by initiate (callcmd.go).

func (InitiateTransfer) Kind() string { return "initiate-transfer" }

func init() {
	register(request[InitiateTransfer]{
		step: func(e *Engine, c InitiateTransfer) error {
			return e.initiate(&c.Request, c.ConnID, c.DN, c.To, c.UserData)
		},
		parse: func(a goldenArgs, q Request) InitiateTransfer {
			return InitiateTransfer{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), To: a.get("to"), UserData: a.userData()}
		},
	})
}
