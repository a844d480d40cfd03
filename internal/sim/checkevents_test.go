package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/sim"
)

// TestInProcessDayCheckEvents pipes a simulated day (the default queue
// mode: the switch's ACD and routing points; monitored calls,
// consultations and transfers through the trunk, conferences) as Kafka
// records through the independent ../shared/tools/check-events.
func TestInProcessDayCheckEvents(t *testing.T) {
	cfg := sim.Default()
	cfg.Agents, cfg.Rate, cfg.Duration, cfg.Seed = 12, 0.2, 20*time.Minute, 5
	cfg.TalkTime = sim.Dist{Median: 40 * time.Second, Sigma: 0.6}
	cfg.WrapUp = sim.Dist{Median: 5 * time.Second, Sigma: 0.5}
	cfg.Patience = sim.Dist{Median: 12 * time.Second, Sigma: 0.8}
	cfg.ConsultTime = sim.Dist{Median: 8 * time.Second, Sigma: 0.5}
	cfg.TransferRate, cfg.ConferenceRate, cfg.MonitorsPerHour = 0.25, 0.1, 60
	cfg.LogoutAtEnd = true
	var recs []*kgo.Record
	d, err := sim.NewInProcess(&cfg, "sim", func(evs []event.Event) error {
		recs = append(recs, kafkatest.EventRecords(evs)...)
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
	st := s.Stats()
	t.Log(st.Summary())
	if st.ExtTransfers == 0 || st.ExtConsults == 0 || st.Monitors == 0 {
		t.Fatalf("the day has no external transfer or no monitoring: %s", st.Summary())
	}
	for i, r := range recs {
		r.Offset = int64(i) // one stream: EventRecords numbered each batch from 0
	}
	kafkatest.CheckEvents(t, recs)
}
