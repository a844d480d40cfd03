package engine

// The route-call request: type RouteCall (command.go), handled by
// routeCall (acd.go).

func (RouteCall) Kind() string { return "route-call" }

func init() {
	register(request[RouteCall]{
		step:   func(e *Engine, c RouteCall) error { return e.routeCall(&c) },
		golden: "route",
		parse: func(a goldenArgs, q Request) RouteCall {
			return RouteCall{Request: q, ConnID: a.get("conn"), RoutingPoint: a.get("rp"), To: a.get("to")}
		},
	})
}
