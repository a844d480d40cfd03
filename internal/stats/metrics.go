package stats

import (
	"github.com/switchboard-cc/switchboard/internal/metrics"
)

// Outcomes are the outcome label values of NameStatsQueueCallsToday;
// AgentStates the state label values of NameStatsQueueAgents.
var (
	Outcomes    = []string{"offered", "answered", "abandoned", "abandoned_within_5s", "answered_in_service_level"}
	AgentStates = []string{NotReady.String(), Ready.String(), AfterCallWork.String(), dRinging, dTalking, dHeld}
)

// RegisterMetrics adds the per-queue gauges to set, read at scrape time.
// Only queues and routing points of the configuration (Options' Kinds)
// are labels, so the label sets stay bounded whatever the events hold.
func (s *Service) RegisterMetrics(set *metrics.Set) {
	if set == nil {
		return
	}
	tq := []string{"tenant", "queue"}
	each := func(f func(emit metrics.Emit, t string, q *QueueStats)) func(metrics.Emit) {
		return func(emit metrics.Emit) {
			for _, t := range sortedKeys(s.cfg.Options.Tenants) {
				kinds := s.cfg.Options.Tenants[t].Kinds
				u := s.Update(t)
				seen := map[string]bool{}
				for i := range u.Queues {
					if _, ok := kinds[u.Queues[i].Queue]; ok {
						seen[u.Queues[i].Queue] = true
						f(emit, t, &u.Queues[i])
					}
				}
				for _, q := range sortedKeys(kinds) {
					if !seen[q] {
						f(emit, t, &QueueStats{Queue: q, Agents: map[string]int{}})
					}
				}
			}
		}
	}
	set.GaugeFunc(metrics.NameStatsQueueWaiting, "Calls waiting at the queue or routing point now.", tq,
		each(func(emit metrics.Emit, t string, q *QueueStats) { emit(float64(q.Waiting), t, q.Queue) }))
	set.GaugeFunc(metrics.NameStatsQueueLongestWait, "How long the longest-waiting call has waited.", tq,
		each(func(emit metrics.Emit, t string, q *QueueStats) { emit(q.LongestWait, t, q.Queue) }))
	set.GaugeFunc(metrics.NameStatsQueueCallsToday, "Calls since the start of the tenant's day, by outcome (docs/STATS.md).", []string{"tenant", "queue", "outcome"},
		each(func(emit metrics.Emit, t string, q *QueueStats) {
			d := q.Today
			for i, n := range []int64{d.Offered, d.Answered, d.Abandoned, d.AbandonedWithin5s, d.AnsweredInServiceLevel} {
				emit(float64(n), t, q.Queue, Outcomes[i])
			}
		}))
	set.GaugeFunc(metrics.NameStatsQueueAgents, "Agents logged in to the queue, by current state.", []string{"tenant", "queue", "state"},
		each(func(emit metrics.Emit, t string, q *QueueStats) {
			for _, st := range AgentStates {
				emit(float64(q.Agents[st]), t, q.Queue, st)
			}
		}))
	set.GaugeFunc(metrics.NameStatsQueueSLToday, "Service level since the start of the day (0 to 1; 1 with nothing to count).", tq,
		each(func(emit metrics.Emit, t string, q *QueueStats) {
			sl := q.Today.ServiceLevel / 100
			if q.Today.Answered+q.Today.Abandoned == 0 {
				sl = 1
			}
			emit(sl, t, q.Queue)
		}))
	set.GaugeFunc(metrics.NameStatsQueueASAToday, "Average speed of answer since the start of the day.", tq,
		each(func(emit metrics.Emit, t string, q *QueueStats) { emit(q.Today.AvgSpeedOfAnswer, t, q.Queue) }))
	set.GaugeFunc(metrics.NameStatsQueueAHTToday, "Average handle time (talk, hold, after-call work) since the start of the day.", tq,
		each(func(emit metrics.Emit, t string, q *QueueStats) { emit(q.Today.AvgHandleTime, t, q.Queue) }))
}
