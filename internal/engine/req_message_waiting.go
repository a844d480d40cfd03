package engine

// The message-waiting request: type MessageWaiting (command.go), handled
// by messageWaiting (dn.go).

func (MessageWaiting) Kind() string { return "message-waiting" }

func init() {
	register(request[MessageWaiting]{
		step: func(e *Engine, c MessageWaiting) error { return e.messageWaiting(&c) },
		parse: func(a goldenArgs, q Request) MessageWaiting {
			return MessageWaiting{Request: q, DN: a.get("dn"), On: a.bool("on"), New: a.int("new"), Old: a.int("old")}
		},
	})
}
