package cluster

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Snapshots larger than a broker takes in one message are split into
// chunks, so the cluster runs on any broker without raising its
// max.message.bytes (1 MiB by default on Apache Kafka, often fixed on
// managed services):
//
//   - a snapshot that fits (value and overhead within
//     Config.MaxMessageBytes) is one record, key the tenant, type
//     "snapshot";
//   - a larger one is n records of type "snapshot-chunk", key
//     "<tenant>\x00<i>" (distinct keys: compaction keeps the latest chunk
//     of each index), headers sb-step and sb-from as a whole snapshot's,
//     sb-snap (an id unique to that snapshot) and sb-chunk "i/n". All of
//     them go in the same transaction as the steps they include, in order.
//
// Reading the compacted topic in offset order, a tenant's snapshot is the
// last one complete: a whole record, or the n chunks of one id. Compaction
// may leave chunks of older snapshots behind (a later snapshot with fewer
// chunks does not overwrite their keys), but those come before the later
// snapshot's records, which are never compacted away while they are the
// latest, so the last complete snapshot is always the latest written.
const (
	typChunk = "snapshot-chunk"
	hSnap    = "sb-snap"  // chunk: the snapshot's id
	hChunk   = "sb-chunk" // chunk: "i/n", i from 0
)

// DefaultMaxMessageBytes is Config.MaxMessageBytes by default: the
// producer's default largest batch (kgo), below Apache Kafka's default
// message.max.bytes (1,048,588).
const DefaultMaxMessageBytes = 1_000_012

// recordOverhead bounds the bytes a record adds to its value and key in a
// batch of its own: the batch header (61), the record's varints and
// attributes, and the header keys and values we write (sized apart).
const recordOverhead = 128

// snapshotRecords returns the records of one tenant's snapshot as of step:
// one if it fits the brokers' message limit, else its chunks.
func (s *Shard) snapshotRecords(tenantID string, step uint64, state []byte, from string, now time.Time) []*kgo.Record {
	stepV := []byte(strconv.FormatUint(step, 10))
	hdrs := []kgo.RecordHeader{{Key: hType, Value: []byte(typSnap)}, {Key: hStep, Value: stepV}, {Key: hFrom, Value: []byte(from)}}
	if recordOverhead+len(tenantID)+headersLen(hdrs)+len(state) <= s.cfg.MaxMessageBytes {
		return []*kgo.Record{{Topic: s.tp.Snapshots, Partition: int32(s.n), Key: []byte(tenantID), Value: state, Timestamp: now, Headers: hdrs}}
	}
	s.snapSeq++
	id := []byte(s.owner.Claim + "." + strconv.FormatUint(s.snapSeq, 10))
	// Room for the value: the limit less the key, the headers (the chunk
	// header at its longest) and the overhead.
	room := s.cfg.MaxMessageBytes - recordOverhead - len(tenantID) - 12 -
		headersLen(hdrs) - len(hSnap) - len(id) - len(hChunk) - 2*20
	if room < 1 {
		room = 1
	}
	n := (len(state) + room - 1) / room
	recs := make([]*kgo.Record, 0, n)
	for i := 0; i < n; i++ {
		part := state[i*room : min(len(state), (i+1)*room)]
		recs = append(recs, &kgo.Record{Topic: s.tp.Snapshots, Partition: int32(s.n), Timestamp: now,
			Key: []byte(tenantID + "\x00" + strconv.Itoa(i)), Value: part,
			Headers: []kgo.RecordHeader{{Key: hType, Value: []byte(typChunk)}, {Key: hStep, Value: stepV}, {Key: hFrom, Value: []byte(from)},
				{Key: hSnap, Value: id}, {Key: hChunk, Value: []byte(strconv.Itoa(i) + "/" + strconv.Itoa(n))}}})
	}
	return recs
}

func headersLen(hs []kgo.RecordHeader) int {
	n := 0
	for _, h := range hs {
		n += len(h.Key) + len(h.Value) + 2
	}
	return n
}

// snapshotReader rebuilds each wanted tenant's latest snapshot from the
// snapshot topic read in offset order.
type snapshotReader struct {
	want   map[string]bool
	states map[string]*tenant.LogState
	from   map[string]int64
	stats  *ReplayStats
	asm    map[string]*assembly
	floor  map[string]int64 // the latest replay-from record
}

// assembly is a chunked snapshot being read.
type assembly struct {
	id    string
	step  uint64
	from  int64
	parts [][]byte
	got   int
}

func newSnapshotReader(want map[string]bool, stats *ReplayStats) *snapshotReader {
	return &snapshotReader{want: want, states: map[string]*tenant.LogState{}, from: map[string]int64{}, stats: stats,
		asm: map[string]*assembly{}}
}

func (sr *snapshotReader) record(r *kgo.Record) error {
	typ := header(r, hType)
	if typ == typReplayFrom {
		m, err := replayFromOf(r)
		sr.floor = m
		return err
	}
	if typ != typSnap && typ != typChunk {
		return nil
	}
	id := string(r.Key)
	if typ == typChunk {
		id, _, _ = strings.Cut(id, "\x00")
	}
	if !sr.want[id] {
		return nil
	}
	step, err1 := strconv.ParseUint(header(r, hStep), 10, 64)
	from, err2 := strconv.ParseInt(header(r, hFrom), 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("snapshot at offset %d: bad headers", r.Offset)
	}
	if typ == typSnap {
		delete(sr.asm, id)
		sr.done(id, r.Value, step, from)
		return nil
	}
	sr.stats.SnapshotChunks++
	is, ns, ok := strings.Cut(header(r, hChunk), "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return fmt.Errorf("snapshot chunk at offset %d: bad %s header %q", r.Offset, hChunk, header(r, hChunk))
	}
	snap := header(r, hSnap)
	a := sr.asm[id]
	if a == nil || a.id != snap {
		// A later snapshot's chunk (or a leftover of an older one that
		// compaction kept): whatever was being assembled is superseded.
		a = &assembly{id: snap, step: step, from: from, parts: make([][]byte, n)}
		sr.asm[id] = a
	}
	if len(a.parts) != n || a.step != step || a.parts[i] != nil {
		return fmt.Errorf("snapshot chunk at offset %d: inconsistent with the other chunks of snapshot %s", r.Offset, snap)
	}
	a.parts[i] = r.Value
	a.got++
	if a.got == n {
		delete(sr.asm, id)
		sr.done(id, bytes.Join(a.parts, nil), a.step, a.from)
	}
	return nil
}

func (sr *snapshotReader) done(id string, state []byte, step uint64, from int64) {
	sr.states[id] = &tenant.LogState{Snapshot: state, SnapshotStep: step}
	sr.from[id] = from
	sr.stats.SnapshotsRead++
	sr.stats.SnapshotBytes += len(state)
}

// readSnapshots reads the shard's snapshot partition up to this claim:
// the wanted tenants' snapshots, the offsets their snapshots say their
// replay may start at, and the latest replay-from record.
func (s *Shard) readSnapshots(ctx context.Context, want map[string]bool) (map[string]*tenant.LogState, map[string]int64, map[string]int64, error) {
	sr := newSnapshotReader(want, &s.stats.Replay)
	err := s.readUntilClaim(ctx, s.tp.Snapshots, kgo.NewOffset().AtStart(), sr.record)
	return sr.states, sr.from, sr.floor, err
}
