package sipfront

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The Reason headers (reason.go) the scenarios expect on a BYE, as sipp
// regular expressions.
const (
	reasonClearedRE     = `Q\.850;cause=16;text=\"Normal call clearing\"`
	reasonTransferredRE = `SIP;cause=200;text=\"Call transferred\"`
)

// withReason writes testdata/uas_reason.xml with REASON set to the
// regular expression re and returns its path.
func withReason(t *testing.T, re string) string {
	return scenarioWith(t, "uas_reason.xml", "REASON", re)
}

// scenarioWith writes testdata/<scenario> with placeholder replaced by
// value and returns its path.
func scenarioWith(t *testing.T, scenario, placeholder, value string) string {
	data, err := os.ReadFile(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), scenario)
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte(placeholder), []byte(value)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
