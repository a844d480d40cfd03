package tail

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkasec"
	"github.com/switchboard-cc/switchboard/internal/startoffset"
)

// Errors returned by Run (Main prints them and exits 1; usage errors exit 2).
var (
	// ErrUnreachable: no broker of the list answered within ConnectTimeout.
	ErrUnreachable = errors.New("tail: kafka unreachable")
	// ErrUsage: a flag or its value is wrong.
	ErrUsage = errors.New("tail: usage")
)

// DefaultBrokers is the embedded broker's default address.
const DefaultBrokers = "127.0.0.1:9092"

// Config is what `switchboard tail` does; Main fills it from flags and the
// environment.
type Config struct {
	Brokers     []string // seed brokers; default DefaultBrokers
	TopicPrefix string   // prepended to the topic names ("prod." gives prod.voice-agentstate)
	// Topics are the unprefixed topics to read: event.AgentStateTopic and/or
	// event.CallThreadTopic. Empty: both.
	Topics []string
	// FromBeginning reads each partition from its start; otherwise from now:
	// the first record stamped at or after Since (or the start time), which
	// also covers topics created after tail started.
	FromBeginning bool
	Since         time.Time // zero: when Run starts
	JSON          bool      // print the raw record values, one per line
	Color         bool      // ANSI colours in the text format

	// Filters: an event is printed when it passes every non-empty filter.
	Tenants []string     // CustomerID is one of these
	DNs     []string     // ThisDN, OtherDN or ThirdPartyDN is one of these
	Agents  []string     // AgentID is one of these
	Events  []event.Name // the event is one of these

	// Count stops after this many printed events (0: no limit).
	Count int
	// Exit stops at the end of the topics as they were when Run started.
	Exit bool
	// Uncommitted reads with isolation.level=read_uncommitted (default
	// read_committed: records of aborted transactions, a fenced cluster
	// node's, are not shown).
	Uncommitted bool
	// ConnectTimeout bounds the first contact with Kafka (default 10s).
	ConnectTimeout time.Duration
	// KafkaOpts are added to every Kafka client's options: TLS and SASL
	// (the --kafka-tls* and --kafka-sasl-* flags, internal/kafkasec).
	KafkaOpts []kgo.Opt
}

const usageText = `usage: switchboard tail [flags]

Prints the events switchboard publishes to Kafka (voice-agentstate and
voice-callthread), one line per event: time, topic, key, Seq, event name and
its main fields. Reads from now on unless --from-beginning; runs until
interrupted unless --count or --exit.

Flags:
`

// Main runs `switchboard tail` with the given arguments (without the
// subcommand name) and returns the process exit status: 0 done, 1 failed,
// 2 bad usage. --help prints the usage on stdout and returns 0.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stdout, stderr, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "run 'switchboard tail --help' for usage")
		return 2
	}
	if err := Run(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// parse reads the flags, with defaults from the environment (getenv).
func parse(args []string, stdout, stderr io.Writer, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("switchboard tail", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	brokers := fs.String("kafka-brokers", envOr(getenv, "SWITCHBOARD_KAFKA_BROKERS", DefaultBrokers),
		"comma-separated Kafka brokers (env SWITCHBOARD_KAFKA_BROKERS)")
	prefix := fs.String("topic-prefix", getenv("SWITCHBOARD_TOPIC_PREFIX"),
		"topic name prefix (env SWITCHBOARD_TOPIC_PREFIX)")
	topic := fs.String("topic", "both", "which topic: agentstate, callthread or both")
	fromBeginning := fs.Bool("from-beginning", false, "read from the start of the topics instead of from now")
	jsonOut := fs.Bool("json", false, "print the raw JSON record values, one per line")
	color := fs.String("color", "auto", "colour the text output: auto (when stdout is a terminal), always or never")
	tenant := fs.String("tenant", "", "only events of these tenants (comma list; CustomerID)")
	dn := fs.String("dn", "", "only events whose ThisDN, OtherDN or ThirdPartyDN is one of these (comma list)")
	agent := fs.String("agent", "", "only events of these agents (comma list; AgentID)")
	events := fs.String("event", "", "only these events (comma list, e.g. EventRinging,Established)")
	count := fs.Int("count", 0, "stop after printing N events")
	exit := fs.Bool("exit", false, "stop at the end of the topics as they were at start")
	uncommitted := fs.Bool("read-uncommitted", false, "read with isolation.level=read_uncommitted (records of open and aborted transactions too)")
	var sec kafkasec.Flags
	secErr := sec.Register(fs, getenv)
	usage := func(w io.Writer) {
		fmt.Fprint(w, usageText)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	cfg := Config{
		Brokers:       splitList(*brokers),
		TopicPrefix:   *prefix,
		FromBeginning: *fromBeginning,
		JSON:          *jsonOut,
		Tenants:       splitList(*tenant),
		DNs:           splitList(*dn),
		Agents:        splitList(*agent),
		Count:         *count,
		Exit:          *exit,
		Uncommitted:   *uncommitted,
	}
	if len(cfg.Brokers) == 0 {
		return Config{}, fmt.Errorf("%w: --kafka-brokers is empty", ErrUsage)
	}
	if secErr != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrUsage, secErr)
	}
	kopts, err := sec.Options(cfg.Brokers, getenv)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	cfg.KafkaOpts = kopts
	switch strings.TrimPrefix(*topic, "voice-") {
	case "both", "":
	case "agentstate":
		cfg.Topics = []string{event.AgentStateTopic}
	case "callthread":
		cfg.Topics = []string{event.CallThreadTopic}
	default:
		return Config{}, fmt.Errorf("%w: --topic %q: want agentstate, callthread or both", ErrUsage, *topic)
	}
	for _, s := range splitList(*events) {
		n, ok := parseEventName(s)
		if !ok {
			return Config{}, fmt.Errorf("%w: --event: unknown event %q", ErrUsage, s)
		}
		cfg.Events = append(cfg.Events, n)
	}
	if cfg.Count < 0 {
		return Config{}, fmt.Errorf("%w: --count %d is negative", ErrUsage, cfg.Count)
	}
	switch *color {
	case "auto":
		cfg.Color = isTerminal(stdout) && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
	case "always":
		cfg.Color = true
	case "never":
	default:
		return Config{}, fmt.Errorf("%w: --color %q: want auto, always or never", ErrUsage, *color)
	}
	return cfg, nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseEventName accepts "EventRinging", "Ringing" and any letter case.
func parseEventName(s string) (event.Name, bool) {
	for _, n := range event.Names() {
		full := n.String()
		if strings.EqualFold(s, full) || strings.EqualFold(s, strings.TrimPrefix(full, "Event")) {
			return n, true
		}
	}
	return 0, false
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Run consumes and prints until ctx ends (a normal end: nil), Count events
// were printed, or, with Exit, the end of the topics is reached. Problems
// with single records (undecodable values) are reported on stderr and
// skipped.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{DefaultBrokers}
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	unprefixed := cfg.Topics
	if len(unprefixed) == 0 {
		unprefixed = []string{event.AgentStateTopic, event.CallThreadTopic}
	}
	topics := make([]string, len(unprefixed))
	short := make(map[string]string, len(unprefixed))
	for i, t := range unprefixed {
		topics[i] = cfg.TopicPrefix + t
		short[topics[i]] = strings.TrimPrefix(t, "voice-")
	}
	since := cfg.Since
	if since.IsZero() {
		since = time.Now()
	}
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("switchboard-tail")}, cfg.KafkaOpts...)...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	defer admCl.Close()
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	err = admCl.Ping(pctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, strings.Join(cfg.Brokers, ","), err)
	}

	// Where to start. From the beginning, each topic is read whole. From
	// now, each existing partition starts at its first record stamped at or
	// after since, or at its end when it has none; the end is listed first,
	// so a record that arrives between the two listings is not skipped.
	// A topic created later is new, so it is read from its start. With Exit,
	// the ends listed here are where reading stops.
	var (
		whole     []string // topics consumed from their start
		pinned    map[string]map[int32]kgo.Offset
		remaining map[startoffset.Partition]int64 // with Exit: partition -> end offset
	)
	if cfg.FromBeginning && !cfg.Exit {
		whole = topics
	} else {
		pos, err := startoffset.List(ctx, kadm.NewClient(admCl), topics,
			startoffset.Options{Since: since, FromBeginning: cfg.FromBeginning, Committed: !cfg.Uncommitted})
		if err != nil {
			return fmt.Errorf("tail: %w", err)
		}
		pinned = map[string]map[int32]kgo.Offset{}
		remaining = map[startoffset.Partition]int64{}
		for _, t := range pos.Missing {
			if cfg.Exit {
				fmt.Fprintf(stderr, "tail: topic %s does not exist\n", t)
			} else {
				whole = append(whole, t)
			}
		}
		for tp, r := range pos.Ranges {
			if pinned[tp.Topic] == nil {
				pinned[tp.Topic] = map[int32]kgo.Offset{}
			}
			pinned[tp.Topic][tp.Partition] = kgo.NewOffset().At(r.Start)
			if r.End > r.Start {
				remaining[tp] = r.End
			}
		}
		if cfg.Exit {
			if len(remaining) == 0 {
				return nil
			}
		} else {
			remaining = nil
		}
	}
	opts := append([]kgo.Opt{}, cfg.KafkaOpts...)
	opts = append(opts,
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("switchboard-tail"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Transaction markers are kept so that --exit reaches an end
		// offset that follows a marker; they are not printed.
		kgo.KeepControlRecords(),
	)
	if !cfg.Uncommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if len(whole) > 0 {
		opts = append(opts, kgo.ConsumeTopics(whole...))
	}
	if len(pinned) > 0 {
		opts = append(opts, kgo.ConsumePartitions(pinned))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	defer cl.Close()

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	p := &printer{w: out, errw: stderr, color: cfg.Color, json: cfg.JSON, short: short, filter: newFilter(cfg)}
	if slices.Contains(unprefixed, event.CallThreadTopic) {
		p.keyW = callKeyWidth // call thread keys from the first line, so columns rarely move
	}
	printed := 0
	warned := map[string]bool{}
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, kgo.ErrClientClosed) {
				continue
			}
			msg := fmt.Sprintf("tail: %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
			if !warned[msg] {
				warned[msg] = true
				fmt.Fprintln(stderr, msg)
			}
		}
		done := false
		fetches.EachRecord(func(r *kgo.Record) {
			if done {
				return
			}
			if remaining != nil {
				tp := startoffset.Partition{Topic: r.Topic, Partition: r.Partition}
				end, ok := remaining[tp]
				if !ok || r.Offset >= end {
					return // beyond the end we were asked to stop at
				}
				if r.Offset >= end-1 {
					delete(remaining, tp)
				}
			}
			if r.Attrs.IsControl() {
				if remaining != nil && len(remaining) == 0 {
					done = true
				}
				return
			}
			if p.print(r) {
				printed++
				if cfg.Count > 0 && printed >= cfg.Count {
					done = true
				}
			}
			if remaining != nil && len(remaining) == 0 {
				done = true
			}
		})
		if err := out.Flush(); err != nil {
			return fmt.Errorf("tail: writing output: %w", err)
		}
		if done {
			return nil
		}
	}
}

// filter is the conjunction of the Config's filters.
type filter struct {
	tenants, dns, agents map[string]bool
	events               map[event.Name]bool
}

func newFilter(cfg Config) *filter {
	set := func(xs []string) map[string]bool {
		if len(xs) == 0 {
			return nil
		}
		m := make(map[string]bool, len(xs))
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	f := &filter{tenants: set(cfg.Tenants), dns: set(cfg.DNs), agents: set(cfg.Agents)}
	if len(cfg.Events) > 0 {
		f.events = make(map[event.Name]bool, len(cfg.Events))
		for _, n := range cfg.Events {
			f.events[n] = true
		}
	}
	return f
}

func (f *filter) active() bool {
	return f.tenants != nil || f.dns != nil || f.agents != nil || f.events != nil
}

func (f *filter) match(ev *event.Event) bool {
	if f.tenants != nil && !f.tenants[ev.CustomerID] {
		return false
	}
	if f.agents != nil && !f.agents[ev.AgentID] {
		return false
	}
	if f.events != nil && !f.events[ev.ID] {
		return false
	}
	if f.dns != nil && !(f.dns[ev.ThisDN] && ev.ThisDN != "" ||
		f.dns[ev.OtherDN] && ev.OtherDN != "" ||
		f.dns[ev.ThirdPartyDN] && ev.ThirdPartyDN != "") {
		return false
	}
	return true
}
