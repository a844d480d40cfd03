package cluster

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// Feed follows the output topics from their end, read_committed, and
// hands each tenant's events to its subscribers: any node can serve any
// tenant's event stream, and a stream outlives the handover of its
// tenant. An event reaches a subscriber once its transaction committed;
// per record key in Seq order (the order across keys is the topics').
type Feed struct {
	cl   *kgo.Client
	done chan struct{}

	mu     sync.Mutex
	subs   map[string]map[*FeedSub]struct{} // by tenant
	closed bool
}

// OpenFeed starts following the output topics of the cluster c: every
// event committed after it returns reaches the subscribers of its tenant.
func OpenFeed(ctx context.Context, c Config) (*Feed, error) {
	if err := c.setDefaults(); err != nil {
		return nil, err
	}
	tp := TopicsOf(&c)
	opts := append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.WithLogger(kslog.New(c.Logger))}, c.ExtraOpts...)
	// Start at the last stable offsets (read_committed's end), read now:
	// a consumer that resolved "the end" only at its first fetch would
	// miss what is committed in between.
	adm, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(adm).ListCommittedOffsets(ctx, tp.AgentState, tp.CallThread)
	adm.Close()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: end offsets of the output topics: %w", err)
	}
	start := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if start[o.Topic] == nil {
			start[o.Topic] = map[int32]kgo.Offset{}
		}
		start[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	cl, err := kgo.NewClient(append(opts,
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(start),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		return nil, err
	}
	f := &Feed{cl: cl, done: make(chan struct{}), subs: map[string]map[*FeedSub]struct{}{}}
	go f.run()
	return f, nil
}

func (f *Feed) run() {
	defer close(f.done)
	for {
		fs := f.cl.PollFetches(context.Background())
		if fs.IsClientClosed() {
			return
		}
		fs.EachRecord(func(r *kgo.Record) {
			// The key starts with the tenant id and ':' (event.Key; ids
			// have no ':'): events of tenants nobody follows here are
			// not decoded.
			id, _, _ := strings.Cut(string(r.Key), ":")
			f.mu.Lock()
			defer f.mu.Unlock()
			subs := f.subs[id]
			if len(subs) == 0 {
				return
			}
			var e event.Event
			if event.Unmarshal(r.Value, &e) != nil || e.CustomerID != id {
				return
			}
			for s := range subs {
				s.offer(&e)
			}
		})
	}
}

// Subscribe subscribes to tenant id's events that pass flt; a subscriber
// with max events waiting is dropped (tenant.ErrSlowSubscriber).
func (f *Feed) Subscribe(id string, flt tenant.Filter, max int) *FeedSub {
	s := &FeedSub{feed: f, tenant: id, filter: flt, max: max, ready: make(chan struct{}, 1), done: make(chan struct{})}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		s.err = tenant.ErrClosed
		close(s.done)
		return s
	}
	if f.subs[id] == nil {
		f.subs[id] = map[*FeedSub]struct{}{}
	}
	f.subs[id][s] = struct{}{}
	return s
}

// Close ends every subscription (tenant.ErrClosed) and stops following
// the topics.
func (f *Feed) Close() {
	f.mu.Lock()
	f.closed = true
	for _, m := range f.subs {
		for s := range m {
			f.removeLocked(s, tenant.ErrClosed)
		}
	}
	f.mu.Unlock()
	f.cl.Close()
	<-f.done
}

func (f *Feed) removeLocked(s *FeedSub, err error) {
	m := f.subs[s.tenant]
	if _, ok := m[s]; !ok {
		return
	}
	delete(m, s)
	if len(m) == 0 {
		delete(f.subs, s.tenant)
	}
	s.err = err
	close(s.done)
}

// FeedSub is a subscription to a Feed; it has the methods of
// tenant.Subscription's queue mode.
type FeedSub struct {
	feed   *Feed
	tenant string
	filter tenant.Filter
	max    int
	ready  chan struct{}
	done   chan struct{}
	q      []event.Event // under feed.mu
	err    error         // set before done is closed
}

// offer queues e if it passes the filter (feed.mu held).
func (s *FeedSub) offer(e *event.Event) {
	if !s.filter.Match(e) {
		return
	}
	if len(s.q) >= s.max {
		s.q = nil
		s.feed.removeLocked(s, tenant.ErrSlowSubscriber)
		return
	}
	s.q = append(s.q, *e)
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready has a value while events wait.
func (s *FeedSub) Ready() <-chan struct{} { return s.ready }

// Take appends the waiting events to dst.
func (s *FeedSub) Take(dst []event.Event) []event.Event {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	dst = append(dst, s.q...)
	clear(s.q)
	s.q = s.q[:0]
	if cap(s.q) > 64 {
		s.q = nil
	}
	return dst
}

// Done is closed when the subscription ends.
func (s *FeedSub) Done() <-chan struct{} { return s.done }

// Err is why the subscription ended (nil after Close).
func (s *FeedSub) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the subscription.
func (s *FeedSub) Close() {
	s.feed.mu.Lock()
	s.feed.removeLocked(s, nil)
	s.feed.mu.Unlock()
}

// isEventStream reports whether r opens tenant id's event stream with an
// Authorization header (one with a ticket goes to the node that issued
// it: the owner).
func isEventStream(r *http.Request, id string) bool {
	return r.Method == http.MethodGet && r.URL.Path == "/v1/tenants/"+id+"/events" &&
		r.Header.Get("Authorization") != "" && !r.URL.Query().Has("ticket")
}
