package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/logsample"
	"github.com/switchboard-cc/switchboard/internal/startoffset"
)

// Config configures a Service: the Kafka consumer feeding an Aggregator.
type Config struct {
	Brokers     []string
	TopicPrefix string
	// Group is the consumer group (default "switchboard-stats"). Every
	// instance needs all partitions: give each instance its own group.
	Group string
	// KafkaOpts are extra client options (TLS, SASL).
	KafkaOpts []kgo.Opt
	// Checkpoint is the file the aggregator's state and the offsets it
	// covers are written to every CheckpointEvery (and at stop), and
	// resumed from at start. Empty: no checkpoint (a start reads from the
	// start of the day).
	Checkpoint      string
	CheckpointEvery time.Duration // default 5s
	Options         Options
	Logger          *slog.Logger
	// Now is the clock for reads and for where a fresh start begins
	// (default time.Now).
	Now func() time.Time
}

// checkpointFile is what Checkpoint holds.
type checkpointFile struct {
	Offsets map[string]map[int32]int64 `json:"offsets"` // next offset to read per topic and partition
	State   json.RawMessage            `json:"state"`
}

// Service reads the two topics into an Aggregator, checkpoints it, and
// serves its figures (http.go). Safe for concurrent use.
type Service struct {
	cfg     Config
	log     *slog.Logger
	mu      sync.RWMutex
	agg     *Aggregator
	offsets map[string]map[int32]int64
	version uint64 // events taken so far: changes when figures may have
	changed chan struct{}
	// lastEvent is the wall-clock time the latest event was taken (for
	// the delay figure).
	saved uint64 // version at the last checkpoint
}

// NewService returns a service; Run starts it.
func NewService(cfg Config) *Service {
	if cfg.Group == "" {
		cfg.Group = "switchboard-stats"
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, log: cfg.Logger, agg: New(cfg.Options), offsets: map[string]map[int32]int64{}, changed: make(chan struct{})}
}

// load resumes from the checkpoint file, if there is one.
func (s *Service) load() error {
	if s.cfg.Checkpoint == "" {
		return nil
	}
	b, err := os.ReadFile(s.cfg.Checkpoint)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var cp checkpointFile
	if err := json.Unmarshal(b, &cp); err != nil {
		return fmt.Errorf("stats: checkpoint %s: %w", s.cfg.Checkpoint, err)
	}
	if err := s.agg.Restore(cp.State); err != nil {
		return fmt.Errorf("stats: checkpoint %s: %w", s.cfg.Checkpoint, err)
	}
	if cp.Offsets != nil {
		s.offsets = cp.Offsets
	}
	var events int64
	for _, t := range s.agg.tenants {
		events += t.Events
	}
	s.log.Info("stats: resumed from checkpoint", "file", s.cfg.Checkpoint, "partitions", len(s.offsets), "events", events)
	return nil
}

// save writes the checkpoint: state and offsets taken together, so a
// resume reads exactly the records after those the state holds.
func (s *Service) save() error {
	if s.cfg.Checkpoint == "" {
		return nil
	}
	s.mu.RLock()
	if s.version == s.saved {
		s.mu.RUnlock()
		return nil
	}
	state, err := s.agg.Snapshot()
	var b []byte
	if err == nil {
		b, err = json.Marshal(checkpointFile{Offsets: s.offsets, State: state})
	}
	v := s.version
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := writeAtomic(s.cfg.Checkpoint, b); err != nil {
		return err
	}
	s.mu.Lock()
	s.saved = v
	s.mu.Unlock()
	return nil
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// startOfDay is where a partition without a checkpointed offset starts
// reading: the earliest start of today among the configured time zones
// (UTC when none).
func (s *Service) startOfDay() time.Time {
	now := s.cfg.Now()
	earliest := now
	locs := []*time.Location{time.UTC}
	for _, o := range s.cfg.Options.Tenants {
		if o.Location != nil {
			locs = append(locs, o.Location)
		}
	}
	for _, loc := range locs {
		y, m, d := now.In(loc).Date()
		if t := time.Date(y, m, d, 0, 0, 0, 0, loc); t.Before(earliest) {
			earliest = t
		}
	}
	return earliest
}

// startAtDay sets, for each partition in need (those the checkpoint
// lacks), the offset to start at: the first record stamped at or after
// from, listed by startoffset.List (the end offset first, then the offset
// by time, starting at the smaller), so records appended while the
// consumer joins are not skipped. The ends are the high watermarks: the
// consumer is read_committed, and a record appended after them comes
// after either end. On an error the consumer's reset offset (after from)
// stays, with a warning.
func (s *Service) startAtDay(ctx context.Context, adm *kadm.Client, from time.Time, need map[string][]int32, m map[string]map[int32]kgo.Offset) {
	l, err := startoffset.List(ctx, adm, slices.Sorted(maps.Keys(need)), startoffset.Options{Since: from})
	if err != nil {
		s.log.Warn("stats: listing the start of day's offsets failed; starting after the day's start by the client's own lookup", "err", err)
		return
	}
	for t, ps := range need {
		for _, p := range ps {
			if r, ok := l.Ranges[startoffset.Partition{Topic: t, Partition: p}]; ok {
				m[t][p] = kgo.NewOffset().At(r.Start)
			} else {
				s.log.Warn("stats: no start of day's offset listed; starting after the day's start by the client's own lookup", "topic", t, "partition", p)
			}
		}
	}
}

// quietLogger passes the Kafka client's warnings and errors only.
type quietLogger struct{ *kslog.Logger }

func (l quietLogger) Level() kgo.LogLevel { return min(l.Logger.Level(), kgo.LogLevelWarn) }

// The statistics consumer's fetches (see Run): a fetch returns as soon as
// there is a record, or after fetchMaxWait without one; after a poll that
// brought records and reached the end of their partitions, the next poll
// (which lets the client send the next fetch) waits until fetchPace has
// passed.
const (
	fetchMaxWait = 5 * time.Second
	fetchPace    = 50 * time.Millisecond
)

// Run consumes until ctx ends, then writes a last checkpoint.
func (s *Service) Run(ctx context.Context) error {
	if err := s.load(); err != nil {
		return err
	}
	topics := []string{s.cfg.TopicPrefix + event.AgentStateTopic, s.cfg.TopicPrefix + event.CallThreadTopic}
	from := s.startOfDay()
	// The client is made below; the group it joins in the background
	// may call back before NewClient has returned: clMu orders the two.
	var (
		clMu sync.Mutex
		cl   *kgo.Client
	)
	clMu.Lock()
	opts := append([]kgo.Opt{
		// An idle consumer's fetch waits at the broker (embedded: in
		// this process) for a record, up to fetchMaxWait: one request
		// every 5 s rather than one every 100 ms, each of which woke a
		// dozen goroutines of an idle serve. The first record after a
		// quiet time comes at once (MinBytes 1); under load the polls
		// are paced instead (Run): at most one fetch per broker every
		// fetchPace, not one per produced batch.
		kgo.FetchMaxWait(fetchMaxWait),
	}, s.cfg.KafkaOpts...)
	opts = append(opts,
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ClientID("switchboard-stats"),
		// The client's own warnings (a group it cannot join, a
		// coordinator it cannot find) are the only trace of a consumer
		// that stalls: they go to our log (its info lines, a dozen per
		// join, do not).
		kgo.WithLogger(quietLogger{kslog.New(s.log)}),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			s.log.Info("stats: partitions assigned", "partitions", m)
		}),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(topics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		// A restarted instance joins a group whose old member died with
		// the process. As a static member (one instance per group, so
		// the group's name is its instance id) it takes the old member's
		// place at once; otherwise it would wait for that member's
		// session (and a rebalance) to time out, 45 and 60 s by default.
		kgo.InstanceID(s.cfg.Group),
		kgo.SessionTimeout(10*time.Second),
		kgo.RebalanceTimeout(10*time.Second),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(from.UnixMilli())),
		// The checkpoint, not the group's committed offsets, says where
		// to resume: the state and its offsets were saved together.
		kgo.AdjustFetchOffsetsFn(func(ctx context.Context, m map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
			need := map[string][]int32{} // partitions the checkpoint lacks
			s.mu.RLock()
			for t, ps := range m {
				for p := range ps {
					if o, ok := s.offsets[t][p]; ok {
						ps[p] = kgo.NewOffset().At(o)
					} else {
						need[t] = append(need[t], p)
					}
				}
			}
			s.mu.RUnlock()
			if len(need) > 0 {
				clMu.Lock()
				adm := kadm.NewClient(cl)
				clMu.Unlock()
				s.startAtDay(ctx, adm, from, need, m)
			}
			return m, nil
		}),
	)
	cl, err := kgo.NewClient(opts...)
	clMu.Unlock()
	if err != nil {
		return err
	}
	s.log.Info("stats: consuming", "topics", topics, "group", s.cfg.Group, "from", from)

	done := make(chan struct{})
	failures := logsample.New(s.log, 0)
	go func() {
		defer close(done)
		t := time.NewTicker(s.cfg.CheckpointEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// Logged once, then sampled while it keeps failing (a
				// full disk fails every one).
				if err := s.save(); err != nil {
					failures.Log(ctx, slog.LevelError, "checkpoint", "stats: checkpoint failed", "err", err)
				} else {
					failures.Resolve(ctx, slog.LevelInfo, "checkpoint", "stats: checkpoint written again")
				}
			}
		}
	}()
	var (
		ev   event.Event
		pace = newPacer(fetchPace)
	)
	for {
		// The client sends a broker its next fetch once the previous
		// one's records are polled: waiting here gathers the records of
		// fetchPace into one fetch. A record thus waits at most about
		// 2 x fetchPace: produced just after a fetch was sent, it
		// comes with the next one, polled fetchPace later.
		if !pace.wait(ctx) {
			break
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			s.log.Warn("stats: fetch error", "topic", t, "partition", p, "err", err)
		})
		n := 0
		s.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			if err := event.Unmarshal(r.Value, &ev); err != nil {
				s.log.Warn("stats: undecodable record skipped", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			} else {
				s.agg.Add(&ev)
			}
			ps := s.offsets[r.Topic]
			if ps == nil {
				ps = map[int32]int64{}
				s.offsets[r.Topic] = ps
			}
			ps[r.Partition] = r.Offset + 1
			n++
		})
		if n > 0 {
			s.version += uint64(n)
			close(s.changed)
			s.changed = make(chan struct{})
		}
		s.mu.Unlock()
		pace.polled(n > 0 && caughtUp(fs))
	}
	pace.stop()
	<-done
	err = s.save()
	// Committing (for lag monitoring only: resuming uses the checkpoint)
	// and leaving the group talk to Kafka, which may hang: bounded.
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		if err == nil && s.cfg.Checkpoint != "" {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			cl.CommitUncommittedOffsets(cctx)
			cancel()
		}
		cl.Close()
	}()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		s.log.Warn("stats: the Kafka client did not close in 2s; left closing")
	}
	return err
}

// Changed returns a channel closed at the next change of the figures,
// and the current version.
func (s *Service) Changed() (<-chan struct{}, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed, s.version
}

// Read calls fn with the aggregator under the read lock and the clock's
// now.
func (s *Service) Read(fn func(a *Aggregator, now time.Time)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.agg, s.cfg.Now())
}

// Offsets returns the next offsets to read per topic and partition.
func (s *Service) Offsets() map[string]map[int32]int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]map[int32]int64{}
	for t, ps := range s.offsets {
		out[t] = map[int32]int64{}
		for p, o := range ps {
			out[t][p] = o
		}
	}
	return out
}

// caughtUp tells whether the polled records reach the end of their
// partitions: pacing a consumer that is reading a backlog would slow it
// down, to one fetch per fetchPace. The last stable offset may stand one
// past the last record: the commit marker of its transaction.
func caughtUp(fs kgo.Fetches) bool {
	up := true
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		end := p.LastStableOffset
		if end < 0 {
			end = p.HighWatermark
		}
		if p.Records[len(p.Records)-1].Offset+2 < end {
			up = false
		}
	})
	return up
}

// pacer spaces the polls that bring records at least every apart; a poll
// after one that brought none (the first after a quiet time) does not
// wait. Its timer is armed only while records flow.
type pacer struct {
	every time.Duration
	next  time.Time // zero: poll at once
	t     *time.Timer
}

func newPacer(every time.Duration) *pacer { return &pacer{every: every} }

// polled records that a poll returned, with records or not.
func (p *pacer) polled(records bool) {
	p.next = time.Time{}
	if records {
		p.next = time.Now().Add(p.every)
	}
}

// wait waits until the next poll is due; false when ctx ended first.
func (p *pacer) wait(ctx context.Context) bool {
	d := time.Until(p.next)
	if p.next.IsZero() || d <= 0 {
		return ctx.Err() == nil
	}
	if p.t == nil {
		p.t = time.NewTimer(d)
	} else {
		p.t.Reset(d)
	}
	select {
	case <-ctx.Done():
		return false
	case <-p.t.C:
		return true
	}
}

func (p *pacer) stop() {
	if p.t != nil {
		p.t.Stop()
	}
}
