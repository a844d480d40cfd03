package app

import (
	"context"
	"flag"
	"math"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/relay"
)

// EmbeddedKafkaConfig is the embedded broker's retention (when there are
// no --kafka-brokers). The broker reads every retained record once at each
// start, so the retention is what bounds its memory; see the README's
// "The embedded broker".
type EmbeddedKafkaConfig struct {
	// Retention deletes records older than this (--kafka-retention,
	// default 168h; 0 keeps them whatever their age).
	Retention time.Duration
	// RetentionBytes bounds each topic's retained records
	// (--kafka-retention-bytes, default 256MiB; 0: no bound), set on the
	// topic as Kafka's per-partition retention.bytes (this divided by the
	// partition count). Per topic, not per partition, because that is
	// what an operator budgets against the machine, and the partition
	// count must not multiply it.
	RetentionBytes int64
	// RetentionCheck is how often the retention pass runs
	// (--kafka-retention-check, default 5m, as Kafka's
	// log.retention.check.interval.ms).
	RetentionCheck time.Duration
	// MemoryWarn is the share of the machine's (or the container's)
	// memory the retained records may reach before a warning
	// (--kafka-memory-warn, default 0.25; 0 never warns).
	MemoryWarn float64
}

// Defaults of EmbeddedKafkaConfig.
const (
	DefaultKafkaRetention      = broker.DefaultRetention
	DefaultKafkaRetentionBytes = broker.DefaultRetentionBytes
	DefaultKafkaRetentionCheck = broker.DefaultRetentionCheck
	DefaultKafkaMemoryWarn     = broker.DefaultMemoryWarnShare
)

func defaultEmbedded() EmbeddedKafkaConfig {
	return EmbeddedKafkaConfig{Retention: DefaultKafkaRetention, RetentionBytes: DefaultKafkaRetentionBytes,
		RetentionCheck: DefaultKafkaRetentionCheck, MemoryWarn: DefaultKafkaMemoryWarn}
}

func (e *EmbeddedKafkaConfig) addFlags(add func(name string, v flag.Value, usage string)) {
	add("kafka-retention", (*durationValue)(&e.Retention), "embedded broker: delete records older than `DURATION` (0: no age limit)")
	add("kafka-retention-bytes", (*sizeValue)(&e.RetentionBytes), "embedded broker: most `BYTES` retained per topic, oldest deleted first (suffixes KiB, MiB, GiB; 0: no size limit)")
	add("kafka-retention-check", (*durationValue)(&e.RetentionCheck), "embedded broker: run the retention pass every `DURATION`")
	add("kafka-memory-warn", (*floatValue)(&e.MemoryWarn), "embedded broker: warn when the retained records pass this `SHARE` of the machine's memory (0: never)")
}

func (e *EmbeddedKafkaConfig) validate(bad func(flag, format string, args ...any) error) error {
	if e.Retention < 0 {
		return bad("kafka-retention", "%v is negative", e.Retention)
	}
	if e.RetentionCheck <= 0 {
		return bad("kafka-retention-check", "%v is not positive", e.RetentionCheck)
	}
	if e.MemoryWarn < 0 || e.MemoryWarn > 1 {
		return bad("kafka-memory-warn", "%v is not a share between 0 and 1", e.MemoryWarn)
	}
	return nil
}

// brokerConfig maps e onto the broker's configuration (where 0 means the
// default and a negative value none).
func (e *EmbeddedKafkaConfig) brokerConfig(bc broker.Config) broker.Config {
	bc.Retention, bc.RetentionBytes, bc.RetentionCheck, bc.MemoryWarnShare = e.Retention, e.RetentionBytes, e.RetentionCheck, e.MemoryWarn
	if e.Retention == 0 {
		bc.Retention = -1
	}
	if e.RetentionBytes == 0 {
		bc.RetentionBytes = -1
	}
	if e.MemoryWarn == 0 {
		bc.MemoryWarnShare = -1
	}
	return bc
}

// relayKeep is the embedded broker's Keep: the lowest offset any tenant's
// relay may still read after a restart. Until the relays are set it keeps
// everything.
type relayKeep struct {
	mu     sync.Mutex
	relays []*relay.Relay
	set    bool
}

func (k *relayKeep) setRelays(durs []*durableTenant) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, d := range durs {
		k.relays = append(k.relays, d.rl)
	}
	k.set = true
}

func (k *relayKeep) from(topic string, p int32) int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.set {
		return 0
	}
	keep := int64(math.MaxInt64) // no tenant: nothing to keep for a relay
	for _, r := range k.relays {
		keep = min(keep, r.KeepFrom(topic, p))
	}
	return keep
}

// registerBrokerGauges adds the embedded broker's retained records to
// /metrics.
func registerBrokerGauges(s *metrics.Set, b *broker.Broker) {
	stats := func(f func(broker.TopicStats, metrics.Emit)) func(metrics.Emit) {
		return func(emit metrics.Emit) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			st, err := b.Stats(ctx)
			if err != nil {
				return
			}
			for _, s := range st {
				f(s, emit)
			}
		}
	}
	s.GaugeFunc(metrics.NameBrokerRetainedBytes, "Bytes of the records the embedded broker retains, by topic.", []string{"topic"},
		stats(func(s broker.TopicStats, emit metrics.Emit) { emit(float64(s.Bytes), s.Topic) }))
	s.GaugeFunc(metrics.NameBrokerRetainedRecords, "Records the embedded broker retains, by topic.", []string{"topic"},
		stats(func(s broker.TopicStats, emit metrics.Emit) { emit(float64(s.Records), s.Topic) }))
}
