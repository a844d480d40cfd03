package runtime

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// TestEngineWrapUpTimer drives the real engine under fake time: a timed
// after-call work of 10 s ends with EventAgentReady exactly 10 s later,
// fired through the runtime's timer.
func TestEngineWrapUpTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		eng, err := engine.New(&config.Demo("tok", "pw").Tenants[0], engine.Options{Server: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		tn, err := Start(Config{Engine: eng, Sink: &fakeSink{auto: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer tn.Close(context.Background())
		sub := tn.Subscribe(Filter{DN: "1001"}, 16)
		ctx := context.Background()
		if _, err := tn.Do(ctx, engine.Login{DN: "1001", AgentID: "agent1", Queues: []string{"7001"}}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := tn.Do(ctx, engine.NotReady{DN: "1001", WorkMode: event.WorkModeAfterCallWork,
			Request: engine.Request{Extensions: event.KV{event.I("WrapUpTime", 10)}}}); err != nil {
			t.Fatal(err)
		}
		var got []event.Event
		for len(got) < 3 {
			got = append(got, <-sub.C)
		}
		if got[2].ID != event.EventAgentReady {
			t.Fatalf("third event %v, want EventAgentReady", got[2].ID)
		}
		if d := time.UnixMicro(got[2].Time.UnixMicro()).Sub(start); d != 10*time.Second {
			t.Fatalf("Ready after %v, want exactly 10s", d)
		}
		if got[2].Seq != got[1].Seq+1 {
			t.Fatalf("Seq %d after %d", got[2].Seq, got[1].Seq)
		}
	})
}
