package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/kafkasec"
	"github.com/switchboard-cc/switchboard/internal/relay"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
)

// Config is the configuration of `switchboard serve`. Every field has a
// flag and an environment variable SWITCHBOARD_<FLAG NAME> (upper case, "-"
// as "_"); a flag overrides the environment, which overrides the default.
type Config struct {
	// Data is the data directory (--data, default "./switchboard-data"):
	// the embedded broker keeps its log under Data/kafka, each tenant's
	// journal is Data/journal/<tenant> and its publishing checkpoint
	// Data/journal/<tenant>.relay.json.
	Data string
	// HTTP is the CTI API's listen address (--http, default
	// "127.0.0.1:8080"); port 0 picks a free port (see Addrs).
	HTTP string
	// SIP is the SIP front end's UDP listen address (--sip, default
	// "127.0.0.1:5060"): the registrar and back-to-back user agent of
	// internal/sipfront; port 0 picks a free port.
	SIP string
	// SIPFeatureCodes are the numbers phones dial to set DND and
	// forwarding (--sip-feature-codes, name=code pairs over the defaults
	// dnd-on=*78, dnd-off=*79, forward=*72, forward-off=*73; see
	// sipfront.ParseFeatureCodes).
	SIPFeatureCodes string
	// SIPTLS is SIP over TLS (siptls.go): --sip-tls ADDR with
	// --sip-tls-cert and --sip-tls-key, reloaded on SIGHUP.
	SIPTLS SIPTLS
	// SIPMaxConns bounds the SIP TCP and TLS connections open at once
	// (--sip-max-conns; 0: 10,000).
	SIPMaxConns int
	// SIPDigest are the digest algorithms of SIP challenges
	// (--sip-digest, comma separated; default "MD5,SHA-256"; see
	// sipfront.ParseDigestAlgorithms).
	SIPDigest string
	// SIPReadBuffer is sipgo's read buffer of each SIP connection
	// (--sip-read-buffer; 0: 32 KiB; see sipfront.SetReadBuffer): what a
	// TCP or TLS phone's connection costs, and the largest message over
	// WebSocket.
	SIPReadBuffer int64
	// KafkaBrokers are the bootstrap brokers of a Kafka cluster
	// (--kafka-brokers, comma separated). Empty (the default) starts the
	// embedded broker.
	KafkaBrokers []string
	// KafkaListen is the embedded broker's listen address (--kafka-listen,
	// default "127.0.0.1:9092"); port 0 picks a free port.
	KafkaListen string
	// TopicPrefix is put before the topic names (--topic-prefix, default
	// none): "prod." gives prod.voice-agentstate.
	TopicPrefix string
	// Partitions is the partition count of topics created at start-up
	// (--partitions, default 12).
	Partitions int
	// ConfigFile is the YAML configuration (--config). Empty runs the
	// built-in demo tenant.
	ConfigFile string
	// ServerID is this node's id, written as Server in every event
	// (--server-id). Default: the configuration file's `server`, else
	// "switchboard-1". Not the host name: the id should stay the same when
	// the node moves or its container is replaced.
	ServerID string
	// LogLevel is debug, info (default), warn or error (--log-level).
	LogLevel string
	// LogFormat is text (default) or json (--log-format).
	LogFormat string
	// ShutdownTimeout bounds the graceful shutdown: finishing HTTP
	// requests and waiting for Kafka's acknowledgements
	// (--shutdown-timeout, default 10s).
	ShutdownTimeout time.Duration
	// Kafka is TLS and SASL to --kafka-brokers (kafkasec.go).
	Kafka KafkaSecurity
	// Ops are the API rate limits (ops.go).
	Ops OpsConfig
	// Durability is the journal and its snapshots (durability.go).
	Durability DurabilityConfig
	// Stats runs the statistics consumer (internal/stats) in-process on
	// the topics this node publishes to, served beside the CTI API
	// (--stats, default true); its checkpoint is Data/stats.
	Stats bool
	// Embedded is the embedded broker's retention (embedded.go).
	Embedded EmbeddedKafkaConfig
	// Cluster is cluster mode (cluster.go).
	Cluster ClusterConfig
}

// Defaults of Config.
const (
	DefaultData        = "./switchboard-data"
	DefaultHTTP        = "127.0.0.1:8080"
	DefaultSIP         = "127.0.0.1:5060"
	DefaultKafkaListen = "127.0.0.1:9092"
	DefaultPartitions  = 12
	DefaultServerID    = "switchboard-1"
	DefaultShutdown    = 10 * time.Second
)

// EnvPrefix is the prefix of the environment variables of the flags.
const EnvPrefix = "SWITCHBOARD_"

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("app: invalid configuration")

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Data:            DefaultData,
		HTTP:            DefaultHTTP,
		SIP:             DefaultSIP,
		SIPDigest:       "MD5,SHA-256",
		KafkaListen:     DefaultKafkaListen,
		Partitions:      DefaultPartitions,
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: DefaultShutdown,
		Ops:             OpsConfig{APIRate: DefaultAPIRate, APIBurst: DefaultAPIBurst},
		Durability: DurabilityConfig{JournalMaxSize: DefaultJournalMaxSize, SnapshotEvery: DefaultSnapshotEvery,
			RelayLinger: relay.DefaultLinger, JournalMinSyncInterval: DefaultJournalMinSyncInterval},
		Stats:    true,
		Embedded: defaultEmbedded(),
	}
}

// Validate reports the first invalid field, by its flag name.
func (c *Config) Validate() error {
	bad := func(flag, format string, args ...any) error {
		return fmt.Errorf("%w: --%s: %s", ErrConfig, flag, fmt.Sprintf(format, args...))
	}
	if c.Data == "" {
		return bad("data", "required")
	}
	if err := hostPort(c.HTTP); err != nil {
		return bad("http", "%v", err)
	}
	if err := hostPort(c.SIP); err != nil {
		return bad("sip", "%v", err)
	}
	if _, err := sipfront.ParseFeatureCodes(c.SIPFeatureCodes); err != nil {
		return bad("sip-feature-codes", "%v", err)
	}
	if err := c.SIPTLS.validate(bad); err != nil {
		return err
	}
	if c.SIPMaxConns < 0 {
		return bad("sip-max-conns", "must not be negative")
	}
	if n := c.SIPReadBuffer; n != 0 && (n < 1024 || n > 65535) {
		return bad("sip-read-buffer", "%d bytes: want 1KiB to 65535", n)
	}
	if _, err := sipfront.ParseDigestAlgorithms(c.SIPDigest); err != nil {
		return bad("sip-digest", "%v", err)
	}
	for i, b := range c.KafkaBrokers {
		if err := hostPort(b); err != nil {
			return bad("kafka-brokers", "broker %d: %v", i+1, err)
		}
	}
	if len(c.KafkaBrokers) == 0 {
		if err := hostPort(c.KafkaListen); err != nil {
			return bad("kafka-listen", "%v", err)
		}
	}
	if c.Partitions < 1 || c.Partitions > 10000 {
		return bad("partitions", "%d is not between 1 and 10000", c.Partitions)
	}
	if strings.ContainsAny(c.TopicPrefix, " /\\:") {
		return bad("topic-prefix", "%q may hold only letters, digits, '.', '_' and '-'", c.TopicPrefix)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return bad("log-level", "%v", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return bad("log-format", "%q is not text or json", c.LogFormat)
	}
	if c.ShutdownTimeout <= 0 {
		return bad("shutdown-timeout", "%v is not positive", c.ShutdownTimeout)
	}
	if err := c.Kafka.Validate(c.KafkaBrokers, bad); err != nil {
		return err
	}
	if err := c.Durability.validate(bad); err != nil {
		return err
	}
	if err := c.Embedded.validate(bad); err != nil {
		return err
	}
	if err := c.Cluster.validate(c.KafkaBrokers, bad); err != nil {
		return err
	}
	return c.Ops.validate(bad)
}

func hostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: bad port", s)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
	}
	return l, nil
}

// ParseFlags parses the serve flags of args over the defaults and the
// environment (getenv, usually os.Getenv), and validates the result. With
// -h or --help it prints the usage to out and returns flag.ErrHelp.
func ParseFlags(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("switchboard serve", flag.ContinueOnError)
	fs.SetOutput(out)
	type binding struct {
		name string
		v    flag.Value
	}
	var flags []binding
	add := func(name string, v flag.Value, usage string) {
		env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		fs.Var(v, name, usage+" (env "+env+")")
		flags = append(flags, binding{name, v})
	}
	add("data", (*stringValue)(&c.Data), "data `DIR`: journals in DIR/journal, SIP bindings in DIR/sip, the embedded broker's log in DIR/kafka")
	add("http", (*stringValue)(&c.HTTP), "CTI API listen `ADDR`; port 0 picks a free port")
	add("sip", (*stringValue)(&c.SIP), "SIP (UDP and TCP) listen `ADDR` of the registrar and B2BUA; port 0 picks a free port")
	c.SIPTLS.addFlags(add)
	add("sip-max-conns", (*intValue)(&c.SIPMaxConns), "SIP TCP and TLS connections open at most (`COUNT`; 0: 10000)")
	add("sip-digest", (*stringValue)(&c.SIPDigest), "digest algorithms SIP challenges offer, in order: comma-separated `LIST` of MD5 and SHA-256 (MD5 alone for phones that give up on a SHA-256 challenge, such as baresip on libre 1.x)")
	add("sip-read-buffer", (*sizeValue)(&c.SIPReadBuffer), "read buffer of each SIP connection, `BYTES` (1KiB to 65535; 0: 32KiB): most of the memory a TCP or TLS phone costs, and the largest SIP message a WebSocket phone may send (TCP and TLS take any size; UDP reads whole datagrams)")
	add("sip-feature-codes", (*stringValue)(&c.SIPFeatureCodes), "`LIST` of name=code pairs phones dial for DND and forwarding: dnd-on (default *78), dnd-off (*79), forward (*72, followed by the number), forward-off (*73); an empty code turns one off")
	add("kafka-brokers", (*listValue)(&c.KafkaBrokers), "Kafka bootstrap brokers, comma-separated `LIST`; none: run the embedded broker")
	add("kafka-listen", (*stringValue)(&c.KafkaListen), "embedded broker listen `ADDR` (when no --kafka-brokers)")
	add("topic-prefix", (*stringValue)(&c.TopicPrefix), "topic name `PREFIX` (\"prod.\" gives prod.voice-agentstate)")
	add("partitions", (*intValue)(&c.Partitions), "partition `COUNT` of the topics created at start-up")
	add("config", (*stringValue)(&c.ConfigFile), "configuration `FILE` (YAML); none: the built-in demo tenant")
	add("server-id", (*stringValue)(&c.ServerID), "this node's `ID`, written as Server in every event (default: the config file's server, else \"switchboard-1\")")
	add("log-level", (*stringValue)(&c.LogLevel), "log `LEVEL`: debug, info, warn or error")
	add("log-format", (*stringValue)(&c.LogFormat), "log `FORMAT`: text or json")
	add("shutdown-timeout", (*durationValue)(&c.ShutdownTimeout), "how long a graceful shutdown may wait (`DURATION`)")
	add("stats", (*boolValue)(&c.Stats), "run the statistics consumer in-process: today's figures per queue and agent at /v1/tenants/{t}/stats (docs/STATS.md)")
	c.Kafka.AddFlags(add)
	c.Ops.addFlags(add)
	c.Durability.addFlags(add)
	c.Embedded.addFlags(add)
	c.Cluster.addFlags(add)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: switchboard serve [flags]\n\n"+
			"Runs switchboard: the CTI API on --http, the engines of the configured tenants\n"+
			"(or the demo tenant), and publishing to Kafka (the embedded broker unless\n"+
			"--kafka-brokers is given). Every flag can also be set by its environment\n"+
			"variable; a flag given on the command line wins.\n\n"+
			"Without --config the demo tenant \"demo\" runs; its API token is\n"+
			"$SWITCHBOARD_DEMO_TOKEN (random and printed at start when unset), its SIP\n"+
			"password $SWITCHBOARD_DEMO_SIP_PASSWORD (random when unset).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	for _, b := range flags {
		env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(b.name, "-", "_"))
		if v, ok := lookup(getenv, env); ok {
			if err := b.v.Set(v); err != nil {
				return c, fmt.Errorf("%w: %s: %v", ErrConfig, env, err)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", ErrConfig, fs.Arg(0))
	}
	return c, c.Validate()
}

func lookup(getenv func(string) string, name string) (string, bool) {
	if getenv == nil {
		return "", false
	}
	v := getenv(name)
	return v, v != ""
}

type stringValue string

func (s *stringValue) String() string     { return string(*s) }
func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }

type intValue int

func (i *intValue) String() string { return strconv.Itoa(int(*i)) }
func (i *intValue) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not an integer", v)
	}
	*i = intValue(n)
	return nil
}

type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Set(v string) error {
	t, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a duration (like 10s)", v)
	}
	*d = durationValue(t)
	return nil
}

type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Set(v string) error {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	*l = out
	return nil
}

// boolValue is the bool flag value of the Kafka TLS flags (kafkasec), so
// that serve's other bool flags parse alike.
type boolValue = kafkasec.BoolValue
