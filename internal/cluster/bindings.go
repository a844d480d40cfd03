package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// BindingsTopic is the cluster's compacted topic of SIP registrations:
// S partitions, partition = the tenant's shard, key "tenant\x00" and the SIP front's key (DN and contact),
// value the binding (the SIP front's encoding), a tombstone when it ends.
func BindingsTopic(c *Config) string { return c.TopicPrefix + "sb." + c.Cluster + ".sip-bindings" }

// Bindings is a node's copy of the cluster's SIP registrations: every node
// follows the whole bindings topic, so whichever node serves a tenant
// (after a takeover too) knows its phones' contacts. Put writes a change
// (whichever node handled the REGISTER); it is applied to the copy when
// read back from the topic, as on every other node. The writes go
// through an idempotent producer, not a shard's transaction: a fenced
// node may still write a binding, which is at worst as stale as the
// phone's last registration (its next REGISTER replaces it).
type Bindings struct {
	cfg   Config
	topic string
	cl    *kgo.Client
	read  chan struct{}

	mu    sync.Mutex
	m     map[string][]byte // key -> value
	next  map[int32]int64   // partition -> next offset to read
	moved chan struct{}     // closed and replaced when next advances
}

// BindingKey is the record key of a tenant's key (the SIP front's: DN and
// contact, or Call-ID) in the topic.
func BindingKey(tenant, key string) string { return tenant + "\x00" + key }

// DialogsTopic is the cluster's compacted topic of the SIP dialogs of
// answered calls (key "tenant\x00Call-ID"), kept like the bindings: a node
// taking a tenant over ends the dialogs its previous owner left.
func DialogsTopic(c *Config) string { return c.TopicPrefix + "sb." + c.Cluster + ".sip-dialogs" }

// OpenBindings creates the bindings topic if missing and starts following
// it from its beginning.
func OpenBindings(ctx context.Context, cfg Config) (*Bindings, error) {
	return openKeyed(ctx, cfg, BindingsTopic)
}

// OpenDialogs is OpenBindings for the dialogs topic (keys tenant and
// Call-ID).
func OpenDialogs(ctx context.Context, cfg Config) (*Bindings, error) {
	return openKeyed(ctx, cfg, DialogsTopic)
}

func openKeyed(ctx context.Context, cfg Config, topicOf func(*Config) string) (*Bindings, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	b := &Bindings{cfg: cfg, topic: topicOf(&cfg), m: map[string][]byte{}, next: map[int32]int64{},
		moved: make(chan struct{}), read: make(chan struct{})}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.WithLogger(kslog.New(cfg.Logger)),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.UnknownTopicRetries(-1),
		kgo.ConsumeTopics(b.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.MetadataMinAge(250 * time.Millisecond),
	}, cfg.ExtraOpts...)...)
	if err != nil {
		return nil, err
	}
	compact := "compact"
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(cfg.Shards), cfg.ReplicationFactor,
		map[string]*string{"cleanup.policy": &compact}, b.topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		cl.Close()
		return nil, fmt.Errorf("cluster: create topic %s: %w", b.topic, err)
	}
	b.cl = cl
	go b.follow()
	return b, nil
}

func (b *Bindings) follow() {
	defer close(b.read)
	for {
		fs := b.cl.PollFetches(context.Background())
		if fs.IsClientClosed() {
			return
		}
		b.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			if r.Value == nil {
				delete(b.m, string(r.Key))
			} else {
				b.m[string(r.Key)] = r.Value
			}
			b.next[r.Partition] = r.Offset + 1
		})
		close(b.moved)
		b.moved = make(chan struct{})
		b.mu.Unlock()
	}
}

// Put writes a tenant's value under key (nil: its end) and calls done when
// Kafka has it (or could not take it).
func (b *Bindings) Put(tenant, key string, value []byte, done func(error)) {
	b.cl.Produce(context.Background(), &kgo.Record{Topic: b.topic, Partition: int32(ShardOf(tenant, b.cfg.Shards)),
		Key: []byte(BindingKey(tenant, key)), Value: value}, func(_ *kgo.Record, err error) { done(err) })
}

// Sync waits until this node's copy holds everything written to the
// tenant's partition before the call: a node starting to serve the tenant
// then knows every binding.
func (b *Bindings) Sync(ctx context.Context, tenant string) error {
	p := int32(ShardOf(tenant, b.cfg.Shards))
	var end int64
	for {
		// Right after the topic was created its partitions may not be
		// listed yet.
		ends, err := kadm.NewClient(b.cl).ListEndOffsets(ctx, b.topic)
		if err != nil {
			return err
		}
		if o, ok := ends.Lookup(b.topic, p); ok && o.Err == nil {
			end = o.Offset
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: end offset of %s/%d: %w", b.topic, p, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	for {
		b.mu.Lock()
		at, moved := b.next[p], b.moved
		b.mu.Unlock()
		if at >= end {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Of returns the values of a tenant by key.
func (b *Bindings) Of(tenant string) map[string][]byte {
	prefix := tenant + "\x00"
	out := map[string][]byte{}
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, v := range b.m {
		if dn, ok := strings.CutPrefix(k, prefix); ok {
			out[dn] = v
		}
	}
	return out
}

// Close stops following the topic, after the writes in flight.
func (b *Bindings) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	b.cl.Flush(ctx)
	cancel()
	b.cl.Close()
	<-b.read
}

// Load returns the tenant's values by key once this node's copy holds
// every change written before the call (Sync).
func (b *Bindings) Load(ctx context.Context, tenant string) (map[string][]byte, error) {
	if err := b.Sync(ctx, tenant); err != nil {
		return nil, err
	}
	return b.Of(tenant), nil
}
