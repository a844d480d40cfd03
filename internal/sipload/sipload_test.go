package sipload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The load itself (sipp through a server) is exercised by internal/bench's
// TestSIPLoad and sipfront's BenchmarkSIPLoad; these check what needs no
// sipp.

func TestTenant(t *testing.T) {
	tn, err := Tenant("load", 3, "pw")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range tn.DNs {
		got = append(got, d.Number)
	}
	if want := "10000 20000 10001 20001 10002 20002"; strings.Join(got, " ") != want || tn.Defaults.SIPPassword != "pw" {
		t.Fatalf("DNs %v password %q, want %s and pw", got, tn.Defaults.SIPPassword, want)
	}
}

func TestWriteScenarios(t *testing.T) {
	dir := t.TempDir()
	if err := WriteScenarios(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"uac_load.xml", "uas.xml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !strings.Contains(string(b), "<scenario") {
			t.Errorf("%s: %v, %.40q", f, err, b)
		}
	}
}

// TestRunWithoutSipp: a load that cannot start is an ErrLoad, before the
// server is touched.
func TestRunWithoutSipp(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Run(context.Background(), nil, Config{Rate: 1})
	if !errors.Is(err, ErrLoad) {
		t.Fatalf("err %v, want ErrLoad", err)
	}
}
