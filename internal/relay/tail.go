package relay

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/steprec"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// inKafka is what the partition tails hold of the pending events' keys:
// each (topic, key, Seq) found beyond the checkpoint's offsets, and the
// highest Seq per topic and key.
type inKafka struct {
	has map[keySeq]struct{}
	top map[string]int64 // topic+"\x00"+key
}

type keySeq struct {
	tk  string // topic+"\x00"+key
	seq int64
}

// skip reports whether Kafka already has e (of the full topic): only an
// event whose (topic, key, Seq) the tails hold is skipped. An event Kafka
// lacks while it holds a later Seq of the key means a record landed after
// one of its key that Kafka refused, which the relay's one batch at a time
// rules out; it is published all the same (nothing is lost) and logged.
func (k *inKafka) skip(topic string, e *event.Event, r *Relay) bool {
	if k == nil {
		return false
	}
	tk := topic + "\x00" + e.Key()
	if _, ok := k.has[keySeq{tk, e.Seq}]; ok {
		return true
	}
	if top, ok := k.top[tk]; ok && top > e.Seq {
		r.sample.Log(context.Background(), slog.LevelError, "order",
			"relay: Kafka holds a later event of the key but not this one; publishing it after them",
			"topic", topic, "key", e.Key(), "seq", e.Seq, "kafka_seq", top)
	}
	return false
}

// resolve returns what Kafka already holds, beyond the checkpoint's
// offsets, of the keys of the events of the step records from..end. It
// retries until Kafka answers and returns nil only when the relay is
// stopped.
func (r *Relay) resolve(ctx context.Context, from, end uint64) *inKafka {
	r.resolving.Store(true)
	defer r.resolving.Store(false)
	start := time.Now()
	keys, err := r.pendingKeys(from, end)
	if err != nil {
		r.fail(err)
		return nil
	}
	// At start these lines are news; after each pause (Kafka refusing
	// events, retried with backoff) they are detail: the pause and its
	// end are logged once each.
	lv := slog.LevelInfo
	if r.resuming.Load() {
		lv = slog.LevelDebug
	}
	r.log.Log(ctx, lv, "relay: reading the partition tails to skip events Kafka already has",
		"from_lsn", from, "to_lsn", end, "keys", len(keys))
	for attempt := 1; ; attempt++ {
		have, read, err := r.readTails(ctx, keys)
		if err == nil {
			r.log.Log(ctx, lv, "relay: partition tails read", "records_read", read, "keys_in_kafka", len(have.top),
				"took", time.Since(start).Round(time.Millisecond))
			return have
		}
		if ctx.Err() != nil {
			return nil
		}
		lvl := r.log.Warn
		if attempt%10 == 0 {
			lvl = r.log.Error
		}
		lvl("relay: cannot read the partition tails yet; publishing waits (the journal keeps the events)", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (r *Relay) pendingKeys(from, end uint64) (map[string]struct{}, error) {
	rd, err := r.j.NewReader(from)
	if err != nil {
		return nil, fmt.Errorf("relay: reader: %w", err)
	}
	defer rd.Close()
	keys := map[string]struct{}{}
	for rd.NextLSN() <= end {
		rec, ok, err := rd.TryNext()
		if err != nil {
			return nil, fmt.Errorf("relay: read journal at lsn %d: %w", rd.NextLSN(), err)
		}
		if !ok {
			return nil, fmt.Errorf("relay: lsn %d not durable", rd.NextLSN())
		}
		sr, err := steprec.Decode(rec.Payload)
		if err != nil {
			return nil, fmt.Errorf("relay: lsn %d: %w", rec.LSN, err)
		}
		for _, b := range sr.Events {
			var e event.Event
			if err := event.Unmarshal(b, &e); err != nil {
				return nil, fmt.Errorf("relay: lsn %d: %w", rec.LSN, err)
			}
			keys[r.topic(&e)+"\x00"+e.Key()] = struct{}{}
		}
	}
	return keys, nil
}

// readTails reads, on every partition a pending key maps to, the records
// from the checkpoint's offset to the end, and returns the (key, Seq) of
// the pending keys found, and how many records it read. Read_committed
// (Config.ReadCommitted) the end is the high watermark all the same: the
// read waits until every transaction with records below it has ended, so
// it sees every committed record below it and no aborted one.
func (r *Relay) readTails(ctx context.Context, keys map[string]struct{}) (*inKafka, int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	topics := r.topics()
	starts, err := r.adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, 0, err
	}
	ends, err := r.adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, 0, err
	}
	counts := map[string]int32{}
	ends.Each(func(o kadm.ListedOffset) { counts[o.Topic]++ })
	want := map[string]map[int32]kgo.Offset{}
	stop := map[string]map[int32]int64{} // end offsets to reach
	for k := range keys {
		var topic, key string
		for i := 0; i < len(k); i++ {
			if k[i] == 0 {
				topic, key = k[:i], k[i+1:]
				break
			}
		}
		n := counts[topic]
		if n == 0 {
			return nil, 0, fmt.Errorf("relay: topic %s has no partitions", topic)
		}
		p := event.Partition([]byte(key), n)
		if want[topic] != nil {
			if _, ok := want[topic][p]; ok {
				continue
			}
		}
		s, _ := starts.Lookup(topic, p)
		e, _ := ends.Lookup(topic, p)
		from := s.Offset
		r.mu.Lock()
		if o, ok := r.cur.Offsets[topic][p]; ok && o > from {
			from = o
		}
		r.mu.Unlock()
		if from >= e.Offset {
			continue
		}
		if want[topic] == nil {
			want[topic], stop[topic] = map[int32]kgo.Offset{}, map[int32]int64{}
		}
		want[topic][p] = kgo.NewOffset().At(from)
		stop[topic][p] = e.Offset
	}
	have := &inKafka{has: map[keySeq]struct{}{}, top: map[string]int64{}}
	if len(want) == 0 {
		return have, 0, nil
	}
	// Control records (transaction markers) are kept so that the read
	// reaches each end offset even when the records before it are a
	// marker, or an aborted transaction's (dropped read_committed) whose
	// marker lies beyond it; they are not events.
	opts := append(append([]kgo.Opt{}, r.cfg.Kafka...),
		kgo.ConsumePartitions(want), kgo.FetchMaxWait(100*time.Millisecond), kgo.KeepControlRecords())
	if r.cfg.ReadCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	left := 0
	for _, ps := range stop {
		left += len(ps)
	}
	read := 0
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, read, fmt.Errorf("relay: reading partition tails: %w (%d partitions left)", ctx.Err(), left)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("relay: fetch %s/%d: %w", t, p, err) })
		if ferr != nil {
			return nil, read, ferr
		}
		fs.EachRecord(func(rec *kgo.Record) {
			read++
			k := rec.Topic + "\x00" + string(rec.Key)
			if _, ok := keys[k]; ok && !rec.Attrs.IsControl() {
				var e event.Event
				if err := event.Unmarshal(rec.Value, &e); err == nil {
					have.has[keySeq{k, e.Seq}] = struct{}{}
					if e.Seq > have.top[k] {
						have.top[k] = e.Seq
					}
				}
			}
			if end, ok := stop[rec.Topic][rec.Partition]; ok && rec.Offset+1 >= end {
				delete(stop[rec.Topic], rec.Partition)
				left--
			}
		})
	}
	return have, read, nil
}
