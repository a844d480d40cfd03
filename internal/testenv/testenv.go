package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InCI reports whether the tests run in CI: CI=true, the value scripts/test
// checks too.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing fails t in CI and skips it elsewhere, with the message.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatal(msg + " (CI=true: a missing tool fails; scripts/test installs it)")
		return
	}
	t.Skip(msg + " (outside CI: skipped; scripts/test installs it)")
}

// LookPath returns the path of the first of names found in PATH; when none
// is, it calls Missing, naming how to install the tool (install, e.g.
// "Debian package sip-tester").
func LookPath(t testing.TB, install string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, "%s not found in PATH (%s)", strings.Join(names, " or "), install)
	return ""
}
