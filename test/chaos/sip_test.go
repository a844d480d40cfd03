package chaos

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The SIP load: in every tenant DN calleeDN is a phone (one sipp UAS for
// all tenants, registered through the nodes before the chaos), and sipp
// UACs call it from the tenant's callerDNs in turn through a random live
// node, one short call at a time per tenant, sipWorkers calls at once.
// A caller that vanishes mid-call (its node killed) leaves its DN on the
// call until the owner gives up waiting for the ACK (32 s): the next
// calls come from the other callers, and calleeDN has call waiting.
var callerDNs = []string{"2001", "2002", "2003", "2004"}

const (
	sipPassword = "chaos-sip"
	calleeDN    = "2000"
	sipWorkers  = 4
	talkMillis  = 300
	// sipCallTimeout ends a sipp UAC that is still running (as failed):
	// longer than a failover, so a call that meets one is released, not
	// cut by the test.
	sipCallTimeout = 20 * time.Second
	// windowSlack is how long after a disruption's end (the cluster
	// settled again) a call's failure is still put down to it.
	windowSlack = 2 * time.Second
)

// sipKey is the load's key (load.ok, load.unknown, topicsRead.got) of the
// calls of tenant tn answered (a 200 to the caller's INVITE): each has one
// EventEstablished of calleeDN in the topics.
func sipKey(tn string) string { return tn + "/" + calleeDN + "/established" }

// window is a disruption of the cluster (a kill, a stop, a restart):
// calls that fail during it, or within windowSlack after it, are put down
// to it.
type window struct {
	name     string
	from, to time.Time // to zero: not over yet
}

// disrupt opens a disruption window named name; the returned func closes
// it.
func (h *harness) disrupt(name string) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.windows = append(h.windows, &window{name: name, from: time.Now()})
	w := h.windows[len(h.windows)-1]
	return func() {
		h.mu.Lock()
		w.to = time.Now()
		h.mu.Unlock()
	}
}

// around names the disruption window a call that ran from start to end
// and failed met: the one open (or closed within windowSlack) when it
// ended, else the last one open while it ran; "" for none.
func (h *harness) around(start, end time.Time) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	name := ""
	for _, w := range h.windows {
		to := w.to
		if to.IsZero() {
			to = time.Now()
		}
		to = to.Add(windowSlack)
		if !end.Before(w.from) && !end.After(to) {
			return w.name
		}
		if !start.After(to) && !end.Before(w.from) {
			name = w.name
		}
	}
	return name
}

// kill is a kill -9 of a node serving tenants.
type kill struct {
	victim  string
	tenants []string
	at      time.Time
}

// noteKill notes a kill -9 of victim, serving tenants ts, at t0, for the
// report.
func (s *sipLoad) noteKill(victim string, ts []string, t0 time.Time) {
	s.mu.Lock()
	s.kills = append(s.kills, kill{victim, ts, t0})
	s.mu.Unlock()
}

// before names the last disruption window that ended before at, and how
// long before.
func (h *harness) before(at time.Time) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.windows) - 1; i >= 0; i-- {
		if w := h.windows[i]; !w.to.IsZero() && w.to.Before(at) {
			return fmt.Sprintf("%v after the end of %s", at.Sub(w.to).Round(time.Millisecond), w.name)
		}
	}
	return "before any disruption"
}

// sipCall is one call a sipp UAC made.
type sipCall struct {
	tenant, node string
	start, end   time.Time
	answered     bool      // it got the 200 to its INVITE
	answeredAt   time.Time // when
	ok           bool      // sipp ran the whole scenario
	reason       string    // why not, from sipp's error file
}

type sipLoad struct {
	h       *harness
	l       *load // answered calls count in l.ok, failed ones not answered in l.unknown
	bin     string
	dir     string
	uas     *exec.Cmd
	uasDone chan struct{}
	uasPort int

	mu       sync.Mutex
	kills    []kill
	calls    []sipCall
	inflight map[*exec.Cmd]string // the callers' sipps under way, by the node they call through
	cut      map[*exec.Cmd]bool   // those killed by nodeDown
	busy     map[string]bool
	next     int
	turn     map[string]int // the tenant's next caller (callerDNs)
	seq      int
	stop     chan struct{}
	wg       sync.WaitGroup
}

// startSIP registers every tenant's calleeDN from one UDP port, tenant i through node i mod 3 (so most go through a node not
// serving the tenant, which forwards them), starts a sipp UAS on that
// port and then the callers.
func (h *harness) startSIP(l *load) *sipLoad {
	t := h.t
	t.Helper()
	s := &sipLoad{h: h, l: l, bin: h.sipp, dir: t.TempDir(),
		busy: map[string]bool{}, turn: map[string]int{}, inflight: map[*exec.Cmd]string{}, cut: map[*exec.Cmd]bool{}, stop: make(chan struct{}), uasDone: make(chan struct{})}
	s.uasPort = freeUDPPort(t)
	nodes := h.live()
	for i := 0; i < nTenants; i++ {
		tn := fmt.Sprint("t", i)
		n := nodes[i%len(nodes)]
		args := []string{"-sf", scenario(t, "register.xml"), "-p", strconv.Itoa(s.uasPort), "-m", "1", "-timeout", "30s",
			"-au", calleeDN, "-ap", sipPassword, "-key", "user", calleeDN, "-key", "tenant", tn, "-key", "expires", "3600"}
		if code, errs, _ := s.sipp(n, "register-"+tn, args...); code != 0 {
			t.Fatalf("sipp: REGISTER %s@%s through %s: exit %d\n%s", calleeDN, tn, n.id, code, errs)
		}
	}
	s.uas = exec.Command(s.bin, "-sf", scenario(t, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(s.uasPort), "-nostdin",
		"-trace_err", "-error_file", filepath.Join(s.dir, "uas.err"),
		"-trace_stat", "-stf", filepath.Join(s.dir, "uas.csv"), "-fd", "1")
	s.uas.Dir = s.dir
	if err := s.uas.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.uas.Wait(); close(s.uasDone) }()
	t.Cleanup(func() {
		s.uas.Process.Kill()
		<-s.uasDone
	})
	for w := 0; w < sipWorkers; w++ {
		s.wg.Add(1)
		go s.worker()
	}
	return s
}

func scenario(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sipp runs sipp against node n's SIP address with args; it returns
// sipp's exit code and its error file, and whether nodeDown killed it.
func (s *sipLoad) sipp(n *node, name string, args ...string) (int, string, bool) {
	errf := filepath.Join(s.dir, name+".err")
	all := append([]string{n.sip, "-i", "127.0.0.1", "-nostdin", "-timeout_error", "-trace_err", "-error_file", errf}, args...)
	cmd := exec.Command(s.bin, all...)
	cmd.Dir = s.dir
	s.mu.Lock()
	err := cmd.Start()
	if err == nil {
		s.inflight[cmd] = n.id
	}
	s.mu.Unlock()
	if err == nil {
		err = cmd.Wait()
	}
	s.mu.Lock()
	cut := s.cut[cmd]
	delete(s.inflight, cmd)
	delete(s.cut, cmd)
	s.mu.Unlock()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	b, _ := os.ReadFile(errf)
	return code, string(b), cut
}

// nodeDown ends the callers' sipps under way through node id, just
// killed: every request of theirs goes to it, so they could only time
// out. A phone whose proxy is gone gives up on it too (and the tenant's
// next call goes through a live node).
func (s *sipLoad) nodeDown(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cmd, n := range s.inflight {
		if n == id {
			s.cut[cmd] = true
			cmd.Process.Kill()
		}
	}
}

// take returns the next tenant (round robin) with no call under way.
func (s *sipLoad) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < nTenants; i++ {
		tn := fmt.Sprint("t", (s.next+i)%nTenants)
		if !s.busy[tn] {
			s.busy[tn] = true
			s.next = (s.next + i + 1) % nTenants
			return tn
		}
	}
	return ""
}

func (s *sipLoad) worker() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		tn := s.take()
		nodes := s.h.live()
		if tn == "" || len(nodes) == 0 {
			time.Sleep(50 * time.Millisecond)
			if tn != "" {
				s.mu.Lock()
				delete(s.busy, tn)
				s.mu.Unlock()
			}
			continue
		}
		n := nodes[rand.IntN(len(nodes))]
		c := s.call(tn, n)
		s.mu.Lock()
		delete(s.busy, tn)
		s.calls = append(s.calls, c)
		s.mu.Unlock()
		s.l.mu.Lock()
		switch {
		case c.answered:
			s.l.ok[sipKey(tn)]++
		default:
			s.l.unknown[sipKey(tn)]++
		}
		s.l.mu.Unlock()
	}
}

// call makes one call in tenant tn through node n.
func (s *sipLoad) call(tn string, n *node) sipCall {
	s.mu.Lock()
	s.seq++
	name := fmt.Sprintf("call-%d", s.seq)
	from := callerDNs[s.turn[tn]%len(callerDNs)]
	s.turn[tn]++
	s.mu.Unlock()
	logf := filepath.Join(s.dir, name+".log")
	c := sipCall{tenant: tn, node: n.id, start: time.Now()}
	code, errs, cut := s.sipp(n, name, "-sf", scenario(s.h.t, "uac.xml"), "-m", "1", "-d", strconv.Itoa(talkMillis),
		"-timeout", fmt.Sprint(int(sipCallTimeout/time.Second))+"s", "-s", calleeDN, "-au", from, "-ap", sipPassword,
		"-key", "user", from, "-key", "tenant", tn, "-trace_logs", "-log_file", logf)
	c.end = time.Now()
	b, _ := os.ReadFile(logf)
	if m := answeredLine.FindSubmatch(b); m != nil {
		sec, _ := strconv.ParseFloat(string(m[1]), 64)
		usec, _ := strconv.ParseFloat(string(m[2]), 64)
		c.answered, c.answeredAt = true, time.Unix(int64(sec), int64(usec)*1000)
	}
	c.ok = code == 0
	switch {
	case cut:
		c.reason = "ended by the test: its node was killed"
	case !c.ok:
		c.reason = sippReason(code, errs)
	}
	os.Remove(logf)
	os.Remove(filepath.Join(s.dir, name+".err"))
	return c
}

var (
	answeredLine = regexp.MustCompile(`ANSWERED ([\d.]+) ([\d.]+)`)
	sippStamp    = regexp.MustCompile(`\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+\.\d+:\s*`)
	sippCallID   = regexp.MustCompile(`(?i)(call-id|call)( '[^']*'| \S+@\S+)|\d+-\d+@127\.0\.0\.1`)
	sippSpace    = regexp.MustCompile(`\s+`)
)

// sippErrors splits a sipp error file into its messages (each starts with
// a time stamp), without the time stamps, the Call-IDs and sipp's
// heading, so that like failures read alike.
func sippErrors(errs string) []string {
	var out []string
	for _, m := range sippStamp.Split(errs, -1) {
		m = strings.TrimSpace(strings.ReplaceAll(m, "The following events occurred:", ""))
		m = sippSpace.ReplaceAllString(sippCallID.ReplaceAllString(m, "$1"), " ")
		if len(m) > 160 {
			m = m[:160] + "..."
		}
		if m != "" {
			out = append(out, m)
		}
	}
	return out
}

// sippReason says why a sipp run failed: its exit code and the last
// message of its error file.
func sippReason(code int, errs string) string {
	if ms := sippErrors(errs); len(ms) > 0 {
		return fmt.Sprintf("exit %d: %s", code, ms[len(ms)-1])
	}
	return fmt.Sprintf("exit %d", code)
}

// end stops the callers (each finishes its call), then the phone, and
// returns every call made.
func (s *sipLoad) end() []sipCall {
	close(s.stop)
	s.wg.Wait()
	time.Sleep(1500 * time.Millisecond) // the UAS's last statistics (-fd 1)
	s.uas.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.uasDone:
	case <-time.After(5 * time.Second):
		s.uas.Process.Kill()
		<-s.uasDone
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// failover returns how long after t0 the last of the tenants ts had a
// call answered (the 200 to its INVITE came; the call may have started
// before t0); ok is false when one had none.
func failover(calls []sipCall, ts []string, t0 time.Time) (worst time.Duration, ok bool) {
	for _, tn := range ts {
		first := time.Duration(-1)
		for _, c := range calls {
			if d := c.answeredAt.Sub(t0); c.tenant == tn && c.answered && d > 0 && (first < 0 || d < first) {
				first = d
			}
		}
		if first < 0 {
			return 0, false
		}
		worst = max(worst, first)
	}
	return worst, true
}

// report logs the calls made, answered and failed, the failures by the
// disruption they met and by reason, and the phone's (UAS) statistics;
// it fails the test for a caller's failure that met no disruption, and
// when no call was answered.
func (s *sipLoad) report(calls []sipCall) {
	t := s.h.t
	t.Helper()
	answered, failed := 0, 0
	byWindow := map[string]int{}
	reasons := map[string]int{}
	var steady []string
	for _, c := range calls {
		if c.answered {
			answered++
		}
		if c.ok {
			continue
		}
		failed++
		w := s.h.around(c.start, c.end)
		reasons[c.reason]++
		if w == "" {
			steady = append(steady, fmt.Sprintf("%s call in %s through %s at %s (%v; %s): %s", map[bool]string{true: "answered", false: "unanswered"}[c.answered],
				c.tenant, c.node, c.start.Format("15:04:05.000"), c.end.Sub(c.start).Round(time.Millisecond), s.h.before(c.start), c.reason))
			continue
		}
		byWindow[w]++
	}
	var lines []string
	for w, n := range byWindow {
		lines = append(lines, fmt.Sprintf("  %3d around %s", n, w))
	}
	sort.Strings(lines)
	var rs []string
	for r, n := range reasons {
		rs = append(rs, fmt.Sprintf("  %3d %s", n, r))
	}
	sort.Strings(rs)
	t.Logf("SIP callers (sipp UAC, %d at once, %d ms talk): %d calls, %d answered (200), %d failed (%d around a disruption, %d outside any)\nfailures by disruption:\n%s\nfailures by reason:\n%s",
		sipWorkers, talkMillis, len(calls), answered, failed, failed-len(steady), len(steady), strings.Join(lines, "\n"), strings.Join(rs, "\n"))
	for _, f := range steady {
		t.Errorf("SIP call failed outside any disruption: %s", f)
	}
	if answered == 0 {
		t.Error("no SIP call answered")
	}
	s.mu.Lock()
	kills := slices.Clone(s.kills)
	s.mu.Unlock()
	// The SIP failover of a kill: until every tenant of the node killed
	// had a call answered. One that ends after the next kill (10 s or so
	// later) measures both and is left out of the median.
	var fs []time.Duration
	for i, k := range kills {
		d, ok := failover(calls, k.tenants, k.at)
		switch {
		case !ok:
			t.Errorf("kill -9 %s: not every one of its tenants %v had a SIP call answered after it", k.victim, k.tenants)
		case i+1 < len(kills) && k.at.Add(d).After(kills[i+1].at):
			t.Logf("kill -9 %s: its tenants %v answered SIP calls again after %v, after the next kill (not counted)", k.victim, k.tenants, d.Round(time.Millisecond))
		default:
			fs = append(fs, d)
			t.Logf("kill -9 %s: its tenants %v answered SIP calls again after %v", k.victim, k.tenants, d.Round(time.Millisecond))
		}
	}
	slices.Sort(fs)
	if len(fs) > 0 {
		t.Logf("SIP failover after kill -9 (a 200 to a caller in each of the node's tenants; sipp retransmits an INVITE 0.5, 1.5, 3.5, 7.5 s after sending it): median %v, worst %v over %d kills",
			fs[len(fs)/2].Round(time.Millisecond), fs[len(fs)-1].Round(time.Millisecond), len(fs))
	}
	s.reportUAS()
}

// reportUAS logs the phone's calls from sipp's statistics file (its last
// line) and its error file.
func (s *sipLoad) reportUAS() {
	t := s.h.t
	b, err := os.ReadFile(filepath.Join(s.dir, "uas.csv"))
	if err != nil {
		t.Errorf("sipp UAS statistics: %v", err)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		t.Errorf("sipp UAS statistics: %d lines", len(lines))
		return
	}
	head, last := strings.Split(lines[0], ";"), strings.Split(lines[len(lines)-1], ";")
	var stats []string
	for i, h := range head {
		if i < len(last) && strings.HasSuffix(h, "(C)") && last[i] != "0" && !strings.Contains(h, "Rate") && !strings.Contains(h, "Time") {
			stats = append(stats, strings.TrimSuffix(h, "(C)")+" "+last[i])
		}
	}
	errs, _ := os.ReadFile(filepath.Join(s.dir, "uas.err"))
	reasons := map[string]int{}
	for _, m := range sippErrors(string(errs)) {
		reasons[m]++
	}
	var rs []string
	for r, n := range reasons {
		rs = append(rs, fmt.Sprintf("  %3d %s", n, r))
	}
	sort.Strings(rs)
	t.Logf("SIP phone (sipp UAS of %s in every tenant): %s; its errors:\n%s", calleeDN, strings.Join(stats, ", "), strings.Join(rs, "\n"))
}

// freeUDPPort finds a UDP port free on 127.0.0.1 for the sipp UAS.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
