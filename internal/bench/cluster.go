package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/cluster"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/switchboard-cc/switchboard/internal/verify"
	"go.yaml.in/yaml/v3"
)

// ClusterFigures are the figures of one paced API load (ClusterAPI).
type ClusterFigures struct {
	Nodes         int
	Requests, OK  int
	P50, P99      time.Duration
	Rate          float64 // requests per second achieved
	EventsPerNode float64 // events per second per node, counted read_committed in the topics afterwards
	// Cluster mode only, means over the shards' transactions: the
	// slowest record's produce to acknowledgement, the wait at the seal,
	// EndTxn (ms); steps per transaction; and per batch of steps the
	// time from its hand-over to its commit (ms).
	ProduceMs, FlushMs, EndMs, WaitMs, StepsPerTxn float64
	EventsPerBatch                                 float64
}

const (
	clusterTenants = 8
	clusterDNs     = 20
	clusterOps     = "bench-ops"
)

// loginTenant is a tenant of n extensions numbered from first, with as
// many agents agent1..agentN.
func loginTenant(id string, n, first int) config.Tenant {
	t := config.Tenant{ID: id, Tokens: []string{"tok-" + id}}
	for i := 0; i < n; i++ {
		t.DNs = append(t.DNs, config.DN{Number: strconv.Itoa(first + i), Type: config.Extension})
		t.Agents = append(t.Agents, config.Agent{ID: fmt.Sprint("agent", i+1)})
	}
	return t
}

// clusterYAML is the configuration of the cluster load: tenants t0..t7,
// each with token tok-tK, extensions 1001.. and as many agents.
func clusterYAML() ([]byte, error) {
	f := config.File{Server: "bench"}
	for i := 0; i < clusterTenants; i++ {
		f.Tenants = append(f.Tenants, loginTenant(fmt.Sprint("t", i), clusterDNs, 1001))
	}
	return yaml.Marshal(&f)
}

// benchNode is one serve started in this process.
type benchNode struct {
	addr string
	stop context.CancelFunc
	done chan error
}

// startNode starts serve with ac in this process and waits until it is ready.
func startNode(ctx context.Context, ac app.Config, cfg Config) (*benchNode, error) {
	ready := make(chan app.Addrs, 1)
	sctx, stop := context.WithCancel(ctx)
	n := &benchNode{stop: stop, done: make(chan error, 1)}
	m := app.Main{Config: ac, Stdout: io.Discard, Stderr: io.Discard, Logger: cfg.Logger,
		Getenv: func(string) string { return "" }, OnReady: func(a app.Addrs) { ready <- a }}
	go func() { n.done <- m.Run(sctx) }()
	select {
	case a := <-ready:
		n.addr = a.HTTP
		return n, nil
	case err := <-n.done:
		stop()
		return nil, fmt.Errorf("bench: serve: %w", err)
	case <-time.After(2 * time.Minute):
		stop()
		return nil, errors.New("bench: serve did not start")
	}
}

func (n *benchNode) close(cfg Config) {
	n.stop()
	select {
	case <-n.done:
	case <-time.After(time.Minute):
		cfg.Logger.Warn("bench: serve did not shut down within a minute; left running")
	}
}

var opsClient = &http.Client{Timeout: 10 * time.Second}

func clusterStatus(addr string) (cluster.ClusterStatus, error) {
	var st cluster.ClusterStatus
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/cluster", nil)
	req.Header.Set("Authorization", "Bearer "+clusterOps)
	res, err := opsClient.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return st, fmt.Errorf("GET /v1/cluster: %s", res.Status)
	}
	return st, json.NewDecoder(res.Body).Decode(&st)
}

// settled says whether every node sees every shard owned by a node that
// serves it, and every node owns some.
func settled(nodes []*benchNode) bool {
	serving := map[int]string{}
	owner := map[int]string{}
	owners := map[string]bool{}
	for _, n := range nodes {
		st, err := clusterStatus(n.addr)
		if err != nil {
			return false
		}
		for _, s := range st.Shards {
			if o, ok := owner[s.Shard]; s.Owner == "" || (ok && o != s.Owner) {
				return false
			}
			owner[s.Shard] = s.Owner
			owners[s.Owner] = true
			if s.Local == "serving" {
				serving[s.Shard] = st.Node
			}
		}
	}
	for s, o := range owner {
		if serving[s] != o {
			return false
		}
	}
	return len(owners) == len(nodes)
}

// ClusterAPI measures the CTI API under a paced load of agent logins and
// logouts (8 tenants x 20 DNs, each DN a lane sending its next request at
// its scheduled time, or at once when late, through the nodes in turn)
// at rate requests per second for d, with nodes serve processes in this
// process against brokers: nodes 1 is single-node mode (local journal,
// relay to brokers), more are cluster nodes (Kafka as the journal).
func ClusterAPI(ctx context.Context, brokers []string, nodes, rate int, d time.Duration, cfg Config) (ClusterFigures, error) {
	out := ClusterFigures{Nodes: nodes}
	dir, err := os.MkdirTemp("", "switchboard-bench-cluster-")
	if err != nil {
		return out, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "cluster.yaml")
	yml, err := clusterYAML()
	if err == nil {
		err = os.WriteFile(file, yml, 0o644)
	}
	if err != nil {
		return out, err
	}
	prefix := fmt.Sprintf("bench-%d.", time.Now().UnixNano())
	var ns []*benchNode
	defer func() {
		for _, n := range ns {
			n.close(cfg)
		}
	}()
	for i := 0; i < nodes; i++ {
		ac := cfg.serveConfig()
		id := fmt.Sprint("n", i+1)
		ac.Data, ac.HTTP, ac.KafkaListen, ac.SIP = filepath.Join(dir, id), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		ac.KafkaBrokers, ac.ConfigFile, ac.Partitions, ac.TopicPrefix = brokers, file, 12, prefix
		if nodes > 1 {
			ac.Cluster = app.ClusterConfig{Name: "bench", NodeID: id, OpsToken: clusterOps}
		}
		n, err := startNode(ctx, ac, cfg)
		if err != nil {
			return out, err
		}
		ns = append(ns, n)
	}
	if nodes > 1 {
		deadline := time.Now().Add(2 * time.Minute)
		for !settled(ns) {
			if time.Now().After(deadline) {
				return out, errors.New("bench: the cluster's shards did not settle within 2 minutes")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	lat, ok, elapsed := pacedLogins(ctx, ns, rate, d)
	out.Requests, out.OK = len(lat), ok
	if len(lat) == 0 {
		return out, errors.New("bench: no request was sent")
	}
	out.P50, out.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	out.Rate = float64(len(lat)) / elapsed.Seconds()
	if nodes > 1 {
		var produce, flush, end, wait float64
		var commits, steps, events, batches int64
		for _, n := range ns {
			st, err := clusterStatus(n.addr)
			if err != nil {
				return out, err
			}
			for _, s := range st.Shards {
				if s.Local != "serving" {
					continue
				}
				c := float64(s.Commits)
				produce, flush, end = produce+s.ProduceMs*c, flush+s.FlushMs*c, end+s.EndMs*c
				wait += s.WaitMs * float64(s.Batches)
				commits, steps, events, batches = commits+s.Commits, steps+s.Steps, events+s.Events, batches+s.Batches
			}
		}
		if commits > 0 {
			c := float64(commits)
			out.ProduceMs, out.FlushMs, out.EndMs, out.StepsPerTxn = produce/c, flush/c, end/c, float64(steps)/c
		}
		if batches > 0 {
			out.WaitMs = wait / float64(batches)
			out.EventsPerBatch = float64(events) / float64(batches)
		}
	}
	for _, n := range ns {
		n.close(cfg)
	}
	ns = nil
	// Counted read_committed: the end offsets would count transaction
	// markers (and a single node's relay publishes after the replies).
	events := 0
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := verify.ReadTopics(rctx, brokers, []string{prefix + event.AgentStateTopic, prefix + event.CallThreadTopic},
		"switchboard-bench", 30*time.Second, nil, func(verify.Record) { events++ }); err != nil {
		return out, err
	}
	out.EventsPerNode = float64(events) / elapsed.Seconds() / float64(nodes)
	return out, nil
}

// pacedLogins runs the paced load and returns the sorted latencies, the
// 2xx count and how long the load ran.
func pacedLogins(ctx context.Context, ns []*benchNode, rate int, d time.Duration) ([]time.Duration, int, time.Duration) {
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}, Timeout: 30 * time.Second}
	defer cl.CloseIdleConnections()
	var mu sync.Mutex
	ok := 0
	lat, elapsed := paced(ctx, rate, d, func(l int) func() time.Duration {
		tn, dn := fmt.Sprint("t", l%clusterTenants), 1001+l/clusterTenants
		node := ns[l%len(ns)]
		in := false
		return func() time.Duration {
			op, body := "login", fmt.Sprintf(`{"agentId":"agent%d"}`, dn-1000)
			if in {
				op, body = "logout", "{}"
			}
			req, _ := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("http://%s/v1/tenants/%s/dns/%d/%s", node.addr, tn, dn, op),
				strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer tok-"+tn)
			t0 := time.Now()
			res, err := cl.Do(req)
			took := time.Since(t0)
			code := 0
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				code = res.StatusCode
			}
			if code/100 == 2 || code == 409 {
				in = !in
			}
			if code/100 == 2 {
				mu.Lock()
				ok++
				mu.Unlock()
			}
			return took
		}
	})
	return lat, ok, elapsed
}

// paced runs the cluster rows' paced load: 8 tenants x 20 DNs, each DN a
// lane (lane(l) makes lane l's request) sending its next request at its
// scheduled time, or at once when late, rate per second in all, for d. It
// returns the sorted latencies the requests returned and how long the
// load ran.
func paced(ctx context.Context, rate int, d time.Duration, lane func(l int) func() time.Duration) ([]time.Duration, time.Duration) {
	lanes := clusterTenants * clusterDNs
	interval := time.Duration(float64(time.Second) * float64(lanes) / float64(rate))
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now().Add(100 * time.Millisecond)
	for l := 0; l < lanes; l++ {
		do := lane(l)
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := start.Add(time.Duration(l) * interval / time.Duration(lanes))
			for k := 0; ctx.Err() == nil; k++ {
				at := first.Add(time.Duration(k) * interval)
				if at.Sub(start) >= d {
					return
				}
				time.Sleep(time.Until(at))
				took := do()
				mu.Lock()
				lat = append(lat, took)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return lat, elapsed
}

// TakeoverFigures are what Takeover measured.
type TakeoverFigures struct {
	Steps         int
	StepsPerSec   float64       // replay: the read of the topics and the engine's replay together
	Took          time.Duration // from the new owner's fence to its tenant running
	SnapshotBytes float64       // per 1,000 agents
}

// Takeover measures a takeover on brokers: a tenant of agents agents, all
// logged in and snapshotted, then steps more steps (logouts and logins, 50
// requests in flight) without a snapshot; a new owner then claims the
// shard, reads it back and replays it.
func Takeover(ctx context.Context, brokers []string, agents, steps int) (TakeoverFigures, error) {
	var out TakeoverFigures
	ten := loginTenant("t", agents, 20001)
	cfg := &cluster.Config{Cluster: "bench", Brokers: brokers, Shards: 4, OutputPartitions: 3,
		TopicPrefix: fmt.Sprintf("bench-%d.", time.Now().UnixNano())}
	parts, err := cluster.EnsureTopics(ctx, cfg)
	if err != nil {
		return out, err
	}
	n := cluster.ShardOf(ten.ID, cfg.Shards)
	open := func(node string) (*cluster.Shard, *tenant.Tenant, error) {
		s, states, err := cluster.OpenShard(ctx, cfg, parts, n, cluster.Owner{Node: node}, []string{ten.ID})
		if err != nil {
			return nil, nil, err
		}
		// The same Server on every owner: it is in the events, which
		// replay reproduces.
		eng, err := engine.New(&ten, engine.Options{Server: "bench"})
		if err == nil {
			var tn *tenant.Tenant
			if tn, err = tenant.Start(tenant.Config{Engine: eng, Log: s.Log(ten.ID), LogState: states[ten.ID], SnapshotEvery: -1}); err == nil {
				return s, tn, nil
			}
		}
		s.Abandon()
		return nil, nil, err
	}
	s, tn, err := open("a")
	if err != nil {
		return out, err
	}
	// run steps k logins and logouts, agent after agent: logins first
	// (or logouts first if in), alternating each round of the agents.
	// Each round of the agents ends before the next starts: an agent's
	// logout must not overtake its login of the round before (it did on
	// a loaded machine, where a goroutine can wait long to be scheduled).
	run := func(k int, in bool) error {
		sem := make(chan struct{}, 50)
		errs := make(chan error, k)
		var first error
		for r := 0; r < k; r += agents {
			n := min(agents, k-r)
			for i := r; i < r+n; i++ {
				a := i % agents
				var cmd engine.Command = engine.Login{DN: fmt.Sprint(20001 + a), AgentID: fmt.Sprint("agent", a+1)}
				if ((i/agents)%2 == 1) != in {
					cmd = engine.Logout{DN: fmt.Sprint(20001 + a)}
				}
				sem <- struct{}{}
				go func() {
					_, err := tn.Do(ctx, cmd)
					errs <- err
					<-sem
				}()
			}
			for range n {
				if err := <-errs; err != nil && first == nil {
					first = err
				}
			}
		}
		return first
	}
	if err := run(agents, false); err != nil {
		return out, err
	}
	// A snapshot with every agent logged in: a graceful handover to the
	// same node.
	tn.Close(ctx)
	if err := s.Close(ctx, true); err != nil {
		return out, err
	}
	if s, tn, err = open("a"); err != nil {
		return out, err
	}
	defer s.Abandon()
	defer tn.Close(ctx)
	// Logged-in agents log out first, then in again: steps more steps.
	if err := run(steps, true); err != nil {
		return out, err
	}
	start := time.Now()
	s2, tn2, err := open("b")
	if err != nil {
		return out, err
	}
	out.Took = time.Since(start)
	defer s2.Close(ctx, false)
	defer tn2.Close(ctx)
	rec := tn2.Recovery()
	if rec.Steps != steps {
		return out, fmt.Errorf("bench: the takeover replayed %d steps, want %d", rec.Steps, steps)
	}
	out.Steps = rec.Steps
	out.StepsPerSec = float64(rec.Steps) / out.Took.Seconds()
	out.SnapshotBytes = float64(s2.Stats().Replay.SnapshotBytes) * 1000 / float64(agents)
	return out, nil
}

// Cluster rows (with --cluster-brokers), in table order.
const (
	RowSingleP50k1   = "single-node API p50 at 1,000/s"
	RowSingleP99k1   = "single-node API p99 at 1,000/s"
	RowClusterP50k1  = "cluster API p50 at 1,000/s"
	RowClusterP99k1  = "cluster API p99 at 1,000/s"
	RowFloorP50k1    = "Kafka transactions floor p50 at 1,000/s"
	RowFloorP99k1    = "Kafka transactions floor p99 at 1,000/s"
	RowSingleP50k5   = "single-node API p50 at 5,000/s"
	RowSingleP99k5   = "single-node API p99 at 5,000/s"
	RowClusterP50k5  = "cluster API p50 at 5,000/s"
	RowClusterP99k5  = "cluster API p99 at 5,000/s"
	RowFloorP50k5    = "Kafka transactions floor p50 at 5,000/s"
	RowFloorP99k5    = "Kafka transactions floor p99 at 5,000/s"
	RowSingleEvents  = "single-node events/s"
	RowClusterEvents = "cluster events/s per node"
	RowClusterRatio  = "cluster/single events/s per node"
	RowTakeover      = "cluster takeover replay steps/s"
	RowTakeoverSnap  = "cluster snapshot per 1,000 agents"
)

// ClusterRowNames are the cluster rows in table order.
var ClusterRowNames = []string{RowSingleP50k1, RowSingleP99k1, RowClusterP50k1, RowClusterP99k1, RowFloorP50k1, RowFloorP99k1,
	RowSingleP50k5, RowSingleP99k5, RowClusterP50k5, RowClusterP99k5, RowFloorP50k5, RowFloorP99k5,
	RowSingleEvents, RowClusterEvents, RowClusterRatio, RowTakeover, RowTakeoverSnap}

// ClusterRates are the request rates the cluster rows are measured at
// (the default of Config.ClusterRates).
var ClusterRates = []int{1000, 5000}

// runCluster measures the cluster rows against cfg.ClusterBrokers: at each
// of cfg.ClusterRates, the paced API load on one single-node serve and on
// three cluster nodes, one after the other, and the same load on bare
// transactional producers (KafkaFloor); then a takeover. The events rows
// are those of the highest rate.
func runCluster(ctx context.Context, cfg Config, say func(string), add func(...Row)) error {
	rates := cfg.ClusterRates
	if len(rates) == 0 {
		rates = ClusterRates
	}
	fig := map[string]ClusterFigures{}
	floor := map[int]FloorFigures{}
	for _, rate := range rates {
		for _, nodes := range []int{1, 3} {
			say(fmt.Sprintf("API at %d/s, %d node(s), Kafka %s", rate, nodes, strings.Join(cfg.ClusterBrokers, ",")))
			f, err := ClusterAPI(ctx, cfg.ClusterBrokers, nodes, rate, cfg.Duration, cfg)
			if err != nil {
				return err
			}
			fig[fmt.Sprint(nodes, "/", rate)] = f
		}
		// As many output records per request as the cluster's batches had.
		events := max(1, int(fig[fmt.Sprint(3, "/", rate)].EventsPerBatch+0.5))
		say(fmt.Sprintf("bare transactional producers at %d/s, %d output records per request", rate, events))
		f, err := KafkaFloor(ctx, cfg.ClusterBrokers, rate, events, cfg.Duration)
		if err != nil {
			return err
		}
		floor[rate] = f
	}
	note := func(f ClusterFigures) string {
		s := fmt.Sprintf("%d nodes, %.0f req/s achieved, %d of %d 2xx", f.Nodes, f.Rate, f.OK, f.Requests)
		if f.Nodes > 1 {
			s += fmt.Sprintf("; per transaction: slowest produce %.1f ms, seal flush %.1f ms, EndTxn %.1f ms, %.1f steps; batch waits %.1f ms for its commit",
				f.ProduceMs, f.FlushMs, f.EndMs, f.StepsPerTxn, f.WaitMs)
		}
		return s
	}
	ms1 := func(d time.Duration) string { return fmt.Sprintf("%.1f", ms(d)) }
	for _, rate := range rates {
		s, c, fl := fig[fmt.Sprint(1, "/", rate)], fig[fmt.Sprint(3, "/", rate)], floor[rate]
		names := []string{RowSingleP50k1, RowSingleP99k1, RowClusterP50k1, RowClusterP99k1, RowFloorP50k1, RowFloorP99k1}
		if rate == 5000 {
			names = []string{RowSingleP50k5, RowSingleP99k5, RowClusterP50k5, RowClusterP99k5, RowFloorP50k5, RowFloorP99k5}
		}
		add(Row{Name: names[0], Value: ms(s.P50), Unit: "ms", Note: note(s) + "; local journal, relay to the same Kafka"},
			Row{Name: names[1], Value: ms(s.P99), Unit: "ms"},
			Row{Name: names[2], Value: ms(c.P50), Unit: "ms", Note: note(c)},
			Row{Name: names[3], Value: ms(c.P99), Unit: "ms", Note: "goal at 1,000/s: 15 ms"},
			Row{Name: names[4], Value: ms(fl.P50), Unit: "ms", Note: fmt.Sprintf(
				"no switchboard: %d shards' franz-go transactional producers, 1 journal + %d output records per request, "+
					"%.0f req/s achieved, %.1f requests per transaction; per transaction p50/p99: begin to commit %s/%s ms, produce to last ack %s/%s ms, EndTxn %s/%s ms",
				fl.Shards, fl.EventsPerRequest, fl.Rate, fl.RequestsPerTxn, ms1(fl.TxnP50), ms1(fl.TxnP99),
				ms1(fl.ProduceP50), ms1(fl.ProduceP99), ms1(fl.EndP50), ms1(fl.EndP99))},
			Row{Name: names[5], Value: ms(fl.P99), Unit: "ms", Note: fmt.Sprintf(
				"the cluster's floor on this machine and Kafka; a lone transaction before the load: p50 %s ms (produce %s, EndTxn %s); "+
					"the same records produced outside a transaction (acks all): p50 %s ms",
				ms1(fl.LoneP50), ms1(fl.LoneProduceP50), ms1(fl.LoneEndP50), ms1(fl.LonePlainP50))})
	}
	top := rates[len(rates)-1]
	s, c := fig[fmt.Sprint(1, "/", top)], fig[fmt.Sprint(3, "/", top)]
	ratio := 0.0
	if s.EventsPerNode > 0 {
		ratio = c.EventsPerNode / s.EventsPerNode
	}
	add(Row{Name: RowSingleEvents, Value: s.EventsPerNode, Unit: "events/s", Higher: true, Note: fmt.Sprintf("%d req/s offered, counted read_committed", top)},
		Row{Name: RowClusterEvents, Value: c.EventsPerNode, Unit: "events/s", Higher: true, Note: fmt.Sprintf("3 nodes, %d req/s offered", top)},
		Row{Name: RowClusterRatio, Value: ratio, Unit: "x", Higher: true, Note: "same run, same Kafka"})
	say("takeover replay")
	const agents, steps = 1000, 5000
	tk, err := Takeover(ctx, cfg.ClusterBrokers, agents, steps)
	if err != nil {
		return err
	}
	add(Row{Name: RowTakeover, Value: tk.StepsPerSec, Unit: "steps/s", Higher: true,
		Note: fmt.Sprintf("%d steps after a %d-agent snapshot; fence, claim, read and replay took %v", tk.Steps, agents, tk.Took.Round(time.Millisecond))},
		Row{Name: RowTakeoverSnap, Value: tk.SnapshotBytes / 1000, Unit: "kB"})
	return nil
}
