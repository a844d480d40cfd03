package tenant

import (
	"context"
	"strings"
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

// TestEngineNoAnswerTimer drives a call of the real engine under fake
// time: with forwarding on no answer, an unanswered call is diverted
// exactly at the no-answer timeout through the runtime's timer; a call
// answered before then cancels the timer and nothing more happens.
func TestEngineNoAnswerTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ten := config.Demo("tok", "pw").Tenants[0]
		ten.Defaults.NoAnswerTimeout = config.D(15 * time.Second)
		eng, err := engine.New(&ten, engine.Options{Server: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		tn, err := Start(Config{Engine: eng, Sink: &fakeSink{auto: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer tn.Close(context.Background())
		sub := tn.Subscribe(Filter{Topic: event.CallThreadTopic}, 64)
		ctx := context.Background()
		if _, err := tn.Do(ctx, engine.SetForward{DN: "1002", To: "1003", Mode: engine.ForwardOnNoAnswer}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out, err := tn.Do(ctx, engine.MakeCall{From: "1001", To: "1002"})
		if err != nil {
			t.Fatal(err)
		}
		conn := out.Reply.(engine.CallReply).ConnID
		var got []event.Event
		for len(got) < 4 { // Dialing, Ringing(1002), then from the timer Diverted, Ringing(1003)
			got = append(got, <-sub.C)
		}
		if got[2].ID != event.EventDiverted || got[2].ThisDN != "1002" || got[2].ThirdPartyDN != "1003" ||
			got[3].ID != event.EventRinging || got[3].ThisDN != "1003" || got[3].CallState != event.CallStateForwarded {
			t.Fatalf("after the timeout: %s %s, %s %s", got[2].ID, got[2].ThisDN, got[3].ID, got[3].ThisDN)
		}
		if d := time.UnixMicro(got[2].Time.UnixMicro()).Sub(start); d != 15*time.Second {
			t.Fatalf("diverted after %v, want exactly 15s", d)
		}
		if got[2].ConnID != conn || got[3].Seq != got[2].Seq+1 {
			t.Fatalf("ConnID %s (want %s), Seq %d after %d", got[2].ConnID, conn, got[3].Seq, got[2].Seq)
		}

		// Answered in time: the timer is cancelled.
		if _, err := tn.Do(ctx, engine.Release{ConnID: conn, DN: "1001"}); err != nil {
			t.Fatal(err)
		}
		out, err = tn.Do(ctx, engine.MakeCall{From: "1001", To: "1002"})
		if err != nil {
			t.Fatal(err)
		}
		conn = out.Reply.(engine.CallReply).ConnID
		time.Sleep(5 * time.Second)
		if _, err := tn.Do(ctx, engine.Answer{ConnID: conn, DN: "1002"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		var names []string
		for len(sub.C) > 0 {
			ev := <-sub.C
			names = append(names, ev.ID.String()+" "+ev.ThisDN)
		}
		want := "EventReleased 1001,EventAbandoned 1003,EventDialing 1001,EventRinging 1002,EventEstablished 1002,EventEstablished 1001"
		if strings.Join(names, ",") != want {
			t.Fatalf("events\n%s\nwant\n%s", strings.Join(names, ","), want)
		}
	})
}
