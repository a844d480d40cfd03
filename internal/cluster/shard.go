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
	// Beat is when a node's announcement (node.go) was written: the
	// announcements are written again every AnnounceInterval.
	Beat time.Time `json:"beat,omitzero"`
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
	// lanes are the shard's transactional producers (txnLanes of them,
	// ids TransactionalIDs), used in turn: the next transaction produces
	// on one while the previous one's EndTxn is in flight on another, and
	// it commits only after that one committed.
	lanes []*kgo.Client
	log   *slog.Logger
	owner Owner

	mu      sync.Mutex
	queue   []item
	wake    chan struct{}
	closing bool
	err     error         // set once: every later item fails with it
	failed  chan struct{} // closed when err is set
	exited  chan struct{}

	journalNext int64  // offset after the last journal record flushed (run goroutine, then Close)
	next        int    // the lane of the next transaction (run goroutine, then Close)
	snapSeq     uint64 // chunked snapshots written (their ids)
	floor       replayFloor

	// Counters (under mu).
	stats ShardStats
}

// ShardStats are a shard's counters since it was opened.
type ShardStats struct {
	Commits, Steps, Events, Snapshots int64
	Batches                           int64 // batches of steps committed
	Aborts                            int64
	// LastCommit is how long the last transaction took, from its begin
	// (its first record) to its commit.
	LastCommit time.Duration
	// Queued is how many batches and snapshots wait to be produced: the
	// shard's lag.
	Queued int
	// Where the time goes, summed over the commits: per transaction, its
	// slowest record from produce to acknowledgement (the partition adds,
	// the replicated write, a wait for the transactional id's previous
	// markers), the wait at its seal for records not yet acknowledged
	// (FlushTime), and EndTxn (the commit decision, replicated); and
	// summed over the batches, the time from Append to the commit (what a
	// reply waits for the log).
	ProduceTime, FlushTime, EndTime, WaitTime time.Duration
	Replay                                    ReplayStats
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
	at     time.Time // handed over
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
	closeAll := s.closeLanes
	for _, id := range TransactionalIDs(cfg, n) {
		cl, err := kgo.NewClient(append([]kgo.Opt{
			kgo.SeedBrokers(cfg.Brokers...),
			kgo.ClientID("switchboard-" + owner.Node),
			kgo.WithLogger(kslog.New(s.log)),
			kgo.TransactionalID(id),
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
		}, cfg.ExtraOpts...)...)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		s.lanes = append(s.lanes, cl)
	}
	want := map[string]bool{}
	for _, t := range tenants {
		want[t] = true
	}
	// The snapshots are read meanwhile: the read ends at the claim, so it
	// sees whatever was committed before the fence.
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	s.floor.init(tenants)
	snapc := make(chan snapshotsRead, 1)
	go func() {
		var sr snapshotsRead
		sr.states, sr.from, sr.floor, sr.err = s.readSnapshots(rctx, want)
		snapc <- sr
	}()
	start := time.Now()
	// The fence: a new epoch for each transactional id; the broker aborts
	// the earlier owner's open transactions and refuses its later writes.
	ferrs := make(chan error, len(s.lanes))
	for _, cl := range s.lanes {
		go func() {
			_, _, err := cl.ProducerID(ctx)
			ferrs <- err
		}()
	}
	var ferr error
	for range s.lanes {
		if err := <-ferrs; err != nil && ferr == nil {
			ferr = err
		}
	}
	if ferr != nil {
		closeAll()
		return nil, nil, fmt.Errorf("cluster: shard %d: init producer id: %w", n, ferr)
	}
	s.stats.Replay.Fence = time.Since(start)
	start = time.Now()
	claimOff, err := s.claim(ctx)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("cluster: shard %d: claim: %w", n, err)
	}
	s.journalNext = claimOff + 1
	s.stats.Replay.Claim = time.Since(start)
	start = time.Now()
	snaps := <-snapc
	states, err := snaps.states, snaps.err
	if err == nil {
		states, err = s.readJournal(ctx, want, snaps)
	}
	if err != nil {
		closeAll()
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
	cl := s.lanes[0]
	s.next = 1 % len(s.lanes)
	if err := cl.BeginTransaction(); err != nil {
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
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		cl.EndTransaction(context.Background(), kgo.TryAbort)
		return 0, err
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return 0, err
	}
	return recs[0].Offset, nil
}

// snapshotsRead is what readSnapshots read.
type snapshotsRead struct {
	states map[string]*tenant.LogState
	from   map[string]int64 // each snapshot's journal offset its tenant's replay may start at
	floor  map[string]int64 // the replay-from record's (replayfrom.go)
	err    error
}

// readJournal reads the step records after each tenant's snapshot from
// the shard's journal partition, read_committed, up to this claim.
func (s *Shard) readJournal(ctx context.Context, want map[string]bool, snaps snapshotsRead) (map[string]*tenant.LogState, error) {
	states, from, floor := snaps.states, snaps.from, snaps.floor
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
	err := s.readUntilClaim(ctx, s.tp.Journal, start, func(r *kgo.Record) error {
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
	it.at = time.Now()
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

// txn is one transaction of the shard: open (its items' records are
// produced as they arrive) or committing (flushed, EndTxn in flight).
type txn struct {
	cl      *kgo.Client
	ctx     context.Context
	cancel  context.CancelFunc
	items   []item
	began   time.Time
	from    string                           // sb-from of its snapshots: the journal offset after the previous transaction's records
	journal map[*tenant.LogBatch]*kgo.Record // its batches' journal records (their offsets once flushed)
	snapped bool                             // it holds a snapshot

	mu         sync.Mutex
	err        error // the first produce error
	maxJournal int64
	slowest    time.Duration // the slowest record's produce to acknowledgement

	flush, end time.Duration
	endErr     error
}

// run commits what is queued. A transaction is open while the previous
// one commits: items are produced into it as they arrive, so when the
// previous commit is done, most of its records are already acknowledged;
// it is then flushed and committed in turn (group commit, pipelined).
// Transactions commit in order: the next one's EndTxn starts only after
// the previous one's succeeded, so a committed transaction always has
// every earlier one committed before it, and a failure fails every later
// batch. The open transaction produces only after the previous one's
// records were acknowledged, so offsets follow step order.
func (s *Shard) run() {
	defer close(s.exited)
	var open, committing *txn
	results := make(chan *txn, 1)
	for {
		s.mu.Lock()
		items, closing, failed := s.queue, s.closing, s.err
		s.queue = nil
		s.mu.Unlock()
		if failed != nil {
			failItems(items, failed)
			if open != nil {
				s.abort(open)
				failItems(open.items, failed)
				open = nil
			}
			if committing == nil {
				return
			}
			// Its EndTxn may still succeed: its batches are answered
			// by what it did.
			s.finish(<-results)
			committing = nil
			continue
		}
		if len(items) > 0 {
			if open == nil {
				t, err := s.begin()
				if err != nil {
					failItems(items, err)
					s.fail(err)
					continue
				}
				open = t
			}
			s.produce(open, items)
		}
		if committing == nil && open != nil {
			if err := s.seal(open); err != nil {
				s.abort(open)
				failItems(open.items, err)
				open = nil
				s.fail(err)
				continue
			}
			committing, open = open, nil
			go func(t *txn) {
				t0 := time.Now()
				t.endErr = t.cl.EndTransaction(t.ctx, kgo.TryCommit)
				t.end = time.Since(t0)
				t.cancel()
				results <- t
			}(committing)
			continue
		}
		if open == nil && committing == nil && closing {
			return
		}
		select {
		case <-s.wake:
		case t := <-results:
			s.finish(t)
			committing = nil
		}
	}
}

func failItems(items []item, err error) {
	for _, it := range items {
		if it.done != nil {
			it.done(err)
		}
	}
}

// begin opens a transaction on the next lane.
func (s *Shard) begin() (*txn, error) {
	t := &txn{cl: s.lanes[s.next], began: time.Now(), maxJournal: -1,
		from: strconv.FormatInt(s.journalNext, 10), journal: map[*tenant.LogBatch]*kgo.Record{}}
	if err := t.cl.BeginTransaction(); err != nil {
		return nil, err
	}
	s.next = (s.next + 1) % len(s.lanes)
	t.ctx, t.cancel = context.WithTimeout(context.Background(), s.cfg.TransactionTimeout)
	return t, nil
}

// produce adds items to the open transaction t.
func (s *Shard) produce(t *txn, items []item) {
	t.items = append(t.items, items...)
	now := time.Now()
	promise := func(r *kgo.Record, err error) {
		d := time.Since(now)
		t.mu.Lock()
		defer t.mu.Unlock()
		if err != nil && t.err == nil {
			t.err = err
		}
		if err == nil && r.Topic == s.tp.Journal && r.Offset > t.maxJournal {
			t.maxJournal = r.Offset
		}
		t.slowest = max(t.slowest, d)
	}
	for _, it := range items {
		key := []byte(it.tenant)
		if it.batch == nil {
			for _, r := range s.snapshotRecords(it.tenant, it.step, it.state, t.from, now) {
				t.cl.Produce(t.ctx, r, promise)
			}
			t.snapped = true
			continue
		}
		jr := &kgo.Record{Topic: s.tp.Journal, Partition: int32(s.n), Key: key, Value: appendSteps(nil, it.batch), Timestamp: now,
			Headers: []kgo.RecordHeader{{Key: hType, Value: []byte(typSteps)}}}
		t.journal[it.batch] = jr
		t.cl.Produce(t.ctx, jr, promise)
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
			t.cl.Produce(t.ctx, &kgo.Record{Topic: topic, Partition: event.Partition(k, s.parts[topic]), Key: k,
				Value: e.AppendJSON(nil), Headers: hdrs, Timestamp: now}, promise)
		}
	}
}

// seal waits until every record of t is acknowledged; the next
// transaction's journal records come after them. A transaction holding a
// snapshot also gets the replay-from record (replayfrom.go) as of the
// transactions sealed before it (a later failure of one of those fails
// this one too).
func (s *Shard) seal(t *txn) error {
	if t.snapped {
		s.produceFloor(t)
	}
	t0 := time.Now()
	err := t.cl.Flush(t.ctx)
	t.flush = time.Since(t0)
	t.mu.Lock()
	if t.err != nil {
		err = t.err
	}
	maxJournal := t.maxJournal
	t.mu.Unlock()
	if err != nil {
		return err
	}
	if maxJournal >= 0 {
		s.journalNext = maxJournal + 1
	}
	s.floor.committed(t.items, t.journal)
	return nil
}

func (s *Shard) produceFloor(t *txn) {
	t.cl.Produce(t.ctx, s.floor.record(s, s.journalNext, time.Now()), func(_ *kgo.Record, err error) {
		if err != nil {
			t.mu.Lock()
			if t.err == nil {
				t.err = err
			}
			t.mu.Unlock()
		}
	})
}

func (s *Shard) abort(t *txn) {
	defer t.cancel()
	actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer acancel()
	if err := t.cl.AbortBufferedRecords(actx); err == nil {
		t.cl.EndTransaction(actx, kgo.TryAbort)
	}
}

// finish answers the batches of a transaction whose EndTxn returned.
func (s *Shard) finish(t *txn) {
	now := time.Now()
	failItems(t.items, t.endErr)
	if t.endErr != nil {
		s.fail(t.endErr)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.stats
	st.Commits++
	st.LastCommit = now.Sub(t.began)
	st.ProduceTime += t.slowest
	st.FlushTime += t.flush
	st.EndTime += t.end
	for _, it := range t.items {
		if it.batch != nil {
			st.Steps += int64(len(it.batch.Records))
			st.Events += int64(len(it.batch.Events))
			st.Batches++
			st.WaitTime += now.Sub(it.at)
		} else {
			st.Snapshots++
		}
	}
}

func (s *Shard) fail(err error) {
	// INVALID_TXN_STATE: the coordinator's transaction for the id is not
	// the one this producer has open, which it only is after another
	// producer initialised the id (the broker takes a commit at the
	// fenced epoch for a retry of a transaction the fence aborted).
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidProducerIDMapping) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed) ||
		errors.Is(err, kerr.InvalidTxnState) {
		err = fmt.Errorf("%w: %w", ErrFenced, err)
	}
	s.mu.Lock()
	first := s.err == nil
	if first {
		s.err = err
		s.stats.Aborts++
		close(s.failed)
	}
	s.mu.Unlock()
	if first && !errors.Is(err, ErrShardClosed) {
		s.log.Error("cluster: a commit failed; the shard is dropped", "err", err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close commits what is queued (snapshots included), writes a release to
// the owners topic if release is set (a graceful handover), and closes the
// producers. Batches handed over after Close began fail with
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
		cl := s.lanes[s.next]
		if err = cl.BeginTransaction(); err == nil {
			if err = cl.ProduceSync(ctx, &kgo.Record{Topic: s.tp.Owners, Key: []byte(strconv.Itoa(s.n)), Value: ov}).FirstErr(); err == nil {
				err = cl.EndTransaction(ctx, kgo.TryCommit)
			} else {
				cl.EndTransaction(context.Background(), kgo.TryAbort)
			}
		}
	}
	s.closeLanes()
	return err
}

func (s *Shard) closeLanes() {
	for _, cl := range s.lanes {
		cl.Close()
	}
}

// Abandon drops the shard at once, committing nothing more (it was lost to
// another node, or failed): queued batches fail.
func (s *Shard) Abandon() {
	s.fail(ErrShardClosed)
	s.closeLanes()
}
