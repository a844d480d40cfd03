package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// DefaultShards is the number of shards of a cluster. It is fixed for the
// cluster's life: a tenant's shard is murmur2(tenant) mod Shards.
const DefaultShards = 32

// Errors.
var (
	// ErrFenced: a newer owner of the shard initialised its transactional
	// id; this process may no longer write for the shard.
	ErrFenced = errors.New("cluster: fenced by a newer owner of the shard")
	// ErrShardClosed: the shard is closing or has failed.
	ErrShardClosed = errors.New("cluster: shard closed")
)

// Config is what every node of a cluster shares.
type Config struct {
	Cluster string   // the cluster's name: topics, group and transactional ids derive from it
	Brokers []string // Kafka bootstrap brokers
	Shards  int      // default DefaultShards
	// TopicPrefix prefixes every topic: the output topics (as the
	// publisher's) and the cluster's own.
	TopicPrefix string
	// OutputPartitions is the partition count the output topics are
	// created with if missing (default publisher.DefaultPartitions).
	OutputPartitions int32
	// ReplicationFactor of the topics created (default -1: the broker's).
	ReplicationFactor int16
	// TransactionTimeout bounds how long a transaction may stay open
	// (default 10 s).
	TransactionTimeout time.Duration
	// SessionTimeout and HeartbeatInterval of the group that places
	// shards on nodes (default 6 s and 1 s).
	SessionTimeout, HeartbeatInterval time.Duration
	// MaxMessageBytes is the largest record batch the brokers take on
	// every topic of the cluster (their message.max.bytes, or the
	// topics' max.message.bytes; default DefaultMaxMessageBytes, below
	// Apache Kafka's default). The shards' producers make no larger
	// batch, and a snapshot that does not fit one is split into chunks
	// (snapshot.go), so no broker limit needs raising.
	MaxMessageBytes int
	// ExtraOpts are added to every Kafka client (TLS, SASL).
	ExtraOpts []kgo.Opt
	Logger    *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Cluster == "" {
		return errors.New("cluster: Config.Cluster is empty")
	}
	if len(c.Brokers) == 0 {
		return errors.New("cluster: Config.Brokers is empty")
	}
	if c.Shards <= 0 {
		c.Shards = DefaultShards
	}
	if c.OutputPartitions <= 0 {
		c.OutputPartitions = publisher.DefaultPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = 10 * time.Second
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 6 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Topics of a cluster.
type Topics struct {
	Shards                 string // S partitions, no records: the group assigns them
	Journal                string // S partitions; partition = shard; step batches and claims
	Snapshots              string // S partitions, compacted; partition = shard; key tenant
	Owners                 string // 1 partition, compacted; key shard; the owner
	AgentState, CallThread string
}

// TopicsOf returns the topics of the cluster c.
func TopicsOf(c *Config) Topics {
	base := c.TopicPrefix + "sb." + c.Cluster + "."
	return Topics{Shards: base + "shards", Journal: base + "journal", Snapshots: base + "snapshots",
		Owners:     base + "owners",
		AgentState: c.TopicPrefix + event.AgentStateTopic, CallThread: c.TopicPrefix + event.CallThreadTopic}
}

// ShardOf is the shard of a tenant: murmur2(tenant) mod shards, Kafka's
// own key hash.
func ShardOf(tenant string, shards int) int {
	return int(event.Partition([]byte(tenant), int32(shards)))
}

// txnLanes is how many transactional ids a shard writes through, in turn
// (a constant of the protocol: a new owner fences every one of them, so
// every node of a cluster must use the same count).
const txnLanes = 3

// TransactionalIDs are the transactional ids of shard n: the fence.
// Whoever initialises them last owns the shard's writes. The shard's
// transactions use them in turn, so that the next one can produce while
// the previous one commits, and a transactional id is used again only
// after the broker had a whole commit's time to write its previous
// transaction's markers (which the next transaction on the same id would
// wait for).
func TransactionalIDs(c *Config, n int) []string {
	ids := make([]string, txnLanes)
	for i := range ids {
		ids[i] = c.TopicPrefix + "sb." + c.Cluster + ".shard-" + strconv.Itoa(n) + "." + strconv.Itoa(i)
	}
	return ids
}

// GroupID is the consumer group whose assignment of the shards topic
// places shards on nodes.
func GroupID(c *Config) string { return c.TopicPrefix + "sb." + c.Cluster }

// EnsureTopics creates the cluster's topics and the output topics if they
// are missing and returns the output topics' partition counts.
func EnsureTopics(ctx context.Context, cfg *Config) (map[string]int32, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...),
		kgo.WithLogger(kslog.New(cfg.Logger))}, cfg.ExtraOpts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tp := TopicsOf(cfg)
	s := int32(cfg.Shards)
	compact := "compact"
	create := []struct {
		name  string
		parts int32
		conf  map[string]*string
	}{
		{tp.Shards, s, nil},
		{tp.Journal, s, nil},
		{tp.Snapshots, s, map[string]*string{"cleanup.policy": &compact}},
		{tp.Owners, 1, map[string]*string{"cleanup.policy": &compact}},
		{tp.AgentState, cfg.OutputPartitions, nil},
		{tp.CallThread, cfg.OutputPartitions, nil},
	}
	for _, c := range create {
		resp, err := adm.CreateTopic(ctx, c.parts, cfg.ReplicationFactor, c.conf, c.name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return nil, fmt.Errorf("cluster: create topic %s: %w", c.name, err)
		}
		if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			return nil, fmt.Errorf("cluster: create topic %s: %w", c.name, resp.Err)
		}
	}
	parts := map[string]int32{}
	for {
		md, err := adm.ListTopics(ctx, tp.Shards, tp.Journal, tp.Snapshots, tp.Owners, tp.AgentState, tp.CallThread)
		if err == nil {
			ok := true
			for _, c := range create {
				d, found := md[c.name]
				if !found || d.Err != nil || len(d.Partitions) == 0 {
					ok = false
					break
				}
				parts[c.name] = int32(len(d.Partitions))
			}
			if ok {
				if parts[tp.Journal] != s || parts[tp.Snapshots] != s || parts[tp.Shards] != s {
					return nil, fmt.Errorf("cluster: the cluster's topics have %d/%d/%d partitions, the cluster %d shards: the shard count is fixed for a cluster's life",
						parts[tp.Shards], parts[tp.Journal], parts[tp.Snapshots], s)
				}
				return map[string]int32{tp.AgentState: parts[tp.AgentState], tp.CallThread: parts[tp.CallThread]}, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: topics not visible: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
