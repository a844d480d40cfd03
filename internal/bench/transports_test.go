package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/testenv"
)

// TestSIPTransports runs --sip-transports briefly (CI installs sipp):
// every row is there, every call over UDP, TCP and TLS succeeded, and the
// ratios are those of the rows.
func TestSIPTransports(t *testing.T) {
	testenv.LookPath(t, "Debian package sip-tester", "sipp")
	args := []string{"--sip-only", "--sip-transports", "--sip-rate", "20", "--duration", "1s", "--json"}
	var out, errb bytes.Buffer
	if code := Main(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	want := append([]string{RowSIP, RowSIPFailed, RowSIPP99}, TransportRowNames...)
	if len(res.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(res.Rows), len(want), res.Rows)
	}
	for i, r := range res.Rows {
		if r.Name != want[i] || r.Skip {
			t.Errorf("row %d is %q (skipped %v), want %q measured", i, r.Name, r.Skip, want[i])
		}
	}
	get := func(name string) Row { r, _ := res.row(name); return r }
	for _, name := range []string{RowSIPUDP, RowSIPTCP, RowSIPTLS} {
		r := get(name)
		if r.Value <= 0 || !strings.Contains(r.Note, " 20 ok, 0 failed,") {
			t.Errorf("%s: %v (%s), want every one of 20 calls ok", name, r.Value, r.Note)
		}
	}
	for _, c := range [][2]string{{RowSIPTCPRatio, RowSIPTCP}, {RowSIPTLSRatio, RowSIPTLS}} {
		if got, w := get(c[0]).Value, get(c[1]).Value/get(RowSIPUDP).Value; got != w {
			t.Errorf("%s = %v, want %v", c[0], got, w)
		}
	}
}
