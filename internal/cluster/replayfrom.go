package cluster

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Where a new owner's replay of the journal starts. Each snapshot says the
// journal offset its tenant's replay may start at (header sb-from), and
// the shard's replay starts at the oldest of its tenants'. But a tenant
// with nothing new since its snapshot (an idle one) keeps the offset of
// that snapshot, however old, and a tenant never snapshotted (never used)
// has none: either made every takeover read the shard's journal from
// long ago (from its start, for a tenant never used), whatever the
// snapshots of the busy tenants.
//
// So the owner keeps, for each tenant it serves, the journal records that
// hold steps after the tenant's latest snapshot (from the replay, then
// from its own commits), and every transaction that writes a snapshot also
// writes a replay-from record to the snapshot topic (key "\x00replay",
// compacted): for each tenant served, the offset of its first such record,
// or, if it has none, the end of the journal as of the previous commit.
// A new owner starts each tenant's replay at the later of that and its
// snapshot's offset (both are bounds below which the tenant has no step
// after its snapshot); a tenant missing from the record (one the writer
// did not serve: the tenants configuration differed) falls back to its
// snapshot's offset, or the journal's start.
const (
	typReplayFrom = "replay-from"
	keyReplayFrom = "\x00replay"
)

// replayFloor is the owner's side: the journal records after each served
// tenant's latest snapshot. Used by the shard's committer goroutine only
// (and by the read before it starts), which feeds it each transaction once
// its records are acknowledged (sealed; its commit may still be in flight,
// but if it fails the shard fails and every later transaction with it).
type replayFloor struct {
	tenants []string
	pending map[string][]pending
}

type pending struct {
	off  int64  // journal offset of a record of steps
	last uint64 // its last step
}

func (f *replayFloor) init(tenants []string) {
	f.tenants = tenants
	f.pending = map[string][]pending{}
}

// stepped: the journal record at off holds steps up to last of tenantID.
func (f *replayFloor) stepped(tenantID string, off int64, last uint64) {
	f.pending[tenantID] = append(f.pending[tenantID], pending{off: off, last: last})
}

// snapshotted: tenantID's snapshot includes every step up to step.
func (f *replayFloor) snapshotted(tenantID string, step uint64) {
	p := f.pending[tenantID]
	i := 0
	for i < len(p) && p[i].last <= step {
		i++
	}
	if i == len(p) {
		delete(f.pending, tenantID)
		return
	}
	f.pending[tenantID] = p[i:]
}

// record is the replay-from record as of the commits so far, whose
// journal records end before journalNext.
func (f *replayFloor) record(s *Shard, journalNext int64, now time.Time) *kgo.Record {
	m := make(map[string]int64, len(f.tenants))
	for _, t := range f.tenants {
		m[t] = journalNext
		if p := f.pending[t]; len(p) > 0 {
			m[t] = p[0].off
		}
	}
	v, _ := json.Marshal(m)
	return &kgo.Record{Topic: s.tp.Snapshots, Partition: int32(s.n), Key: []byte(keyReplayFrom), Value: v, Timestamp: now,
		Headers: []kgo.RecordHeader{{Key: hType, Value: []byte(typReplayFrom)}}}
}

// committed takes a committed transaction's items, in order, and the
// journal records of their batches (with their offsets).
func (f *replayFloor) committed(items []item, journal map[*tenant.LogBatch]*kgo.Record) {
	for _, it := range items {
		if it.batch == nil {
			f.snapshotted(it.tenant, it.step)
			continue
		}
		if r := journal[it.batch]; r != nil && len(it.batch.Records) > 0 {
			f.stepped(it.tenant, r.Offset, it.batch.First+uint64(len(it.batch.Records))-1)
		}
	}
}

// replayFromOf reads a replay-from record.
func replayFromOf(r *kgo.Record) (map[string]int64, error) {
	var m map[string]int64
	if err := json.Unmarshal(r.Value, &m); err != nil {
		return nil, fmt.Errorf("replay-from record at offset %d: %w", r.Offset, err)
	}
	return m, nil
}
