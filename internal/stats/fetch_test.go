package stats

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/switchboard-cc/switchboard/event"
)

// fetchRig is a consumer on a one-broker kfake cluster that counts the
// fetch requests, and a producer of a simulated day's first n events.
type fetchRig struct {
	t       *testing.T
	svc     *Service
	fetches atomic.Int64
	produce func(i int) // produces event i and returns once acknowledged
}

func newFetchRig(t *testing.T, n int) *fetchRig {
	const prefix = "fetch."
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, prefix+event.AgentStateTopic, prefix+event.CallThreadTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r := &fetchRig{t: t}
	c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r.fetches.Add(1)
		return nil, nil, false
	})
	recs, _ := runSim(t, simDay(3, true))
	recs = recs[:n]
	evs := decodeAll(t, recs)
	r.svc = NewService(Config{Brokers: c.ListenAddrs(), TopicPrefix: prefix, Now: func() time.Time { return endOf(evs) }})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-ran })
	r.until("the consumer fetches", func() bool { return r.fetches.Load() > 0 })

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	r.produce = func(i int) {
		rec := &kgo.Record{Topic: prefix + evs[i].Topic(), Key: []byte(evs[i].Key()), Value: recs[i],
			Timestamp: time.UnixMicro(evs[i].Time.UnixMicro())}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *fetchRig) consumed() int64 {
	var n int64
	for _, ps := range r.svc.Offsets() {
		for _, o := range ps {
			n += o
		}
	}
	return n
}

func (r *fetchRig) until(what string, ok func() bool) {
	r.t.Helper()
	for end := time.Now().Add(30 * time.Second); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			r.t.Fatalf("%s: not within 30 s", what)
		}
	}
}

// TestFetchesPaced: while events come in small batches, one every 10 ms,
// the consumer polls (and so fetches) at most once per fetchPace instead
// of once per batch (in serve every fetch is a request its embedded
// broker answers in the same process). Fails without the pacing: about
// one fetch per batch.
func TestFetchesPaced(t *testing.T) {
	const batches = 100
	r := newFetchRig(t, batches)
	r.fetches.Store(0)
	start := time.Now()
	for i := range batches {
		r.produce(i)
		time.Sleep(10 * time.Millisecond)
	}
	r.until("every event consumed", func() bool { return r.consumed() == batches })
	took := time.Since(start)
	// One fetch per fetchPace, and one more sent when the last records
	// were polled (it waits at the broker).
	if n, most := r.fetches.Load(), int64(took/fetchPace)+3; n > most || n > batches/2 {
		t.Errorf("%d fetches for %d batches produced 10 ms apart in %v, want at most %d", n, batches, took, min(most, batches/2))
	} else {
		t.Logf("%d fetches for %d batches in %v", n, batches, took)
	}
}

// TestIdleConsumerFetchesRarely: with nothing to read, the consumer's
// fetch waits at the broker for fetchMaxWait; it does not ask again every
// 100 ms (10 requests a second, each waking a dozen goroutines of an idle
// serve). An event produced after a quiet time is counted at once, not
// after a wait: the median of 10 such events is under 20 ms (with a
// 100 ms fetch wait it was about 50 ms).
func TestIdleConsumerFetchesRarely(t *testing.T) {
	const events = 10
	r := newFetchRig(t, events)
	time.Sleep(200 * time.Millisecond) // the first fetches after joining
	before := r.fetches.Load()
	time.Sleep(2 * time.Second)
	if n := r.fetches.Load() - before; n > 1 {
		t.Errorf("%d fetches in 2 s without events, want at most 1", n)
	}

	var lat []time.Duration
	for i := range events {
		time.Sleep(150 * time.Millisecond) // quiet: the previous record's pace passed
		changed, _ := r.svc.Changed()
		start := time.Now()
		r.produce(i)
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d not counted within 10 s", i)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	if med := lat[events/2]; med > 20*time.Millisecond {
		t.Errorf("produce to counted after a quiet time: median %v (all %v), want under 20 ms", med, lat)
	} else {
		t.Logf("produce to counted: median %v, max %v", med, lat[events-1])
	}
}

// TestCaughtUp: polls are paced only once the records reach the end of
// their partitions (a commit marker may follow the last one); a consumer
// reading a backlog polls again at once.
func TestCaughtUp(t *testing.T) {
	fetch := func(last, lso, hwm int64) kgo.Fetches {
		p := kgo.FetchPartition{Partition: 0, HighWatermark: hwm, LastStableOffset: lso}
		if last >= 0 {
			p.Records = []*kgo.Record{{Offset: last - 1}, {Offset: last}}
		}
		other := kgo.FetchPartition{Partition: 1, Records: []*kgo.Record{{Offset: 7}}, HighWatermark: 8, LastStableOffset: 8}
		return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "t", Partitions: []kgo.FetchPartition{other, p}}}}}
	}
	for _, c := range []struct {
		last, lso, hwm int64
		want           bool
	}{
		{last: 9, lso: 10, hwm: 10, want: true},    // the end
		{last: 9, lso: 11, hwm: 11, want: true},    // the commit marker at 10
		{last: 9, lso: 12, hwm: 12, want: false},   // a record more
		{last: 9, lso: 11, hwm: 500, want: true},   // an open transaction after
		{last: 9, lso: -1, hwm: 500, want: false},  // no last stable offset: the high watermark
		{last: -1, lso: 500, hwm: 500, want: true}, // no records from it
	} {
		if got := caughtUp(fetch(c.last, c.lso, c.hwm)); got != c.want {
			t.Errorf("last record %d, last stable offset %d, high watermark %d: caught up %v, want %v", c.last, c.lso, c.hwm, got, c.want)
		}
	}
}
