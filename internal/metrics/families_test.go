package metrics_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/metrics"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/*.golden with the actual output")

// checkGolden compares got with testdata/name, or writes it there with
// -rewrite (then review the diff).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *rewrite {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -rewrite and review the diff)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// Every family of Set, once each of its update methods has run: names,
// types, help texts, label names, the label values the methods produce
// (bounded ones included) and the histogram buckets are those of
// testdata/set.golden. Dashboards and alerts depend on all of these.
func TestSetFamilies(t *testing.T) {
	s := metrics.NewSet()
	s.EventsPublished("call-thread", "acme", 3, true)
	s.EventsPublished("agent-state", "acme", 1, false)
	s.EventsPublished("agent-state", "acme", 0, false) // nothing to count
	s.KafkaAck(4 * time.Millisecond)
	s.APIRequest("POST", "/v1/tenants/{tenant}/calls", 201, time.Millisecond)
	s.APIRequest("BREW", "unmatched", 404, time.Millisecond)
	s.APIRequest("GET", "/metrics", 200, time.Millisecond)
	s.APIRequest("GET", "/readyz", 503, time.Millisecond)
	s.APIRateLimited("acme")
	s.SIPTransaction("INVITE")
	s.SIPTransaction("X-NOT-SIP")
	s.SIPResponse("INVITE", 486)
	s.SIPResponse("INVITE", 999)
	e := scrape(t, s)
	checkGolden(t, "set.golden", e.Describe("switchboard_"))
}
