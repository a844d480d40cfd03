package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/switchboard-cc/switchboard/internal/relay"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Environment variables of the demo tenant.
const (
	EnvDemoToken       = "SWITCHBOARD_DEMO_TOKEN"
	EnvDemoSIPPassword = "SWITCHBOARD_DEMO_SIP_PASSWORD"
)

// Main is the switchboard server program. Run it with Run; tests run it
// in-process with every address on port 0 and learn the bound addresses
// from OnReady.
type Main struct {
	Config Config
	// Stdout receives the start-up banner (the demo token and a curl
	// example). Default os.Stdout.
	Stdout io.Writer
	// Stderr receives the logs when Logger is nil. Default os.Stderr.
	Stderr io.Writer
	// Logger overrides the logger built from Config.LogLevel/LogFormat.
	Logger *slog.Logger
	// Getenv reads the demo tenant's environment variables. Default
	// os.Getenv.
	Getenv func(string) string
	// OnReady, if set, is called once everything is up and serving.
	OnReady func(Addrs)
}

// Addrs are the addresses the running server is bound to.
type Addrs struct {
	HTTP     string   // the CTI API, host:port
	SIP      string   // the SIP front (UDP), host:port
	Kafka    []string // the brokers in use
	Embedded bool     // Kafka is the embedded broker
	// Tokens are the API tokens by tenant id (the demo tenant's token is
	// generated when not given).
	Tokens map[string][]string
	// Durability returns each tenant's journal and publishing figures
	// (journal size, publishing lag), for metrics.
	Durability func() []relay.Stats
}

// Run starts everything, serves until ctx is done, then shuts down
// gracefully: it stops accepting requests, lets the running ones finish,
// waits for Kafka to acknowledge what was published (up to
// Config.ShutdownTimeout), and closes the publisher and the broker.
func (m Main) Run(ctx context.Context) error {
	c := m.Config
	if err := c.Validate(); err != nil {
		return err
	}
	m.setDefaults()
	log := m.logger()
	defer tuneGC(c.gcMemoryBound())()
	if c.Cluster.Name != "" {
		return m.runCluster(ctx, log)
	}
	s, err := m.start(ctx, log)
	if err != nil {
		closeStarted(log, s.closers())
		return err
	}
	if s.sip != nil && c.SIPTLS.Listen != "" {
		defer reloadOnHangup(s.sip, log)()
	}
	serveErr := m.serveUntil(ctx, log, s.addrs, s.served)
	log.Info("shutting down", "timeout", c.ShutdownTimeout)
	began := shutDown(log, c.ShutdownTimeout, s.closers())
	ps := s.pub.Stats()
	log.Info("stopped", "events_produced", ps.Produced, "events_acked", ps.Acked, "events_failed", ps.Failed,
		"took", time.Since(began).Round(time.Millisecond))
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// setDefaults fills the fields of m left zero.
func (m *Main) setDefaults() {
	if m.Stdout == nil {
		m.Stdout = os.Stdout
	}
	if m.Stderr == nil {
		m.Stderr = os.Stderr
	}
	if m.Getenv == nil {
		m.Getenv = os.Getenv
	}
}

// logger returns m.Logger, or one built from the configuration, writing to
// Stderr; lines logged with an API request's context carry its request_id.
func (m *Main) logger() *slog.Logger {
	log := m.Logger
	if log == nil {
		level, _ := parseLevel(m.Config.LogLevel)
		opts := &slog.HandlerOptions{Level: level}
		if m.Config.LogFormat == "json" {
			log = slog.New(slog.NewJSONHandler(m.Stderr, opts))
		} else {
			log = slog.New(slog.NewTextHandler(m.Stderr, opts))
		}
	}
	return slog.New(ctiapi.ContextLogHandler(log.Handler()))
}

// serving is what Run started. Fields are set as their part starts, so
// after a failed start they tell what must be closed.
type serving struct {
	log    *slog.Logger
	emb    *broker.Broker // nil with an external Kafka
	keep   relayKeep      // what the relays still read: the embedded broker's retention keeps it
	pub    *publisher.Publisher
	durs   []*durableTenant
	sip    *sipfront.Server
	http   *http.Server
	served chan error // the HTTP server's Serve result
	// stopStats stops the in-process statistics consumer (startStats).
	stopStats func()
	addrs     Addrs
}

// closer is one step of the shutdown sequence: its name (logged when the
// step is abandoned) and what it does, within ctx where it takes one.
type closer struct {
	name  string
	close func(ctx context.Context)
}

// closers returns the shutdown sequence of what has started, in order:
// the CTI API (no new requests, the running ones finish); SIP, after the
// API and before the tenants (see startSIP); the tenants, the publisher
// and the relays and journals (tenantClosers); the statistics consumer,
// which reads what the tenants published (its stop is bounded: the
// checkpoint is local); the embedded broker last.
func (s *serving) closers() []closer {
	var cl []closer
	if s.http != nil {
		cl = append(cl, closer{"CTI API shutdown", func(ctx context.Context) {
			if err := s.http.Shutdown(ctx); err != nil {
				s.log.Warn("CTI API shutdown", "err", err)
				s.http.Close() // the connections still open (deadline passed)
			}
		}})
	}
	if s.sip != nil {
		cl = append(cl, closer{"SIP close", func(context.Context) { s.sip.Close() }})
	}
	if s.pub != nil {
		cl = append(cl, tenantClosers(s.log, s.durs, s.pub)...)
	}
	if s.stopStats != nil {
		cl = append(cl, closer{"stats stop", func(context.Context) { s.stopStats() }})
	}
	if s.emb != nil {
		cl = append(cl, closer{"embedded broker close", func(context.Context) { s.emb.Close() }})
	}
	return cl
}

// serveUntil tells OnReady the addresses served, then waits until ctx
// ends or the API server stops (its error).
func (m *Main) serveUntil(ctx context.Context, log *slog.Logger, addrs Addrs, served <-chan error) error {
	if m.OnReady != nil {
		m.OnReady(addrs)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-served:
		log.Error("CTI API server stopped", "err", err)
		return err
	}
}

// closeStarted closes what a failed start sequence started, at once (no
// request has been taken), each step bounded by shutdownMargin.
func closeStarted(log *slog.Logger, cl []closer) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	closeAll(done, newStopper(log, time.Now().Add(shutdownMargin)), cl)
}

// shutDown is the graceful shutdown: every step is bounded, the whole by
// timeout plus shutdownMargin for the steps that take no deadline (closing
// clients, the broker); a step still running then is abandoned and
// logged, so that Run always returns. It returns when it began.
func shutDown(log *slog.Logger, timeout time.Duration, cl []closer) time.Time {
	began := time.Now()
	sctx, scancel := context.WithTimeout(context.Background(), timeout)
	defer scancel()
	st := newStopper(log, began.Add(timeout+shutdownMargin))
	closeAll(sctx, st, cl)
	if len(st.abandoned) > 0 {
		log.Error("stopped with closing steps abandoned", "abandoned", st.abandoned,
			"took", time.Since(began).Round(time.Millisecond))
	}
	return began
}

// closeAll runs the closers in order under st.
func closeAll(ctx context.Context, st *stopper, cl []closer) {
	for _, c := range cl {
		st.do(c.name, func() { c.close(ctx) })
	}
}

// start is serve's start sequence: the tenants' configuration, Kafka (the
// embedded broker or the cluster given) and the publisher (startKafka), one engine,
// journal, runtime and relay per tenant, SIP, the CTI API. It returns what
// it started, also on error (see serving.closers).
func (m *Main) start(ctx context.Context, log *slog.Logger) (*serving, error) {
	c := m.Config
	s := &serving{log: log}
	ops := newOps(log)
	fdLimit := raiseFDLimit(log)
	file, demo, err := loadTenants(c, m.Getenv)
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
	if err := os.MkdirAll(c.Data, 0o755); err != nil {
		return s, fmt.Errorf("app: data directory: %w", err)
	}

	brokers, kopts, err := m.startKafka(ctx, s)
	if err != nil {
		return s, err
	}

	// One engine, journal, runtime and relay per tenant.
	tenants := map[string]ctiapi.Tenant{}
	tokens := map[string][]string{}
	var rts []*tenant.Tenant
	for i := range file.Tenants {
		t := &file.Tenants[i]
		eng, err := engine.New(t, engine.Options{Server: server})
		if err != nil {
			return s, fmt.Errorf("app: tenant %q: %w", t.ID, err)
		}
		newEngine := func() (tenant.Machine, error) { return engine.New(t, engine.Options{Server: server}) }
		pub, err := s.relayPublisher(ctx, c, server, t.ID)
		if err != nil {
			return s, c.Kafka.Explain(err, brokers)
		}
		d, err := startDurable(c, t.ID, eng, newEngine, ops.sink(pub), s.emb == nil, kopts, log.With("tenant", t.ID))
		if err != nil {
			return s, err
		}
		s.durs = append(s.durs, d)
		rts = append(rts, d.rt)
		tenants[t.ID] = ctiapi.Tenant{Runtime: d.rt, Tokens: t.Tokens}
		tokens[t.ID] = t.Tokens
	}
	s.keep.setRelays(s.durs)
	if s.sip, err = startSIP(c, file, rts, demo, ops.set, m.Stdout, log); err != nil {
		return s, err
	}
	if s.sip != nil {
		for id, t := range tenants {
			t.Recording = sipRecording(s.sip, id)
			t.TrunkSIP = sipTrunk(s.sip, id)
			tenants[id] = t
		}
	}
	api, err := ctiapi.New(ctiapi.Config{Tenants: tenants, Logger: log.With("component", "ctiapi")})
	if err != nil {
		return s, err
	}
	if s.sip != nil {
		api.Handle("GET /sip", s.sip.WebSocket()) // SIP over WebSocket (RFC 7118)
	}
	if s.stopStats, err = startStats(c, file, server, brokers, kopts, api, ops.set, log); err != nil {
		return s, err
	}
	handler, err := ops.handler(c, m.Getenv, api, file, demo, rts, s.pub)
	if err != nil {
		return s, err
	}
	if s.emb != nil {
		registerBrokerGauges(ops.set, s.emb)
	}
	ln, err := net.Listen("tcp", c.HTTP)
	if err != nil {
		return s, fmt.Errorf("app: CTI API: %w", err)
	}
	lln, srv := ops.listen(c, ln, api, handler, fdLimit)
	s.http = srv
	s.served = make(chan error, 1)
	go func() { s.served <- s.http.Serve(lln) }()

	addr := ln.Addr().String()
	log.Info("switchboard serving", "http", addr, "kafka", brokers, "embedded_kafka", s.emb != nil,
		"tenants", slices.Sorted(maps.Keys(tenants)), "server_id", server, "sip", s.sip.Addr(), "open_files_limit", fdLimit)
	if demo {
		printDemoBanner(m.Stdout, file.Tenants[0].Tokens[0], addr, brokers[0])
	}
	durs := s.durs
	s.addrs = Addrs{HTTP: addr, SIP: s.sip.Addr(), Kafka: brokers, Embedded: s.emb != nil, Tokens: tokens, Durability: func() []relay.Stats {
		out := make([]relay.Stats, len(durs))
		for i, d := range durs {
			out[i] = d.stats()
		}
		return out
	}}
	ops.setRelayStats(s.addrs.Durability) // journal size and lag: /metrics, /readyz
	if c.Durability.ReadyFile != "" {
		if err := writeReadyFile(c.Durability.ReadyFile, s.addrs); err != nil {
			return s, err
		}
	}
	return s, nil
}

// startKafka starts the embedded broker when no cluster is given (s.emb)
// and the publisher (s.pub); it returns the brokers in use and the Kafka
// client options of the relays.
func (m *Main) startKafka(ctx context.Context, s *serving) (brokers []string, kopts []kgo.Opt, err error) {
	c, log := m.Config, s.log
	brokers = c.KafkaBrokers
	if len(brokers) == 0 {
		s.emb, err = broker.Start(ctx, c.Embedded.brokerConfig(broker.Config{
			Dir:        filepath.Join(c.Data, "kafka"),
			Listen:     c.KafkaListen,
			Topics:     []string{c.TopicPrefix + event.AgentStateTopic, c.TopicPrefix + event.CallThreadTopic},
			Partitions: int32(c.Partitions),
			Keep:       s.keep.from, // set once the relays run
			Logger:     log,
		}))
		if err != nil {
			return nil, nil, err
		}
		brokers = []string{s.emb.Addr()}
		log.Info("Kafka: using the EMBEDDED broker (franz-go kfake); give --kafka-brokers to use a cluster",
			"addr", s.emb.Addr(), "data", filepath.Join(c.Data, "kafka"))
	} else {
		log.Info("Kafka: using the cluster at --kafka-brokers", "brokers", brokers)
	}
	kafkaTLS, kafkaSASL, err := kafkaConfig(&c.Kafka, m.Getenv)
	if err != nil {
		return nil, nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	s.pub, err = publisher.New(startCtx, publisher.Config{
		TLS:          kafkaTLS,
		SASL:         kafkaSASL,
		Brokers:      brokers,
		TopicPrefix:  c.TopicPrefix,
		Partitions:   int32(c.Partitions),
		CreateTopics: true,
		// No lingering here: the relays hand over one batch at a time
		// and linger themselves (--relay-linger), so a batch is complete
		// when published and a second wait would only add latency.
		Linger: -1,
		Logger: log,
		// The embedded broker asks every client for every KIP-714
		// metric and keeps none of it: not collecting them saves the
		// allocations (publisher, relays and statistics consumer alike).
		DisableClientMetrics: s.emb != nil,
	})
	cancel()
	if err != nil {
		return nil, nil, c.Kafka.Explain(err, brokers)
	}
	kopts, err = kafkaOpts(brokers, kafkaTLS, kafkaSASL)
	if s.emb != nil {
		kopts = append(kopts, kgo.DisableClientMetrics())
	}
	return brokers, kopts, err
}

// relayPublisher is what the relay of tenant hands its events to: with
// the embedded broker the shared publisher (the broker dies with the
// process, so no produce request of a dead process can land after a
// restart); with --kafka-brokers a transactional publisher of the
// tenant's own, its transactional id initialised before the relay reads
// the partition tails, which fences whatever an earlier process of the same
// server id and tenant still had on its way (see package relay).
func (s *serving) relayPublisher(ctx context.Context, c Config, server, tenant string) (*publisher.Publisher, error) {
	if s.emb != nil {
		return s.pub, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return s.pub.Transactional(ctx, publisher.TransactionalID(c.TopicPrefix, server, tenant))
}

// loadTenants reads the configuration file, or builds the demo tenant
// (demo true) with the tokens of the environment or random ones.
func loadTenants(c Config, getenv func(string) string) (file *config.File, demo bool, err error) {
	if c.ConfigFile != "" {
		if file, err = config.Load(c.ConfigFile); err != nil {
			return nil, false, err
		}
		return file, false, carrierPasswords(file, getenv) // sip.go
	}
	token := getenv(EnvDemoToken)
	if token == "" {
		token = randomToken()
	}
	sipPassword := getenv(EnvDemoSIPPassword)
	if sipPassword == "" {
		sipPassword = randomToken()
	}
	file = config.Demo(token, sipPassword)
	if err := file.Validate(); err != nil {
		return nil, true, fmt.Errorf("app: demo tenant: %w", err)
	}
	return file, true, nil
}

// printDemoBanner prints the demo tenant's token and first commands to try.
func printDemoBanner(w io.Writer, tok, addr, broker string) {
	fmt.Fprintf(w, "switchboard: demo tenant %q, API token %s\n", config.DemoTenant, tok)
	fmt.Fprintf(w, "  try: curl -H 'Authorization: Bearer %s' -d '{\"agentId\":\"agent1\",\"queues\":[\"7000\"]}' http://%s/v1/tenants/%s/dns/1001/login\n",
		tok, addr, config.DemoTenant)
	fmt.Fprintf(w, "  call: curl -H 'Authorization: Bearer %s' -d '{\"from\":\"1001\",\"to\":\"1002\"}' http://%s/v1/tenants/%s/calls\n",
		tok, addr, config.DemoTenant)
	fmt.Fprintf(w, "  then: switchboard tail --kafka-brokers %s\n", broker)
}

func randomToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
