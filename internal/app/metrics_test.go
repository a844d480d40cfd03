package app

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/*.golden with the actual output")

// The families of a running serve's /metrics after some traffic (API
// requests answered 2xx, 4xx and 429, /readyz, one SIP OPTIONS, events
// published to Kafka): names, types, help texts, label names, the label
// values this traffic produces and the histogram buckets are those of
// testdata/metrics.golden (run with -rewrite and review the diff). This is
// what dashboards and alerts read; changing how the exposition is made
// must leave it as it is.
func TestServeMetricsFamilies(t *testing.T) {
	sip := freeUDPAddr(t)
	r := startMainWith(t, nil, "", func(c *Config) {
		c.SIP = sip
		c.Ops = OpsConfig{APIRate: 0.001, APIBurst: 5}
	})
	for _, req := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/tenants/demo/dns/1001/login", `{"agentId":"agent1"}`, 200},
		{"POST", "/v1/tenants/demo/calls", `{"from":"1002","to":"1003"}`, 201},
		{"POST", "/v1/tenants/demo/dns/1001/login", `{"agentId":"agent2"}`, 409}, // the DN has another agent
		{"GET", "/v1/tenants/demo/agents", "", 200},
		{"GET", "/no/such/path", "", 404},
		{"GET", "/v1/tenants/demo/agents", "", 429}, // the burst of 5 is spent
	} {
		if st, body := r.post(t, req.method, req.path, req.body); st != req.status {
			t.Fatalf("%s %s: %d %s, want %d", req.method, req.path, st, body, req.status)
		}
	}
	if st, body := r.post(t, "GET", "/readyz", ""); st != 200 {
		t.Fatalf("/readyz: %d %s", st, body)
	}
	sipOptions(t, sip)
	r.waitPublished(t)
	checkGolden(t, "metrics.golden", scrape(t, r).Describe("switchboard_"))
}

// checkGolden compares got with testdata/name, or writes it there with
// -rewrite.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *rewrite {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
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

// freeUDPAddr returns a 127.0.0.1 address whose UDP port was free a moment
// ago (serve does not report the SIP address it bound).
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	// Free for UDP and TCP: SIP serves both on the port.
	for try := 0; ; try++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := c.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		c.Close()
		if err == nil {
			ln.Close()
			return addr
		}
		if try == 20 {
			t.Fatal(err)
		}
	}
}

// sipOptions sends one OPTIONS request to the SIP front end at addr and
// waits for its 200.
func sipOptions(t *testing.T, addr string) {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := strings.ReplaceAll(fmt.Sprintf("OPTIONS sip:%[1]s SIP/2.0\n"+
		"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-metrics-1\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:probe@%[2]s>;tag=probe\n"+
		"To: <sip:%[1]s>\n"+
		"Call-ID: metrics-probe@%[2]s\n"+
		"CSeq: 1 OPTIONS\n"+
		"Content-Length: 0\n\n", addr, local), "\n", "\r\n")
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no answer to OPTIONS: %v", err)
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 ") {
		t.Fatalf("OPTIONS answered %q", buf[:n])
	}
}
