package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/internal/cluster"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// ClusterConfig is cluster mode (--cluster): several nodes serve the
// tenants, Kafka is the journal (internal/cluster).
type ClusterConfig struct {
	// Name is the cluster's name (--cluster); empty: single-node mode.
	Name string
	// NodeID is this node's id in the cluster (--node-id, default the
	// server id). The server id itself must be the same on every node: it
	// is in the events, which a new owner's replay reproduces.
	NodeID string
	// Shards is the cluster's shard count (--shards, default 32), fixed
	// for the cluster's life.
	Shards int
	// AdvertiseHTTP is the address the other nodes forward API requests
	// to (--advertise-http, default the bound --http address).
	AdvertiseHTTP string
	// AdvertiseSIP is the address the other nodes forward SIP requests
	// to, and the source address of the requests this node forwards
	// (--advertise-sip, default the bound --sip address).
	AdvertiseSIP string
	// OpsToken is the bearer token of GET /v1/cluster (--ops-token, or
	// $SWITCHBOARD_OPS_TOKEN); empty: the endpoint answers 401.
	OpsToken string
	// Secret is the cluster's shared secret (--cluster-secret, or
	// $SWITCHBOARD_CLUSTER_SECRET; the same on every node, at least
	// cluster.MinSecretLen characters): a node signs the requests it
	// forwards with it, and an owner believes the client address in them
	// only with a valid signature. Empty: believed from the nodes'
	// addresses, which any local client shares on one machine (a warning
	// at start).
	Secret string
	// HandoverWait bounds how long a request waits for a shard being
	// handed over (--handover-wait, default 5s), then it gets 503.
	HandoverWait time.Duration
	// SessionTimeout is the group session timeout (--session-timeout,
	// default 6s): how soon a dead node's shards move.
	SessionTimeout time.Duration
	// SnapshotInterval is the most time between a tenant's step and a
	// snapshot including it (--snapshot-interval, default
	// DefaultClusterSnapshotInterval), on top of --snapshot-every: it
	// bounds how far back a new owner's replay starts.
	SnapshotInterval time.Duration
}

// DefaultClusterSnapshotInterval is --snapshot-interval by default.
const DefaultClusterSnapshotInterval = 30 * time.Second

// DefaultClusterSnapshotEvery is --snapshot-every in cluster mode when it
// is left at DefaultSnapshotEvery: a takeover replays at most that many
// steps per tenant, about 1 s at the slowest replay measured (23,000
// steps/s on a loaded 2-core machine; switchboard bench's takeover row),
// which leaves the 10 s failover budget to detection (the 6 s session) and
// the rest.
const DefaultClusterSnapshotEvery = 20_000

func (cc *ClusterConfig) addFlags(add func(name string, v flag.Value, usage string)) {
	add("cluster", (*stringValue)(&cc.Name), "cluster `NAME`: run as a node of a cluster with Kafka as the journal (needs --kafka-brokers)")
	add("node-id", (*stringValue)(&cc.NodeID), "this node's `ID` in the cluster (default: the server id)")
	add("shards", (*intValue)(&cc.Shards), "the cluster's shard `COUNT` (fixed for its life; default 32)")
	add("advertise-http", (*stringValue)(&cc.AdvertiseHTTP), "`ADDR` the other nodes forward API requests to (default: the bound --http address)")
	add("advertise-sip", (*stringValue)(&cc.AdvertiseSIP), "`ADDR` the other nodes forward SIP requests to (default: the bound --sip address)")
	add("ops-token", (*stringValue)(&cc.OpsToken), "bearer `TOKEN` of GET /v1/cluster")
	add("cluster-secret", (*stringValue)(&cc.Secret), "the cluster's shared `SECRET` (the same on every node, at least 16 characters; better from $SWITCHBOARD_CLUSTER_SECRET): signs the requests nodes forward to each other")
	add("handover-wait", (*durationValue)(&cc.HandoverWait), "how long a request waits for a shard being handed over (`DURATION`) before 503")
	add("snapshot-interval", (*durationValue)(&cc.SnapshotInterval), "cluster: most time (`DURATION`) between a tenant's step and a snapshot including it (default 30s)")
	add("session-timeout", (*durationValue)(&cc.SessionTimeout), "cluster group session timeout (`DURATION`): how soon a dead node's shards move")
}

func (cc *ClusterConfig) validate(brokers []string, bad func(flag, format string, args ...any) error) error {
	if cc.Name == "" {
		return nil
	}
	if len(brokers) == 0 {
		return bad("cluster", "needs --kafka-brokers (the nodes share a Kafka cluster)")
	}
	if cc.Shards < 0 || cc.Shards > 4096 {
		return bad("shards", "%d is not between 1 and 4096", cc.Shards)
	}
	if cc.SnapshotInterval < 0 {
		return bad("snapshot-interval", "%v is negative", cc.SnapshotInterval)
	}
	if cc.Secret != "" && len(cc.Secret) < cluster.MinSecretLen {
		return bad("cluster-secret", "is %d characters, want at least %d (e.g. openssl rand -hex 32)", len(cc.Secret), cluster.MinSecretLen)
	}
	if cc.AdvertiseHTTP != "" {
		if err := hostPort(cc.AdvertiseHTTP); err != nil {
			return bad("advertise-http", "%v", err)
		}
	}
	if cc.AdvertiseSIP != "" {
		if err := hostPort(cc.AdvertiseSIP); err != nil {
			return bad("advertise-sip", "%v", err)
		}
	}
	return nil
}

// runCluster is Run in cluster mode: the node joins the cluster, serves the
// tenants of the shards it is given, and forwards the other requests.
func (m *Main) runCluster(ctx context.Context, log *slog.Logger) error {
	c := m.Config
	s, err := m.startCluster(ctx, log)
	if err != nil {
		closeStarted(log, s.closers())
		return err
	}
	serveErr := m.serveUntil(ctx, log, s.addrs, s.served)
	log.Info("shutting down: handing the shards over", "timeout", c.ShutdownTimeout)
	began := shutDown(log, c.ShutdownTimeout, s.closers())
	log.Info("stopped", "took", time.Since(began).Round(time.Millisecond))
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// clusterServing is what startCluster started. Fields are set as their
// part starts, so after a failed start they tell what must be closed.
type clusterServing struct {
	log         *slog.Logger
	ln          net.Listener // the API's, until srv serves on it
	sip         *sipfront.Server
	closeTopics func() // the SIP bindings and dialogs topics
	stopStats   func() // the node's statistics consumer
	node        *cluster.Node
	feed        *cluster.Feed
	srv         *http.Server
	served      chan error // srv's Serve result
	addrs       Addrs
}

// closers returns the shutdown sequence of what has started, in order:
// the node hands every shard over (the group revokes them: tenants close,
// their final snapshots and the releases are committed) while the API
// still serves, so requests arriving meanwhile are forwarded to the new
// owners; then the API, the feed of the event streams, the statistics, SIP and
// its topics.
func (s *clusterServing) closers() []closer {
	var cl []closer
	if s.node != nil {
		cl = append(cl, closer{"cluster node handover", func(context.Context) { s.node.Close() }})
	}
	if s.srv != nil {
		cl = append(cl, closer{"CTI API shutdown", func(ctx context.Context) {
			if err := s.srv.Shutdown(ctx); err != nil {
				s.srv.Close() // the connections still open (deadline passed)
			}
		}})
	} else if s.ln != nil {
		cl = append(cl, closer{"CTI API listener close", func(context.Context) { s.ln.Close() }})
	}
	if s.feed != nil {
		cl = append(cl, closer{"cluster feed close", func(context.Context) { s.feed.Close() }})
	}
	if s.stopStats != nil {
		cl = append(cl, closer{"statistics stop", func(context.Context) { s.stopStats() }})
	}
	if s.sip != nil {
		cl = append(cl, closer{"SIP close", func(context.Context) { s.sip.Close() }})
	}
	if s.closeTopics != nil {
		cl = append(cl, closer{"SIP topics close", func(context.Context) { s.closeTopics() }})
	}
	return cl
}

// startCluster is cluster mode's start sequence: the API's listener, SIP
// with the cluster's bindings and dialogs topics (startClusterSIP), the
// node joining the group (its tenants get an API handler and SIP as they
// start here), the front that forwards the others, the feed of the event
// streams, the API. It returns what it started, also on error (see
// clusterServing.closers).
func (m *Main) startCluster(ctx context.Context, log *slog.Logger) (*clusterServing, error) {
	c, getenv, stdout := m.Config, m.Getenv, m.Stdout
	s := &clusterServing{log: log}
	o := newOps(log)
	file, _, err := loadTenants(c, getenv)
	if err != nil {
		return s, err
	}
	server := c.ServerID
	if server == "" {
		server = file.Server
	}
	if server == "" {
		server = DefaultServerID
	}
	cc := c.Cluster
	if cc.SnapshotInterval == 0 {
		cc.SnapshotInterval = DefaultClusterSnapshotInterval
	}
	snapEvery := c.Durability.SnapshotEvery
	if snapEvery == DefaultSnapshotEvery {
		snapEvery = DefaultClusterSnapshotEvery
	}
	nodeID := cc.NodeID
	if nodeID == "" {
		nodeID = server
	}
	if s.ln, err = net.Listen("tcp", c.HTTP); err != nil {
		return s, fmt.Errorf("app: CTI API: %w", err)
	}
	addr := s.ln.Addr().String()
	adv := cc.AdvertiseHTTP
	if adv == "" {
		adv = addr
	}
	kafkaTLS, kafkaSASL, err := kafkaConfig(&c.Kafka, getenv)
	if err != nil {
		return s, err
	}
	kopts, err := kafkaOpts(nil, kafkaTLS, kafkaSASL)
	if err != nil {
		return s, err
	}
	kopts = kopts[2:] // TLS and SASL only: the brokers and client ids are the cluster clients' own
	byID := map[string]*config.Tenant{}
	var ids []string
	for i := range file.Tenants {
		byID[file.Tenants[i].ID] = &file.Tenants[i]
		ids = append(ids, file.Tenants[i].ID)
	}
	limit := ctiapi.RateLimit{Rate: c.Ops.APIRate, Burst: c.Ops.APIBurst}
	var mu sync.Mutex
	local := map[string]http.Handler{}
	clusterCfg := cluster.Config{Cluster: cc.Name, Brokers: c.KafkaBrokers, Shards: cc.Shards, TopicPrefix: c.TopicPrefix,
		OutputPartitions: int32(c.Partitions), SessionTimeout: cc.SessionTimeout, ExtraOpts: kopts, Logger: log}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	sipSrv, closeTopics, nodeRef, err := startClusterSIP(startCtx, c, file, clusterCfg, o.set, log)
	if err != nil {
		return s, c.Kafka.Explain(err, c.KafkaBrokers)
	}
	s.sip, s.closeTopics = sipSrv, closeTopics
	sipAdv := cc.AdvertiseSIP
	if sipAdv == "" {
		sipAdv = sipSrv.Addr()
	}
	// The statistics: every node runs its own consumer of the output
	// topics (its own group: the nodes share a server id), so whichever
	// node owns a tenant answers its /stats routes and the wallboard's
	// WebSocket ticket, which the owner issued.
	statsSvc, stopStats, err := runStats(c, file, "switchboard-stats."+c.TopicPrefix+cc.Name+"."+nodeID,
		c.KafkaBrokers, kopts, o.set, log)
	if err != nil {
		return s, err
	}
	s.stopStats = stopStats
	// One API handler per tenant served here, built when the tenant
	// starts here and dropped when it leaves; its SIP is attached too.
	serving := func(up bool, ts []*tenant.Tenant) {
		for _, rt := range ts {
			if !up {
				sipSrv.Detach(rt.ID())
				mu.Lock()
				delete(local, rt.ID())
				mu.Unlock()
				continue
			}
			sipSrv.Attach(rt.ID(), rt)
			t := byID[rt.ID()]
			api, err := ctiapi.New(ctiapi.Config{Tenants: map[string]ctiapi.Tenant{t.ID: {Runtime: rt, Tokens: t.Tokens,
				Recording: sipRecording(sipSrv, t.ID)}},
				Logger: log.With("component", "ctiapi")})
			if err == nil {
				err = addTokenHashes(api, t, getenv)
			}
			if err == nil && statsSvc != nil {
				err = statsSvc.MountAPI(api)
			}
			if err != nil {
				log.Error("cluster: tenant API not served", "tenant", t.ID, "err", err)
				continue
			}
			var lim map[string]ctiapi.RateLimit
			if l := t.RateLimit; l != nil {
				lim = map[string]ctiapi.RateLimit{t.ID: {Rate: l.Rate, Burst: l.Burst}}
			}
			h := api.Handler(ctiapi.Ops{Metrics: o.set, Default: limit, RateLimits: lim})
			mu.Lock()
			local[t.ID] = h
			mu.Unlock()
		}
	}
	node, err := cluster.StartNode(startCtx, cluster.NodeConfig{
		Config: clusterCfg,
		NodeID: nodeID, HTTP: adv, SIP: sipAdv, Tenants: ids, Serving: serving,
		StartTenant: func(id string, lg tenant.StepLog, st *tenant.LogState) (*tenant.Tenant, error) {
			eng, err := engine.New(byID[id], engine.Options{Server: server})
			if err != nil {
				return nil, err
			}
			return tenant.Start(tenant.Config{Engine: eng, Log: lg, LogState: st, SnapshotEvery: snapEvery,
				SnapshotInterval: cc.SnapshotInterval, RecoveryCommands: releaseCalls, Logger: log.With("tenant", id)})
		},
	})
	cancel()
	if err != nil {
		return s, c.Kafka.Explain(err, c.KafkaBrokers)
	}
	s.node = node
	nodeRef.Store(node)
	registerClusterGauges(o.set, node)
	base, err := ctiapi.New(ctiapi.Config{Tenants: map[string]ctiapi.Tenant{}, Logger: log.With("component", "ctiapi")})
	if err != nil {
		return s, err
	}
	// GET /v1/cluster is the front's (below), never the base's: listed
	// here so that /v1/openapi.json describes it with its reply.
	var front *cluster.Front
	if err := base.HandleDocumented(ctiapi.DocRoute{Method: "GET", Path: "/v1/cluster", Reply: cluster.ClusterStatus{},
		Summary: "Cluster mode: every shard with its owner, the nodes owning shards, the members, and the answering node's read lease. The bearer token is the operators' (--ops-token), not a tenant's; no token configured: 401."},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { front.ServeHTTP(w, r) })); err != nil {
		return s, err
	}
	// SIP over WebSocket (RFC 7118) on any node, as in single-node
	// mode: a phone's WebSocket stays on the node it reached, which
	// proxies for the tenant's owner (sipfront, cluster_stream.go).
	base.Handle("GET /sip", sipSrv.WebSocket())
	if cc.Secret == "" {
		log.Warn("cluster: no --cluster-secret: owners believe the client address of a forwarded request from any connection from a node's host (on one machine, any local process); set the same random secret on every node")
	}
	front = &cluster.Front{Node: node, OpsToken: cc.OpsToken, Wait: cc.HandoverWait, Secret: cc.Secret,
		Base: base.Handler(ctiapi.Ops{Metrics: o.set, Default: limit}),
		Local: func(id string) http.Handler {
			mu.Lock()
			defer mu.Unlock()
			return local[id]
		}}
	// The event streams of tenants served elsewhere, from the output
	// topics: a stream outlives its tenant's handover.
	fctx, fcancel := context.WithTimeout(ctx, 60*time.Second)
	s.feed, err = cluster.OpenFeed(fctx, clusterCfg)
	fcancel()
	if err != nil {
		return s, err
	}
	if front.Stream, err = clusterStream(file, s.feed, front, getenv, o.set, limit, log); err != nil {
		return s, err
	}
	s.srv = &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	s.served = make(chan error, 1)
	go func() { s.served <- s.srv.Serve(s.ln) }()
	log.Info("switchboard serving as a cluster node", "cluster", cc.Name, "node", nodeID, "http", addr,
		"advertise", adv, "sip", sipSrv.Addr(), "advertise_sip", sipAdv, "kafka", c.KafkaBrokers, "tenants", len(ids))
	fmt.Fprintf(stdout, "switchboard: node %s of cluster %s, API on http://%s, SIP on %s (UDP)\n", nodeID, cc.Name, addr, sipSrv.Addr())
	tokens := map[string][]string{}
	for _, t := range file.Tenants {
		tokens[t.ID] = t.Tokens
	}
	s.addrs = Addrs{HTTP: addr, SIP: sipSrv.Addr(), Kafka: c.KafkaBrokers, Tokens: tokens, Durability: nil}
	return s, nil
}

// addTokenHashes adds a tenant's token hashes from the configuration and
// from $SWITCHBOARD_API_TOKENS.
func addTokenHashes(api *ctiapi.Server, t *config.Tenant, getenv func(string) string) error {
	for j, text := range t.TokenHashes {
		h, err := ctiapi.ParseTokenHash(text)
		if err == nil {
			err = api.AddTokenHashes(t.ID, h)
		}
		if err != nil {
			return fmt.Errorf("app: tenant %q: token-hashes[%d]: %w", t.ID, j, err)
		}
	}
	env, err := apiTokens(getenv(EnvAPITokens), map[string]bool{t.ID: true})
	if err != nil {
		return err
	}
	return api.AddTokenHashes(t.ID, env[t.ID]...)
}

// registerClusterGauges registers the per-shard gauges, read from the node
// at scrape time. The counts are since this node claimed the shard.
func registerClusterGauges(set *metrics.Set, node *cluster.Node) {
	each := func(f func(cluster.ShardStatus, metrics.Emit)) func(metrics.Emit) {
		return func(emit metrics.Emit) {
			for _, s := range node.Status() {
				f(s, emit)
			}
		}
	}
	shard := []string{"shard"}
	set.GaugeFunc(metrics.NameClusterShardServed, "1 if this node serves the shard now, else 0, by shard.", shard,
		each(func(s cluster.ShardStatus, emit metrics.Emit) {
			v := 0.0
			if s.Local == "serving" {
				v = 1
			}
			emit(v, strconv.Itoa(s.Shard))
		}))
	set.GaugeFunc(metrics.NameClusterShardTxns, "Transactions committed for the shard since this node claimed it, by shard.", shard,
		each(func(s cluster.ShardStatus, emit metrics.Emit) { emit(float64(s.Commits), strconv.Itoa(s.Shard)) }))
	set.GaugeFunc(metrics.NameClusterShardSteps, "Steps committed for the shard since this node claimed it, by shard.", shard,
		each(func(s cluster.ShardStatus, emit metrics.Emit) { emit(float64(s.Steps), strconv.Itoa(s.Shard)) }))
	set.GaugeFunc(metrics.NameClusterShardEvents, "Events committed for the shard since this node claimed it, by shard.", shard,
		each(func(s cluster.ShardStatus, emit metrics.Emit) { emit(float64(s.Events), strconv.Itoa(s.Shard)) }))
	set.GaugeFunc(metrics.NameClusterLeaseAge, "Time since this node sent the last heartbeat the group coordinator answered as a member (its read lease's age; reads are refused once it reaches the session timeout less one heartbeat interval).", nil,
		func(emit metrics.Emit) {
			if st := node.LeaseStatus(); st.AgeMs != nil {
				emit(*st.AgeMs / 1000)
			}
		})
	set.CounterFunc(metrics.NameClusterLeaseRefused, "Reads (GET, HEAD) of tenants served here answered 503 because this node's read lease had run out.", nil,
		func(emit metrics.Emit) { emit(float64(node.ReadsRefused())) })
}
