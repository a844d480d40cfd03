package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// NodeConfig configures one node of a cluster.
type NodeConfig struct {
	Config
	NodeID string // unique in the cluster
	HTTP   string // advertised CTI API address (host:port), for the other nodes' proxies
	SIP    string // advertised SIP address
	// Tenants are the ids of every tenant of the cluster (the same
	// configuration on every node); a node runs those of its shards.
	Tenants []string
	// StartTenant starts a tenant's runtime in Log mode (tenant.Config
	// Log and LogState as given). Required.
	StartTenant func(id string, lg tenant.StepLog, st *tenant.LogState) (*tenant.Tenant, error)
	// Serving, if set, is called when tenants start being served here
	// (up) and when they stop (down), so the API and SIP fronts can route
	// to them. It must not block.
	Serving func(up bool, ts []*tenant.Tenant)
	// HandoverTimeout bounds a graceful handover of one shard (default
	// 10 s).
	HandoverTimeout time.Duration
	// ReadLease is how long after the last heartbeat the group
	// coordinator answered this node still answers reads from its
	// tenants' memory (default SessionTimeout - HeartbeatInterval; see
	// lease).
	ReadLease time.Duration
	// AnnounceInterval is how often the node writes its announcement to
	// the owners topic again (default 5 s): a node not heard from for
	// MemberDownAfter intervals (killed, or cut off from Kafka) is shown
	// down in Members and no longer vouches for forwarded clients. Every
	// node of a cluster must use the same.
	AnnounceInterval time.Duration
}

// MemberDownAfter is how many announcement intervals a node may go
// unheard before it is shown down.
const MemberDownAfter = 3

// Node is a member of a cluster: the group assigns it shards, it claims
// and serves them, and it follows the owners topic to know who serves the
// others.
type Node struct {
	cfg     NodeConfig
	log     *slog.Logger
	tp      Topics
	parts   map[string]int32
	byShard map[int][]string

	group  *kgo.Client
	owners *kgo.Client
	polled chan struct{}
	oread  chan struct{}

	lease     lease
	leaseCtx  context.Context // the lease's heartbeats run until it is done
	leaseStop context.CancelFunc
	poke      chan struct{}
	confirmed chan struct{}

	mu      sync.Mutex
	runs    map[int]*shardRun
	table   map[int]Owner    // from the owners topic
	members map[string]Owner // the nodes' announcements, by node id, from the owners topic
	tenants map[string]*tenant.Tenant
	closed  bool

	since     time.Time     // when this node joined (its announcements' Since)
	beatStop  chan struct{} // ends the announcements' refresh (Close)
	beatEnded chan struct{}
}

// ShardStatus is one shard as this node sees it.
type ShardStatus struct {
	Shard   int      `json:"shard"`
	Owner   string   `json:"owner,omitempty"` // from the owners topic ("" while released or unknown)
	HTTP    string   `json:"http,omitempty"`
	Since   string   `json:"since,omitempty"`
	Local   string   `json:"local,omitempty"` // this node: "starting", "serving" (else empty)
	Tenants []string `json:"tenants,omitempty"`
	Commits int64    `json:"commits,omitempty"`
	Steps   int64    `json:"steps,omitempty"`
	Events  int64    `json:"events,omitempty"`
	// Where the time goes, mean per transaction in milliseconds: its
	// slowest record from produce to acknowledgement, the wait at its
	// seal for records not yet acknowledged, and EndTxn; and mean per
	// batch of steps, the time from its hand-over to its commit (what a
	// reply waits for the log).
	ProduceMs float64 `json:"produce_ms,omitempty"`
	FlushMs   float64 `json:"flush_ms,omitempty"`
	EndMs     float64 `json:"end_ms,omitempty"`
	WaitMs    float64 `json:"wait_ms,omitempty"`
	Batches   int64   `json:"batches,omitempty"`
	// Lag: batches and snapshots waiting for the next transaction, and
	// how long the last transaction took (milliseconds).
	Queued       int     `json:"queued"`
	LastCommitMs float64 `json:"last_commit_ms,omitempty"`
}

type shardRun struct {
	n        int
	stop     chan struct{}
	done     chan struct{}
	graceful bool // set before stop is closed

	mu      sync.Mutex
	sh      *Shard
	tenants []*tenant.Tenant
}

// StartNode joins the cluster: it creates the topics if missing, follows
// the owners topic and joins the group that places shards on nodes.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.NodeID == "" || cfg.StartTenant == nil {
		return nil, errors.New("cluster: NodeConfig.NodeID and StartTenant are required")
	}
	if cfg.HandoverTimeout <= 0 {
		cfg.HandoverTimeout = 10 * time.Second
	}
	if cfg.ReadLease <= 0 {
		cfg.ReadLease = max(cfg.SessionTimeout-cfg.HeartbeatInterval, cfg.SessionTimeout/2)
	}
	if cfg.AnnounceInterval <= 0 {
		cfg.AnnounceInterval = 5 * time.Second
	}
	parts, err := EnsureTopics(ctx, &cfg.Config)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), tp: TopicsOf(&cfg.Config), parts: parts,
		byShard: map[int][]string{}, runs: map[int]*shardRun{}, table: map[int]Owner{}, members: map[string]Owner{}, tenants: map[string]*tenant.Tenant{},
		polled: make(chan struct{}), oread: make(chan struct{}), lease: lease{dur: cfg.ReadLease},
		poke: make(chan struct{}, 1), confirmed: make(chan struct{}),
		since: time.Now().UTC(), beatStop: make(chan struct{}), beatEnded: make(chan struct{})}
	n.leaseCtx, n.leaseStop = context.WithCancel(context.Background())
	for _, id := range cfg.Tenants {
		s := ShardOf(id, cfg.Shards)
		n.byShard[s] = append(n.byShard[s], id)
	}
	n.owners, err = kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.WithLogger(kslog.New(n.log)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{n.tp.Owners: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, cfg.ExtraOpts...)...)
	if err != nil {
		n.leaseStop()
		return nil, err
	}
	go n.readOwners()
	n.announce(ctx, false)
	go n.beat()
	n.group, err = kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("switchboard-" + cfg.NodeID),
		kgo.WithLogger(kslog.New(n.log)),
		kgo.ConsumerGroup(GroupID(&cfg.Config)),
		kgo.ConsumeTopics(n.tp.Shards),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.HeartbeatInterval),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(n.assigned),
		kgo.OnPartitionsRevoked(n.revoked),
		kgo.OnPartitionsLost(n.lost),
	}, cfg.ExtraOpts...)...)
	if err != nil {
		n.leaseStop()
		close(n.beatStop)
		<-n.beatEnded
		n.owners.Close()
		return nil, err
	}
	go n.poll()
	go n.confirm()
	n.log.Info("cluster: node joined", "cluster", cfg.Cluster, "shards", cfg.Shards, "tenants", len(cfg.Tenants))
	return n, nil
}

// poll keeps the group client polling (the shards topic has no records;
// the group's callbacks run on its own goroutines).
func (n *Node) poll() {
	defer close(n.polled)
	for {
		fs := n.group.PollFetches(context.Background())
		if fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			n.log.Debug("cluster: group poll", "err", err)
		})
	}
}

func (n *Node) readOwners() {
	defer close(n.oread)
	for {
		fs := n.owners.PollFetches(context.Background())
		if fs.IsClientClosed() {
			return
		}
		fs.EachRecord(func(r *kgo.Record) {
			if id, ok := strings.CutPrefix(string(r.Key), memberKey); ok {
				var o Owner
				if r.Value != nil && json.Unmarshal(r.Value, &o) != nil {
					return
				}
				n.mu.Lock()
				if r.Value == nil {
					delete(n.members, id)
				} else {
					n.members[id] = o
				}
				n.mu.Unlock()
				return
			}
			s, err := strconv.Atoi(string(r.Key))
			var o Owner
			if err != nil || json.Unmarshal(r.Value, &o) != nil {
				return
			}
			n.mu.Lock()
			n.table[s] = o
			n.mu.Unlock()
		})
	}
}

// memberKey prefixes the owners topic's keys of the nodes' announcements
// (the shards' keys are their numbers).
const memberKey = "node:"

// announce writes this node's address to the owners topic when it joins
// (and a tombstone when it leaves), so that every node knows every
// node's advertised address before it owns a shard: an owner believes the
// client address a node forwards only from a node it knows
// (forwarded.go). A failure is logged: the node still serves, but owners
// may not believe its forwarded clients' addresses until it owns a shard.
func (n *Node) announce(ctx context.Context, leave bool) {
	var v []byte
	if !leave {
		v, _ = json.Marshal(Owner{Node: n.cfg.NodeID, HTTP: n.cfg.HTTP, SIP: n.cfg.SIP, Since: n.since, Beat: time.Now().UTC()})
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r := &kgo.Record{Topic: n.tp.Owners, Partition: 0, Key: []byte(memberKey + n.cfg.NodeID), Value: v}
	if err := n.owners.ProduceSync(ctx, r).FirstErr(); err != nil {
		n.log.Warn("cluster: announcing the node in the owners topic failed", "leave", leave, "err", err)
	}
}

// beat writes the announcement again every AnnounceInterval until Close:
// its Beat is how the other nodes tell a live node from the announcement
// a killed one left (it wrote no tombstone).
func (n *Node) beat() {
	defer close(n.beatEnded)
	tick := time.NewTicker(n.cfg.AnnounceInterval)
	defer tick.Stop()
	for {
		select {
		case <-n.beatStop:
			return
		case <-tick.C:
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-n.beatStop:
					cancel()
				case <-ctx.Done():
				}
			}()
			n.announce(ctx, false)
			cancel()
		}
	}
}

// down reports whether member o has not been heard from for
// MemberDownAfter announcement intervals at now (its last Beat; an
// announcement without one, from an older node, counts from its Since).
func (n *Node) down(o Owner, now time.Time) bool {
	last := o.Beat
	if last.IsZero() {
		last = o.Since
	}
	return now.Sub(last) > MemberDownAfter*n.cfg.AnnounceInterval
}

func (n *Node) assigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	n.lease.renew(time.Now()) // the coordinator just counted this node in
	n.pokeLease()             // and confirm it
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range m[n.tp.Shards] {
		if _, ok := n.runs[int(p)]; ok || n.closed {
			continue
		}
		r := &shardRun{n: int(p), stop: make(chan struct{}), done: make(chan struct{})}
		n.runs[int(p)] = r
		go n.run(r)
	}
	n.log.Info("cluster: shards assigned", "shards", m[n.tp.Shards])
}

// revoked hands the shards over: it blocks the rebalance until their
// tenants are closed, their final snapshots committed and the release
// written, so the next owner replays almost nothing.
func (n *Node) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	n.stopShards(m[n.tp.Shards], true)
	n.log.Info("cluster: shards handed over", "shards", m[n.tp.Shards])
}

// lost drops the shards at once: this node was removed from the group
// (session expired) and another may already have fenced it.
func (n *Node) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	n.lease.end(time.Now())
	n.stopShards(m[n.tp.Shards], false)
	n.log.Warn("cluster: shards lost", "shards", m[n.tp.Shards])
}

func (n *Node) stopShards(ps []int32, graceful bool) {
	var runs []*shardRun
	n.mu.Lock()
	for _, p := range ps {
		if r, ok := n.runs[int(p)]; ok {
			delete(n.runs, int(p))
			r.graceful = graceful
			close(r.stop)
			runs = append(runs, r)
		}
	}
	n.mu.Unlock()
	for _, r := range runs {
		<-r.done
	}
}

// run owns shard r.n until it is stopped: it claims the shard, starts its
// tenants, and serves them; if a commit fails for another reason than
// being fenced, it claims the shard again.
func (n *Node) run(r *shardRun) {
	defer close(r.done)
	log := n.log.With("shard", r.n)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-r.stop:
				return
			case <-time.After(time.Second):
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-r.stop:
			case <-ctx.Done():
			}
			cancel()
		}()
		ids := n.byShard[r.n]
		sh, states, err := OpenShard(ctx, &n.cfg.Config, n.parts, r.n,
			Owner{Node: n.cfg.NodeID, HTTP: n.cfg.HTTP, SIP: n.cfg.SIP}, ids)
		cancel()
		if err != nil {
			select {
			case <-r.stop:
				return
			default:
			}
			log.Error("cluster: claiming the shard failed; retrying", "err", err)
			continue
		}
		var ts []*tenant.Tenant
		for _, id := range ids {
			t, err := n.cfg.StartTenant(id, sh.Log(id), states[id])
			if err != nil {
				log.Error("cluster: tenant did not start", "tenant", id, "err", err)
				continue
			}
			ts = append(ts, t)
		}
		r.mu.Lock()
		r.sh, r.tenants = sh, ts
		r.mu.Unlock()
		n.setServing(true, ts)
		select {
		case <-r.stop:
			n.setServing(false, ts)
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.HandoverTimeout)
			if r.graceful {
				for _, t := range ts {
					t.Close(ctx)
				}
				if err := sh.Close(ctx, true); err != nil {
					log.Warn("cluster: handover incomplete", "err", err)
				}
			} else {
				sh.Abandon()
				for _, t := range ts {
					t.Close(ctx)
				}
			}
			cancel()
			r.mu.Lock()
			r.sh, r.tenants = nil, nil
			r.mu.Unlock()
			return
		case <-sh.Failed():
			n.setServing(false, ts)
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.HandoverTimeout)
			for _, t := range ts {
				t.Close(ctx)
			}
			sh.Close(ctx, false)
			cancel()
			r.mu.Lock()
			r.sh, r.tenants = nil, nil
			r.mu.Unlock()
			if errors.Is(sh.Err(), ErrFenced) {
				// Another node claimed it: the group tells us soon. If
				// it still has not after two session timeouts, the
				// group keeps the shard here and whoever fenced us is
				// not its owner: claim it again.
				log.Warn("cluster: fenced; waiting for the group to take the shard away")
				select {
				case <-r.stop:
					return
				case <-time.After(2 * n.cfg.SessionTimeout):
					log.Warn("cluster: fenced, but the group still places the shard here; claiming it again")
				}
			}
		}
	}
}

func (n *Node) setServing(up bool, ts []*tenant.Tenant) {
	n.mu.Lock()
	for _, t := range ts {
		if up {
			n.tenants[t.ID()] = t
		} else {
			delete(n.tenants, t.ID())
		}
	}
	n.mu.Unlock()
	if n.cfg.Serving != nil {
		n.cfg.Serving(up, ts)
	}
}

// Tenant returns the tenant's runtime if this node serves it now.
func (n *Node) Tenant(id string) (*tenant.Tenant, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.tenants[id]
	return t, ok
}

// Route says where a tenant is served: local if here, else the owner from
// the owners topic (ok false while the shard has no owner: a handover).
func (n *Node) Route(id string) (local *tenant.Tenant, owner Owner, ok bool) {
	s := ShardOf(id, n.cfg.Shards)
	n.mu.Lock()
	defer n.mu.Unlock()
	if t, ok := n.tenants[id]; ok {
		return t, Owner{Node: n.cfg.NodeID, HTTP: n.cfg.HTTP}, true
	}
	o, ok := n.table[s]
	if !ok || o.Release || o.Node == n.cfg.NodeID {
		return nil, Owner{}, false
	}
	return nil, o, true
}

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// Member is a node's announcement in the owners topic.
type Member struct {
	Node  string `json:"node"`
	HTTP  string `json:"http,omitempty"`
	Since string `json:"since,omitempty"` // when it joined
	Heard string `json:"heard,omitempty"` // its last announcement
	// Down: not heard from for MemberDownAfter announcement intervals
	// (killed without a graceful stop, or cut off from Kafka).
	Down bool `json:"down,omitempty"`
}

// Members returns the nodes that announced themselves, sorted by id.
func (n *Node) Members() []Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	out := []Member{}
	for id, o := range n.members {
		m := Member{Node: id, HTTP: o.HTTP, Since: o.Since.Format(time.RFC3339), Down: id != n.cfg.NodeID && n.down(o, now)}
		if !o.Beat.IsZero() {
			m.Heard = o.Beat.Format(time.RFC3339)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// Owned returns the shards this node serves now, sorted.
func (n *Node) Owned() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []int
	for s, r := range n.runs {
		r.mu.Lock()
		if r.sh != nil {
			out = append(out, s)
		}
		r.mu.Unlock()
	}
	sort.Ints(out)
	return out
}

// Status returns every shard as this node sees it.
func (n *Node) Status() []ShardStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]ShardStatus, n.cfg.Shards)
	for s := range out {
		st := ShardStatus{Shard: s, Tenants: n.byShard[s]}
		if o, ok := n.table[s]; ok && !o.Release {
			st.Owner, st.HTTP, st.Since = o.Node, o.HTTP, o.Since.Format(time.RFC3339)
		}
		if r, ok := n.runs[s]; ok {
			r.mu.Lock()
			st.Local = "starting"
			if r.sh != nil {
				st.Local = "serving"
				ss := r.sh.Stats()
				st.Commits, st.Steps, st.Events = ss.Commits, ss.Steps, ss.Events
				st.Queued, st.LastCommitMs = ss.Queued, float64(ss.LastCommit.Microseconds())/1000
				st.Batches = ss.Batches
				if ss.Commits > 0 {
					st.ProduceMs = meanMs(ss.ProduceTime, ss.Commits)
					st.FlushMs = meanMs(ss.FlushTime, ss.Commits)
					st.EndMs = meanMs(ss.EndTime, ss.Commits)
				}
				if ss.Batches > 0 {
					st.WaitMs = meanMs(ss.WaitTime, ss.Batches)
				}
			}
			r.mu.Unlock()
		}
		out[s] = st
	}
	return out
}

// Close leaves the group, handing every shard over gracefully (the
// group's revoke), and stops following the owners topic.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.group.Close() // revokes every partition: OnPartitionsRevoked hands over
	<-n.polled
	n.leaseStop()
	<-n.confirmed
	var rest []int32
	n.mu.Lock()
	for s := range n.runs {
		rest = append(rest, int32(s))
	}
	n.mu.Unlock()
	n.stopShards(rest, true)
	close(n.beatStop)
	<-n.beatEnded
	n.announce(context.Background(), true)
	n.owners.Close()
	<-n.oread
	return nil
}

func meanMs(d time.Duration, n int64) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }

func (s ShardStatus) String() string { return fmt.Sprintf("%d:%s", s.Shard, s.Owner) }
