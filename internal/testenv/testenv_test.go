package testenv

import (
	"strings"
	"testing"
)

// recorder notes how a test ended instead of ending it.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()           {}
func (r *recorder) Fatal(args ...any) { r.fatal = args[0].(string) }
func (r *recorder) Skip(args ...any)  { r.skip = args[0].(string) }

// Missing and Unavailable fail only with CI=true (not any other value),
// skip elsewhere, and keep the caller's message.
func TestMissingAndUnavailable(t *testing.T) {
	for _, fn := range []struct {
		name string
		call func(testing.TB, string, ...any)
		also string // in the message besides the caller's
	}{{"Missing", Missing, "scripts/test"}, {"Unavailable", Unavailable, "CI"}} {
		for _, tc := range []struct {
			ci       string
			wantFail bool
		}{{"true", true}, {"", false}, {"false", false}, {"1", false}} {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			fn.call(r, "sipp not found (%s)", "x")
			if got := r.fatal != ""; got != tc.wantFail || (r.fatal == "") == (r.skip == "") {
				t.Errorf("%s, CI=%q: fatal %q, skip %q", fn.name, tc.ci, r.fatal, r.skip)
			}
			if msg := r.fatal + r.skip; !strings.Contains(msg, "sipp not found (x)") || !strings.Contains(msg, fn.also) {
				t.Errorf("%s, CI=%q: message %q", fn.name, tc.ci, msg)
			}
		}
	}
}

func TestLookPath(t *testing.T) {
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	if p := LookPath(r, "apt-get install x", "no-such-tool-here", "go"); p == "" || r.skip != "" || r.fatal != "" {
		t.Errorf("go not found: %q, %q, %q", p, r.skip, r.fatal)
	}
	r = &recorder{TB: t}
	if p := LookPath(r, "apt-get install x", "no-such-tool-here"); p != "" || !strings.Contains(r.skip, "apt-get install x") {
		t.Errorf("a missing tool: %q, skip %q", p, r.skip)
	}
}
