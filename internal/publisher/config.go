package publisher

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Defaults of Config.
const (
	DefaultPartitions         = 12
	DefaultClientID           = "switchboard"
	DefaultLinger             = 5 * time.Millisecond
	DefaultMaxBufferedRecords = 20_000
	DefaultCompression        = "snappy"
	// DefaultTransactionTimeout: a transaction of one relay batch takes
	// milliseconds; one open this long has met a Kafka outage (see
	// Transactional for what happens then). Apache Kafka's default
	// transaction.max.timeout.ms is 15 minutes.
	DefaultTransactionTimeout = time.Minute
)

// SASL mechanisms of SASLConfig.Mechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// TLSConfig is the client side of TLS to the brokers.
type TLSConfig struct {
	Enabled            bool   // connect with TLS; the other fields require it
	CAFile             string // PEM roots to verify the brokers with; default: the system roots
	CertFile, KeyFile  string // PEM client certificate and key, both or neither
	InsecureSkipVerify bool   // do not verify the brokers' certificates (testing only)
	ServerName         string // name to verify; default: the host dialled
}

// SASLConfig is SASL authentication to the brokers.
type SASLConfig struct {
	Mechanism      string // "" (none), "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"
	User, Password string // required with a mechanism
}

// Config configures a Publisher. The zero value of every field but Brokers
// is a usable default.
type Config struct {
	// Brokers are the bootstrap brokers, host:port each. Required.
	Brokers []string

	// TopicPrefix is put before voice-agentstate and voice-callthread
	// ("prod." gives prod.voice-agentstate). Default none.
	TopicPrefix string

	// Partitions is the partition count of topics the publisher creates,
	// default 12. Existing topics keep theirs (a warning is logged when it
	// differs).
	Partitions int32

	// ReplicationFactor of topics the publisher creates; -1 or 0 means the
	// broker's default.
	ReplicationFactor int16

	// CreateTopics creates missing topics at New. Without it New fails when
	// a topic is missing.
	CreateTopics bool

	TLS  TLSConfig
	SASL SASLConfig

	// ClientID is the Kafka client id, default "switchboard".
	ClientID string

	// DisableClientMetrics stops the client from collecting and pushing
	// its KIP-714 client metrics to the brokers. serve sets it with the
	// embedded broker, which asks every client for every metric and
	// keeps none of it (about 13 MB allocated in a 5 s SIP load run); a
	// Kafka cluster asks only when its operators subscribed.
	DisableClientMetrics bool

	// Logger receives the publisher's and the Kafka client's logs; nil
	// discards them.
	Logger *slog.Logger

	// TransactionTimeout is the transaction.timeout.ms of the
	// transactional publishers made with Transactional: how long Kafka
	// lets one of their transactions stay open before aborting it.
	// Default DefaultTransactionTimeout.
	TransactionTimeout time.Duration

	// Linger is how long the publisher, idle when a batch is published,
	// waits for more batches before handing them to the client and
	// flushing it (batches published during a flush wait for the next
	// one): 0 means the default of 5ms, a negative value no lingering.
	// (Measured when it was the client's per-partition linger: none, 1ms
	// and 5ms alike within the noise of a shared 2-core machine; 20ms
	// slower. Not measured again since.)
	Linger time.Duration

	// Compression of record batches: "snappy" (the default), "none",
	// "lz4" or "zstd". Every consumer must be able to decode it (kcat,
	// the Java client and confluent-kafka all do). Snappy was measured
	// best here: about 4.5 times fewer bytes on disk and on the wire than
	// none, and less CPU per event on a 2-core machine with the broker in
	// process (BenchmarkPublishEmbedded).
	Compression string

	// MaxBufferedRecords bounds the records published and not yet
	// acknowledged; Publish blocks while the bound is reached, then
	// accepts its whole batch. Default
	// 20,000, tens of milliseconds of traffic at 300,000 events/s: on a
	// busy machine it used about 10% less CPU per event than 50,000 or
	// 200,000 (smaller working set); on a quiet one they measured alike.
	MaxBufferedRecords int

	// Dial, if set, opens the client's connections to the brokers
	// (kgo.Dialer) in place of a plain TCP (or the TLS) dial: for tests
	// that hold requests back on their way. Not with TLS.
	Dial func(ctx context.Context, network, host string) (net.Conn, error)
}

// Errors. Config and start-up errors wrap these with the field or cause.
var (
	ErrInvalidConfig = errors.New("publisher: invalid config")
	ErrTopics        = errors.New("publisher: topics unavailable")
	ErrConnect       = errors.New("publisher: cannot connect")
	ErrClosed        = errors.New("publisher: closed")
	ErrUnknownEvent  = errors.New("publisher: event has no topic")
	// ErrFenced: another producer initialised the transactional id of a
	// transactional publisher (another serve process with the same server
	// id and tenant); this one publishes nothing more.
	ErrFenced = errors.New("publisher: fenced: another producer initialised the transactional id (another serve with the same server id and tenant?); this one publishes nothing more")
)

// Validate reports the first invalid field of c, naming it.
func (c *Config) Validate() error {
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	if len(c.Brokers) == 0 {
		return bad("Brokers", "at least one broker is required")
	}
	for i, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			return bad(fmt.Sprintf("Brokers[%d]", i), "%q is not host:port", b)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return bad(fmt.Sprintf("Brokers[%d]", i), "%q: bad port", b)
		}
	}
	for _, r := range c.TopicPrefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return bad("TopicPrefix", "%q has a character other than [a-zA-Z0-9._-]", c.TopicPrefix)
		}
	}
	if len(c.TopicPrefix)+len("voice-agentstate") > 249 {
		return bad("TopicPrefix", "too long for a Kafka topic name")
	}
	if c.Partitions < 0 {
		return bad("Partitions", "%d is negative", c.Partitions)
	}
	if c.ReplicationFactor < -1 {
		return bad("ReplicationFactor", "%d: use -1 for the broker default", c.ReplicationFactor)
	}
	t := c.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify || t.ServerName != "") {
		return bad("TLS.Enabled", "TLS options are set but TLS is not enabled")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		if t.CertFile == "" {
			return bad("TLS.CertFile", "required with TLS.KeyFile")
		}
		return bad("TLS.KeyFile", "required with TLS.CertFile")
	}
	s := c.SASL
	switch s.Mechanism {
	case "":
		if s.User != "" || s.Password != "" {
			return bad("SASL.Mechanism", "a user or password is set but no mechanism")
		}
	case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		if s.User == "" {
			return bad("SASL.User", "required with mechanism %s", s.Mechanism)
		}
		if s.Password == "" {
			return bad("SASL.Password", "required with mechanism %s", s.Mechanism)
		}
	default:
		return bad("SASL.Mechanism", "%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
	if c.Linger > time.Minute {
		return bad("Linger", "%v is more than a minute", c.Linger)
	}
	switch c.Compression {
	case "", "none", "snappy", "lz4", "zstd":
	default:
		return bad("Compression", "%q is not none, snappy, lz4 or zstd", c.Compression)
	}
	if c.MaxBufferedRecords < 0 {
		return bad("MaxBufferedRecords", "%d is negative", c.MaxBufferedRecords)
	}
	return nil
}

// tlsConfig builds the client TLS configuration, reading the files.
func (t TLSConfig) tlsConfig() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice
		ServerName:         t.ServerName,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS.CAFile: %w", ErrInvalidConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: TLS.CAFile: %s has no PEM certificate", ErrInvalidConfig, t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS.CertFile/KeyFile: %w", ErrInvalidConfig, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func (s SASLConfig) mechanism() sasl.Mechanism {
	switch s.Mechanism {
	case MechanismPlain:
		return plain.Auth{User: s.User, Pass: s.Password}.AsMechanism()
	case MechanismScramSHA256:
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism()
	case MechanismScramSHA512:
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism()
	}
	return nil
}

func (c *Config) codec() kgo.CompressionCodec {
	switch c.Compression {
	case "", DefaultCompression:
		return kgo.SnappyCompression()
	case "none":
		return kgo.NoCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	panic("publisher: compression " + c.Compression + " passed Validate")
}
