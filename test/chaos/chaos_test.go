package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/cluster"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/testenv"
	"github.com/switchboard-cc/switchboard/internal/verify"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	envKafka3    = "SWITCHBOARD_TEST_KAFKA3"
	envInstance3 = "SWITCHBOARD_TEST_KAFKA3_INSTANCE"
	opsToken     = "chaos-ops"
	nTenants     = 8
	shards       = 8
)

func kafka3(t *testing.T) ([]string, string) {
	v := os.Getenv(envKafka3)
	if v == "" {
		if testenv.InCI() {
			t.Fatalf("%s is not set: scripts/test starts a 3-broker Kafka (scripts/kafka start --brokers 3)", envKafka3)
		}
		t.Skipf("%s not set (scripts/kafka start --brokers 3)", envKafka3)
	}
	return strings.Split(v, ","), os.Getenv(envInstance3)
}

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "switchboard")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/switchboard")
	cmd.Dir = kafkatest.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func configFile(t *testing.T) string {
	var b strings.Builder
	b.WriteString("server: chaos\ntenants:\n")
	for i := 0; i < nTenants; i++ {
		fmt.Fprintf(&b, "  - id: t%d\n    tokens: [tok-t%d]\n    dns:\n", i, i)
		for d := 1001; d <= 1004; d++ {
			fmt.Fprintf(&b, "      - number: \"%d\"\n        type: extension\n", d)
		}
		fmt.Fprintf(&b, "      - number: \"%s\"\n        type: extension\n        sip-password: %s\n        call-waiting: true\n", calleeDN, sipPassword)
		for _, d := range callerDNs {
			fmt.Fprintf(&b, "      - number: \"%s\"\n        type: extension\n        sip-password: %s\n", d, sipPassword)
		}
		b.WriteString("    agents:\n")
		for a := 1; a <= 4; a++ {
			fmt.Fprintf(&b, "      - id: agent%d\n", a)
		}
	}
	p := filepath.Join(t.TempDir(), "chaos.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// node is one switchboard process.
type node struct {
	id   string
	cmd  *exec.Cmd
	addr string // HTTP
	sip  string // SIP (UDP)
	done chan struct{}
}

type harness struct {
	t       *testing.T
	bin     string
	brokers []string
	prefix  string
	cluster string
	file    string
	logDir  string
	sipp    string // sipp's path

	mu      sync.Mutex
	nodes   map[string]*node
	windows []*window // sip_test.go
}

var apiLine = regexp.MustCompile(`API on http://([^\s,]+), SIP on (\S+) \(UDP\)`)

func (h *harness) start(id string) *node {
	h.t.Helper()
	cmd := exec.Command(h.bin, "serve", "--cluster", h.cluster, "--node-id", id,
		"--kafka-brokers", strings.Join(h.brokers, ","), "--topic-prefix", h.prefix, "--partitions", "3",
		"--shards", fmt.Sprint(shards), "--config", h.file, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0",
		"--data", filepath.Join(h.logDir, id), "--ops-token", opsToken, "--session-timeout", "6s",
		"--handover-wait", "3s", "--log-level", "info")
	logf, err := os.OpenFile(filepath.Join(h.logDir, id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	n := &node{id: id, cmd: cmd, done: make(chan struct{})}
	addr := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1:]
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() { cmd.Wait(); logf.Close(); close(n.done) }()
	select {
	case a := <-addr:
		n.addr, n.sip = a[0], a[1]
	case <-n.done:
		h.t.Fatalf("node %s exited at start (log %s)", id, filepath.Join(h.logDir, id+".log"))
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		h.t.Fatalf("node %s did not start", id)
	}
	h.mu.Lock()
	h.nodes[id] = n
	h.mu.Unlock()
	return n
}

func (h *harness) remove(id string) *node {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.nodes[id]
	delete(h.nodes, id)
	return n
}

func (h *harness) live() []*node {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*node
	for _, n := range h.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// client is the load's HTTP client. Its timeout is what a client would
// wait for a frozen node (SIGSTOP accepts connections and never answers)
// before retrying elsewhere; with a long one the load's worker for a
// tenant would stay blocked on the frozen node and the failover measured
// would be the client's timeout.
var client = &http.Client{Timeout: 5 * time.Second}

func (h *harness) status(n *node) (cluster.ClusterStatus, error) {
	var st cluster.ClusterStatus
	req, err := http.NewRequest("GET", "http://"+n.addr+"/v1/cluster", nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+opsToken)
	res, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return st, fmt.Errorf("status %d", res.StatusCode)
	}
	return st, json.NewDecoder(res.Body).Decode(&st)
}

// settled waits until every live node sees every shard owned by a live
// node.
func (h *harness) settled(timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		nodes := h.live()
		ok := true
		for _, n := range nodes {
			st, err := h.status(n)
			if err != nil {
				ok = false
				break
			}
			owners := map[string]bool{}
			for _, s := range st.Shards {
				if !slices.ContainsFunc(nodes, func(m *node) bool { return m.id == s.Owner }) {
					ok = false
				}
				owners[s.Owner] = true
			}
			if len(owners) < len(nodes) {
				ok = false // every node gets shards (there are more shards than nodes)
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("cluster did not settle within %v", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tenantsOf returns the tenants whose shards node id owns.
func (h *harness) tenantsOf(id string) []string {
	h.t.Helper()
	for _, n := range h.live() {
		st, err := h.status(n)
		if err != nil {
			continue
		}
		var out []string
		for _, s := range st.Shards {
			if s.Owner == id {
				out = append(out, s.Tenants...)
			}
		}
		return out
	}
	h.t.Fatal("no node answers /v1/cluster")
	return nil
}

// load drives every tenant: a worker per tenant logs its agents in and out
// through a random live node and records every reply.
type load struct {
	mu      sync.Mutex
	ok      map[string]int // "tenant/dn/login|logout" -> 2xx replies
	unknown map[string]int // replies whose outcome is unknown (5xx, transport error)
	lastOK  map[string]time.Time
	codes   map[int]int
	stop    chan struct{}
	wg      sync.WaitGroup
}

func (h *harness) runLoad() *load {
	l := &load{ok: map[string]int{}, unknown: map[string]int{}, lastOK: map[string]time.Time{}, codes: map[int]int{},
		stop: make(chan struct{})}
	for i := 0; i < nTenants; i++ {
		tn := fmt.Sprint("t", i)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			loggedIn := map[int]bool{}
			for k := 0; ; k++ {
				select {
				case <-l.stop:
					return
				case <-time.After(40 * time.Millisecond):
				}
				nodes := h.live()
				if len(nodes) == 0 {
					continue
				}
				n := nodes[rand.IntN(len(nodes))]
				dn := 1001 + k%4
				op := "login"
				body := fmt.Sprintf(`{"agentId":"agent%d"}`, dn-1000)
				if loggedIn[dn] {
					op, body = "logout", "{}"
				}
				req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/v1/tenants/%s/dns/%d/%s", n.addr, tn, dn, op), strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer tok-"+tn)
				res, err := client.Do(req)
				code := 0
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					code = res.StatusCode
				}
				key := fmt.Sprintf("%s/%d/%s", tn, dn, op)
				l.mu.Lock()
				l.codes[code]++
				switch {
				case code/100 == 2:
					l.ok[key]++
					l.lastOK[tn] = time.Now()
					loggedIn[dn] = op == "login"
				case code == 409:
					// Refused: the agent is already in that state (an
					// earlier request whose reply was lost was applied).
					loggedIn[dn] = op == "login"
				default:
					l.unknown[key]++
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) end() { close(l.stop); l.wg.Wait() }

// waitAnswered waits until every tenant of ts had a 2xx reply after t0 and
// returns how long after t0 the last of them got its first one.
func (l *load) waitAnswered(t *testing.T, ts []string, t0 time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		var worst time.Duration
		all := true
		for _, tn := range ts {
			at := l.lastOK[tn]
			if !at.After(t0) {
				all = false
				break
			}
			worst = max(worst, at.Sub(t0))
		}
		l.mu.Unlock()
		if all {
			return worst
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenants %v not answering %v after the failure", ts, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChaos: see the package documentation. It logs the failover time of
// each kill -9 and the median and worst of them (figures, not assertions:
// the test fails only when tenants stay unavailable for a minute or when
// the topics break the contract).
func TestChaos(t *testing.T) {
	brokers, instance := kafka3(t)
	sipp := testenv.LookPath(t, "Debian package sip-tester", "sipp") // before anything starts
	h := &harness{t: t, bin: build(t), brokers: brokers, prefix: kafkatest.UniqueTopicPrefix(t),
		cluster: fmt.Sprint("chaos", rand.IntN(1e6)), file: configFile(t), logDir: t.TempDir(), sipp: sipp, nodes: map[string]*node{}}
	t.Cleanup(func() {
		for _, n := range h.live() {
			n.cmd.Process.Signal(syscall.SIGCONT)
			n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() {
			for _, f := range []string{"n1", "n2", "n3", "n4"} {
				if b, err := os.ReadFile(filepath.Join(h.logDir, f+".log")); err == nil {
					lines := strings.Split(string(b), "\n")
					t.Logf("--- %s log (last 30 lines):\n%s", f, strings.Join(lines[max(0, len(lines)-30):], "\n"))
				}
			}
		}
	})
	began := time.Now()
	for _, id := range []string{"n1", "n2", "n3"} {
		h.start(id)
	}
	h.settled(60 * time.Second)
	l := h.runLoad()
	sl := h.startSIP(l)
	time.Sleep(2 * time.Second)

	// 1. kill -9 of a node, five times, each time restarting it.
	var failovers []time.Duration
	for round := 0; round < 5; round++ {
		victim := fmt.Sprint("n", 1+round%3)
		ts := h.tenantsOf(victim)
		n := h.remove(victim)
		marks := h.logMarks()
		over := h.disrupt(fmt.Sprintf("kill -9 %s (round %d)", victim, round+1))
		t0 := time.Now()
		n.cmd.Process.Kill()
		<-n.done
		sl.nodeDown(victim)
		if len(ts) > 0 {
			sl.noteKill(victim, ts, t0)
			d := l.waitAnswered(t, ts, t0, 60*time.Second)
			failovers = append(failovers, d)
			t.Logf("kill -9 %s (tenants %v): answered again after %v; the survivors' takeover:\n%s", victim, ts, d.Round(time.Millisecond),
				h.takeoverLines(marks, t0))
		}
		h.start(victim)
		h.settled(60 * time.Second)
		over()
		h.checkTopics(l, false, fmt.Sprintf("kill -9 %s (round %d)", victim, round+1))
	}

	// 2. SIGSTOP a node beyond its session timeout, then SIGCONT: its
	// shards move; it finds itself fenced and rejoins.
	victim := "n2"
	ts := h.tenantsOf(victim)
	h.mu.Lock()
	paused := h.nodes[victim]
	delete(h.nodes, victim) // no load through it while it is stopped
	h.mu.Unlock()
	over := h.disrupt("SIGSTOP and SIGCONT of " + victim)
	t0 := time.Now()
	paused.cmd.Process.Signal(syscall.SIGSTOP)
	if len(ts) > 0 {
		t.Logf("SIGSTOP %s (tenants %v): answered again after %v", victim, ts, l.waitAnswered(t, ts, t0, 60*time.Second).Round(time.Millisecond))
	}
	time.Sleep(time.Until(t0.Add(10 * time.Second)))
	paused.cmd.Process.Signal(syscall.SIGCONT)
	h.mu.Lock()
	h.nodes[victim] = paused
	h.mu.Unlock()
	h.settled(60 * time.Second)
	over()
	if len(ts) > 0 {
		// It noticed: the group took its shards (lost), or a commit of its
		// was refused (fenced).
		b, _ := os.ReadFile(filepath.Join(h.logDir, victim+".log"))
		if !strings.Contains(string(b), "cluster: shards lost") && !strings.Contains(string(b), "fenced") {
			t.Errorf("%s after SIGCONT: its log shows neither lost shards nor fencing", victim)
		}
	}
	h.checkTopics(l, false, "SIGSTOP and SIGCONT of "+victim)

	// 3. kill -9 of one broker, then its restart.
	if instance != "" {
		script := filepath.Join(kafkatest.RepoRoot(t), "scripts", "kafka")
		run := func(args ...string) {
			cmd := exec.Command(script, args...)
			cmd.Env = append(os.Environ(), "KAFKA_INSTANCE="+instance)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("scripts/kafka %v: %v\n%s", args, err, out)
			}
		}
		over := h.disrupt("kill -9 of broker 2 and its restart")
		run("kill-broker", "2")
		t0 := time.Now()
		time.Sleep(5 * time.Second)
		all := make([]string, nTenants)
		for i := range all {
			all[i] = fmt.Sprint("t", i)
		}
		t.Logf("kill -9 of broker 2: every tenant answered within %v", l.waitAnswered(t, all, t0, 60*time.Second).Round(time.Millisecond))
		run("start-broker", "2")
		over()
		h.checkTopics(l, false, "kill -9 of broker 2 and its restart")
	} else {
		t.Logf("%s not set: the broker kill is not run", envInstance3)
	}

	// 4. Rolling restart (graceful), then a fourth node.
	for _, id := range []string{"n1", "n2", "n3"} {
		over := h.disrupt("the rolling restart of " + id)
		n := h.remove(id)
		n.cmd.Process.Signal(syscall.SIGTERM)
		<-n.done
		h.start(id)
		h.settled(60 * time.Second)
		over()
		h.checkTopics(l, false, "the rolling restart of "+id)
	}
	over = h.disrupt("n4 joining")
	h.start("n4")
	h.settled(60 * time.Second)
	over()
	h.checkTopics(l, false, "n4 joining")
	time.Sleep(2 * time.Second)
	calls := sl.end()
	l.end()
	for _, n := range h.live() {
		n.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, n := range h.live() {
		<-n.done
	}
	h.nodes = map[string]*node{}

	sorted := slices.Clone(failovers)
	slices.Sort(sorted)
	if len(sorted) > 0 {
		t.Logf("failover after kill -9: median %v, worst %v over %d kills (goal 10 s); replies %v; chaos took %v",
			sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond), len(sorted), l.codes,
			time.Since(began).Round(time.Second))
	}

	h.checkTopics(l, true, "the end")
	sl.report(calls)
}

// checkTopics reads the topics read_committed and checks them against the
// load's replies so far: each (topic, key) has Seq gapless from its first
// record (so no event twice), every 2xx reply had its event, the events
// pass check-events and verify; with final (the load stopped, every reply
// in), no request has more events than its 2xx replies and the requests of
// unknown outcome. after names the step just done. A reply leaves when its
// transaction's commit is decided, before the broker wrote the commit
// markers that let read_committed readers past it: a reply's event
// missing is reported only if it is still missing 30 s later.
func (h *harness) checkTopics(l *load, final bool, after string) {
	t := h.t
	t.Helper()
	began := time.Now()
	l.mu.Lock()
	answered := maps.Clone(l.ok)
	l.mu.Unlock()
	var rd topicsRead
	var missing []string
	for attempt := 0; ; attempt++ {
		rd = h.readTopics(after)
		missing = missing[:0]
		for k, n := range answered {
			if rd.got[k] < n {
				missing = append(missing, fmt.Sprintf("%s: %d events read_committed, %d answered 2xx", k, rd.got[k], n))
			}
		}
		if len(missing) == 0 || time.Since(began) > 30*time.Second {
			break
		}
		time.Sleep(time.Second)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("after %s: %s", after, m)
	}
	for _, e := range rd.seqErrs {
		t.Errorf("after %s: %s", after, e)
	}
	total := 0
	for _, n := range answered {
		total += n
	}
	if final {
		for k, n := range l.ok {
			if rd.got[k] > n+l.unknown[k] {
				t.Errorf("%s: %d events read_committed, %d answered 2xx, %d of unknown outcome", k, rd.got[k], n, l.unknown[k])
			}
		}
		if total == 0 {
			t.Fatal("no request answered")
		}
	}
	kafkatest.CheckEvents(t, rd.recs)
	// At the end every call must have ended: those that met a kill or a
	// stop were released by their tenants' new owners.
	rep, err := verify.CheckLines(strings.NewReader(string(rd.lines)), verify.Options{Closed: final})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		t.Errorf("after %s: verify: %d problems, first %v", after, len(rep.Problems), rep.Problems[0])
	}
	t.Logf("after %s: topics checked (%d events, %d replies 2xx), took %v", after, len(rd.recs), total, time.Since(began).Round(time.Millisecond))
}

// topicsRead is what readTopics read.
type topicsRead struct {
	got     map[string]int // "tenant/dn/login|logout" -> events
	seqErrs []string
	lines   []byte
	recs    []*kgo.Record
}

func (h *harness) readTopics(after string) topicsRead {
	t := h.t
	t.Helper()
	topics := []string{h.prefix + event.AgentStateTopic, h.prefix + event.CallThreadTopic}
	rd := topicsRead{got: map[string]int{}}
	last := map[string]int64{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := verify.ReadTopics(ctx, h.brokers, topics, "chaos-test", 30*time.Second, nil, func(r verify.Record) {
		var e event.Event
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("after %s: %s[%d]@%d: %v", after, r.Topic, r.Partition, r.Offset, err)
		}
		k := r.Topic + "/" + string(r.Key)
		if p, ok := last[k]; ok && e.Seq != p+1 {
			rd.seqErrs = append(rd.seqErrs, fmt.Sprintf("%s: Seq %d after %d", k, e.Seq, p))
		}
		last[k] = e.Seq
		switch e.ID {
		case event.EventAgentLogin:
			rd.got[fmt.Sprintf("%s/%s/login", e.CustomerID, e.ThisDN)]++
		case event.EventAgentLogout:
			rd.got[fmt.Sprintf("%s/%s/logout", e.CustomerID, e.ThisDN)]++
		case event.EventEstablished:
			if e.ThisDN == calleeDN {
				rd.got[sipKey(e.CustomerID)]++
			}
		}
		rd.lines = append(append(rd.lines, r.Value...), '\n')
		kr := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value}
		for _, hd := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: hd.Key, Value: []byte(hd.Value)})
		}
		rd.recs = append(rd.recs, kr)
	}); err != nil {
		t.Fatalf("after %s: %v", after, err)
	}
	return rd
}

// logMarks returns the size of each live node's log.
func (h *harness) logMarks() map[string]int64 {
	m := map[string]int64{}
	for _, n := range h.live() {
		if fi, err := os.Stat(filepath.Join(h.logDir, n.id+".log")); err == nil {
			m[n.id] = fi.Size()
		}
	}
	return m
}

var logTime = regexp.MustCompile(`^time=(\S+) level=\S+ msg="([^"]*)"(.*)$`)

// takeoverLines returns the lines the nodes of marks logged since marks
// about taking shards (assigned by the group, claimed: fence, claim, read;
// tenants recovered; their SIP served), each with its time after t0:
// where a failover's time goes.
func (h *harness) takeoverLines(marks map[string]int64, t0 time.Time) string {
	var out []string
	for id, off := range marks {
		b, err := os.ReadFile(filepath.Join(h.logDir, id+".log"))
		if err != nil || int64(len(b)) < off {
			continue
		}
		for _, line := range strings.Split(string(b[off:]), "\n") {
			m := logTime.FindStringSubmatch(line)
			if m == nil || !strings.Contains(m[2], "shards assigned") && !strings.Contains(m[2], "shard claimed") && !strings.Contains(m[2], "recovered from the log") &&
				!strings.Contains(m[2], "SIP: tenant served here") {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				continue
			}
			out = append(out, fmt.Sprintf("  +%6.3fs %s %s%s", at.Sub(t0).Seconds(), id, m[2], m[3]))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
