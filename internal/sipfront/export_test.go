package sipfront

import (
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// Test helpers for the external test package (app_e2e_test.go), which
// cannot be in package sipfront: it imports internal/app, which imports
// sipfront.

const TestPassword, TestServer = testPassword, testServer

func FreeUDPPort(t testing.TB) int { return freeUDPPort(t) }

func RegisterAt(t testing.TB, server, dn string, port, expires int) {
	registerAt(t, server, dn, port, expires)
}

// StartSippAt starts a sipp; the returned function waits for it and fails
// the test if it failed.
func StartSippAt(t testing.TB, server, scenario string, port int, args ...string) func() {
	p := startSippAt(t, server, scenario, port, args...)
	return func() { t.Helper(); p.wait(t) }
}

func Expected(t testing.TB, tenant *config.Tenant, cmds ...engine.Command) []event.Event {
	return expected(t, tenant, cmds...)
}

func Normalize(evs []event.Event) []event.Event { return normalize(evs) }

func Format(evs []event.Event) string { return format(evs) }

func NeedSipp(t testing.TB) string { t.Helper(); return needSipp(t) }

// LeftOver counts the legs in the Call-ID index and the calls of the
// server's only tenant.
func LeftOver(s *Server) (legs, calls int) {
	s.mu.Lock()
	legs = len(s.legs)
	s.mu.Unlock()
	s.single.mu.Lock()
	calls = len(s.single.calls)
	s.single.mu.Unlock()
	return legs, calls
}
