package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// Record types, in the header hType of journal and snapshot records.
const (
	hType    = "sb-type"
	hStep    = "sb-step" // snapshot: the step it includes
	hFrom    = "sb-from" // snapshot: journal offset its tenant's replay may start at
	typSteps = "steps"
	typSnap  = "snapshot"
	typClaim = "claim"
)

// Owner is a shard's entry in the owners topic.
type Owner struct {
	Node    string    `json:"node"`
	HTTP    string    `json:"http,omitempty"` // advertised API address, host:port
	SIP     string    `json:"sip,omitempty"`
	Claim   string    `json:"claim"` // the claim's nonce
	Since   time.Time `json:"since"`
	Release bool      `json:"released,omitempty"` // written on a graceful handover
}

// Shard is one shard owned by this process: the transactional producer
// that fences every earlier owner and commits the shard's tenants' steps,
// events and snapshots in group-commit transactions. Its methods are safe
// for concurrent use.
type Shard struct {
	n     int
	cfg   *Config
	tp    Topics
	parts map[string]int32
	cl    *kgo.Client
	log   *slog.Logger
	owner Owner

	mu      sync.Mutex
	queue   []item
	wake    chan struct{}
	closing bool
	err     error         // set once: every later item fails with it
	failed  chan struct{} // closed when err is set
	exited  chan struct{}

	journalNext int64  // offset after the last committed journal record
	snapSeq     uint64 // chunked snapshots written (their ids)
	floor       replayFloor

	// Counters (under mu).
	stats ShardStats
}

// ShardStats are a shard's counters since it was opened.
type ShardStats struct {
	Commits, Steps, Events, Snapshots int64
	Aborts                            int64
	LastCommit                        time.Duration
	// Queued is how many batches and snapshots wait for the next
	// transaction: the shard's lag.
	Queued int
	// Where the time of the commits went, summed: producing and flushing
	// the records (with the partition adds of the transaction), and
	// EndTxn (the commit decision, replicated).
	FlushTime, EndTime time.Duration
	Replay             ReplayStats
}

// ReplayStats say what the takeover read.
type ReplayStats struct {
	Fence, Claim, Read time.Duration
	SnapshotsRead      int
	SnapshotBytes      int
	SnapshotChunks     int // chunk records read (snapshots too large for one message)
	JournalRecords     int
	Steps              int // step records handed to the tenants
	From               int64
}

type item struct {
	tenant string
	batch  *tenant.LogBatch
	done   func(error)
	step   uint64 // snapshot
	state  []byte // snapshot
}

// OpenShard takes shard n for the node owner: it initialises the shard's
// transactional id (fencing and aborting whatever an earlier owner had
// open), commits a claim to the journal, snapshot and owners topics, and
// reads the shard's state back up to that claim: for each tenant of
// tenants, the latest snapshot and the step records after it. parts are the
// output topics' partition counts (EnsureTopics).
func OpenShard(ctx context.Context, cfg *Config, parts map[string]int32, n int, owner Owner, tenants []string) (*Shard, map[string]*tenant.LogState, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, nil, err
	}
	s := &Shard{n: n, cfg: cfg, tp: TopicsOf(cfg), parts: parts, wake: make(chan struct{}, 1),
		failed: make(chan struct{}), exited: make(chan struct{}),
		log: cfg.Logger.With("shard", n, "node", owner.Node)}
	var nonce [8]byte
	rand.Read(nonce[:])
	owner.Claim = hex.EncodeToString(nonce[:])
	owner.Since = time.Now().UTC()
	s.owner = owner
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("switchboard-" + owner.Node),
		kgo.WithLogger(kslog.New(s.log)),
		kgo.TransactionalID(TransactionalID(cfg, n)),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		// No batch larger than the brokers take: snapshots are split
		// to fit it (snapshot.go).
		kgo.ProducerBatchMaxBytes(int32(cfg.MaxMessageBytes)),
		// A retriable produce error waits for a metadata refresh, which
		// kgo rate-limits by this (5 s by default): it bounds the stalls.
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		kgo.UnknownTopicRetries(-1),
	}, cfg.ExtraOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, err
	}
	s.cl = cl
	start := time.Now()
	// The fence: a new epoch for the transactional id; the broker aborts
	// the earlier owner's open transaction and refuses its later writes.
	if _, _, err := cl.ProducerID(ctx); err != nil {
		cl.Close()
		return nil, nil, fmt.Errorf("cluster: shard %d: init producer id: %w", n, err)
	}
	s.stats.Replay.Fence = time.Since(start)
	start = time.Now()
	claimOff, err := s.claim(ctx)
	if err != nil {
		cl.Close()
		return nil, nil, fmt.Errorf("cluster: shard %d: claim: %w", n, err)
	}
	s.journalNext = claimOff + 1
	s.stats.Replay.Claim = time.Since(start)
	start = time.Now()
	states, err := s.read(ctx, tenants)
	if err != nil {
		cl.Close()
		return nil, nil, fmt.Errorf("cluster: shard %d: read state: %w", n, err)
	}
	s.stats.Replay.Read = time.Since(start)
	go s.run()
	s.log.Info("cluster: shard claimed", "claim", owner.Claim, "fence", s.stats.Replay.Fence.Round(time.Millisecond),
		"claim_took", s.stats.Replay.Claim.Round(time.Millisecond), "read", s.stats.Replay.Read.Round(time.Millisecond),
		"snapshots", s.stats.Replay.SnapshotsRead, "steps", s.stats.Replay.Steps)
	return s, states, nil
}

// N is the shard's number.
func (s *Shard) N() int { return s.n }

// Owner is the claim this shard was opened with.
func (s *Shard) Owner() Owner { return s.owner }

// Stats returns the shard's counters.
func (s *Shard) Stats() ShardStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Queued = len(s.queue)
	return st
}

// Failed is closed when a commit failed: the shard must be dropped (and,
// if this node still should own it, opened again).
func (s *Shard) Failed() <-chan struct{} { return s.failed }

// Err is why the shard failed (nil while it has not).
func (s *Shard) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Shard) claim(ctx context.Context) (int64, error) {
	if err := s.cl.BeginTransaction(); err != nil {
		return 0, err
	}
	ov, _ := json.Marshal(s.owner)
	hdr := []kgo.RecordHeader{{Key: hType, Value: []byte(typClaim)}}
	key := []byte("\x00claim")
	recs := []*kgo.Record{
		{Topic: s.tp.Journal, Partition: int32(s.n), Key: key, Value: ov, Headers: hdr},
		{Topic: s.tp.Snapshots, Partition: int32(s.n), Key: key, Value: ov, Headers: hdr},
		{Topic: s.tp.Owners, Partition: 0, Key: []byte(strconv.Itoa(s.n)), Value: ov},
	}
	res := s.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		s.cl.EndTransaction(context.Background(), kgo.TryAbort)
		return 0, err
	}
	if err := s.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return 0, err
	}
	return recs[0].Offset, nil
}

// read reads the snapshots and the journal of the shard, read_committed,
// up to this claim.
func (s *Shard) read(ctx context.Context, tenants []string) (map[string]*tenant.LogState, error) {
	want := map[string]bool{}
	for _, t := range tenants {
		want[t] = true
	}
	s.floor.init(tenants)
	states, from, floor, err := s.readSnapshots(ctx, want)
	if err != nil {
		return nil, err
	}
	// Replay starts at the oldest offset a tenant needs: the later of its
	// snapshot's and the replay-from record's (replayfrom.go); a tenant
	// with neither needs the whole journal.
	start := kgo.NewOffset().AtStart()
	s.stats.Replay.From = -1
	if len(want) > 0 {
		min := int64(-1)
		for t := range want {
			f, ok := from[t]
			if c, found := floor[t]; found && (!ok || c > f) {
				f, ok = c, true
			}
			if !ok {
				min = -1
				break
			}
			if min < 0 || f < min {
				min = f
			}
		}
		if min >= 0 {
			start = kgo.NewOffset().At(min)
			s.stats.Replay.From = min
		}
	}
	err = s.readUntilClaim(ctx, s.tp.Journal, start, func(r *kgo.Record) error {
		if header(r, hType) != typSteps || !want[string(r.Key)] {
			return nil
		}
		s.stats.Replay.JournalRecords++
		first, recs, err := decodeSteps(r.Value)
		if err != nil {
			return fmt.Errorf("journal offset %d: %w", r.Offset, err)
		}
		st := states[string(r.Key)]
		if st == nil {
			st = &tenant.LogState{}
			states[string(r.Key)] = st
		}
		took := false
		for i, rec := range recs {
			step := first + uint64(i)
			last := st.SnapshotStep
			if k := len(st.Steps); k > 0 {
				last = st.Steps[k-1].Step
			}
			if step <= last {
				continue // in the snapshot already
			}
			st.Steps = append(st.Steps, tenant.LoggedStep{Step: step, Record: rec})
			s.stats.Replay.Steps++
			took = true
		}
		if took {
			s.floor.stepped(string(r.Key), r.Offset, st.Steps[len(st.Steps)-1].Step)
		}
		return nil
	})
	return states, err
}

// readUntilClaim reads partition n of topic read_committed from start and
// calls f for each record until it reaches this shard's claim record.
func (s *Shard) readUntilClaim(ctx context.Context, topic string, start kgo.Offset, f func(*kgo.Record) error) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.WithLogger(kslog.New(s.log)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {int32(s.n): start}}),
		kgo.FetchMaxWait(100 * time.Millisecond),
		// Many records (snapshot chunks) per round trip, not 1 MiB.
		kgo.FetchMaxPartitionBytes(8 << 20),
		kgo.MetadataMinAge(250 * time.Millisecond),
	}, s.cfg.ExtraOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) && ferr == nil && !kerr.IsRetriable(err) {
				ferr = err
			}
		})
		if ferr != nil {
			return ferr
		}
		found := false
		var cbErr error
		fs.EachRecord(func(r *kgo.Record) {
			if found || cbErr != nil {
				return
			}
			if header(r, hType) == typClaim {
				var o Owner
				if json.Unmarshal(r.Value, &o) == nil && o.Claim == s.owner.Claim {
					found = true
					return
				}
			}
			cbErr = f(r)
		})
		if cbErr != nil {
			return cbErr
		}
		if found {
			return nil
		}
	}
}

func header(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// Journal record of a batch of steps: 'J' | 1 | uvarint first step | uvarint n | n * (uvarint len | step record).
func appendSteps(dst []byte, b *tenant.LogBatch) []byte {
	dst = append(dst, 'J', 1)
	dst = binary.AppendUvarint(dst, b.First)
	dst = binary.AppendUvarint(dst, uint64(len(b.Records)))
	for _, r := range b.Records {
		dst = binary.AppendUvarint(dst, uint64(len(r)))
		dst = append(dst, r...)
	}
	return dst
}

var errBadSteps = errors.New("cluster: bad journal record")

func decodeSteps(p []byte) (uint64, [][]byte, error) {
	if len(p) < 2 || p[0] != 'J' || p[1] != 1 {
		return 0, nil, errBadSteps
	}
	p = p[2:]
	first, k := binary.Uvarint(p)
	if k <= 0 {
		return 0, nil, errBadSteps
	}
	p = p[k:]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) {
		return 0, nil, errBadSteps
	}
	p = p[k:]
	recs := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return 0, nil, errBadSteps
		}
		recs = append(recs, p[k:k+int(l)])
		p = p[k+int(l):]
	}
	if len(p) != 0 {
		return 0, nil, errBadSteps
	}
	return first, recs, nil
}

// Log returns the StepLog of one tenant of the shard.
func (s *Shard) Log(tenantID string) tenant.StepLog { return tenantLog{s: s, tenant: tenantID} }

type tenantLog struct {
	s      *Shard
	tenant string
}

func (l tenantLog) Append(b tenant.LogBatch, done func(error)) {
	l.s.enqueue(item{tenant: l.tenant, batch: &b, done: done})
}

func (l tenantLog) Snapshot(step uint64, state []byte) {
	l.s.enqueue(item{tenant: l.tenant, step: step, state: state})
}

func (s *Shard) enqueue(it item) {
	s.mu.Lock()
	if s.err != nil || (s.closing && it.batch != nil) {
		err := s.err
		if err == nil {
			err = ErrShardClosed
		}
		s.mu.Unlock()
		if it.done != nil {
			it.done(err)
		}
		return
	}
	s.queue = append(s.queue, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run commits what is queued, one transaction at a time: everything
// queued when a transaction begins goes into it (group commit).
func (s *Shard) run() {
	defer close(s.exited)
	for {
		s.mu.Lock()
		items, closing, failed := s.queue, s.closing, s.err
		s.queue = nil
		s.mu.Unlock()
		if len(items) == 0 {
			if closing || failed != nil {
				return
			}
			<-s.wake
			continue
		}
		if failed != nil {
			for _, it := range items {
				if it.done != nil {
					it.done(failed)
				}
			}
			continue
		}
		start := time.Now()
		err := s.commit(items)
		for _, it := range items {
			if it.done != nil {
				it.done(err)
			}
		}
		if err != nil {
			s.fail(err)
			continue
		}
		s.mu.Lock()
		s.stats.Commits++
		s.stats.LastCommit = time.Since(start)
		for _, it := range items {
			if it.batch != nil {
				s.stats.Steps += int64(len(it.batch.Records))
				s.stats.Events += int64(len(it.batch.Events))
			} else {
				s.stats.Snapshots++
			}
		}
		s.mu.Unlock()
	}
}

func (s *Shard) fail(err error) {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidProducerIDMapping) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		err = fmt.Errorf("%w: %w", ErrFenced, err)
	}
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		s.stats.Aborts++
		close(s.failed)
	}
	s.mu.Unlock()
	s.log.Error("cluster: a commit failed; the shard is dropped", "err", err)
}

// commit writes items in one transaction.
func (s *Shard) commit(items []item) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.TransactionTimeout)
	defer cancel()
	if err := s.cl.BeginTransaction(); err != nil {
		return err
	}
	from := strconv.FormatInt(s.journalNext, 10)
	var mu sync.Mutex
	var perr error
	maxJournal := int64(-1)
	promise := func(r *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && perr == nil {
			perr = err
		}
		if err == nil && r.Topic == s.tp.Journal && r.Offset > maxJournal {
			maxJournal = r.Offset
		}
	}
	now := time.Now()
	journal := make(map[*tenant.LogBatch]*kgo.Record, len(items))
	snapped := false
	for _, it := range items {
		key := []byte(it.tenant)
		if it.batch == nil {
			for _, r := range s.snapshotRecords(it.tenant, it.step, it.state, from, now) {
				s.cl.Produce(ctx, r, promise)
			}
			snapped = true
			continue
		}
		jr := &kgo.Record{Topic: s.tp.Journal, Partition: int32(s.n), Key: key, Value: appendSteps(nil, it.batch), Timestamp: now,
			Headers: []kgo.RecordHeader{{Key: hType, Value: []byte(typSteps)}}}
		journal[it.batch] = jr
		s.cl.Produce(ctx, jr, promise)
		for i := range it.batch.Events {
			e := &it.batch.Events[i]
			var topic string
			switch e.Topic() {
			case event.AgentStateTopic:
				topic = s.tp.AgentState
			case event.CallThreadTopic:
				topic = s.tp.CallThread
			default:
				promise(nil, fmt.Errorf("cluster: event %d has no topic", e.ID))
				continue
			}
			k := []byte(e.Key())
			h := e.Headers()
			hdrs := make([]kgo.RecordHeader, len(h))
			for j := range h {
				hdrs[j] = kgo.RecordHeader{Key: h[j].Key, Value: []byte(h[j].Value)}
			}
			s.cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: event.Partition(k, s.parts[topic]), Key: k,
				Value: e.AppendJSON(nil), Headers: hdrs, Timestamp: now}, promise)
		}
	}
	if snapped {
		// The snapshot partition is in this transaction anyway.
		s.cl.Produce(ctx, s.floor.record(s, s.journalNext, now), promise)
	}
	t0 := time.Now()
	ferr := s.cl.Flush(ctx)
	flushed := time.Since(t0)
	mu.Lock()
	err := perr
	mu.Unlock()
	if err == nil {
		err = ferr
	}
	if err != nil {
		actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer acancel()
		if aerr := s.cl.AbortBufferedRecords(actx); aerr == nil {
			s.cl.EndTransaction(actx, kgo.TryAbort)
		}
		return err
	}
	t0 = time.Now()
	if err := s.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return err
	}
	s.mu.Lock()
	s.stats.FlushTime += flushed
	s.stats.EndTime += time.Since(t0)
	s.mu.Unlock()
	if maxJournal >= 0 {
		s.journalNext = maxJournal + 1
	}
	s.floor.committed(items, journal)
	return nil
}

// Close commits what is queued (snapshots included), writes a release to
// the owners topic if release is set (a graceful handover), and closes the
// producer. Batches handed over after Close began fail with
// ErrShardClosed; snapshots are still taken.
func (s *Shard) Close(ctx context.Context, release bool) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	var err error
	select {
	case <-s.exited:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil && release && s.Err() == nil {
		o := s.owner
		o.Release = true
		ov, _ := json.Marshal(o)
		if err = s.cl.BeginTransaction(); err == nil {
			if err = s.cl.ProduceSync(ctx, &kgo.Record{Topic: s.tp.Owners, Key: []byte(strconv.Itoa(s.n)), Value: ov}).FirstErr(); err == nil {
				err = s.cl.EndTransaction(ctx, kgo.TryCommit)
			} else {
				s.cl.EndTransaction(context.Background(), kgo.TryAbort)
			}
		}
	}
	s.cl.Close()
	return err
}

// Abandon drops the shard at once, committing nothing more (it was lost to
// another node, or failed): queued batches fail.
func (s *Shard) Abandon() {
	s.fail(ErrShardClosed)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.cl.Close()
}
