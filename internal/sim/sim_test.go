package sim

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/verify"
)

// shortDay is a busy short day: short talk times so many calls start and
// end, lots of transfers, conferences and breaks.
func shortDay(seed uint64) Config {
	c := Default()
	c.Agents, c.Rate, c.Duration, c.Seed = 12, 0.2, 30*time.Minute, seed
	c.TalkTime = Dist{40 * time.Second, 0.6}
	c.WrapUp = Dist{5 * time.Second, 0.5}
	c.Patience = Dist{12 * time.Second, 0.8}
	c.ConsultTime = Dist{8 * time.Second, 0.5}
	c.BreakTime = Dist{60 * time.Second, 0.4}
	c.BreaksPerHour, c.MonitorsPerHour = 6, 60
	c.TransferRate, c.ConferenceRate = 0.2, 0.15
	c.LogoutAtEnd = true
	return c
}

// runInProcess runs cfg in-process and returns its events as JSON lines
// and the stats; progress, if set, gets the simulator's progress reports.
func runInProcess(t *testing.T, cfg Config, progress func(*Stats)) ([][]byte, Stats) {
	t.Helper()
	var lines [][]byte
	d, err := NewInProcess(&cfg, "sim", func(evs []event.Event) error {
		for i := range evs {
			lines = append(lines, evs[i].AppendJSON(nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	d.Attach(s)
	s.Progress = progress
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return lines, s.Stats()
}

// Direct mode: the simulator is the ACD; the day must verify.
func TestInProcessDirectDayVerifies(t *testing.T) {
	cfg := shortDay(7)
	cfg.Direct = true
	lines, st := runInProcess(t, cfg, nil)
	t.Log(st.Summary())
	if st.Errors != 0 {
		t.Errorf("%d refusals: %v", st.Errors, st.FirstErrors)
	}
	if st.Offered < 200 || st.Answered == 0 || st.Abandoned == 0 || st.Transfers == 0 || st.Conferences == 0 || st.Monitors == 0 ||
		st.ExtTransfers == 0 || st.ExtConsults == 0 {
		t.Errorf("the day did not exercise everything: %s", st.Summary())
	}
	c := verify.NewChecker(verify.Options{Closed: true, Expect: st.Expect("sim", cfg.Seed)})
	for i, l := range lines {
		c.Add(verify.RecordOf(l, "", int64(i)))
	}
	rep := c.Finish()
	if !rep.OK {
		t.Fatalf("verify:\n%s", rep.Text())
	}
}

// Queue mode with one queue: calls go to the ACD queue and the switch
// picks the agent (the simulator learns it from EventRinging); the day must
// verify.
func TestInProcessQueueDayVerifies(t *testing.T) {
	cfg := shortDay(9)
	cfg.Targets = []Target{{DNIS: "7000", Weight: 1}}
	lines, st := runInProcess(t, cfg, nil)
	t.Log(st.Summary())
	if st.Errors != 0 {
		t.Errorf("%d refusals: %v", st.Errors, st.FirstErrors)
	}
	if st.Offered < 200 || st.Answered < st.Offered/2 || st.Abandoned == 0 || st.Transfers == 0 || st.Conferences == 0 || st.ExtTransfers == 0 {
		t.Errorf("the day did not exercise everything: %s", st.Summary())
	}
	c := verify.NewChecker(verify.Options{Closed: true, Expect: st.Expect("sim", cfg.Seed)})
	queued := 0
	for i, l := range lines {
		c.Add(verify.RecordOf(l, "", int64(i)))
		if bytes.Contains(l, []byte(`"id":"EventQueued"`)) {
			queued++
		}
	}
	if queued < st.Offered {
		t.Errorf("%d EventQueued for %d calls offered to the queue", queued, st.Offered)
	}
	if rep := c.Finish(); !rep.OK {
		t.Fatalf("verify:\n%s", rep.Text())
	}
}

// The default day is queue mode over the demo's queues and routing points:
// every call is offered to the switch (no caller held by the simulator),
// calls queue at both queues and wait at both routing points (the one
// without a router asks for a treatment, then routes to its default), the
// switch's ACD answers most of them, and the day verifies. The counts of
// callers add up at every progress report: arrived = waiting + answered +
// abandoned (no request is refused).
func TestInProcessDefaultDayUsesTheACD(t *testing.T) {
	cfg := shortDay(11)
	if !cfg.queueMode() {
		t.Fatal("the default day is not in queue mode")
	}
	reports := 0
	lines, st := runInProcess(t, cfg, func(st *Stats) {
		reports++
		if gone := st.Waiting + st.Answered + st.Abandoned + st.LeftWaiting; st.Errors == 0 && gone != st.Arrived || st.Waiting < 0 {
			t.Fatalf("arrived %d, waiting %d + answered %d + abandoned %d + left waiting %d", st.Arrived, st.Waiting, st.Answered, st.Abandoned, st.LeftWaiting)
		}
	})
	t.Log(st.Summary())
	if reports == 0 {
		t.Error("no progress report")
	}
	if st.Errors != 0 {
		t.Errorf("%d refusals: %v", st.Errors, st.FirstErrors)
	}
	if st.LeftWaiting != 0 || st.Offered != st.Arrived || st.Waiting != 0 {
		t.Errorf("queue mode: %d left waiting, %d offered of %d arrived, %d still waiting", st.LeftWaiting, st.Offered, st.Arrived, st.Waiting)
	}
	if st.Answered+st.Abandoned != st.Arrived {
		t.Errorf("answered %d + abandoned %d != arrived %d", st.Answered, st.Abandoned, st.Arrived)
	}
	if st.Answered < st.Offered/2 || st.Abandoned == 0 || st.Transfers == 0 || st.Conferences == 0 {
		t.Errorf("the day did not exercise everything: %s", st.Summary())
	}
	count := map[string]int{}
	c := verify.NewChecker(verify.Options{Closed: true, Expect: st.Expect("sim", cfg.Seed)})
	for i, l := range lines {
		c.Add(verify.RecordOf(l, "", int64(i)))
		for _, k := range []string{`"id":"EventQueued","`, `"ThisDN":"7000"`, `"ThisDN":"7001"`, `"ThisDN":"5000"`, `"ThisDN":"5001"`,
			`"id":"EventRouteRequest"`, `"id":"EventTreatmentRequired"`, `"id":"EventRouteUsed"`} {
			if bytes.Contains(l, []byte(k)) {
				count[k]++
			}
		}
	}
	for k, n := range count {
		t.Logf("%s: %d", k, n)
	}
	for _, k := range []string{`"id":"EventQueued","`, `"ThisDN":"7000"`, `"ThisDN":"7001"`, `"ThisDN":"5000"`, `"ThisDN":"5001"`,
		`"id":"EventRouteRequest"`, `"id":"EventTreatmentRequired"`, `"id":"EventRouteUsed"`} {
		if count[k] == 0 {
			t.Errorf("no event with %s: the default targets are not all used", k)
		}
	}
	if rep := c.Finish(); !rep.OK {
		t.Fatalf("verify:\n%s", rep.Text())
	}
}
