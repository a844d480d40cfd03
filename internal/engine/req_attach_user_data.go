package engine

// The attach-user-data request: type AttachUserData (command.go), handled
// by attachUserData (callcmd.go).

func (AttachUserData) Kind() string { return "attach-user-data" }

func init() {
	register(request[AttachUserData]{
		step: func(e *Engine, c AttachUserData) error { return e.attachUserData(&c) },
		parse: func(a goldenArgs, q Request) AttachUserData {
			return AttachUserData{Request: q, ConnID: a.get("conn"), UserData: a.userData()}
		},
	})
}
