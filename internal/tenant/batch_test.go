package tenant

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
	"github.com/switchboard-cc/switchboard/internal/steprec"
)

// startCallTenant starts a tenant of 2*pairs extensions (200000, ...) on
// a real engine in journal mode, as serve runs it; both end with tb.
func startCallTenant(tb testing.TB, pairs int) (*Tenant, *journal.Journal) {
	tb.Helper()
	tc := &config.Tenant{ID: "t1", Tokens: []string{"tok"}}
	for i := range 2 * pairs {
		tc.DNs = append(tc.DNs, config.DN{Number: strconv.Itoa(200000 + i), Type: config.Extension})
	}
	eng, err := engine.New(tc, engine.Options{Server: "s1"})
	if err != nil {
		tb.Fatal(err)
	}
	j := openJournal(tb, tb.TempDir(), journal.Options{})
	tb.Cleanup(func() { j.Close() })
	tn, err := Start(Config{Engine: eng, Journal: j, SnapshotEvery: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tn.Close(context.Background()) })
	return tn, j
}

// BenchmarkJournalCalls: one op is a basic call (MakeCall, Answer,
// Release: 3 commands, 10 events) through a tenant in journal mode, as
// serve runs it, from 64 callers at once, with a hub subscriber reading
// the call events as sipfront does. B/op and allocs/op are the runtime's
// and the engine's per call (the journal's fsync dominates the time).
func BenchmarkJournalCalls(b *testing.B) {
	const pairs = 64
	tn, _ := startCallTenant(b, pairs)
	sub := tn.Subscribe(Filter{}, 1<<14)
	go func() {
		for {
			select {
			case <-sub.C:
			case <-sub.Done():
				return
			}
		}
	}()
	ctx := context.Background()
	per := max(b.N/pairs, 1)
	b.ReportAllocs()
	b.ResetTimer()
	eachPair(pairs, func(_ int, from, to string) {
		for range per {
			out, err := tn.Do(ctx, engine.MakeCall{From: from, To: to})
			if err != nil {
				b.Error(err)
				return
			}
			conn := out.Reply.(engine.CallReply).ConnID
			if _, err := tn.Do(ctx, engine.Answer{ConnID: conn, DN: to}); err != nil {
				b.Error(err)
				return
			}
			if _, err := tn.Do(ctx, engine.Release{ConnID: conn, DN: from}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// eachPair runs f for every caller and callee of startCallTenant's pairs,
// each pair on a goroutine of its own, and waits for them.
func eachPair(pairs int, f func(p int, from, to string)) {
	var wg sync.WaitGroup
	for p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(p, strconv.Itoa(200000+2*p), strconv.Itoa(200001+2*p))
		}()
	}
	wg.Wait()
}

// TestBatchEventsPublished: in journal mode a batch of many steps (the
// engine stepping into its reused buffer, the batch copying each step's
// events into buffers reused batch after batch) hands the subscribers
// exactly the events its step records hold, in order, round after round.
func TestBatchEventsPublished(t *testing.T) {
	const pairs, rounds = 16, 4
	tn, j := startCallTenant(t, pairs)
	sub := tn.Subscribe(Filter{}, 1<<12)
	ctx := context.Background()
	conns := make([]string, pairs)
	for round := range rounds {
		// A query holds the tenant goroutine while every pair's command
		// queues: they are stepped in one batch after it.
		hold, held := make(chan struct{}), make(chan struct{})
		go tn.Query(ctx, func(Machine) { close(held); <-hold })
		<-held
		go func() {
			for len(tn.in) < pairs {
				time.Sleep(time.Millisecond)
			}
			close(hold)
		}()
		eachPair(pairs, func(p int, from, to string) {
			var cmd engine.Command = engine.MakeCall{From: from, To: to}
			switch round % 3 {
			case 1:
				cmd = engine.Answer{ConnID: conns[p], DN: to}
			case 2:
				cmd = engine.Release{ConnID: conns[p], DN: from}
			}
			out, err := tn.Do(ctx, cmd)
			if err != nil {
				t.Error(err)
				return
			}
			if r, ok := out.Reply.(engine.CallReply); ok {
				conns[p] = r.ConnID
			}
		})
	}
	r, err := j.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var want, got []string
	for {
		rc, ok, err := r.TryNext()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		sr, err := steprec.Decode(rc.Payload)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range sr.Events {
			want = append(want, string(e))
		}
	}
	if len(want) < rounds*pairs*2 {
		t.Fatalf("the journal holds %d events, want at least %d", len(want), rounds*pairs*2)
	}
	// The replies come before the hub publishes: wait for the events.
	for len(got) < len(want) {
		select {
		case ev := <-sub.C:
			got = append(got, string(ev.AppendJSON(nil)))
		case <-time.After(10 * time.Second):
			t.Fatalf("subscriber got %d events, the step records hold %d", len(got), len(want))
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}
