package app

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestShutdownBoundedWhenKafkaHangs: Kafka stops answering (connections
// open, nothing comes back) while events are still to be published; Run
// must still return once the shutdown timeout and the margin for the
// closing steps have passed, the unpublished events staying in the
// journal.
func TestShutdownBoundedWhenKafkaHangs(t *testing.T) {
	// A Kafka broker that, once frozen, swallows every request without
	// answering (connections stay open): a hung broker.
	var frozen atomic.Bool
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		return net.Listen(network, "127.0.0.1:0")
	}), kfake.SeedTopics(3, event.AgentStateTopic, event.CallThreadTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	kc.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		return nil, nil, frozen.Load()
	})
	const timeout = time.Second
	r := startMainWith(t, kc.ListenAddrs(), "", func(c *Config) { c.ShutdownTimeout = timeout })
	client := &http.Client{Timeout: 5 * time.Second}
	dnd := func(dn string, on bool) int {
		req, _ := http.NewRequest("POST", "http://"+r.addrs.HTTP+"/v1/tenants/demo/dns/"+dn+"/dnd",
			strings.NewReader(fmt.Sprintf(`{"on":%v}`, on)))
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		res, err := client.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if code := dnd("1001", true); code != 200 {
		t.Fatalf("DND before the freeze: HTTP %d", code)
	}
	r.waitPublished(t)

	frozen.Store(true)
	// Steps journaled after the freeze: Kafka never acknowledges them.
	for i, dn := range []string{"1002", "1003", "1004"} {
		if code := dnd(dn, true); code != 200 {
			t.Fatalf("DND %d after the freeze: HTTP %d", i, code)
		}
	}
	lag := uint64(0)
	for _, s := range r.addrs.Durability() {
		lag += s.LagRecords
	}
	if lag == 0 {
		t.Fatal("no step record waits for Kafka: the freeze did not hold the events back")
	}

	start := time.Now()
	r.cancel()
	bound := timeout + shutdownMargin + 3*time.Second
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Main.Run: %v", err)
		}
		t.Logf("Run returned %v after cancel (shutdown timeout %v, margin %v)", time.Since(start).Round(time.Millisecond), timeout, shutdownMargin)
	case <-time.After(bound):
		t.Fatalf("Main.Run did not return within %v of cancel with Kafka hanging", bound)
	}
	r.done <- nil // the cleanup's stop finds Run returned
}

// TestStopperAbandonsStuckStep: a closing step that never returns is
// abandoned at the deadline, named, and the steps after it still run;
// a step that finishes after the deadline has passed is not reported.
func TestStopperAbandonsStuckStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stuck := make(chan struct{})
		defer close(stuck) // lets the abandoned step end before the bubble does
		start := time.Now()
		st := newStopper(slog.New(slog.DiscardHandler), start.Add(3*time.Second))
		var ran []string
		if !st.do("quick", func() { ran = append(ran, "quick") }) {
			t.Error("a step that returns at once was abandoned")
		}
		if st.do("stuck", func() { <-stuck }) {
			t.Error("a step that never returns finished")
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("stuck step abandoned after %v, want at the deadline 3s", got)
		}
		if !st.do("after", func() { ran = append(ran, "after") }) {
			t.Error("a step that returns at once, after the deadline, was abandoned")
		}
		if st.do("stuck too", func() { <-stuck }) {
			t.Error("a second step that never returns finished")
		}
		if got := time.Since(start); got != 3*time.Second+stepWait {
			t.Errorf("second stuck step abandoned at %v, want the deadline plus %v", got, stepWait)
		}
		if want := []string{"stuck", "stuck too"}; !slices.Equal(st.abandoned, want) {
			t.Errorf("abandoned %q, want %q", st.abandoned, want)
		}
		if want := []string{"quick", "after"}; !slices.Equal(ran, want) {
			t.Errorf("ran %q, want %q", ran, want)
		}
	})
}

// TestStartFailureClosesWhatStarted: when start-up fails late (the CTI API
// port is taken, after the broker, the publisher, the tenants' journals and
// SIP started), Run returns the error having closed what started: a second
// Run on the same data directory opens the same journals (their locks are
// free) and serves.
func TestStartFailureClosesWhatStarted(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	data := t.TempDir()
	cfg := DefaultConfig()
	cfg.Data = data
	cfg.HTTP = busy.Addr().String()
	cfg.KafkaListen = "127.0.0.1:0"
	cfg.SIP = "127.0.0.1:0"
	cfg.Partitions = 3
	m := Main{Config: cfg, Stdout: io.Discard, Logger: slog.New(slog.DiscardHandler),
		OnReady: func(Addrs) { t.Error("ready with the CTI API port taken") }}
	done := make(chan error, 1)
	go func() { done <- m.Run(t.Context()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "CTI API") {
			t.Fatalf("Run with the API port taken: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return with the API port taken")
	}
	startMainWith(t, nil, "", func(c *Config) { c.Data = data })
}
