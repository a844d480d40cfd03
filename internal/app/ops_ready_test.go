package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/switchboard-cc/switchboard/internal/relay"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// Readiness: journals open and with room, Kafka reachable; with the
// broker gone, ready only while journals buffer (journal mode).
func TestReadiness(t *testing.T) {
	b, err := broker.Start(context.Background(), broker.Config{Dir: t.TempDir(), Listen: "127.0.0.1:0",
		Topics: []string{event.AgentStateTopic, event.CallThreadTopic}, Partitions: 1, Logger: kafkatest.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := publisher.New(ctx, publisher.Config{Brokers: []string{b.Addr()}, Logger: kafkatest.Logger(t, slog.LevelError)})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	o := newOps(slog.New(slog.DiscardHandler))
	check := func(name, want string) {
		t.Helper()
		err := o.ready(context.Background(), pub)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: not ready: %v", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want an error with %q", name, err, want)
		}
	}
	check("no journal, Kafka up", "")
	var stats []relay.Stats
	o.setRelayStats(func() []relay.Stats { return stats })
	stats = []relay.Stats{{Tenant: "a", JournalSize: 10, JournalMaxSize: 100}, {Tenant: "b", JournalSize: 50, JournalMaxSize: 100}}
	check("journals with room", "")
	stats[1].JournalSize = 95
	check("a journal 95% full", `tenant "b" is 95% full`)
	stats[1].JournalSize = 5
	stats[0].Err = "relay: stopped: Kafka refused"
	check("a relay failed", `publishing of tenant "a" stopped: relay: stopped: Kafka refused`)
	stats[0].Err = ""
	// A tenant refusing commands while its journal writes (its engine
	// could not be rebuilt after a heal): not ready either.
	stats[0] = withTenantHealth(stats[0], tenant.Health{})
	check("a healthy tenant", "")
	stats[0] = withTenantHealth(stats[0], tenant.Health{Err: errors.New("tenant: events not recorded: the journal fails to write: replay")})
	check("a tenant refusing commands, its journal healthy", `tenant "a": the journal fails to write (commands get 503 until it heals): tenant: events not recorded`)
	stats[0].JournalErr = ""
	o.setJournal(func() []JournalOps { return []JournalOps{{Tenant: "c", Open: false}} })
	check("a journal closed", `journal of tenant "c" is not open`)
	o.setRelayStats(func() []relay.Stats { return stats })

	b.Close()
	check("Kafka down, journals with room", "")
	o.setJournal(nil)
	check("Kafka down, no journal", "Kafka is not reachable")
}

// /readyz's answer is cached for a second: probes cannot make serve flood
// Kafka with pings.
func TestReadyCached(t *testing.T) {
	b, err := broker.Start(context.Background(), broker.Config{Dir: t.TempDir(), Listen: "127.0.0.1:0",
		Topics: []string{event.AgentStateTopic, event.CallThreadTopic}, Partitions: 1, Logger: kafkatest.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := publisher.New(ctx, publisher.Config{Brokers: []string{b.Addr()}, Logger: kafkatest.Logger(t, slog.LevelError)})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	o := newOps(slog.New(slog.DiscardHandler))
	calls := 0
	o.setJournal(func() []JournalOps { calls++; return nil })
	for i := 0; i < 50; i++ {
		if err := o.cachedReady(context.Background(), pub); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Fatalf("%d checks for 50 probes within a second, want 1", calls)
	}
	o.readyC.at = o.readyC.at.Add(-readyCacheFor) // as if a second passed
	o.cachedReady(context.Background(), pub)
	if calls != 2 {
		t.Fatalf("%d checks after the cache expired, want 2", calls)
	}
}
