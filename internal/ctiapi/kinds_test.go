package ctiapi

import (
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// notRoutes are the engine command kinds that deliberately have no API
// route, each with the reason.
var notRoutes = map[string]string{
	// The engine's own timers: the tenant goroutine steps TimerFired when
	// a StartTimer effect runs out; no client may fire one.
	"timer": "internal timer",
	// Signals of a ringing phone, sent by the SIP front end on a 486/600/603
	// (busy) or 408/480 (gave up) answer to its INVITE. The API's network
	// side has its own busy for outbound calls (network-busy).
	"destination-busy": "SIP phone signal",
	"no-answer":        "SIP phone signal",
}

// routeKindProblems: every kind has a command route unless notRoutes
// lists it; notRoutes lists only kinds that exist and have no route.
func routeKindProblems(kinds []string, routes []route, allowed map[string]string) []string {
	routed := map[string][]string{}
	for _, rt := range routes {
		if rt.kind != "" {
			routed[rt.kind] = append(routed[rt.kind], rt.method+" "+rt.path)
		}
	}
	var p []string
	for _, k := range kinds {
		_, skip := allowed[k]
		switch {
		case skip && len(routed[k]) > 0:
			p = append(p, "kind "+k+" is listed in notRoutes but has a route: "+strings.Join(routed[k], ", "))
		case !skip && len(routed[k]) == 0:
			p = append(p, "kind "+k+" has no API route (add one, or list it in notRoutes with the reason)")
		}
	}
	for k := range allowed {
		if !slices.Contains(kinds, k) {
			p = append(p, "notRoutes lists "+k+", which the engine does not register")
		}
	}
	for k, rs := range routed {
		if !slices.Contains(kinds, k) {
			p = append(p, "routes "+strings.Join(rs, ", ")+" send kind "+k+", which the engine does not register")
		}
	}
	slices.Sort(p)
	return p
}

// TestEveryCommandHasRoute: every command the engine registers can be sent
// through the API, except the ones notRoutes lists.
func TestEveryCommandHasRoute(t *testing.T) {
	srv, err := New(Config{Tenants: map[string]Tenant{}})
	if err != nil {
		t.Fatal(err)
	}
	kinds := engine.Kinds()
	if len(kinds) < 40 {
		t.Fatalf("engine.Kinds() = %d kinds", len(kinds))
	}
	for _, msg := range routeKindProblems(kinds, srv.routes, notRoutes) {
		t.Error(msg)
	}
}

// The check above must be able to fail.
func TestRouteKindCheckRefuses(t *testing.T) {
	routes := []route{
		{method: "POST", path: "/a", kind: "answer"},
		{method: "POST", path: "/t", kind: "timer"},
		{method: "POST", path: "/f", kind: "fly"},
		{method: "GET", path: "/calls"},
	}
	got := routeKindProblems([]string{"answer", "hold", "timer"}, routes,
		map[string]string{"timer": "internal", "gone": "removed"})
	want := []string{
		"kind hold has no API route (add one, or list it in notRoutes with the reason)",
		"kind timer is listed in notRoutes but has a route: POST /t",
		"notRoutes lists gone, which the engine does not register",
		"routes POST /f send kind fly, which the engine does not register",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
