package stats

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/switchboard-cc/switchboard/event"
)

// TestFetchesWaitForBytes: while events come in small batches, one every
// 10 ms, the consumer's fetches wait for fetchMinBytes or fetchMaxWait
// instead of returning with each batch (in serve every fetch is a request
// its embedded broker answers in the same process). Fails without
// FetchMinBytes/FetchMaxWait: about one fetch per batch.
func TestFetchesWaitForBytes(t *testing.T) {
	const prefix = "fetch."
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, prefix+event.AgentStateTopic, prefix+event.CallThreadTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var fetches atomic.Int64
	c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		fetches.Add(1)
		return nil, nil, false
	})

	recs, _ := runSim(t, simDay(3, true))
	const batches = 100
	recs = recs[:batches]
	evs := decodeAll(t, recs)
	svc := NewService(Config{Brokers: c.ListenAddrs(), TopicPrefix: prefix, Now: func() time.Time { return endOf(evs) }})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	consumed := func() int64 {
		var n int64
		for _, ps := range svc.Offsets() {
			for _, o := range ps {
				n += o
			}
		}
		return n
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s: not within 30 s", what)
			}
		}
	}
	until("the consumer fetches", func() bool { return fetches.Load() > 0 })

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fetches.Store(0)
	for i := range evs {
		r := &kgo.Record{Topic: prefix + evs[i].Topic(), Key: []byte(evs[i].Key()), Value: recs[i],
			Timestamp: time.UnixMicro(evs[i].Time.UnixMicro())}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	until("every event consumed", func() bool { return consumed() == batches })
	if n := fetches.Load(); n > batches/3 {
		t.Errorf("%d fetches for %d batches produced 10 ms apart, want at most %d", n, batches, batches/3)
	} else {
		t.Logf("%d fetches for %d batches", n, batches)
	}
}
