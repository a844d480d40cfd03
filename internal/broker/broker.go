package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Defaults of Config.
const (
	DefaultListen     = "127.0.0.1:9092"
	DefaultPartitions = 12
	DefaultRetention  = 7 * 24 * time.Hour
)

// SASL mechanisms accepted in SASLUser.Mechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Errors. Validate and Start wrap these with the offending field or cause.
var (
	ErrInvalidConfig = errors.New("broker: invalid config")
	ErrStart         = errors.New("broker: cannot start")
)

// SASLUser is one user the broker accepts when SASL is enabled.
type SASLUser struct {
	Mechanism string // "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"
	User      string
	Password  string
}

// Config configures the embedded broker. The zero value of every field but
// Dir is a usable default.
type Config struct {
	// Dir is the data directory: topics, records, producer state. It is
	// created if missing and reloaded on the next Start. Required.
	Dir string

	// Listen is the host:port to bind, default "127.0.0.1:9092". Port 0
	// binds a free port (see Broker.Addr).
	Listen string

	// Advertise is the host:port the broker names in metadata, which is
	// where clients connect after bootstrapping. Default: the address
	// actually bound. Required when Listen's host is unspecified
	// ("0.0.0.0", "::" or empty), as with Kafka's advertised.listeners.
	Advertise string

	// Topics are the full topic names (any prefix included) created at
	// start-up if missing. Topics are never auto-created.
	Topics []string

	// Partitions is the partition count of the topics created, default 12.
	// An existing topic keeps the partition count it has.
	Partitions int32

	// Retention is the retention.ms of the topics created: 0 means the
	// default of 7 days, a negative value keeps records forever.
	Retention time.Duration

	// SyncWrites fsyncs every produced batch before acknowledging it.
	// Without it the broker writes every batch to its files before the
	// acknowledgement (so a crash of this process loses nothing) but leaves
	// flushing to the operating system, as Kafka does by default.
	SyncWrites bool

	// TLS, if set, makes the listener TLS-only with this server
	// configuration (certificates, client authentication).
	TLS *tls.Config

	// SASL, if not empty, enables SASL authentication with these users.
	// They are the only users: users altered through the Kafka API do not
	// survive a restart.
	SASL []SASLUser

	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger
}

// Validate reports the first invalid field of c, naming it.
func (c *Config) Validate() error {
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	if c.Dir == "" {
		return bad("Dir", "required")
	}
	if c.Listen != "" {
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return bad("Listen", "%q is not host:port: %v", c.Listen, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return bad("Listen", "%q: bad port", c.Listen)
		}
		if unspecified(host) && c.Advertise == "" {
			return bad("Advertise", "required when Listen %q binds all interfaces", c.Listen)
		}
	}
	if c.Advertise != "" {
		host, port, err := net.SplitHostPort(c.Advertise)
		if err != nil {
			return bad("Advertise", "%q is not host:port: %v", c.Advertise, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return bad("Advertise", "%q: bad port", c.Advertise)
		}
		if unspecified(host) {
			return bad("Advertise", "%q: a client cannot connect to an unspecified host", c.Advertise)
		}
	}
	for i, t := range c.Topics {
		if err := validTopic(t); err != nil {
			return bad(fmt.Sprintf("Topics[%d]", i), "%v", err)
		}
	}
	if c.Partitions < 0 {
		return bad("Partitions", "%d is negative", c.Partitions)
	}
	for i, u := range c.SASL {
		switch u.Mechanism {
		case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		default:
			return bad(fmt.Sprintf("SASL[%d].Mechanism", i), "%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", u.Mechanism)
		}
		if u.User == "" {
			return bad(fmt.Sprintf("SASL[%d].User", i), "required")
		}
		if u.Password == "" {
			return bad(fmt.Sprintf("SASL[%d].Password", i), "required")
		}
	}
	return nil
}

func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// validTopic applies Kafka's topic name rules.
func validTopic(t string) error {
	switch {
	case t == "":
		return errors.New("empty topic name")
	case t == "." || t == "..":
		return fmt.Errorf("topic name %q is not allowed", t)
	case len(t) > 249:
		return fmt.Errorf("topic name %q is longer than 249 characters", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic name %q has a character other than [a-zA-Z0-9._-]", t)
		}
	}
	return nil
}

// neverMs is kfake's own retention interval: about a century.
const neverMs = 100 * 365 * 24 * 3600 * 1000

// retentionCheckEvery is how often the broker deletes records older than
// the retention, as Kafka's log.retention.check.interval.ms (5 minutes).
var retentionCheckEvery = 5 * time.Minute

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	admin   *kgo.Client // in process, for retention
	addr    string
	log     *slog.Logger
	once    sync.Once
	stop    chan struct{}
	stopped chan struct{}
}

// Start validates cfg, binds the listener, loads any state under cfg.Dir,
// creates the missing topics and returns the running broker. ctx bounds the
// start-up only; stop the broker with Close.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "broker")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}

	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: data directory: %w", ErrStart, err)
	}
	// The configured SASL users are the only users: kfake would otherwise
	// let the users it saved last time replace them.
	if err := os.Remove(filepath.Join(cfg.Dir, "sasl.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen on %s: %w", ErrStart, cfg.Listen, err)
	}
	adv := cfg.Advertise
	if adv == "" {
		adv = ln.Addr().String()
	}
	mux := newMuxListener(ln, cfg.TLS, adv)
	var handed bool
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("switchboard"),
		kfake.DataDir(cfg.Dir),
		kfake.WithLogger(kfakeLogger{log}),
		kfake.ListenFn(func(string, string) (net.Listener, error) {
			if handed {
				return nil, fmt.Errorf("%w: only one listener", ErrStart)
			}
			handed = true
			return mux, nil
		}),
		// We run retention ourselves (see retain); kfake's own pass can
		// empty a partition, whose offsets a restart then forgets.
		kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": strconv.FormatInt(neverMs, 10)}),
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	// TLS is done by mux, so that the broker's own client can connect
	// in process without it.
	if len(cfg.SASL) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.SASL {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.User, u.Password))
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		mux.Close()
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	b := &Broker{cluster: c, addr: adv, log: log, stop: make(chan struct{}), stopped: make(chan struct{})}
	aopts := []kgo.Opt{
		kgo.SeedBrokers(adv),
		kgo.ClientID("switchboard-broker-retention"),
		kgo.Dialer(func(context.Context, string, string) (net.Conn, error) { return mux.dialInternal() }),
	}
	if len(cfg.SASL) > 0 {
		aopts = append(aopts, kgo.SASL(saslMechanism(cfg.SASL[0])))
	}
	if b.admin, err = kgo.NewClient(aopts...); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	go b.retain()

	retention := strconv.FormatInt(cfg.Retention.Milliseconds(), 10)
	if cfg.Retention < 0 {
		retention = "-1"
	}
	for _, t := range cfg.Topics {
		if info := c.TopicInfo(t); info != nil {
			parts := len(c.PartitionInfos(t))
			if int32(parts) != cfg.Partitions {
				log.Warn("existing topic keeps its partition count", "topic", t, "partitions", parts, "configured", cfg.Partitions)
			}
			if v := info.Configs["retention.ms"]; v == nil || *v != retention {
				log.Warn("existing topic keeps its retention", "topic", t, "configured_retention_ms", retention)
			}
			continue
		}
		if err := c.CreateTopic(t, cfg.Partitions, map[string]string{"retention.ms": retention}); err != nil {
			b.Close()
			return nil, fmt.Errorf("%w: create topic %s: %w", ErrStart, t, err)
		}
		log.Info("created topic", "topic", t, "partitions", cfg.Partitions, "retention_ms", retention)
	}

	log.Info("embedded Kafka broker (franz-go kfake) started",
		"listen", ln.Addr().String(), "advertised", adv, "data", cfg.Dir,
		"topics", cfg.Topics, "tls", cfg.TLS != nil, "sasl", len(cfg.SASL) > 0, "sync_writes", cfg.SyncWrites)
	return b, nil
}

// Addr returns the host:port clients use: the advertised address, which is
// the bound address unless Config.Advertise says otherwise.
func (b *Broker) Addr() string { return b.addr }

// Cluster returns the underlying kfake cluster, for fault injection and
// inspection in tests.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Close stops the listener, writes the broker's state to its data directory
// and releases it. It is safe to call more than once.
func (b *Broker) Close() error {
	b.once.Do(func() {
		close(b.stop)
		<-b.stopped
		b.admin.Close()
		b.cluster.Close()
		b.log.Info("embedded Kafka broker stopped", "addr", b.addr)
	})
	return nil
}

// retain applies the topics' retention every retentionCheckEvery.
func (b *Broker) retain() {
	defer close(b.stopped)
	t := time.NewTicker(retentionCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), retentionCheckEvery)
			go func() {
				select {
				case <-b.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			if err := b.applyRetention(ctx); err != nil {
				b.log.Warn("retention pass failed", "err", err)
			}
			cancel()
		}
	}
}

// applyRetention deletes, in every topic, the records older than the
// topic's retention.ms, but never a partition's last record: like Kafka,
// which never deletes the active segment, and because kfake forgets the
// offsets of a partition emptied by retention when it restarts.
func (b *Broker) applyRetention(ctx context.Context) error {
	adm := kadm.NewClient(b.admin)
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	for _, t := range tds.Names() {
		ms := DefaultRetention.Milliseconds()
		if info := b.cluster.TopicInfo(t); info != nil {
			if v := info.Configs["retention.ms"]; v != nil {
				if ms, err = strconv.ParseInt(*v, 10, 64); err != nil {
					continue
				}
			}
		}
		if ms < 0 {
			continue
		}
		offs, err := adm.ListOffsetsAfterMilli(ctx, now-ms, t)
		if err != nil {
			return err
		}
		var deleted int64
		offs.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				return
			}
			pi := b.cluster.PartitionInfo(t, o.Partition)
			if pi == nil {
				return
			}
			cut := min(o.Offset, pi.HighWatermark-1)
			if cut > pi.LogStartOffset && b.cluster.DeleteRecords(t, o.Partition, cut) == nil {
				deleted += cut - pi.LogStartOffset
			}
		})
		if deleted > 0 {
			b.log.Info("retention deleted records", "topic", t, "records", deleted, "retention_ms", ms)
		}
	}
	return nil
}

func saslMechanism(u SASLUser) sasl.Mechanism {
	switch u.Mechanism {
	case MechanismPlain:
		return plain.Auth{User: u.User, Pass: u.Password}.AsMechanism()
	case MechanismScramSHA256:
		return scram.Auth{User: u.User, Pass: u.Password}.AsSha256Mechanism()
	default:
		return scram.Auth{User: u.User, Pass: u.Password}.AsSha512Mechanism()
	}
}

// kfakeLogger adapts slog to kfake's logger. kfake logs every request at its
// Info level, which is debug detail for us.
type kfakeLogger struct{ l *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var sl slog.Level
	switch level {
	case kfake.LogLevelError:
		sl = slog.LevelError
	case kfake.LogLevelWarn:
		sl = slog.LevelWarn
	default:
		sl = slog.LevelDebug
	}
	ctx := context.Background()
	if !k.l.Enabled(ctx, sl) {
		return
	}
	k.l.Log(ctx, sl, fmt.Sprintf(format, args...))
}
