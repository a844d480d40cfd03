package sipfront

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"

	"github.com/switchboard-cc/switchboard/internal/testenv"
)

const (
	testPassword = "s3cret"
	testServer   = "sb-test"
)

// recordSink records every event and acknowledges at once.
type recordSink struct {
	mu  sync.Mutex
	evs []event.Event
}

func (s *recordSink) Publish(evs []event.Event, done func(error)) {
	s.mu.Lock()
	s.evs = append(s.evs, evs...)
	s.mu.Unlock()
	done(nil)
}

func (s *recordSink) take() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.evs
	s.evs = nil
	return out
}

// fixture is switchboard in-process: one demo tenant's engine and runtime
// (events recorded by a sink) and the SIP front end on 127.0.0.1:0.
type fixture struct {
	t      testing.TB
	tenant *config.Tenant
	rt     *tenant.Tenant
	sink   *recordSink
	sip    *Server
	trunk  string // the address of the trunk's peer (a sipp)
}

// testTenant is the demo tenant with trunk "pstn" pointing at trunkAddr,
// for numbers starting with 0 or +, without keepalive.
func testTenant(trunkAddr string) *config.Tenant {
	f := config.Demo("token", testPassword)
	t := &f.Tenants[0]
	for i := range t.DNs {
		if t.DNs[i].Type == config.Trunk {
			// No OPTIONS keepalive: the sipp at the trunk's address
			// expects calls only (carrier_test.go tests keepalives).
			t.DNs[i].Trunk = &config.TrunkSettings{Address: trunkAddr, Prefixes: []string{"0", "+"}, Keepalive: config.Keepalive{Off: true}}
		}
	}
	return t
}

func newFixture(t testing.TB, mod func(*Config)) *fixture {
	t.Helper()
	return newFixtureTenant(t, mod, nil)
}

// newFixtureTenant is newFixture with a change to the tenant (tmod may be
// nil).
func newFixtureTenant(t testing.TB, mod func(*Config), tmod func(*config.Tenant)) *fixture {
	t.Helper()
	f := &fixture{t: t, sink: &recordSink{}}
	f.trunk = "127.0.0.1:" + strconv.Itoa(freeTrunkPort(t))
	f.tenant = testTenant(f.trunk)
	if tmod != nil {
		tmod(f.tenant)
	}
	if err := (&config.File{Tenants: []config.Tenant{*f.tenant}}).Validate(); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(f.tenant, engine.Options{Server: testServer})
	if err != nil {
		t.Fatal(err)
	}
	f.rt, err = tenant.Start(tenant.Config{Engine: eng, Sink: f.sink})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Listen:  "127.0.0.1:0",
		Tenants: []Tenant{{Config: f.tenant, Runtime: f.rt}},
		Logger:  testLogger(t),
	}
	if mod != nil {
		mod(&cfg)
	}
	f.sip, err = Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.sip.Close()
		f.rt.Close(context.Background())
	})
	return f
}

// freeUDPPort finds a port free on 127.0.0.1 for a sipp to bind, or for
// the SIP server (UDP and TCP on one port): free for both.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	for try := 0; ; try++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", c.LocalAddr().String())
		c.Close()
		if err == nil {
			ln.Close()
			return port
		}
		if try == 20 {
			t.Fatal(err)
		}
	}
}

// freeTrunkPort is freeUDPPort for the trunk's peer, which other programs
// bind (sipp, baresip): preferably a port whose TCP port and the next one
// (where baresip puts TLS) bind without SO_REUSEADDR, as those programs
// bind them. A port that loopback connections of earlier tests left in
// TIME_WAIT is free for Go's listeners but not for baresip's. After many
// tries (a run with thousands of connections in TIME_WAIT) it settles for
// freeUDPPort's port.
func freeTrunkPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := freeUDPPort(t)
		if strictListen(port) == nil && (port == 65535 || strictListen(port+1) == nil) {
			return port
		}
	}
	return freeUDPPort(t)
}

// strictListen reports whether a TCP listener can bind 127.0.0.1:port
// without SO_REUSEADDR.
func strictListen(port int) error {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	return ln.Close()
}

// needSipp returns sipp's path; in CI a missing sipp fails the test.
func needSipp(t testing.TB) string {
	t.Helper()
	return testenv.LookPath(t, "Debian package sip-tester", "sipp")
}

// sipp is one sipp process.
type sipp struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	done   chan error
	exited chan struct{} // closed once cmd.Wait returned
	name   string
}

// startSipp runs testdata/<scenario> against the fixture from 127.0.0.1:port.
func (f *fixture) startSipp(scenario string, port int, args ...string) *sipp {
	f.t.Helper()
	return startSippAt(f.t, f.sip.Addr(), scenario, port, args...)
}

// startSippAt runs testdata/<scenario> against server from 127.0.0.1:port.
func startSippAt(t testing.TB, server, scenario string, port int, args ...string) *sipp {
	t.Helper()
	bin := needSipp(t)
	dir := t.TempDir()
	sf := scenario
	if !filepath.IsAbs(sf) {
		sf = filepath.Join("testdata", scenario)
	}
	all := []string{server, "-sf", sf,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-nostdin",
		"-timeout", "20s", "-timeout_error", "-trace_err", "-trace_msg",
		"-message_file", filepath.Join(dir, "msg.log"), "-error_file", filepath.Join(dir, "err.log"),
	}
	if !slices.Contains(args, "-m") {
		all = append(all, "-m", "1") // calls; sipp keeps the first of a repeated option
	}
	if !slices.Contains(args, "-d") {
		all = append(all, "-d", "200") // talk time; sipp keeps the first of a repeated option
	}
	// A caller phone answers its INVITE's 407 challenge with its password.
	if i := slices.Index(args, "user"); i > 0 && args[i-1] == "-key" && i+1 < len(args) && !slices.Contains(args, "-au") {
		all = append(all, "-au", args[i+1], "-ap", testPassword)
	}
	all = append(all, args...)
	p := &sipp{cmd: exec.Command(bin, all...), done: make(chan error, 1), exited: make(chan struct{}), name: scenario + " " + strings.Join(args, " ")}
	p.cmd.Dir, _ = os.Getwd()
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Not cmd.ProcessState, which Wait writes on another goroutine.
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	go func() {
		err := p.cmd.Wait()
		close(p.exited)
		if err != nil {
			msg, _ := os.ReadFile(filepath.Join(dir, "msg.log"))
			errs, _ := os.ReadFile(filepath.Join(dir, "err.log"))
			err = fmt.Errorf("%w\nstdout:\n%s\nerrors:\n%s\nmessages:\n%s", err, tail(p.out.String(), 2000), errs, tail(string(msg), 6000))
		}
		p.done <- err
	}()
	waitBound(port, p.exited)
	return p
}

// waitBound waits until a socket is bound to 127.0.0.1:port (UDP, or TCP
// listening), as sipp does once it has started, for at most 5 s or until
// exited is closed: a phone started right after a callee's sipp could
// otherwise reach it before it listens (on a loaded machine a TCP callee
// of TestForkFirstAnswerWins got no INVITE: the connection was refused).
func waitBound(port int, exited <-chan struct{}) {
	want := fmt.Sprintf("0100007F:%04X", port)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, f := range []string{"/proc/net/udp", "/proc/net/tcp"} {
			b, err := os.ReadFile(f)
			if err != nil {
				return // not Linux: no way to look
			}
			for _, line := range strings.Split(string(b), "\n")[1:] {
				fs := strings.Fields(line)
				// local address, and for TCP the state LISTEN (0A)
				if len(fs) > 3 && fs[1] == want && (f == "/proc/net/udp" || fs[3] == "0A") {
					return
				}
			}
		}
		select {
		case <-exited:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// wait waits for sipp to end and fails the test if it failed.
func (p *sipp) wait(t testing.TB) {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("sipp %s: %v", p.name, err)
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("sipp %s did not finish:\n%s", p.name, p.out.String())
	}
}

// basicCall: 1002 (registered from 127.0.0.1:pb, first) answers as a sipp
// UAS; 1001 (registered from 127.0.0.1:pa) calls 1002 through server as a
// sipp UAC, talks and hangs up. The events are the engine's golden flow
// 5.1 for the same calls after the two registrations'
// EventDNBackInService, and no SIP state is left.
func (f *fixture) basicCall(server string, pa, pb int) {
	f.t.Helper()
	uas := f.startSipp("uas.xml", pb, "-key", "user", "1002")
	uac := startSippAt(f.t, server, "uac.xml", pa, "-key", "user", "1001", "-s", "1002")
	uac.wait(f.t)
	uas.wait(f.t)
	f.basicFlow()
}

// basicFlow checks the events of 1001's call to 1002, answered by 1002
// and hung up by 1001, after the two registrations (flow 5.1), and that
// nothing is left over.
func (f *fixture) basicFlow() {
	f.t.Helper()
	f.basicFlowReleasedBy("1001")
}

// basicFlowReleasedBy is basicFlow with the call released by dn (1001 or
// 1002).
func (f *fixture) basicFlowReleasedBy(dn string) {
	f.t.Helper()
	want := expected(f.t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: dn},
	)
	sameFlow(f.t, f.events(len(want)), want)
	f.noLeftovers()
}

// register registers dn from 127.0.0.1:port with sipp (digest auth).
// trunkPort is the port of the trunk's address, where a sipp plays the
// carrier.
func (f *fixture) trunkPort() int {
	f.t.Helper()
	_, tp, err := net.SplitHostPort(f.trunk)
	if err != nil {
		f.t.Fatal(err)
	}
	port, err := strconv.Atoi(tp)
	if err != nil {
		f.t.Fatal(err)
	}
	return port
}

func (f *fixture) register(dn string, port int, expires int) {
	f.t.Helper()
	registerAt(f.t, f.sip.Addr(), dn, port, expires)
}

func registerAt(t testing.TB, server, dn string, port int, expires int) {
	t.Helper()
	startSippAt(t, server, "register.xml", port, "-au", dn, "-ap", testPassword, "-key", "user", dn, "-key", "expires", strconv.Itoa(expires)).wait(t)
}

// events waits until the sink holds n events and returns them.
func (f *fixture) events(n int) []event.Event {
	f.t.Helper()
	var got []event.Event
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		got = append(got, f.sink.take()...)
		if len(got) >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != n {
		time.Sleep(100 * time.Millisecond)
		got = append(got, f.sink.take()...)
	}
	if len(got) != n {
		f.t.Fatalf("got %d events, want %d:\n%s", len(got), n, format(got))
	}
	return got
}

// expected steps a fresh engine of the same tenant through cmds: the
// golden flow of the call. A command may refer to the ConnID of the n-th
// call made ($1, $2) in ConnID fields.
func expected(t testing.TB, tenant *config.Tenant, cmds ...engine.Command) []event.Event {
	t.Helper()
	eng, err := engine.New(tenant, engine.Options{Server: testServer})
	if err != nil {
		t.Fatal(err)
	}
	var conns, timers []string
	var out []event.Event
	at := int64(1767225600000000)
	for _, c := range cmds {
		if _, ok := c.(fireTimers); ok {
			for _, id := range timers {
				at += 1000
				res, err := eng.Step(at, engine.TimerFired{ID: id})
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, res.Events...)
			}
			timers = nil
			continue
		}
		c = withConn(c, conns)
		at += 1000
		res, err := eng.Step(at, c)
		if err != nil {
			t.Fatalf("golden %T: %v", c, err)
		}
		if r, ok := res.Reply.(engine.CallReply); ok {
			conns = append(conns, r.ConnID)
		}
		for _, e := range res.Effects {
			if st, ok := e.(engine.StartTimer); ok {
				timers = append(timers, st.ID)
			}
		}
		out = append(out, res.Events...)
	}
	return out
}

// fireTimers in a golden command list fires the timers started so far.
type fireTimers struct{}

func (fireTimers) Kind() string { return "test-fire-timers" }

// withConn replaces ConnID "$n" by the n-th call's ConnID.
func withConn(c engine.Command, conns []string) engine.Command {
	v := reflect.New(reflect.TypeOf(c)).Elem()
	v.Set(reflect.ValueOf(c))
	for _, name := range []string{"ConnID", "ConsultConnID"} {
		f := v.FieldByName(name)
		if f.IsValid() && strings.HasPrefix(f.String(), "$") {
			n, _ := strconv.Atoi(f.String()[1:])
			f.SetString(conns[n-1])
		}
	}
	return v.Interface().(engine.Command)
}

// normalize blanks what differs between two runs of the same flow: the
// time and the call thread ids (time-based), which are numbered in order
// of appearance instead.
func normalize(evs []event.Event) []event.Event {
	threads := map[string]string{}
	out := make([]event.Event, len(evs))
	for i, e := range evs {
		e.Time = event.Time{}
		if e.CallThreadID != "" {
			id, ok := threads[e.CallThreadID]
			if !ok {
				id = "thread-" + strconv.Itoa(len(threads)+1)
				threads[e.CallThreadID] = id
			}
			e.CallThreadID = id
		}
		out[i] = e
	}
	return out
}

func format(evs []event.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s ThisDN=%s OtherDN=%s ConnID=%s CallState=%v Seq=%d\n", e.ID, e.ThisDN, e.OtherDN, e.ConnID, e.CallState, e.Seq)
	}
	return b.String()
}

// sameFlow compares recorded events with the golden flow.
func sameFlow(t testing.TB, got, want []event.Event) {
	t.Helper()
	g, w := normalize(got), normalize(want)
	if len(g) != len(w) {
		t.Fatalf("got %d events, want %d\ngot:\n%swant:\n%s", len(g), len(w), format(got), format(want))
	}
	for i := range g {
		if !reflect.DeepEqual(g[i], w[i]) {
			t.Fatalf("event %d:\ngot  %+v\nwant %+v\ngot:\n%swant:\n%s", i, g[i], w[i], format(got), format(want))
		}
	}
}

// noLeftovers waits until sipfront holds no legs, calls, pending dials or
// held legs: every call's SIP state is gone when the call is.
func (f *fixture) noLeftovers() {
	f.t.Helper()
	var legs, calls, pending int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		f.sip.mu.Lock()
		legs = len(f.sip.legs)
		f.sip.mu.Unlock()
		t := f.sip.single
		if t == nil {
			t = f.sip.served()[f.tenant.ID] // a cluster node's
		}
		t.mu.Lock()
		calls, pending = len(t.calls), len(t.dialing)+len(t.inbound)+len(t.heldBy)
		t.mu.Unlock()
		if legs+calls+pending == 0 {
			return
		}
	}
	f.sip.mu.Lock()
	var ids []string
	for id, l := range f.sip.legs {
		ids = append(ids, fmt.Sprintf("%s(dn %s caller %v %v)", id, l.dn, l.caller, l.state))
	}
	f.sip.mu.Unlock()
	f.t.Fatalf("left over: %d legs %v, %d calls, %d pending", legs, ids, calls, pending)
}
