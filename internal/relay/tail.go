package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/steprec"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// resolve returns, for each topic+"\x00"+key of the events of the step
// records from..end, the highest Seq Kafka already holds beyond the
// checkpoint's offsets (absent: none). It retries until Kafka answers and
// returns nil only when the relay is stopped.
func (r *Relay) resolve(ctx context.Context, from, end uint64) map[string]int64 {
	r.resolving.Store(true)
	defer r.resolving.Store(false)
	start := time.Now()
	keys, err := r.pendingKeys(from, end)
	if err != nil {
		r.fail(err)
		return nil
	}
	r.log.Info("relay: reading the partition tails to skip events Kafka already has",
		"from_lsn", from, "to_lsn", end, "keys", len(keys))
	for attempt := 1; ; attempt++ {
		have, read, err := r.readTails(ctx, keys)
		if err == nil {
			r.log.Info("relay: partition tails read", "records_read", read, "keys_in_kafka", len(have),
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
// from the checkpoint's offset to the end, and returns the highest Seq per
// pending key found, and how many records it read.
func (r *Relay) readTails(ctx context.Context, keys map[string]struct{}) (map[string]int64, int, error) {
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
	have := map[string]int64{}
	if len(want) == 0 {
		return have, 0, nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, r.cfg.Kafka...),
		kgo.ConsumePartitions(want), kgo.FetchMaxWait(100*time.Millisecond))...)
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
			if _, ok := keys[k]; ok {
				var e event.Event
				if err := event.Unmarshal(rec.Value, &e); err == nil && e.Seq > have[k] {
					have[k] = e.Seq
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
