package cluster

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReadLease: a node serves reads of its tenants while the group
// coordinator answers its heartbeats (for longer than the lease: it is
// renewed); when its heartbeats go unanswered (a pause, a partition) its
// reads get 503 with Retry-After once the lease ran out, although it
// still holds the tenant (writes still go to the log, which fences them
// if the shard moved); once the heartbeats are answered again, reads are
// served again. On the embedded broker, whose request control holds the
// heartbeats.
func TestReadLease(t *testing.T) {
	c, cfg := embedded(t, 1)
	const lease = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc := nodeConfig(cfg, "a", []string{demoTenant})
	nc.ReadLease = lease
	n, err := StartNode(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	waitOwned(t, cfg.Shards, n)
	f := &Front{Node: n, Base: http.NotFoundHandler(), Local: func(string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	}}
	get := func(method string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		f.ServeHTTP(w, httptest.NewRequest(method, "/v1/tenants/"+demoTenant+"/agents", nil))
		return w
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("not within 30 s: %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Renewed: reads are served for twice the lease.
	for end := time.Now().Add(2 * lease); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if w := get(http.MethodGet); w.Code != http.StatusOK {
			ok, age := n.ReadLease()
			t.Fatalf("GET with heartbeats answered: %d (lease %v, age %v)", w.Code, ok, age)
		}
	}

	// Heartbeats held: the lease runs out.
	var hold atomic.Bool
	hold.Store(true)
	release := make(chan struct{})
	c.ControlKey(int16(kmsg.Heartbeat), func(kmsg.Request) (kmsg.Response, error, bool) {
		if hold.Load() {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	until("GET refused after the lease", func() bool { return get(http.MethodGet).Code == http.StatusServiceUnavailable })
	w := get(http.MethodGet)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("GET past the lease: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if local, _, _ := n.Route(demoTenant); local == nil {
		t.Fatal("the node dropped the tenant: the 503 is not the lease's")
	}
	if w := get(http.MethodPost); w.Code != http.StatusOK {
		t.Fatalf("POST past the lease: %d, want it passed to the tenant", w.Code)
	}

	refused := n.ReadsRefused()
	if refused == 0 {
		t.Fatal("reads refused by the lease are not counted")
	}
	if st := n.LeaseStatus(); st.Holds || st.AgeMs == nil || *st.AgeMs < float64(lease.Milliseconds()) || st.Refused != refused {
		t.Fatalf("lease status past the lease: %+v (age %v), want not holding, aged at least %v, %d refused", st, st.AgeMs, lease, refused)
	}

	// Heartbeats answered again.
	hold.Store(false)
	close(release)
	until("GET served again", func() bool { return get(http.MethodGet).Code == http.StatusOK })
	if st := n.LeaseStatus(); !st.Holds || st.AgeMs == nil || *st.AgeMs >= float64(lease.Milliseconds()) {
		t.Fatalf("lease status with heartbeats answered: %+v", st)
	}

	// Heartbeats answered, but not as a member: COORDINATOR_LOAD_IN_PROGRESS
	// (which the client retries, for up to the session timeout, before its
	// group session fails). An answer is not a renewal: the lease runs out
	// while the node still holds the tenant.
	var answerErr atomic.Bool
	answerErr.Store(true)
	c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !answerErr.Load() {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp, nil, true
	})
	start := time.Now()
	until("GET refused with heartbeats answered by an error", func() bool { return get(http.MethodGet).Code == http.StatusServiceUnavailable })
	if local, _, _ := n.Route(demoTenant); local == nil {
		t.Fatalf("the node dropped the tenant %v after the errors began: the 503 is not the lease's", time.Since(start))
	}
	answerErr.Store(false)
	until("GET served again after the errors", func() bool { return get(http.MethodGet).Code == http.StatusOK })
}

// TestLeaseAnswers: the lease runs from the sending of the last heartbeat
// answered as a member; REBALANCE_IN_PROGRESS counts the member in; an
// answer saying the member is gone ends it at once, and no heartbeat sent
// before that counts afterwards; other errors (ILLEGAL_GENERATION among
// them) leave it to run out.
func TestLeaseAnswers(t *testing.T) {
	t0 := time.Now().Add(-time.Minute)
	l := &lease{dur: 5 * time.Second}
	if ok, _ := l.holds(t0); ok {
		t.Fatal("a lease before any heartbeat")
	}
	l.answered(t0, nil)
	if ok, age := l.holds(t0.Add(4 * time.Second)); !ok || age != 4*time.Second {
		t.Fatalf("4 s after an answered heartbeat: %v, age %v", ok, age)
	}
	if ok, _ := l.holds(t0.Add(5 * time.Second)); ok {
		t.Fatal("the lease holds past its duration")
	}
	l.answered(t0.Add(time.Second), kerr.RebalanceInProgress)
	if ok, _ := l.holds(t0.Add(5 * time.Second)); !ok {
		t.Fatal("REBALANCE_IN_PROGRESS did not renew the lease")
	}
	for _, err := range []error{kerr.NotCoordinator, kerr.IllegalGeneration, context.DeadlineExceeded} {
		l.answered(t0.Add(2*time.Second), err)
		if ok, age := l.holds(t0.Add(5 * time.Second)); !ok || age != 4*time.Second {
			t.Fatalf("after %v: %v, age %v; want the lease of the previous answer", err, ok, age)
		}
	}
	l.answered(t0.Add(3*time.Second), kerr.UnknownMemberID)
	if ok, _ := l.holds(t0.Add(3 * time.Second)); ok {
		t.Fatal("the lease holds after UNKNOWN_MEMBER_ID")
	}
	// A heartbeat sent before the member was known gone, answered late.
	l.answered(t0.Add(4*time.Second), nil)
	if ok, _ := l.holds(t0.Add(5 * time.Second)); ok {
		t.Fatal("a heartbeat sent before UNKNOWN_MEMBER_ID renewed the lease")
	}
	now := time.Now()
	l.answered(now, nil)
	if ok, _ := l.holds(now.Add(time.Second)); !ok {
		t.Fatal("a heartbeat sent after UNKNOWN_MEMBER_ID did not renew the lease")
	}
	l.end(now.Add(2 * time.Second))
	if ok, _ := l.holds(now.Add(2 * time.Second)); ok {
		t.Fatal("the lease holds after it ended (partitions lost)")
	}
}

// TestZombieRead: node A serves the only shard; its heartbeats go
// unanswered (as if it were paused or cut off) past its session, so the
// group gives the shard to B, which changes the tenant (a login). A, which
// has not learned it lost the shard, must not answer a read with its stale
// state: from before B's takeover on, its reads get 503; once its
// heartbeats are answered again it learns it lost the shard and drops the
// tenant.
func TestZombieRead(t *testing.T) {
	c, cfg := embedded(t, 1)
	a := startNode(t, cfg, "a", []string{demoTenant})
	defer a.Close()
	waitOwned(t, 1, a)
	b := startNode(t, cfg, "b", []string{demoTenant})
	defer b.Close()
	loginOn(t, []*Node{a}, demoTenant, 1)

	// A's reads: the number of agents logged in, as its memory holds it.
	f := &Front{Node: a, Base: http.NotFoundHandler(), Local: func(string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tn, _ := a.Tenant(demoTenant)
			n := 0
			tn.Query(r.Context(), func(m tenant.Machine) {
				for _, ag := range m.(*engine.Engine).Agents() {
					if ag.DN != "" {
						n++
					}
				}
			})
			fmt.Fprint(w, n)
		})
	}}
	read := func() (int, string) {
		w := httptest.NewRecorder()
		f.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/tenants/"+demoTenant+"/agents", nil))
		return w.Code, w.Body.String()
	}
	if code, body := read(); code != http.StatusOK || body != "1" {
		t.Fatalf("A before: %d %s", code, body)
	}

	memberA, _ := a.group.GroupMetadata()
	release := make(chan struct{})
	var released atomic.Bool
	c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if hb, ok := req.(*kmsg.HeartbeatRequest); ok && hb.MemberID == memberA && !released.Load() {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	// B takes the shard over and logs agent 2 in; A is polled meanwhile.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, ok := b.Tenant(demoTenant); ok {
			break
		}
		if code, body := read(); code == http.StatusOK && body != "1" {
			t.Fatalf("A answered %s before B took over", body)
		}
		if time.Now().After(deadline) {
			t.Fatal("B did not take the shard within 60 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if local, _, _ := a.Route(demoTenant); local == nil {
		t.Fatal("A dropped the tenant already: nothing to check")
	}
	loginOn(t, []*Node{b}, demoTenant, 2)
	if code, body := read(); code != http.StatusServiceUnavailable {
		t.Fatalf("A, lost its shard without knowing, answered a read: %d %s", code, body)
	}
	released.Store(true)
	close(release)
	for {
		if local, _, _ := a.Route(demoTenant); local == nil {
			break
		}
		if code, body := read(); code != http.StatusServiceUnavailable {
			t.Fatalf("A, lost its shard without knowing, answered a read: %d %s", code, body)
		}
		if time.Now().After(deadline) {
			t.Fatal("A did not drop the tenant within 60 s of its heartbeats being answered")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// embedded starts a one-broker embedded Kafka (closed at the test's end)
// and returns it with a test configuration of the given shard count.
func embedded(t *testing.T, shards int) (*kfake.Cluster, *Config) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := testConfig(t, c.ListenAddrs())
	cfg.Shards = shards
	return c, cfg
}
