package sipfront_test

import (
	"bufio"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
	"github.com/switchboard-cc/switchboard/internal/sipload"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// BenchmarkTCPRegistrations holds SIPREG_N (default 10,000) phones
// registered over TCP, one connection each (testdata/tcpphones, in a
// process of its own), and reports the server's memory per registration:
// the growth of its heap and goroutine stacks in use, after GC, from
// before the first connection to all registered (the binding, the flow,
// the connection and its reader).
//
// SIPREG_READBUF sets sipgo's read buffer size (sip.TransportBufferReadSize,
// one per connection; default 32 KiB) for a comparison.
//
// Run: go test ./internal/sipfront -run '^$' -bench TCPRegistrations -benchtime 1x
func BenchmarkTCPRegistrations(b *testing.B) {
	n := envInt("SIPREG_N", 10000)
	if v := envInt("SIPREG_READBUF", 0); v > 0 {
		defer func(old uint16) { sip.TransportBufferReadSize = old }(sip.TransportBufferReadSize)
		sip.TransportBufferReadSize = uint16(v)
	}
	bin := filepath.Join(b.TempDir(), "tcpphones")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/tcpphones").CombinedOutput(); err != nil {
		b.Fatalf("go build tcpphones: %v\n%s", err, out)
	}
	pairs := (n + 1) / 2
	tn, err := sipload.Tenant("load", pairs, "pw")
	if err != nil {
		b.Fatal(err)
	}
	eng, err := engine.New(tn, engine.Options{Server: sipfront.TestServer})
	if err != nil {
		b.Fatal(err)
	}
	rt, err := tenant.Start(tenant.Config{Engine: eng, Sink: discardSink{}})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(b.Context())
	srv, err := sipfront.Start(sipfront.Config{Listen: "127.0.0.1:0", Tenants: []sipfront.Tenant{{Config: tn, Runtime: rt}},
		UnauthRate: 1e6, UnauthBurst: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	for range b.N {
		before := inUse()
		// Callers 10000.. then callees 20000..: sipload's DNs.
		var phones []*exec.Cmd
		var stdins []io.WriteCloser
		for _, part := range []struct{ base, n int }{{sipload.CallerBase, pairs}, {sipload.CalleeBase, n - pairs}} {
			cmd := exec.Command(bin, "-server", srv.TCPAddr(), "-n", itoa(part.n), "-base", itoa(part.base), "-password", "pw")
			in, _ := cmd.StdinPipe()
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			phones, stdins = append(phones, cmd), append(stdins, in)
			line, _ := bufio.NewReader(out).ReadString('\n')
			if want := "registered " + itoa(part.n) + " failed 0"; strings.TrimSpace(line) != want {
				b.Fatalf("tcpphones: %q, want %q", line, want)
			}
		}
		after := inUse()
		b.ReportMetric(float64(after-before)/float64(n), "B/registration")
		b.ReportMetric(float64(n), "registrations")
		for i, c := range phones {
			stdins[i].Close()
			c.Wait()
		}
	}
}

// inUse is the heap and goroutine stacks in use after a GC.
func inUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

func itoa(i int) string { return strconv.Itoa(i) }
