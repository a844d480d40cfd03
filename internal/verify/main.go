package verify

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkasec"
)

// DefaultBrokers is the embedded broker's default address.
const DefaultBrokers = "127.0.0.1:9092"

// Config is what `switchboard verify` does.
type Config struct {
	Brokers     []string
	TopicPrefix string
	Tenant      string // only this tenant's records ("" all)
	Closed      bool   // every call must have ended
	JSON        bool   // print the report as JSON
	ExpectFile  string // sim's summary
	// File, if set, reads event JSON lines (sim --in-process --events-out,
	// tail --json) instead of Kafka: topic, key and headers are then those
	// the events imply and partitions are not checked.
	File           string
	ConnectTimeout time.Duration
	// Uncommitted reads with isolation.level=read_uncommitted (default
	// read_committed: aborted transactions are not part of the stream).
	Uncommitted bool
	// MidStream takes every key up where its records begin, as on a topic
	// whose log no longer starts at offset 0 (which is detected without
	// it): for topics that start mid-stream at offset 0, copied from a
	// broker whose retention had deleted records, or a cluster a running
	// switchboard moved to.
	MidStream bool
	// KafkaOpts are added to every Kafka client's options: TLS and SASL
	// (the --kafka-tls* and --kafka-sasl-* flags, internal/kafkasec).
	KafkaOpts []kgo.Opt
}

const usageText = `usage: switchboard verify [flags]

Reads voice-agentstate and voice-callthread from the beginning to their end
offsets at start (no consumer group; read_committed unless
--read-uncommitted, so a fenced cluster node's aborted records are not
read) and checks every rule of EVENTS.md:
each event valid, topic, key, headers and partition (murmur2) of section 1,
Seq gapless per key, call flows well formed per call thread (parties,
every ringing ends, calls and threads end, Dialing before Ringing, consult
and PartyChanged ConnIDs), agent state machines, and with --expect the
counts a 'switchboard sim' run wrote. Calls still in progress at the end
are reported as open, not as faults, unless --closed. On a topic whose
log no longer starts at offset 0 (retention deleted records) a key whose
first record is gone is taken up where it is (no call-flow or login check
for what is not there); --mid-stream does so on every topic, for topics
copied from such a broker or a cluster a running switchboard moved to.
Exit status: 0 the stream is good, 1 problems found (or Kafka unreachable),
2 bad usage.

Flags:
`

// Main runs `switchboard verify` (args without the subcommand name) and
// returns the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stdout, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "run 'switchboard verify --help' for usage")
		return 2
	}
	rep, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cfg.JSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprint(stdout, rep.Text())
	}
	if !rep.OK {
		return 1
	}
	return 0
}

func parse(args []string, stdout io.Writer, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("switchboard verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := getenv("SWITCHBOARD_KAFKA_BROKERS")
	if def == "" {
		def = DefaultBrokers
	}
	brokers := fs.String("kafka-brokers", def, "comma-separated Kafka brokers (env SWITCHBOARD_KAFKA_BROKERS)")
	prefix := fs.String("topic-prefix", getenv("SWITCHBOARD_TOPIC_PREFIX"), "topic name prefix (env SWITCHBOARD_TOPIC_PREFIX)")
	tenant := fs.String("tenant", "", "check only this tenant's records")
	closed := fs.Bool("closed", false, "every call, thread and ringing must have ended")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	expect := fs.String("expect", "", "a summary written by 'switchboard sim --expect-out': the counts must match")
	file := fs.String("file", "", "read event JSON lines from this file ('-' stdin) instead of Kafka")
	timeout := fs.Duration("connect-timeout", 10*time.Second, "how long to wait for Kafka")
	uncommitted := fs.Bool("read-uncommitted", false, "read with isolation.level=read_uncommitted (records of open and aborted transactions too)")
	midStream := fs.Bool("mid-stream", false, "the topics may start mid-stream (copied from a broker whose retention deleted records, or switchboard moved to this cluster): take each key up where its records begin")
	var sec kafkasec.Flags
	secErr := sec.Register(fs, getenv)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	cfg := Config{TopicPrefix: *prefix, Tenant: *tenant, Closed: *closed, JSON: *jsonOut,
		ExpectFile: *expect, File: *file, ConnectTimeout: *timeout, Uncommitted: *uncommitted, MidStream: *midStream}
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	if len(cfg.Brokers) == 0 && cfg.File == "" {
		return Config{}, fmt.Errorf("%w: --kafka-brokers is empty", ErrUsage)
	}
	if secErr != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrUsage, secErr)
	}
	if cfg.File == "" {
		kopts, err := sec.Options(cfg.Brokers, getenv)
		if err != nil {
			return Config{}, fmt.Errorf("%w: %w", ErrUsage, err)
		}
		cfg.KafkaOpts = kopts
	}
	return cfg, nil
}

// Run reads the stream cfg names and checks it. The error is for failures
// to read (Kafka unreachable, a bad file); problems in the stream are in the
// report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	opts := Options{TopicPrefix: cfg.TopicPrefix, Tenant: cfg.Tenant, Closed: cfg.Closed}
	topics := []string{cfg.TopicPrefix + event.AgentStateTopic, cfg.TopicPrefix + event.CallThreadTopic}
	midStream := func(truncated map[string]bool) map[string]bool {
		if cfg.MidStream {
			truncated = map[string]bool{}
			for _, t := range topics {
				truncated[t] = true
			}
		}
		return truncated
	}
	if cfg.ExpectFile != "" {
		e, err := ReadExpect(cfg.ExpectFile)
		if err != nil {
			return nil, err
		}
		opts.Expect = e
	}
	if cfg.File != "" {
		var r io.Reader = os.Stdin
		if cfg.File != "-" {
			f, err := os.Open(cfg.File)
			if err != nil {
				return nil, fmt.Errorf("verify: %w", err)
			}
			defer f.Close()
			r = f
		}
		opts.Truncated = midStream(nil)
		return CheckLines(r, opts)
	}
	var c *Checker
	snap, err := readTopics(ctx, cfg.Brokers, cfg.KafkaOpts, topics, "switchboard-verify", cfg.ConnectTimeout, !cfg.Uncommitted, func(s Snapshot) {
		opts.Partitions = s.Partitions
		opts.Truncated = midStream(s.Truncated)
		c = NewChecker(opts)
	}, func(r Record) { c.Add(r) })
	if err != nil {
		return nil, err
	}
	rep := c.Finish()
	for _, t := range snap.Missing {
		rep.Open = append(rep.Open, "topic "+t+" does not exist")
	}
	return rep, nil
}

// CheckLines checks event JSON lines, one event per line, as if each had
// been published to the topic, key and headers it implies (so only the
// value, Seq, flow and agent rules can fail).
func CheckLines(r io.Reader, opts Options) (*Report, error) {
	c := NewChecker(opts)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	var off int64
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		c.Add(RecordOf(line, opts.TopicPrefix, off))
		off++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("verify: reading lines: %w", err)
	}
	return c.Finish(), nil
}

// RecordOf wraps one event value as the record switchboard would publish:
// topic, key and headers from the event (partition 0; undecodable values
// get an empty topic and key).
func RecordOf(value []byte, prefix string, offset int64) Record {
	v := append([]byte(nil), value...)
	rec := Record{Offset: offset, Value: v}
	var ev event.Event
	if event.Unmarshal(v, &ev) == nil && ev.ID != 0 {
		rec.Topic = prefix + ev.Topic()
		rec.Key = []byte(ev.Key())
		for _, h := range ev.Headers() {
			rec.Headers = append(rec.Headers, Header{h.Key, h.Value})
		}
	}
	return rec
}
