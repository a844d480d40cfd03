package stats

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/sim"
)

// simDay is a busy 30-minute day: short calls, many transfers,
// conferences, abandons and breaks.
func simDay(seed uint64, queue bool) sim.Config {
	c := sim.Default()
	c.Agents, c.Rate, c.Duration, c.Seed = 12, 0.2, 30*time.Minute, seed
	c.TalkTime = sim.Dist{Median: 40 * time.Second, Sigma: 0.6}
	c.WrapUp = sim.Dist{Median: 5 * time.Second, Sigma: 0.5}
	c.Patience = sim.Dist{Median: 12 * time.Second, Sigma: 0.8}
	c.ConsultTime = sim.Dist{Median: 8 * time.Second, Sigma: 0.5}
	c.BreakTime = sim.Dist{Median: 60 * time.Second, Sigma: 0.4}
	c.BreaksPerHour, c.MonitorsPerHour = 6, 60
	c.TransferRate, c.ConferenceRate = 0.2, 0.15
	c.LogoutAtEnd = true
	c.Queues = []string{"7000"}
	if queue {
		c.Targets = []sim.Target{{DNIS: "7000", Weight: 1}}
	} else {
		c.Targets, c.Direct = nil, true
	}
	return c
}

// runSim runs a day in-process and returns its record values in the
// order they were produced, and the simulator's own counts.
func runSim(t testing.TB, cfg sim.Config) ([][]byte, sim.Stats) {
	t.Helper()
	var recs [][]byte
	d, err := sim.NewInProcess(&cfg, "sim", func(evs []event.Event) error {
		for i := range evs {
			recs = append(recs, evs[i].AppendJSON(nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	d.Attach(s)
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return recs, s.Stats()
}

func decodeAll(t testing.TB, recs [][]byte) []event.Event {
	evs := make([]event.Event, len(recs))
	for i, r := range recs {
		if err := event.Unmarshal(r, &evs[i]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	return evs
}

func endOf(evs []event.Event) time.Time {
	return time.UnixMicro(evs[len(evs)-1].Time.UnixMicro()).Add(time.Second)
}

// TestSimDayMatchesSim: a simulated day's offered, answered and abandoned
// (and completed transfers and conferences) computed from the stream equal
// the simulator's own counts of what it did; in queue mode the queue's
// offered equals them too.
func TestSimDayMatchesSim(t *testing.T) {
	for _, queue := range []bool{false, true} {
		name := "direct"
		if queue {
			name = "queue"
		}
		t.Run(name, func(t *testing.T) {
			cfg := simDay(11, queue)
			recs, st := runSim(t, cfg)
			if st.Offered < 200 || st.Answered == 0 || st.Abandoned == 0 || st.Transfers == 0 || st.Conferences == 0 {
				t.Fatalf("the day did not exercise everything: %s", st.Summary())
			}
			evs := decodeAll(t, recs)
			a := New(Options{})
			for i := range evs {
				a.Add(&evs[i])
			}
			ts, ok := a.Tenant("sim", endOf(evs))
			if !ok {
				t.Fatal("no tenant sim")
			}
			got := ts.Today
			for _, c := range []struct {
				name      string
				got, want int64
			}{
				{"offered", got.Offered, int64(st.Offered)},
				{"answered", got.Answered, int64(st.Answered)},
				{"abandoned", got.Abandoned, int64(st.Abandoned)},
				{"transfers", got.Transfers, int64(st.Transfers)},
				{"conferences", got.Conferences, int64(st.Conferences)},
			} {
				if c.got != c.want {
					t.Errorf("%s: stats %d, sim %d", c.name, c.got, c.want)
				}
			}
			if ts.Waiting != 0 || len(ts.Calls) != 0 {
				t.Errorf("at the end of the day: %d waiting, calls %v", ts.Waiting, ts.Calls)
			}
			if queue {
				qs := a.Queues("sim", endOf(evs))
				if len(qs) != 1 || qs[0].Queue != "7000" {
					t.Fatalf("queues: %+v", qs)
				}
				q := qs[0].Today
				if q.Offered != int64(st.Offered) || q.Answered != int64(st.Answered) || q.Abandoned != int64(st.Abandoned) {
					t.Errorf("queue 7000: offered %d answered %d abandoned %d; sim %d %d %d",
						q.Offered, q.Answered, q.Abandoned, st.Offered, st.Answered, st.Abandoned)
				}
				// The after-call work sim asks for carries no queue: it
				// counts for 7000 as a plain walk of the stream says.
				n, sum := acwByQueue(evs)["7000"][0], acwByQueue(evs)["7000"][1]
				got := a.tenants["sim"].Queues["7000"].Series.Day
				if n == 0 || got.ACWCount != n || got.ACWSum != sum {
					t.Errorf("queue 7000 after-call work: %d spans, %d µs; the stream says %d, %d", got.ACWCount, got.ACWSum, n, sum)
				}
				// The tenant's is 7000's plus what follows no ACD answer
				// (agents of the day answer only from 7000, or take
				// transferred calls).
				none := acwByQueue(evs)[""]
				if tot := a.tenants["sim"].Total.Day; got.ACWCount+none[0] != tot.ACWCount || got.ACWSum+none[1] != tot.ACWSum {
					t.Errorf("queue 7000 after-call work %d spans, %d µs, plus %d, %d after no ACD answer; tenant %d, %d",
						got.ACWCount, got.ACWSum, none[0], none[1], tot.ACWCount, tot.ACWSum)
				}
			}
			t.Logf("sim: %s", st.Summary())
		})
	}
}

// acwByQueue computes, independently of the aggregator, the after-call
// work spans and their time (µs) per queue in a stream in produced order:
// a NotReady(AfterCallWork) runs until the agent's next state event and
// counts for its ThisQueue, or else for the ThisQueue of the agent's latest
// EventEstablished that had one.
func acwByQueue(evs []event.Event) map[string][2]int64 {
	lastACD := map[string]string{} // agent → queue
	type open struct {
		q    string
		from int64
	}
	acw := map[string]open{}
	out := map[string][2]int64{}
	for i := range evs {
		ev := &evs[i]
		if ev.AgentID == "" {
			continue
		}
		at := ev.Time.UnixMicro()
		switch ev.ID {
		case event.EventEstablished:
			if ev.ThisQueue != "" && ev.ThisDNRole != event.RoleObserver {
				lastACD[ev.AgentID] = ev.ThisQueue
			}
			continue
		case event.EventAgentLogin, event.EventAgentLogout, event.EventAgentReady, event.EventAgentNotReady:
		default:
			continue
		}
		if o, ok := acw[ev.AgentID]; ok && (ev.ID != event.EventAgentLogin) {
			delete(acw, ev.AgentID)
			// "": after-call work that follows no ACD answer (an agent
			// who took only transferred calls so far).
			c := out[o.q]
			out[o.q] = [2]int64{c[0] + 1, c[1] + at - o.from}
		}
		if ev.ID == event.EventAgentNotReady && ev.AgentWorkMode == event.WorkModeAfterCallWork {
			q := ev.ThisQueue
			if q == "" {
				q = lastACD[ev.AgentID]
			}
			acw[ev.AgentID] = open{q, at}
		}
	}
	return out
}

// TestOrderAcrossKeys: the figures do not depend on how events of
// different record keys interleave (a consumer reads partitions in any
// order), nor on a snapshot and restore in the middle of the day.
func TestOrderAcrossKeys(t *testing.T) {
	recs, _ := runSim(t, simDay(5, true))
	evs := decodeAll(t, recs)
	end := endOf(evs)
	want := func() string {
		a := New(Options{})
		for i := range evs {
			a.Add(&evs[i])
		}
		return render(a, "sim", end, "")
	}()

	// Interleave the keys at random, keeping each key's order.
	byKey := map[string][]*event.Event{}
	var keys []string
	for i := range evs {
		k := evs[i].Key()
		if byKey[k] == nil {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], &evs[i])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 3; round++ {
		a := New(Options{})
		pos := map[string]int{}
		left := append([]string{}, keys...)
		n := 0
		for len(left) > 0 {
			i := rng.IntN(len(left))
			k := left[i]
			// a run of up to 20 events of one key, as a fetch of one
			// partition would give
			for j := rng.IntN(20) + 1; j > 0 && pos[k] < len(byKey[k]); j-- {
				a.Add(byKey[k][pos[k]])
				pos[k]++
				n++
			}
			if pos[k] == len(byKey[k]) {
				left = append(left[:i], left[i+1:]...)
			}
			if n > len(evs)/2 && n < len(evs)/2+20 {
				// snapshot and restore once, half way
				b, err := a.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				a = New(Options{})
				if err := a.Restore(b); err != nil {
					t.Fatal(err)
				}
				n += 20
			}
		}
		if got := render(a, "sim", end, ""); got != want {
			t.Fatalf("round %d: figures differ from in-order ones:\n%s\n----\n%s", round, got, want)
		}
	}
}

// TestSimDayGolden: the figures of a queue-mode simulated day (seed 11)
// at its end, as text in testdata/sim_day.golden (-rewrite to update,
// then review the diff: the engine or simulator changed the day).
func TestSimDayGolden(t *testing.T) {
	recs, _ := runSim(t, simDay(11, true))
	evs := decodeAll(t, recs)
	a := New(Options{Tenants: map[string]TenantOptions{"sim": {ServiceLevel: map[string]time.Duration{"7000": 15 * time.Second}}}})
	for i := range evs {
		a.Add(&evs[i])
	}
	got := render(a, "sim", endOf(evs), "") + "\n"
	const path = "testdata/sim_day.golden"
	if *rewrite {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("figures differ from %s (run with -rewrite and review the diff):\n%s", path, got)
	}
}
