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
// and the stats.
func runInProcess(t *testing.T, cfg Config) ([][]byte, Stats) {
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
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return lines, s.Stats()
}

func TestInProcessDayVerifies(t *testing.T) {
	cfg := shortDay(7)
	lines, st := runInProcess(t, cfg)
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

// Queue mode: calls go to the ACD queue and the switch picks the agent
// (the simulator learns it from EventRinging); the day must verify.
func TestInProcessQueueDayVerifies(t *testing.T) {
	cfg := shortDay(9)
	cfg.Targets = []Target{{DNIS: "7000", Weight: 1}}
	lines, st := runInProcess(t, cfg)
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
