package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/sipload"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/switchboard-cc/switchboard/internal/testenv"
)

// TestSmoke runs the suite with a tiny duration and checks the table has
// every row (not the timings), the JSON output and --baseline ratios.
func TestSmoke(t *testing.T) {
	args := []string{"--duration", "200ms", "--rate", "50", "--workers", "2", "--sip-rate", "50", "--media-calls", "20", "--json"}
	if k := kafkatest.RealKafka(t); k != nil {
		args = append(args, "--kafka-brokers", strings.Join(k.Brokers, ","))
	}
	var out, errb bytes.Buffer
	if code := Main(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if len(res.Rows) != len(RowNames) {
		t.Fatalf("%d rows, want %d", len(res.Rows), len(RowNames))
	}
	for i, r := range res.Rows {
		if r.Name != RowNames[i] {
			t.Errorf("row %d is %q, want %q", i, r.Name, RowNames[i])
		}
		// Failed SIP calls and a p99 under sipp's 1 ms resolution are 0.
		if !r.Skip && (r.Value < 0 || r.Value == 0 && r.Name != RowSIPFailed && r.Name != RowSIPP99) {
			t.Errorf("row %q measured %v", r.Name, r.Value)
		}
		if r.Skip && r.Note == "" {
			t.Errorf("row %q skipped without a note", r.Name)
		}
	}
	// With sipp installed (always in CI: scripts/test installs it) the SIP
	// rows are figures, not skips.
	if _, err := exec.LookPath("sipp"); err == nil || testenv.InCI() {
		for _, name := range []string{RowSIP, RowSIPFailed, RowSIPP99} {
			if r, _ := res.row(name); r.Skip {
				t.Errorf("row %q skipped with sipp installed: %s", name, r.Note)
			}
		}
		if r, _ := res.row(RowSIPFailed); r.Value != 0 {
			t.Errorf("%v of 10 SIP calls at 50/s failed", r.Value)
		}
	}
	base := filepath.Join(t.TempDir(), "base.json")
	if err := os.WriteFile(base, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	res.WriteTable(&table, &res)
	for _, name := range RowNames {
		if !strings.Contains(table.String(), name) {
			t.Errorf("table lacks %q:\n%s", name, table.String())
		}
	}
	if !strings.Contains(table.String(), "1.00x") {
		t.Errorf("ratios against itself are not 1.00x:\n%s", table.String())
	}
	_ = time.Second
}

// TestSIPLoad makes 50 SIP calls at 50/s through sipfront with sipp and
// checks every call is counted and timed.
func TestSIPLoad(t *testing.T) {
	sipp := testenv.LookPath(t, "Debian package sip-tester", "sipp")
	res, err := SIPLoad(t.Context(), sipp, 50, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 50 || res.Failed != 0 || len(res.RTT) != res.OK || res.CallsPerSec <= 0 {
		t.Fatalf("%d ok, %d failed, %d INVITE-to-200 samples, %v calls/s; want 50 ok, none failed, 50 samples\n%s\n%s",
			res.OK, res.Failed, len(res.RTT), res.CallsPerSec, res.Output, res.Errors)
	}
}

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--baseline") {
		t.Fatalf("exit %d:\n%s%s", code, out.String(), errb.String())
	}
	if code := Main(context.Background(), []string{"--duration", "-1s"}, &out, &errb); code != 2 {
		t.Fatalf("bad duration: exit %d", code)
	}
	for _, v := range []string{"-1ms", "101ms", "2"} {
		errb.Reset()
		if code := Main(context.Background(), []string{"--journal-min-sync-interval", v}, &out, &errb); code != 2 {
			t.Fatalf("--journal-min-sync-interval %s: exit %d, want 2 (refused before measuring)", v, code)
		}
	}
	if !strings.Contains(errb.String(), "journal-min-sync-interval") {
		t.Errorf("refusal does not name the flag: %s", errb.String())
	}
}

// TestPeerKamailio runs the SIP comparison with Kamailio briefly (CI
// installs kamailio and sipp): every row is there, no call or
// registration failed on either side, both servers registered every
// phone and timed every call, switchboard's CPU was read, and serve ran
// with the bench's --journal-min-sync-interval.
func TestPeerKamailio(t *testing.T) {
	testenv.LookPath(t, "Debian package sip-tester", "sipp")
	if _, err := sipload.LookKamailio(); err != nil {
		testenv.Missing(t, "kamailio (%s)", sipload.KamailioInstall)
		return
	}
	args := []string{"--sip-only", "--peer", "kamailio", "--sip-rate", "50", "--duration", "1s", "--bindings", "200",
		"--register-rate", "200", "--idle", "300ms", "--journal-min-sync-interval", "3ms", "--json"}
	var out, errb bytes.Buffer
	if code := Main(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	want := append([]string{RowSIP, RowSIPFailed, RowSIPP99}, PeerRowNames...)
	if len(res.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(res.Rows), len(want), res.Rows)
	}
	for i, r := range res.Rows {
		if r.Name != want[i] || r.Skip {
			t.Errorf("row %d is %q (skipped %v), want %q measured", i, r.Name, r.Skip, want[i])
		}
	}
	get := func(name string) Row { r, _ := res.row(name); return r }
	for _, name := range []string{RowPeerFailed, RowPeerFailedPee} {
		if v := get(name).Value; v != 0 {
			t.Errorf("%s: %v (%s)", name, v, get(name).Note)
		}
	}
	for _, name := range []string{RowPeerCPU, RowPeerReg, RowPeerRegPeer, RowPeerRef, RowPeerRefPeer} {
		if v := get(name).Value; v <= 0 {
			t.Errorf("%s: %v, want a positive figure", name, v)
		}
	}
	for _, name := range []string{RowPeerP99, RowPeerP99Peer} {
		if n := get(name).Note; !strings.Contains(n, "50 samples") {
			t.Errorf("%s: %q, want every one of the 50 calls timed", name, n)
		}
	}
	// --journal-min-sync-interval is serve's setting in this run.
	if n := get(RowPeerCPU).Note; !strings.Contains(n, "min sync interval 3ms") {
		t.Errorf("%s: %q, want serve run with --journal-min-sync-interval 3ms", RowPeerCPU, n)
	}
	if n := get(RowPeerReg).Note; !strings.Contains(n, "200 bindings") {
		t.Errorf("%s: %q, want 200 bindings registered", RowPeerReg, n)
	}
	for _, name := range []string{RowPeerRegPeer, RowPeerRefPeer} {
		if n := get(name).Note; !strings.Contains(n, "200 bindings") {
			t.Errorf("%s: %q, want 200 bindings registered", name, n)
		}
	}
	if n := get(RowPeerRef).Note; !strings.Contains(n, "all 200 bindings") {
		t.Errorf("%s: %q, want all 200 bindings registered again", RowPeerRef, n)
	}
	var table bytes.Buffer
	res.WriteTable(&table, nil)
	t.Log("\n" + table.String())
}

// TestClusterRows measures the cluster rows briefly against an in-process
// 3-broker kfake (the rows' plumbing: the cluster's own tests and the
// chaos test run on the real 3-broker Kafka) and checks every row is there
// with a figure and that every request of the paced loads was answered
// 2xx.
func TestClusterRows(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	var rows []Row
	cfg := Config{Duration: 300 * time.Millisecond, ClusterBrokers: brokers, Logger: kafkatest.Logger(t, slog.LevelError)}
	if err := runCluster(context.Background(), cfg, func(string) {}, func(r ...Row) { rows = append(rows, r...) }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(ClusterRowNames) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(ClusterRowNames), rows)
	}
	for i, r := range rows {
		if r.Name != ClusterRowNames[i] {
			t.Errorf("row %d is %q, want %q", i, r.Name, ClusterRowNames[i])
		}
		if r.Skip || r.Value <= 0 {
			t.Errorf("row %q: %v (skipped %v)", r.Name, r.Value, r.Skip)
		}
		if n := r.Note; strings.Contains(n, "2xx") && !regexp.MustCompile(`(\d+) of (\d+) 2xx`).MatchString(n) {
			t.Errorf("row %q note %q", r.Name, n)
		} else if m := regexp.MustCompile(`(\d+) of (\d+) 2xx`).FindStringSubmatch(n); m != nil && m[1] != m[2] {
			t.Errorf("row %q: %s of %s requests answered 2xx", r.Name, m[1], m[2])
		}
	}
}
