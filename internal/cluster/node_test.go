package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kfake"
)

func tenantIDs(n int) []string {
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, fmt.Sprint("t", i))
	}
	return ids
}

// nodeConfig is node id serving the demo tenant under the ids tenants,
// with the server id every node of a cluster shares.
func nodeConfig(cfg *Config, id string, tenants []string) NodeConfig {
	return NodeConfig{Config: *cfg, NodeID: id, HTTP: id + ":80", Tenants: tenants,
		StartTenant: func(tid string, lg tenant.StepLog, st *tenant.LogState) (*tenant.Tenant, error) {
			ten := config.Demo("tok-"+tid, "pw").Tenants[0]
			ten.ID = tid
			eng, err := engine.New(&ten, engine.Options{Server: "s1"})
			if err != nil {
				return nil, err
			}
			return tenant.Start(tenant.Config{Engine: eng, Log: lg, LogState: st, SnapshotEvery: 3})
		}}
}

func startNode(t *testing.T, cfg *Config, id string, tenants []string) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := StartNode(ctx, nodeConfig(cfg, id, tenants))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitOwned waits until the nodes together serve every shard, each on
// exactly one node, and every node's owners table names the node that
// serves it.
func waitOwned(t *testing.T, shards int, nodes ...*Node) map[int]*Node {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		by := map[int]*Node{}
		ok := true
		for _, n := range nodes {
			for _, s := range n.Owned() {
				if by[s] != nil {
					ok = false
				}
				by[s] = n
			}
		}
		for _, n := range nodes {
			if len(n.Owned()) == 0 {
				ok = false
			}
		}
		if ok && len(by) == shards {
			for _, n := range nodes {
				for _, st := range n.Status() {
					if st.Owner != by[st.Shard].ID() {
						ok = false
					}
				}
			}
			if ok {
				return by
			}
		}
		if time.Now().After(deadline) {
			for _, n := range nodes {
				t.Logf("%s owns %v, sees %v", n.ID(), n.Owned(), n.Status())
			}
			t.Fatal("shards not placed within 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func loginOn(t *testing.T, nodes []*Node, tid string, agent int) {
	t.Helper()
	for _, n := range nodes {
		if tn, ok := n.Tenant(tid); ok {
			if _, err := tn.Do(context.Background(), engine.Login{DN: fmt.Sprint(1000 + agent), AgentID: fmt.Sprint("agent", agent)}); err != nil {
				t.Fatalf("%s on %s: %v", tid, n.ID(), err)
			}
			return
		}
	}
	t.Fatalf("no node serves %s", tid)
}

// TestNodesPlaceAndHandOver: one node serves every shard; a second one
// joins and the cooperative rebalance moves some shards to it through a
// graceful handover (state moves: agents logged in before are still
// logged in); the first leaves and the second serves everything. Every
// login's events are in the topics exactly once for read_committed, Seq
// gapless per key, and each node's owners table routes to the owner.
func TestNodesPlaceAndHandOver(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) { testNodesPlaceAndHandOver(t, tg.Brokers) })
	}
}

func testNodesPlaceAndHandOver(t *testing.T, brokers []string) {
	cfg := testConfig(t, brokers)
	ids := tenantIDs(8)
	a := startNode(t, cfg, "a", ids)
	waitOwned(t, cfg.Shards, a)
	for _, id := range ids {
		loginOn(t, []*Node{a}, id, 1)
	}
	b := startNode(t, cfg, "b", ids)
	by := waitOwned(t, cfg.Shards, a, b)
	if len(b.Owned()) == 0 || len(a.Owned()) == 0 {
		t.Fatalf("after b joined: a %v, b %v", a.Owned(), b.Owned())
	}
	for _, id := range ids {
		owner := by[ShardOf(id, cfg.Shards)]
		for _, n := range []*Node{a, b} {
			local, o, ok := n.Route(id)
			if (local != nil) != (n == owner) || !ok || o.Node != owner.ID() {
				t.Fatalf("%s routes %s to %+v (local %v), owner %s", n.ID(), id, o, local != nil, owner.ID())
			}
		}
		loginOn(t, []*Node{a, b}, id, 2)
		tn, _ := owner.Tenant(id)
		if err := tn.Query(context.Background(), func(m tenant.Machine) {
			if got := len(m.(*engine.Engine).Agents()); got < 2 {
				t.Errorf("%s on %s: %d agents, want 2 (one logged in before the move)", id, owner.ID(), got)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	waitOwned(t, cfg.Shards, b)
	for _, id := range ids {
		loginOn(t, []*Node{b}, id, 3)
	}
	b.Close()

	tp := TopicsOf(cfg)
	recs := readAll(t, cfg.Brokers, true, tp.AgentState, tp.CallThread)
	evs := eventsOf(t, recs)
	logins := map[string]int{}
	for _, e := range evs {
		if e.ID == event.EventAgentLogin {
			logins[e.CustomerID+"/"+e.ThisDN]++
		}
	}
	for _, id := range ids {
		for _, dn := range []string{"1001", "1002", "1003"} {
			if logins[id+"/"+dn] != 1 {
				t.Fatalf("EventAgentLogin %s/%s %d times, want once (all: %v)", id, dn, logins[id+"/"+dn], logins)
			}
		}
	}
	kafkatest.CheckEvents(t, recs)
}

// TestNodeReclaimsAfterStrayFence: a writer that is not the group's
// choice (a node whose membership lapsed, an operator's tool) claims a
// shard this node serves. The node's next commit is fenced: the command
// fails and the node waits for the group to take the shard away. The
// group keeps it here, so after two session timeouts the node claims it
// again, with the state the stray writer left committed, and serves the
// tenant.
func TestNodeReclaimsAfterStrayFence(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := testConfig(t, c.ListenAddrs())
	ids := tenantIDs(4)
	a := startNode(t, cfg, "a", ids)
	defer a.Close()
	waitOwned(t, cfg.Shards, a)
	tid := ids[0]
	loginOn(t, []*Node{a}, tid, 1)
	before, _ := a.Tenant(tid)

	ctx := context.Background()
	stray, _, err := OpenShard(ctx, cfg, a.parts, ShardOf(tid, cfg.Shards), Owner{Node: "stray"}, []string{tid})
	if err != nil {
		t.Fatal(err)
	}
	stray.Close(ctx, false)
	if _, err := before.Do(ctx, engine.Login{DN: "1002", AgentID: "agent2"}); !errors.Is(err, tenant.ErrNotRecorded) {
		t.Fatalf("the command after the stray fence: %v, want ErrNotRecorded", err)
	}
	fenced := time.Now()
	deadline := fenced.Add(2*cfg.SessionTimeout + 30*time.Second)
	for {
		if tn, ok := a.Tenant(tid); ok && tn != before {
			if _, err := tn.Do(ctx, engine.Login{DN: "1002", AgentID: "agent2"}); err != nil {
				t.Fatalf("after the node claimed the shard again: %v", err)
			}
			if err := tn.Query(ctx, func(m tenant.Machine) {
				var in []string
				for _, ag := range m.(*engine.Engine).Agents() {
					if ag.State != "LoggedOut" {
						in = append(in, ag.AgentID)
					}
				}
				if len(in) != 2 {
					t.Errorf("agents logged in: %v, want agent1 (from before the fence) and agent2", in)
				}
			}); err != nil {
				t.Fatal(err)
			}
			t.Logf("served again %v after the fence", time.Since(fenced).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not serve %s again within %v of the fence", tid, deadline.Sub(fenced))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
