package sipload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/testenv"
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

// TestKamailio registers 2 x 100 phones to the Kamailio peer by REGISTER
// with digest authentication and makes 100 calls at 100/s through it:
// every registration and call succeeds, each call is timed, and
// Kamailio's CPU time is read.
func TestKamailio(t *testing.T) {
	sipp := testenv.LookPath(t, "Debian package sip-tester", "sipp")
	bin, err := LookKamailio()
	if err != nil {
		testenv.Missing(t, "kamailio (%s)", KamailioInstall)
		return
	}
	k, err := StartKamailio(bin, 2, "pw")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	res, err := Run(t.Context(), k, Config{Sipp: sipp, Rate: 100, Calls: 100, Pairs: 100, Password: "pw", CPU: k.CPU})
	if err != nil {
		t.Fatal(err)
	}
	if res.Registered != 200 || res.RegisterFailed != 0 || res.OK != 100 || res.Failed != 0 || len(res.RTT) != 100 {
		t.Fatalf("%d registered (%d failed), %d calls ok, %d failed, %d samples; want 200, 0, 100, 0, 100\n%s\n%s",
			res.Registered, res.RegisterFailed, res.OK, res.Failed, len(res.RTT), res.Output, res.Errors)
	}
	if res.CPU < 0 || res.RegisterCPU < 0 {
		t.Fatalf("CPU %v, registrations' CPU %v", res.CPU, res.RegisterCPU)
	}
	t.Logf("Kamailio: %.0f registrations/s, %.3f ms CPU a call, p99 %.0f ms", res.RegistersPerSec(), res.CPUPerCall(), res.Percentile(0.99))
}

func TestProcessCPU(t *testing.T) {
	c0, err := TreeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for x, start := 0, time.Now(); time.Since(start) < 100*time.Millisecond; x++ {
		_ = x * x
	}
	c1, err := ProcessCPU(os.Getpid())
	if err != nil || c1 <= c0-10*time.Millisecond || c1 == 0 {
		t.Fatalf("CPU %v then %v (%v): busy for 100 ms", c0, c1, err)
	}
}
