package engine

// The destination-busy request: type DestinationBusy (signal.go), handled
// by destinationBusy (signal.go).

func (DestinationBusy) Kind() string { return "destination-busy" }

func init() {
	register(request[DestinationBusy]{
		step: func(e *Engine, c DestinationBusy) error { return e.destinationBusy(&c) },
		parse: func(a goldenArgs, q Request) DestinationBusy {
			return DestinationBusy{Request: q, ConnID: a.get("conn"), DN: a.get("dn")}
		},
	})
}
