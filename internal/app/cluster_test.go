package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/cluster"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

const clusterOpsToken = "ops-secret"

// clusterConfigFile writes a configuration of n tenants t0..t{n-1}, each
// with token tok-tK, extensions 1001-1003 and agents agent1-agent3.
func clusterConfigFile(t testing.TB, n int) string { return clusterConfigFileDNs(t, n, 3) }

// clusterConfigFileDNs is clusterConfigFile with dns extensions from 1001
// and as many agents.
func clusterConfigFileDNs(t testing.TB, n, dns int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("server: sb\ntenants:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - id: t%d\n    tokens: [tok-t%d]\n    dns:\n", i, i)
		for d := 1001; d < 1001+dns; d++ {
			fmt.Fprintf(&b, "      - number: \"%d\"\n        type: extension\n", d)
		}
		b.WriteString("    agents:\n")
		for a := 1; a <= dns; a++ {
			fmt.Fprintf(&b, "      - id: agent%d\n", a)
		}
	}
	p := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func startClusterNode(t testing.TB, brokers []string, prefix, file, id string) *running {
	return startMainWith(t, brokers, prefix, func(c *Config) {
		c.ConfigFile = file
		c.Cluster = ClusterConfig{Name: "cl", NodeID: id, Shards: 4, OpsToken: clusterOpsToken,
			HandoverWait: 20 * time.Second}
	})
}

// stopNode stops a node now; the test's cleanup then finds it stopped.
func stopNode(t testing.TB, r *running) {
	t.Helper()
	r.stop(t)
	done := make(chan error)
	close(done)
	r.done = done
}

func do(t testing.TB, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitCluster waits until every node's GET /v1/cluster shows every shard
// owned by one of the nodes named.
func waitCluster(t *testing.T, nodes []*running, owners ...string) {
	t.Helper()
	ok := map[string]bool{}
	for _, o := range owners {
		ok[o] = true
	}
	// Settled: every node sees the same owner for each shard, one of
	// owners, that owner serves it itself, and each of owners owns a
	// shard (a cooperative rebalance moves shards in several rounds, and
	// a request sent meanwhile may meet a handover: 503, by design).
	deadline := time.Now().Add(60 * time.Second)
	for {
		good := true
		var last string
		owner := map[int]string{}
		serving := map[int]string{}
		for _, n := range nodes {
			code, body := do(t, "GET", "http://"+n.addrs.HTTP+"/v1/cluster", clusterOpsToken, "")
			var st cluster.ClusterStatus
			if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
				t.Fatalf("GET /v1/cluster: %d %s", code, body)
			}
			for _, s := range st.Shards {
				if !ok[s.Owner] {
					good = false
				}
				if o, seen := owner[s.Shard]; seen && o != s.Owner {
					good = false
				}
				owner[s.Shard] = s.Owner
				if s.Local == "serving" {
					serving[s.Shard] = st.Node
				}
			}
			last = body
		}
		owns := map[string]bool{}
		for sh, o := range owner {
			owns[o] = true
			if serving[sh] != o {
				good = false
			}
		}
		if len(owner) >= len(owners) {
			for _, o := range owners {
				good = good && owns[o]
			}
		}
		if good {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("shards not settled on %v within 60 s: %s", owners, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterServe: three `serve --cluster` nodes share the tenants; any
// node answers a request for any tenant (forwarding it to the owner);
// GET /v1/cluster needs the operators' token; after one node stops, its
// shards are handed over and every request still succeeds through the
// others. Every 2xx login's EventAgentLogin is in the topics exactly once
// for a read_committed reader, Seq gapless, and check-events is clean.
func TestClusterServe(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			file := clusterConfigFile(t, 6)
			n1 := startClusterNode(t, tg.Brokers, prefix, file, "n1")
			n2 := startClusterNode(t, tg.Brokers, prefix, file, "n2")
			n3 := startClusterNode(t, tg.Brokers, prefix, file, "n3")
			nodes := []*running{n1, n2, n3}
			waitCluster(t, nodes, "n1", "n2", "n3")
			if code, _ := do(t, "GET", "http://"+n1.addrs.HTTP+"/v1/cluster", "", ""); code != 401 {
				t.Fatalf("GET /v1/cluster without the token: %d, want 401", code)
			}
			if code, _ := do(t, "GET", "http://"+n1.addrs.HTTP+"/v1/cluster", "tok-t0", ""); code != 401 {
				t.Fatalf("GET /v1/cluster with a tenant's token: %d, want 401", code)
			}
			if code, body := do(t, "GET", "http://"+n1.addrs.HTTP+"/v1/openapi.json", "", ""); code != 200 ||
				!strings.Contains(body, `"/v1/cluster": {`) || !strings.Contains(body, `"/v1/tenants/{tenant}/calls": {`) {
				t.Fatalf("GET /v1/openapi.json on a node: %d, without /v1/cluster or the tenants' routes:\n%.300s", code, body)
			}
			want := map[string]bool{}
			login := func(n *running, tenant string, dn int) {
				t.Helper()
				url := fmt.Sprintf("http://%s/v1/tenants/%s/dns/%d/login", n.addrs.HTTP, tenant, dn)
				code, body := do(t, "POST", url, "tok-"+tenant, fmt.Sprintf(`{"agentId":"agent%d"}`, dn-1000))
				if code/100 != 2 {
					t.Fatalf("login %s %d via %s: %d %s", tenant, dn, n.addrs.HTTP, code, body)
				}
				want[fmt.Sprintf("%s/%d", tenant, dn)] = true
			}
			for i := 0; i < 6; i++ {
				tn := fmt.Sprint("t", i)
				login(nodes[i%3], tn, 1001)
				login(nodes[(i+1)%3], tn, 1002)
				if code, _ := do(t, "GET", fmt.Sprintf("http://%s/v1/tenants/%s/agents", nodes[(i+2)%3].addrs.HTTP, tn), "tok-t9", ""); code != 401 {
					t.Fatalf("a forwarded request with a wrong token: %d, want 401", code)
				}
			}
			// Per-shard metrics: every shard has a sample on every node,
			// and the nodes together serve each shard once.
			served := map[string]int{}
			for _, n := range nodes {
				code, body := do(t, "GET", "http://"+n.addrs.HTTP+"/metrics", "", "")
				if code != 200 {
					t.Fatalf("/metrics: %d", code)
				}
				for s := 0; s < 4; s++ {
					for _, v := range []string{"0", "1"} {
						if strings.Contains(body, fmt.Sprintf("switchboard_cluster_shard_served{shard=\"%d\"} %s\n", s, v)) {
							served[fmt.Sprint(s)] += map[string]int{"0": 0, "1": 1}[v]
							served["samples"]++
						}
					}
				}
				if !strings.Contains(body, "switchboard_cluster_shard_steps{shard=") {
					t.Fatal("no switchboard_cluster_shard_steps family")
				}
			}
			for s := 0; s < 4; s++ {
				if served[fmt.Sprint(s)] != 1 {
					t.Fatalf("shard %d served by %d nodes per /metrics", s, served[fmt.Sprint(s)])
				}
			}
			if served["samples"] != 12 {
				t.Fatalf("%d served samples, want 4 shards on 3 nodes", served["samples"])
			}
			// The cluster families (testdata/metrics_cluster.golden):
			// the per-shard gauges, the read lease's age and the reads
			// it refused.
			checkGolden(t, "metrics_cluster.golden", scrape(t, n1).Describe("switchboard_cluster_"))
			if l := clusterStatusOf(t, n1).Lease; !l.Holds || l.AgeMs == nil || *l.AgeMs >= l.DurationMs || l.DurationMs <= 0 {
				t.Fatalf("GET /v1/cluster lease %+v, want holding, younger than its duration", l)
			}
			// A call live on t0's node when that node stops: the new
			// owner releases it, with its events, as at a restart.
			byID := map[string]*running{"n1": n1, "n2": n2, "n3": n3}
			victim := ""
			for _, sh := range clusterStatusOf(t, n1).Shards {
				if slices.Contains(sh.Tenants, "t0") {
					victim = sh.Owner
				}
			}
			if byID[victim] == nil {
				t.Fatalf("t0's owner %q is not a node", victim)
			}
			code, body := do(t, "POST", fmt.Sprintf("http://%s/v1/tenants/t0/calls", n1.addrs.HTTP), "tok-t0", `{"from":"1001","to":"1002"}`)
			var cc struct {
				ConnID string `json:"connId"`
			}
			if code != 201 || json.Unmarshal([]byte(body), &cc) != nil || cc.ConnID == "" {
				t.Fatalf("make call on t0: %d %s", code, body)
			}
			conn := cc.ConnID
			stopNode(t, byID[victim])
			delete(byID, victim)
			var rest []*running
			var restIDs []string
			for _, id := range []string{"n1", "n2", "n3"} {
				if byID[id] != nil {
					rest = append(rest, byID[id])
					restIDs = append(restIDs, id)
				}
			}
			waitCluster(t, rest, restIDs...)
			code, body = do(t, "GET", fmt.Sprintf("http://%s/v1/tenants/t0/calls", rest[0].addrs.HTTP), "tok-t0", "")
			if code != 200 || strings.Contains(body, conn) {
				t.Fatalf("calls of t0 after its node stopped: %d %s, want call %s released", code, body, conn)
			}
			for i := 0; i < 6; i++ {
				login(rest[i%2], fmt.Sprint("t", i), 1003)
			}
			tp := cluster.TopicsOf(&cluster.Config{Cluster: "cl", TopicPrefix: prefix})
			for _, n := range rest {
				stopNode(t, n)
			}
			recs := readCommitted(t, tg.Brokers, tp.AgentState, tp.CallThread)
			got := map[string]int{}
			released := 0
			last := map[string]int64{}
			for _, r := range recs {
				var e event.Event
				if err := json.Unmarshal(r.Value, &e); err != nil {
					t.Fatal(err)
				}
				k := r.Topic + "/" + string(r.Key)
				if p, ok := last[k]; ok && e.Seq != p+1 {
					t.Fatalf("%s: Seq %d after %d", k, e.Seq, p)
				}
				last[k] = e.Seq
				if e.ID == event.EventReleased && e.ConnID == conn {
					released++
				}
				if e.ID == event.EventAgentLogin {
					got[e.CustomerID+"/"+e.ThisDN]++
				}
			}
			for k := range want {
				if got[k] != 1 {
					t.Fatalf("EventAgentLogin %s %d times, want once", k, got[k])
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d logins in the topics, %d answered", len(got), len(want))
			}
			if released == 0 {
				t.Fatalf("no EventReleased of call %s read_committed", conn)
			}
			kafkatest.CheckEvents(t, recs)
		})
	}
}

// readCommitted reads topics read_committed up to an end record it appends
// to each partition (not returned).
func readCommitted(t testing.TB, brokers []string, topics ...string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pr := kafkatest.Client(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	nonce := fmt.Sprint(time.Now().UnixNano())
	want := 0
	for _, topic := range topics {
		for p := int32(0); p < 3; p++ {
			if err := pr.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Key: []byte("\x00end"), Value: []byte(nonce)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			want++
		}
	}
	cl := kafkatest.Client(t, brokers, kgo.ConsumeTopics(topics...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for seen := 0; seen < want; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v: %d of %d end records: %v", topics, seen, want, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == "\x00end" {
				if string(r.Value) == nonce {
					seen++
				}
				return
			}
			out = append(out, r)
		})
	}
	return out
}

func clusterStatusOf(t testing.TB, n *running) cluster.ClusterStatus {
	t.Helper()
	code, body := do(t, "GET", "http://"+n.addrs.HTTP+"/v1/cluster", clusterOpsToken, "")
	var st cluster.ClusterStatus
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("GET /v1/cluster: %d %s", code, body)
	}
	return st
}
