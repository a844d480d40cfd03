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

// Missing fails t in CI and skips it elsewhere, with the message: a tool
// or service that scripts/test installs or starts is missing.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	failOrSkip(t, fmt.Sprintf(format, args...), "a missing tool fails; scripts/test installs it", "scripts/test installs it")
}

// Unavailable fails t in CI and skips it elsewhere, with the message:
// something the test needs from the machine (root to mount a tmpfs,
// /proc/meminfo) is not there, and CI's machine has it.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	failOrSkip(t, fmt.Sprintf(format, args...), "CI's machine has it", "CI runs it")
}

func failOrSkip(t testing.TB, msg, inCI, elsewhere string) {
	t.Helper()
	if InCI() {
		t.Fatal(msg + " (CI=true: " + inCI + ")")
		return
	}
	t.Skip(msg + " (outside CI: skipped; " + elsewhere + ")")
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
