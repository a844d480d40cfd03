package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/switchboard-cc/switchboard/internal/relay"
	"github.com/switchboard-cc/switchboard/internal/tenant"
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
func (m Main) Run(ctx context.Context) (err error) {
	c := m.Config
	if err := c.Validate(); err != nil {
		return err
	}
	stdout, stderr := m.Stdout, m.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	getenv := m.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	log := m.Logger
	if log == nil {
		level, _ := parseLevel(c.LogLevel)
		opts := &slog.HandlerOptions{Level: level}
		if c.LogFormat == "json" {
			log = slog.New(slog.NewJSONHandler(stderr, opts))
		} else {
			log = slog.New(slog.NewTextHandler(stderr, opts))
		}
	}
	// Lines logged with an API request's context carry its request_id.
	log = slog.New(ctiapi.ContextLogHandler(log.Handler()))
	ops := newOps(log)

	// Tenants.
	var file *config.File
	demo := c.ConfigFile == ""
	if demo {
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
			return fmt.Errorf("app: demo tenant: %w", err)
		}
	} else {
		if file, err = config.Load(c.ConfigFile); err != nil {
			return err
		}
	}
	server := c.ServerID
	if server == "" {
		server = file.Server
	}
	if server == "" {
		server = DefaultServerID
	}

	if c.Cluster.Name != "" {
		return m.runCluster(ctx, c, file, server, getenv, ops, stdout, log)
	}

	if err := os.MkdirAll(c.Data, 0o755); err != nil {
		return fmt.Errorf("app: data directory: %w", err)
	}

	// Kafka: the cluster given, or the embedded broker.
	brokers := c.KafkaBrokers
	var emb *broker.Broker
	embClosed := false
	if len(brokers) == 0 {
		emb, err = broker.Start(ctx, broker.Config{
			Dir:        filepath.Join(c.Data, "kafka"),
			Listen:     c.KafkaListen,
			Topics:     []string{c.TopicPrefix + event.AgentStateTopic, c.TopicPrefix + event.CallThreadTopic},
			Partitions: int32(c.Partitions),
			Logger:     log,
		})
		if err != nil {
			return err
		}
		defer func() {
			// Closed here on start-up errors; a normal shutdown closed it already.
			if !embClosed {
				newStopper(log, time.Now().Add(shutdownMargin)).do("embedded broker close", func() { emb.Close() })
			}
		}()
		brokers = []string{emb.Addr()}
		log.Info("Kafka: using the EMBEDDED broker (franz-go kfake); give --kafka-brokers to use a cluster",
			"addr", emb.Addr(), "data", filepath.Join(c.Data, "kafka"))
	} else {
		log.Info("Kafka: using the cluster at --kafka-brokers", "brokers", brokers)
	}
	kafkaTLS, kafkaSASL, err := c.Kafka.publisherConfig(getenv)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	pub, err := publisher.New(startCtx, publisher.Config{
		TLS:          kafkaTLS,
		SASL:         kafkaSASL,
		Brokers:      brokers,
		TopicPrefix:  c.TopicPrefix,
		Partitions:   int32(c.Partitions),
		CreateTopics: true,
		// No lingering: a reply waits for Kafka's acknowledgement, so a
		// linger would add itself to every request's latency; the runtime
		// already batches the steps that arrive while a batch is in flight.
		Linger: -1,
		Logger: log,
	})
	cancel()
	if err != nil {
		return c.Kafka.explain(err, brokers)
	}
	defer func() {
		// Closed here on start-up errors; a normal shutdown closed it already
		// (Close is idempotent).
		newStopper(log, time.Now().Add(shutdownMargin)).do("publisher close", pub.Close)
	}()

	// One engine, journal, runtime and relay per tenant.
	kopts, err := kafkaOpts(brokers, kafkaTLS, kafkaSASL)
	if err != nil {
		return err
	}
	tenants := map[string]ctiapi.Tenant{}
	tokens := map[string][]string{}
	var rts []*tenant.Tenant
	var durs []*durableTenant
	defer func() {
		// Reached on start-up errors; a normal shutdown closed them already.
		if len(durs) == 0 {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		shutdown(ctx, newStopper(log, time.Now().Add(shutdownMargin)), durs, pub)
	}()
	for i := range file.Tenants {
		t := &file.Tenants[i]
		eng, err := engine.New(t, engine.Options{Server: server})
		if err != nil {
			return fmt.Errorf("app: tenant %q: %w", t.ID, err)
		}
		d, err := startDurable(c, t.ID, eng, ops.sink(pub), kopts, log.With("tenant", t.ID))
		if err != nil {
			return err
		}
		durs = append(durs, d)
		rt := d.rt
		rts = append(rts, rt)
		tenants[t.ID] = ctiapi.Tenant{Runtime: rt, Tokens: t.Tokens}
		tokens[t.ID] = t.Tokens
	}
	sipSrv, err := startSIP(c, file, rts, demo, ops.set, stdout, log)
	if err != nil {
		return err
	}
	sipClosed := false
	defer func() {
		// Closed here on start-up errors; a normal shutdown closed it already.
		if !sipClosed {
			newStopper(log, time.Now().Add(shutdownMargin)).do("SIP close", func() { sipSrv.Close() })
		}
	}()
	api, err := ctiapi.New(ctiapi.Config{Tenants: tenants, Logger: log.With("component", "ctiapi")})
	if err != nil {
		return err
	}
	handler, err := ops.handler(c, getenv, api, file, demo, rts, pub)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.HTTP)
	if err != nil {
		return fmt.Errorf("app: CTI API: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	ids := make([]string, 0, len(tenants))
	for id := range tenants {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	log.Info("switchboard serving", "http", addr, "kafka", brokers, "embedded_kafka", emb != nil,
		"tenants", ids, "server_id", server, "sip", sipSrv.Addr())
	if demo {
		tok := file.Tenants[0].Tokens[0]
		fmt.Fprintf(stdout, "switchboard: demo tenant %q, API token %s\n", config.DemoTenant, tok)
		fmt.Fprintf(stdout, "  try: curl -H 'Authorization: Bearer %s' -d '{\"agentId\":\"agent1\",\"queues\":[\"7000\"]}' http://%s/v1/tenants/%s/dns/1001/login\n",
			tok, addr, config.DemoTenant)
		fmt.Fprintf(stdout, "  call: curl -H 'Authorization: Bearer %s' -d '{\"from\":\"1001\",\"to\":\"1002\"}' http://%s/v1/tenants/%s/calls\n",
			tok, addr, config.DemoTenant)
		fmt.Fprintf(stdout, "  then: switchboard tail --kafka-brokers %s\n", brokers[0])
	}
	addrs := Addrs{HTTP: addr, Kafka: brokers, Embedded: emb != nil, Tokens: tokens, Durability: func() []relay.Stats {
		out := make([]relay.Stats, len(durs))
		for i, d := range durs {
			out[i] = d.rl.Stats()
		}
		return out
	}}
	ops.setRelayStats(addrs.Durability) // journal size and lag: /metrics, /readyz
	if c.Durability.ReadyFile != "" {
		if err := writeReadyFile(c.Durability.ReadyFile, addrs); err != nil {
			return err
		}
	}
	if m.OnReady != nil {
		m.OnReady(addrs)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		log.Error("CTI API server stopped", "err", serveErr)
	}

	// Graceful shutdown: every step is bounded, the whole by
	// ShutdownTimeout plus shutdownMargin for the steps that take no
	// deadline (closing clients, the broker); a step still running then is
	// abandoned and logged, so that Run always returns.
	log.Info("shutting down", "timeout", c.ShutdownTimeout)
	began := time.Now()
	sctx, scancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer scancel()
	st := newStopper(log, began.Add(c.ShutdownTimeout+shutdownMargin))
	st.do("CTI API shutdown", func() {
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("CTI API shutdown", "err", err)
			srv.Close() // the connections still open (deadline passed)
		}
	})
	// SIP after the CTI API, before the runtimes (see startSIP).
	st.do("SIP close", func() { sipSrv.Close() })
	sipClosed = true
	shutdown(sctx, st, durs, pub)
	durs = nil
	if emb != nil {
		st.do("embedded broker close", func() { emb.Close() })
		embClosed = true
	}
	ps := pub.Stats()
	if len(st.abandoned) > 0 {
		log.Error("stopped with closing steps abandoned", "abandoned", st.abandoned,
			"took", time.Since(began).Round(time.Millisecond))
	}
	log.Info("stopped", "events_produced", ps.Produced, "events_acked", ps.Acked, "events_failed", ps.Failed,
		"took", time.Since(began).Round(time.Millisecond))
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

func randomToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
