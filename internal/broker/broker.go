package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/switchboard-cc/switchboard/internal/logsample"
)

// Defaults of Config.
const (
	DefaultListen     = "127.0.0.1:9092"
	DefaultPartitions = 12
	DefaultRetention  = 7 * 24 * time.Hour
	// DefaultRetentionBytes bounds each topic's retained records: a
	// laptop's worth, since a restart reads them all once (see the
	// package doc).
	DefaultRetentionBytes = 256 << 20
	// DefaultRetentionCheck is how often the retention pass runs, as
	// Kafka's log.retention.check.interval.ms.
	DefaultRetentionCheck = 5 * time.Minute
	// DefaultMemoryWarnShare is the share of the machine's memory the
	// retained records may reach before the broker warns.
	DefaultMemoryWarnShare = 0.25
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

	// Retention is the retention.ms of the topics: 0 means the default of
	// 7 days, a negative value keeps records forever.
	Retention time.Duration

	// RetentionBytes bounds the bytes retained per topic (record batches
	// as stored): 0 means the default of 256 MiB, a negative value no
	// bound. It is set on each topic as Kafka's retention.bytes, which is
	// per partition: RetentionBytes divided by the topic's partition
	// count. Both retentions apply to existing topics too.
	RetentionBytes int64

	// RetentionCheck is how often the retention pass runs: 0 means every
	// 5 minutes.
	RetentionCheck time.Duration

	// Keep, if set, returns for a partition the first offset that must
	// not be deleted: the retention pass never deletes records at or after
	// it, whatever their age or the topic's size. It is called from the
	// retention pass, never concurrently with itself.
	Keep func(topic string, partition int32) int64

	// MemoryWarnShare is the share of the machine's memory (or of the
	// container's limit) the retained records may reach before the broker
	// warns, at start-up and after retention passes: 0 means 0.25, a
	// negative value never warns.
	MemoryWarnShare float64

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
	if c.RetentionCheck < 0 {
		return bad("RetentionCheck", "%v is negative", c.RetentionCheck)
	}
	if c.MemoryWarnShare > 1 {
		return bad("MemoryWarnShare", "%v is more than the whole memory (1)", c.MemoryWarnShare)
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

// Segment sizes: a topic bounded by size gets segments of a quarter of its
// per-partition bound, so that deleted records leave the disk (and the
// next start-up's reading) within a quarter of the bound; a topic without
// a size bound keeps kfake's 100 MiB.
const (
	minSegmentBytes     = 64 << 10
	defaultSegmentBytes = 100 << 20
)

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	admin   *kgo.Client // in process, for retention and statistics
	addr    string
	log     *slog.Logger
	cfg     Config // defaults applied
	memory  int64  // the machine's memory, 0 if unknown
	loaded  Load
	warned  atomic.Int64 // unix nanoseconds of the last memory warning
	once    sync.Once
	stop    chan struct{}
	stopped chan struct{}
}

// Load is what Start read from the data directory.
type Load struct {
	Records int64         // records retained
	Bytes   int64         // their bytes (record batches as stored)
	Took    time.Duration // reading the data directory
}

// TopicStats are one topic's retained records.
type TopicStats struct {
	Topic      string
	Partitions int
	// Records counts the offsets between each partition's log start and
	// its high watermark.
	Records int64
	// Bytes is the size of the record batches retained, as stored.
	Bytes int64
}

// Start validates cfg, binds the listener, loads any state under cfg.Dir,
// creates the missing topics, applies the configured retention to every
// configured topic and returns the running broker. ctx bounds the start-up
// only; stop the broker with Close.
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
	if cfg.RetentionBytes == 0 {
		cfg.RetentionBytes = DefaultRetentionBytes
	}
	if cfg.RetentionCheck == 0 {
		cfg.RetentionCheck = DefaultRetentionCheck
	}
	if cfg.MemoryWarnShare == 0 {
		cfg.MemoryWarnShare = DefaultMemoryWarnShare
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
		kfake.WithLogger(kfakeLogger{log, logsample.New(log, 0)}),
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
		kfake.MaxVersions(advertisedVersions()),
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
	loadStart := time.Now()
	// Loading reads every segment file whole and drops it: collect often
	// meanwhile, so the garbage does not add itself to the peak.
	gc := debug.SetGCPercent(10)
	c, err := kfake.NewCluster(opts...) // reads every retained record once
	debug.SetGCPercent(gc)
	if err != nil {
		mux.Close()
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	took := time.Since(loadStart)
	b := &Broker{cluster: c, addr: adv, log: log, cfg: cfg, memory: MachineMemory(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
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
	loaded, err := b.Stats(ctx)
	if err != nil {
		b.admin.Close()
		c.Close()
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	b.loaded.Took = took
	for _, s := range loaded {
		b.loaded.Records += s.Records
		b.loaded.Bytes += s.Bytes
	}
	if b.loaded.Bytes > 0 {
		// Loading read every segment file whole; hand that memory back to
		// the system now rather than over the next minutes.
		debug.FreeOSMemory()
	}
	go b.retain()

	for _, t := range cfg.Topics {
		if err := b.ensureTopic(ctx, t); err != nil {
			b.Close()
			return nil, fmt.Errorf("%w: topic %s: %w", ErrStart, t, err)
		}
	}

	retained := make([]any, 0, len(loaded))
	for _, s := range loaded {
		retained = append(retained, slog.Group(s.Topic, "bytes", s.Bytes, "records", s.Records))
	}
	log.Info("embedded Kafka broker (franz-go kfake) started",
		"listen", ln.Addr().String(), "advertised", adv, "data", cfg.Dir,
		"topics", cfg.Topics, "tls", cfg.TLS != nil, "sasl", len(cfg.SASL) > 0, "sync_writes", cfg.SyncWrites,
		"retention", retentionString(cfg.Retention), "retention_bytes_per_topic", cfg.RetentionBytes,
		"loaded_records", b.loaded.Records, "loaded_bytes", b.loaded.Bytes,
		"load_took", took.Round(time.Millisecond), "records_per_second", perSecond(b.loaded.Records, took),
		slog.Group("retained", retained...))
	b.checkMemory(b.loaded.Bytes, true)
	return b, nil
}

// advertisedVersions are the API versions the broker advertises: every
// version kfake implements, but not DescribeTopicPartitions (KIP-966).
// kfake answers it with null EligibleLeaderReplicas and LastKnownELR (as
// the schema allows; a real broker sends empty arrays), on which the Java
// admin client (Kafka 4.1) throws a NullPointerException in
// Admin.describeTopics, which MirrorMaker 2 and kafka-topics.sh --describe
// call (TestJavaAdminDescribesTopics). Without
// the key, they describe topics through Metadata, as with a broker before
// Kafka 3.8. The features stay kfake's default (kversion.Stable). With
// versions set, kfake models a released broker in one more way: it does not
// reject a first non-zero sequence on a never-written partition (KAFKA-15591,
// not in a release before Kafka 4.5), as the Kafka 4.1 of the real-Kafka
// tests does not.
func advertisedVersions() *kversion.Versions {
	vs := kversion.Stable()
	for k := int16(0); k <= kmsg.MaxKey; k++ {
		vs.SetMaxKeyVersion(k, math.MaxInt16) // capped at what kfake implements
	}
	vs.SetMaxKeyVersion(int16(kmsg.DescribeTopicPartitions), -1)
	return vs
}

func retentionString(d time.Duration) string {
	if d < 0 {
		return "forever"
	}
	return d.String()
}

func perSecond(n int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}

// topicConfigs are the retention configs of a topic of parts partitions.
func (b *Broker) topicConfigs(parts int) map[string]string {
	ms := strconv.FormatInt(b.cfg.Retention.Milliseconds(), 10)
	if b.cfg.Retention < 0 {
		ms = "-1"
	}
	bytes, seg := int64(-1), int64(defaultSegmentBytes)
	if b.cfg.RetentionBytes > 0 {
		bytes = max(b.cfg.RetentionBytes/int64(max(parts, 1)), 1)
		seg = min(max(bytes/4, minSegmentBytes), defaultSegmentBytes)
	}
	return map[string]string{
		"retention.ms":    ms,
		"retention.bytes": strconv.FormatInt(bytes, 10),
		"segment.bytes":   strconv.FormatInt(seg, 10),
	}
}

// ensureTopic creates topic t with the configured partitions and retention,
// or sets the configured retention on it if it exists.
func (b *Broker) ensureTopic(ctx context.Context, t string) error {
	info := b.cluster.TopicInfo(t)
	if info == nil {
		cfgs := b.topicConfigs(int(b.cfg.Partitions))
		if err := b.cluster.CreateTopic(t, b.cfg.Partitions, cfgs); err != nil {
			return err
		}
		b.log.Info("created topic", "topic", t, "partitions", b.cfg.Partitions,
			"retention_ms", cfgs["retention.ms"], "retention_bytes_per_partition", cfgs["retention.bytes"])
		return nil
	}
	parts := len(b.cluster.PartitionInfos(t))
	if int32(parts) != b.cfg.Partitions {
		b.log.Warn("existing topic keeps its partition count", "topic", t, "partitions", parts, "configured", b.cfg.Partitions)
	}
	var alter []kadm.AlterConfig
	var changed []any
	for _, k := range []string{"retention.ms", "retention.bytes", "segment.bytes"} {
		v := b.topicConfigs(parts)[k]
		if old := info.Configs[k]; old == nil || *old != v {
			alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
			was := "default"
			if old != nil {
				was = *old
			}
			changed = append(changed, slog.Group(k, "was", was, "now", v))
		}
	}
	if len(alter) == 0 {
		return nil
	}
	rs, err := kadm.NewClient(b.admin).AlterTopicConfigs(ctx, alter, t)
	if err == nil {
		for _, r := range rs {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		return fmt.Errorf("set retention: %w", err)
	}
	b.log.Info("existing topic takes the configured retention", append([]any{"topic", t}, changed...)...)
	return nil
}

// Addr returns the host:port clients use: the advertised address, which is
// the bound address unless Config.Advertise says otherwise.
func (b *Broker) Addr() string { return b.addr }

// Cluster returns the underlying kfake cluster, for fault injection and
// inspection in tests.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Loaded returns what Start read from the data directory.
func (b *Broker) Loaded() Load { return b.loaded }

// Stats returns the records every topic retains, sorted by topic name.
func (b *Broker) Stats(ctx context.Context) ([]TopicStats, error) {
	names, err := b.topics(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TopicStats, 0, len(names))
	for _, t := range names {
		s := TopicStats{Topic: t}
		for _, p := range b.cluster.PartitionInfos(t) {
			s.Partitions++
			s.Records += p.HighWatermark - p.LogStartOffset
			s.Bytes += p.NumBytes
		}
		out = append(out, s)
	}
	return out, nil
}

// topics returns the names of the topics, sorted. It asks the broker
// (kadm's ListTopics answers from a metadata cache up to 5s old).
func (b *Broker) topics(ctx context.Context) ([]string, error) {
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, b.admin)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range resp.Topics {
		if t.Topic != nil && t.ErrorCode == 0 && !t.IsInternal {
			names = append(names, *t.Topic)
		}
	}
	sort.Strings(names)
	return names, nil
}

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

// retain applies the topics' retention every Config.RetentionCheck.
func (b *Broker) retain() {
	defer close(b.stopped)
	t := time.NewTicker(b.cfg.RetentionCheck)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), max(b.cfg.RetentionCheck, time.Minute))
			go func() {
				select {
				case <-b.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			if err := b.applyRetention(ctx); err != nil {
				b.log.Warn("retention pass failed", "err", err)
			} else if st, err := b.Stats(ctx); err == nil {
				var total int64
				for _, s := range st {
					total += s.Bytes
				}
				b.checkMemory(total, false)
			}
			cancel()
		}
	}
}

// memoryWarnEvery spaces the memory warnings of the retention passes.
const memoryWarnEvery = time.Hour

// checkMemory warns when the retained bytes pass Config.MemoryWarnShare of
// the machine's memory: at start-up (first) and at most every
// memoryWarnEvery after retention passes.
func (b *Broker) checkMemory(retained int64, first bool) {
	if b.cfg.MemoryWarnShare < 0 || b.memory <= 0 {
		return
	}
	limit := int64(b.cfg.MemoryWarnShare * float64(b.memory))
	if retained <= limit || (!first && time.Since(time.Unix(0, b.warned.Load())) < memoryWarnEvery) {
		return
	}
	b.warned.Store(time.Now().UnixNano())
	b.log.Warn("the embedded broker retains more than its share of this machine's memory: a restart reads every retained record into memory at once; lower the retention or move to a real Kafka",
		"retained_bytes", retained, "memory_bytes", b.memory, "warn_share", b.cfg.MemoryWarnShare)
}

// applyRetention deletes, in every topic, the records older than the
// topic's retention.ms and the oldest records beyond its retention.bytes
// (per partition), but never a partition's last record (like Kafka, which
// never deletes the active segment, and because kfake forgets the offsets
// of a partition emptied by retention when it restarts), nor a record at or
// after Config.Keep's offset.
func (b *Broker) applyRetention(ctx context.Context) error {
	adm := kadm.NewClient(b.admin)
	names, err := b.topics(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	for _, t := range names {
		info := b.cluster.TopicInfo(t)
		if info == nil {
			continue
		}
		ms, ok := topicConfig(info, "retention.ms", DefaultRetention.Milliseconds())
		if !ok {
			continue
		}
		maxBytes, ok := topicConfig(info, "retention.bytes", -1)
		if !ok {
			continue
		}
		// The ends before the lookup by time: a lookup that finds no
		// record recent enough answers with the end as of a second
		// request, which may cover records appended in between; those
		// are new and stay.
		ends := map[int32]int64{}
		for _, p := range b.cluster.PartitionInfos(t) {
			ends[p.Partition] = p.HighWatermark
		}
		var byTime kadm.ListedOffsets
		if ms >= 0 {
			if byTime, err = adm.ListOffsetsAfterMilli(ctx, now-ms, t); err != nil {
				return err
			}
		}
		var deleted, held int64
		for _, p := range b.cluster.PartitionInfos(t) {
			last := p.HighWatermark - 1 // the last record stays
			limit := last
			if b.cfg.Keep != nil {
				limit = min(limit, b.cfg.Keep(t, p.Partition))
			}
			first := p.LogStartOffset
			cut, want := first, first
			if o, ok := byTime.Lookup(t, p.Partition); ok && o.Err == nil {
				cut = max(cut, min(o.Offset, ends[p.Partition]))
			}
			// By size: the partition's mean record size estimates how
			// many of the oldest records to delete; a batch only leaves
			// once all its records have, so repeat until within the
			// bound (or no further deletion is allowed).
			for range 8 {
				if maxBytes >= 0 && p.NumBytes > maxBytes {
					cut = max(cut, sizeCut(p, maxBytes))
				}
				want = max(want, cut)
				cut = min(cut, limit)
				if cut <= p.LogStartOffset || b.cluster.DeleteRecords(t, p.Partition, cut) != nil {
					break
				}
				if p = b.cluster.PartitionInfo(t, p.Partition); p == nil {
					break
				}
				if maxBytes < 0 || p.NumBytes <= maxBytes {
					break
				}
			}
			if p != nil {
				deleted += p.LogStartOffset - first
			}
			if want > limit && limit < last {
				held += min(want, last) - limit
			}
		}
		if deleted > 0 {
			b.log.Info("retention deleted records", "topic", t, "records", deleted, "retention_ms", ms, "retention_bytes_per_partition", maxBytes)
		}
		if held > 0 {
			b.log.Info("retention held back: records the relay has not yet checkpointed are kept", "topic", t, "records", held)
		}
	}
	return nil
}

// sizeCut is the offset to delete up to for partition p to hold about
// maxBytes, by its mean record size.
func sizeCut(p *kfake.PartitionInfo, maxBytes int64) int64 {
	records := p.HighWatermark - p.LogStartOffset
	if records <= 0 || p.NumBytes <= maxBytes {
		return p.LogStartOffset
	}
	excess := float64(p.NumBytes - maxBytes)
	mean := float64(p.NumBytes) / float64(records)
	return p.LogStartOffset + max(int64(math.Ceil(excess/mean)), 1)
}

// topicConfig returns the integer config k of a topic, def when unset, and
// false when it is not an integer.
func topicConfig(info *kfake.TopicInfo, k string, def int64) (int64, bool) {
	v := info.Configs[k]
	if v == nil {
		return def, true
	}
	n, err := strconv.ParseInt(*v, 10, 64)
	return n, err == nil
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
// Info level, which is debug detail for us. Its warnings and errors are
// sampled by format (once, then once per interval with the count
// suppressed): on a full disk it warns for every batch it cannot persist.
type kfakeLogger struct {
	l      *slog.Logger
	sample *logsample.Sampler
}

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
	if sl >= slog.LevelWarn && k.sample != nil {
		k.sample.Log(ctx, sl, format, fmt.Sprintf(format, args...))
		return
	}
	k.l.Log(ctx, sl, fmt.Sprintf(format, args...))
}
