package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

// benchDay is a queue-mode simulated day's events, made once.
var benchDay struct {
	recs [][]byte
	evs  []event.Event
}

func loadBenchDay(b *testing.B) {
	if benchDay.recs == nil {
		benchDay.recs, _ = runSim(b, simDay(11, true))
		benchDay.evs = decodeAll(b, benchDay.recs)
	}
}

// BenchmarkAggregate: decoded events into the aggregator (the pure
// core), one goroutine; events/s is the figure.
func BenchmarkAggregate(b *testing.B) {
	loadBenchDay(b)
	evs := benchDay.evs
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		a := New(Options{})
		for i := range evs {
			a.Add(&evs[i])
		}
		n += len(evs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeAggregate: record values (as fetched from Kafka) decoded
// with event.Unmarshal and aggregated: the consumer's work per record
// besides the fetch itself.
func BenchmarkDecodeAggregate(b *testing.B) {
	loadBenchDay(b)
	recs := benchDay.recs
	var bytes int64
	for _, r := range recs {
		bytes += int64(len(r))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	var ev event.Event
	for b.Loop() {
		a := New(Options{})
		for _, r := range recs {
			if err := event.Unmarshal(r, &ev); err != nil {
				b.Fatal(err)
			}
			a.Add(&ev)
		}
		n += len(recs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// benchTopics makes the two topics (4 partitions each, under a prefix of
// their own) on the real Kafka of SWITCHBOARD_TEST_KAFKA when it is set,
// else on an embedded broker, and a client of it.
func benchTopics(b *testing.B) (brokers []string, prefix string, cl *kgo.Client) {
	brokers = kafkatest.Embedded(b).Brokers
	if r := kafkatest.RealKafka(b); r != nil {
		brokers = r.Brokers
	}
	prefix = kafkatest.UniqueTopicPrefix(b)
	cl = kafkatest.Client(b, brokers)
	if _, err := kadm.NewClient(cl).CreateTopics(context.Background(), 4, 1, nil, prefix+event.AgentStateTopic, prefix+event.CallThreadTopic); err != nil {
		b.Fatal(err)
	}
	return brokers, prefix, cl
}

// BenchmarkMemoryPer1000Agents: the heap the aggregator holds for 1,000
// agents logged in to 10 queues after an hour in which each changed state
// and handled a call every minute (every minute bucket of every agent and
// queue in use: the most the sliding windows hold).
func BenchmarkMemoryPer1000Agents(b *testing.B) {
	const agents, minutes = 1000, 60
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).UnixMicro()
	mk := func(at int64, name event.Name, f func(e *event.Event)) event.Event {
		e := event.Event{ID: name, CustomerID: "demo", Time: event.TimeFromUnixMicro(at)}
		f(&e)
		return e
	}
	var evs []event.Event
	for i := 0; i < agents; i++ {
		id, dn, q := fmt.Sprintf("agent%d", i), fmt.Sprintf("%d", 10000+i), fmt.Sprintf("70%02d", i%10)
		evs = append(evs, mk(t0, event.EventAgentLogin, func(e *event.Event) { e.AgentID, e.ThisDN, e.ThisQueue = id, dn, q }))
	}
	for m := 0; m < minutes; m++ {
		for i := 0; i < agents; i++ {
			at := t0 + int64(m)*minute + int64(i)*10
			id, dn, q := fmt.Sprintf("agent%d", i), fmt.Sprintf("%d", 10000+i), fmt.Sprintf("70%02d", i%10)
			conn := fmt.Sprintf("c%d-%d", m, i)
			call := func(name event.Name, d int64, f func(e *event.Event)) {
				evs = append(evs, mk(at+d, name, func(e *event.Event) {
					e.ConnID, e.CallType, e.ThisDN, e.ThisQueue, e.AgentID = conn, event.CallTypeInbound, dn, q, id
					if f != nil {
						f(e)
					}
				}))
			}
			evs = append(evs, mk(at, event.EventAgentReady, func(e *event.Event) { e.AgentID, e.ThisDN = id, dn }))
			call(event.EventQueued, 1e6, func(e *event.Event) { e.ThisDN, e.AgentID = q, "" })
			call(event.EventDiverted, 2e6, func(e *event.Event) { e.ThisDN, e.ThirdPartyDN, e.AgentID = q, dn, "" })
			call(event.EventRinging, 2e6, nil)
			call(event.EventEstablished, 5e6, nil)
			call(event.EventReleased, 40e6, nil)
			evs = append(evs, mk(at+40e6, event.EventAgentNotReady, func(e *event.Event) {
				e.AgentID, e.ThisDN, e.ThisQueue, e.AgentWorkMode = id, dn, q, event.WorkModeAfterCallWork
			}))
		}
	}
	var held uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		a := New(Options{})
		for i := range evs {
			a.Add(&evs[i])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(a)
	}
	b.ReportMetric(float64(held)/(1<<20), "MiB/1000agents")
}

// BenchmarkEventToWebSocket: the delay from an event acknowledged by Kafka
// (the embedded broker) to the WebSocket update that carries it, as the
// wallboard receives it: fetch, decode, aggregate and the push, which
// goes out at most once a second. Events are produced at random moments,
// 0 to 1.5 s apart, so they fall anywhere in the push interval. Reports
// p50 and p99 over 40 events (run with -benchtime=1x). Against the real
// Kafka of SWITCHBOARD_TEST_KAFKA when it is set.
func BenchmarkEventToWebSocket(b *testing.B) {
	brokers, prefix, cl := benchTopics(b)
	ctx := context.Background()
	svc := NewService(Config{Brokers: brokers, TopicPrefix: prefix, Group: "bench-" + prefix})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go svc.Run(rctx)
	mux := http.NewServeMux()
	svc.Mount(mux.Handle, ctiapi.NewGuard(map[string][]string{"demo": {"bench-token"}}, nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ws, _, err := websocket.Dial(ctx, "ws"+srv.URL[4:]+"/v1/tenants/demo/stats/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer bench-token"}}})
	if err != nil {
		b.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 24)
	updates := make(chan int64, 100)
	go func() {
		for {
			_, m, err := ws.Read(ctx)
			if err != nil {
				close(updates)
				return
			}
			var u Update
			json.Unmarshal(m, &u)
			updates <- u.Tenant.Events
		}
	}()
	<-updates // the first, at once
	seq := 0
	send := func() time.Time {
		seq++
		now := time.Now()
		e := event.Event{ID: event.EventAgentReady, CustomerID: "demo", AgentID: "a1", ThisDN: "1001",
			Time: event.TimeFromUnixMicro(now.UnixMicro()), Seq: int64(seq), SchemaVersion: 2, AgentWorkMode: event.WorkModeManualIn}
		r := &kgo.Record{Topic: prefix + event.AgentStateTopic, Key: []byte("demo:a1"), Value: e.AppendJSON(nil)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			b.Fatal(err)
		}
		return time.Now()
	}
	wait := func() {
		for n := range updates {
			if n >= int64(seq) {
				return
			}
		}
		b.Fatal("the WebSocket closed")
	}
	// Warm-up: the consumer has joined its group and fetches (a real
	// Kafka delays a new group's first assignment by 3 s).
	send()
	wait()
	const samples = 40
	var delays []time.Duration
	for b.Loop() {
		delays = delays[:0]
		for i := 0; i < samples; i++ {
			time.Sleep(time.Duration(rand.Int64N(int64(1500 * time.Millisecond))))
			acked := send()
			wait()
			delays = append(delays, time.Since(acked))
		}
	}
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Milliseconds()), "p50_ms")
	b.ReportMetric(float64(delays[len(delays)*99/100].Milliseconds()), "p99_ms")
	b.ReportMetric(float64(delays[len(delays)-1].Milliseconds()), "max_ms")
}

// BenchmarkConsumer: the whole consumer (Service: fetch from Kafka,
// decompress, decode, aggregate, offsets) reading a backlog of copies of
// the simulated day (one tenant per copy, about 200,000 records), from its
// first poll's records taken to the last (the events after the first poll
// over that time); the group join before is not timed. Run
// the test binary with -test.cpu 1 under `taskset -c 0` for the one-core
// figure, against the real Kafka of SWITCHBOARD_TEST_KAFKA (the embedded
// broker would share the core).
func BenchmarkConsumer(b *testing.B) {
	loadBenchDay(b)
	brokers, prefix, cl := benchTopics(b)
	ctx := context.Background()
	copies := 200_000/len(benchDay.evs) + 1
	var krs []*kgo.Record
	for c := range copies {
		for i := range benchDay.evs {
			e := benchDay.evs[i]
			e.CustomerID = fmt.Sprintf("sim%d", c)
			krs = append(krs, &kgo.Record{Topic: prefix + e.Topic(), Key: []byte(e.Key()), Value: e.AppendJSON(nil),
				Timestamp: time.UnixMicro(e.Time.UnixMicro())})
		}
	}
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	total := int64(len(krs))
	taken := func(s *Service) int64 {
		var n int64
		s.Read(func(a *Aggregator, _ time.Time) {
			for _, t := range a.tenants {
				n += t.Events
			}
		})
		return n
	}
	var (
		elapsed time.Duration
		timed   int64 // events taken while timed
	)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		// A fresh group each round, from the start of the simulated day.
		svc := NewService(Config{Brokers: brokers, TopicPrefix: prefix, Group: fmt.Sprintf("bench-%s-%d", prefix, i),
			Now: func() time.Time { return endOf(benchDay.evs) }})
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); svc.Run(rctx) }()
		var first int64
		for first == 0 {
			time.Sleep(time.Millisecond)
			first = taken(svc)
		}
		start := time.Now()
		b.StartTimer()
		for taken(svc) < total {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		elapsed += time.Since(start)
		timed += total - first
		if n := taken(svc); n != total {
			b.Fatalf("%d events taken, %d produced", n, total)
		}
		cancel()
		<-done
		b.StartTimer()
	}
	// The events of the first poll were taken before the timer started:
	// only those after it count.
	b.ReportMetric(float64(timed)/elapsed.Seconds(), "events/s")
}
