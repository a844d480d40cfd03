package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/journal"
	"github.com/switchboard-cc/switchboard/internal/kafkasec"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/switchboard-cc/switchboard/internal/relay"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DurabilityConfig is the journal of serve (--data/journal/<tenant>) and
// its snapshots.
type DurabilityConfig struct {
	// JournalMaxSize bounds each tenant's journal (--journal-max-size,
	// default 4GiB; suffixes KiB, MiB, GiB). When Kafka has been away long
	// enough for the journal to reach it, requests get 503 and nothing
	// changes until Kafka takes the events again.
	JournalMaxSize int64
	// SnapshotEvery is how many steps pass between snapshots of a
	// tenant's engine (--snapshot-every, default 100000): recovery replays
	// at most about that many steps after the newest snapshot.
	SnapshotEvery int
	// RelayLinger is how long each tenant's relay holds a batch of events
	// that is not full before handing it to the publisher, gathering the
	// events of the steps journaled meanwhile into the same produce
	// request (--relay-linger, default relay.DefaultLinger; 0: no
	// lingering; at most a minute). It delays only when Kafka has the
	// events, not any reply; see relay.Config.Linger.
	RelayLinger time.Duration
	// JournalMinSyncInterval is the least time between the starts of two
	// fsynced batches of a tenant's journal under load
	// (--journal-min-sync-interval, default DefaultJournalMinSyncInterval;
	// 0: off, a batch starts as soon as the previous one is durable; at
	// most maxJournalMinSyncInterval): while journal records arrive at 4 or more per
	// interval, they gather into fewer batches, each one fsync and one
	// wake-up of the flusher, the tenant and the relay, for less CPU per
	// call; a step's reply is then up to the interval later. Below that
	// rate nothing waits (a request sent right after the previous reply at
	// a low rate pays nothing). See journal.Options.MinSyncInterval.
	JournalMinSyncInterval time.Duration
	// ReadyFile, if set, is written (atomically) once serve is ready, with
	// a JSON object {"http": ADDR, "kafka": [BROKERS]} (--ready-file), so a
	// supervisor or a test learns the bound addresses.
	ReadyFile string
}

// Defaults of DurabilityConfig.
const (
	DefaultJournalMaxSize = 4 << 30
	DefaultSnapshotEvery  = 100_000
	// maxRelayLinger bounds --relay-linger: beyond it events would trail
	// their steps by more than any consumer should wait.
	maxRelayLinger = time.Minute
	// DefaultJournalMinSyncInterval is the default of
	// --journal-min-sync-interval. Measured on the 2-core test VM (issue
	// 19, alternated runs of one binary): at 1,000 SIP calls/s 2 ms cut
	// serve's CPU per call by about 12% (median 0.510 -> 0.450 ms, ratio
	// to Kamailio 2.25 -> 2.02); the bench's API latency at 200 requests/s
	// stayed at the level of 0 (p50 0.32-0.38 ms against 0.40-0.42), as
	// the journal waits only under load. A closed loop of few clients
	// at a high rate (the bench's 8 API clients) is recognised by probing:
	// the journal takes batches at once while that brings records 1.3 times
	// faster than waiting (journal/pace.go), so its calls/s stay at 0's
	// level.
	DefaultJournalMinSyncInterval = 2 * time.Millisecond
	// maxJournalMinSyncInterval bounds --journal-min-sync-interval: every
	// reply waits for its step to be durable, so the interval is added to
	// replies under load and must stay far below any client's patience.
	maxJournalMinSyncInterval = 100 * time.Millisecond
	// journalRecordMax bounds one step record (a step's command and
	// events), at most an eighth of the journal.
	journalRecordMax = 1 << 20
)

func (d *DurabilityConfig) addFlags(add func(name string, v flag.Value, usage string)) {
	add("journal-max-size", (*sizeValue)(&d.JournalMaxSize), "most `BYTES` of each tenant's journal (suffixes KiB, MiB, GiB); beyond it requests get 503")
	add("snapshot-every", (*intValue)(&d.SnapshotEvery), "`STEPS` between snapshots of a tenant's engine")
	add("relay-linger", (*durationValue)(&d.RelayLinger), "how long a tenant's relay holds a batch of events that is not full before handing it to Kafka (`DURATION`; 0: no lingering): fewer, larger produce requests for less CPU, events that much later in Kafka (replies do not wait for it)")
	add("journal-min-sync-interval", (*durationValue)(&d.JournalMinSyncInterval), "least time between the starts of two fsynced batches of a tenant's journal under load (`DURATION`; 0: off, a batch starts as soon as the previous one is durable): while journal records arrive at 4 or more per interval, fewer fsyncs and wake-ups, less CPU per call, and replies up to the interval later; below that rate nothing waits")
	add("ready-file", (*stringValue)(&d.ReadyFile), "`FILE` written with the bound addresses (JSON) once serving")
}

func (d *DurabilityConfig) validate(bad func(flag, format string, args ...any) error) error {
	if d.JournalMaxSize < 1<<20 {
		return bad("journal-max-size", "%d bytes: at least 1MiB", d.JournalMaxSize)
	}
	if d.SnapshotEvery < 1 {
		return bad("snapshot-every", "%d is not positive", d.SnapshotEvery)
	}
	if d.RelayLinger < 0 || d.RelayLinger > maxRelayLinger {
		return bad("relay-linger", "%v: want 0 (no lingering) to %v", d.RelayLinger, maxRelayLinger)
	}
	if d.JournalMinSyncInterval < 0 || d.JournalMinSyncInterval > maxJournalMinSyncInterval {
		return bad("journal-min-sync-interval", "%v: want 0 (no interval) to %v", d.JournalMinSyncInterval, maxJournalMinSyncInterval)
	}
	return nil
}

type sizeValue int64

func (s *sizeValue) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *sizeValue) Set(v string) error {
	v = strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size (like 4GiB)", v)
	}
	*s = sizeValue(n * mult)
	return nil
}

// kafkaOpts are the kgo options of the relay's own Kafka clients: the same
// brokers, TLS and SASL as the publisher.
func kafkaOpts(brokers []string, tc publisher.TLSConfig, sc publisher.SASLConfig) ([]kgo.Opt, error) {
	sec, err := kafkasec.Opts(tc, sc)
	if err != nil {
		return nil, err
	}
	return append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID("switchboard-relay")}, sec...), nil
}

// durableTenant is one tenant's journal, runtime and relay.
type durableTenant struct {
	id string
	jr *journal.Journal
	rt *tenant.Tenant
	rl *relay.Relay
}

// openJournal opens a tenant's journal; a test replaces it to see the
// options serve passes.
var openJournal = journal.Open

// startDurable opens the tenant's journal under data/journal/<id>, starts
// its runtime (recovering the engine from the journal) and its relay.
// newEngine builds a fresh engine of the same configuration: the tenant
// heals with it after a journal write failure.
// readCommitted says pub writes transactions (relay.Config.ReadCommitted).
func startDurable(c Config, id string, eng *engine.Engine, newEngine func() (tenant.Machine, error), pub relay.Publisher, readCommitted bool, kopts []kgo.Opt, log *slog.Logger) (*durableTenant, error) {
	dir := filepath.Join(c.Data, "journal", id)
	recMax := int(min(journalRecordMax, c.Durability.JournalMaxSize/8))
	jr, err := openJournal(dir, journal.Options{MaxSize: c.Durability.JournalMaxSize,
		SegmentSize: min(journal.DefaultSegmentSize, c.Durability.JournalMaxSize/4), MaxRecordSize: recMax,
		MinSyncInterval: c.Durability.JournalMinSyncInterval, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("app: tenant %q: %w", id, err)
	}
	rt, err := tenant.Start(tenant.Config{Engine: eng, Journal: jr, RecordReserve: recMax,
		SnapshotEvery: c.Durability.SnapshotEvery, RecoveryCommands: releaseCalls, NewEngine: newEngine, Logger: log})
	if err != nil {
		jr.Close()
		return nil, fmt.Errorf("app: tenant %q: %w", id, err)
	}
	rl, err := relay.Start(relay.Config{Tenant: id, Journal: jr, Publisher: pub,
		Checkpoint: filepath.Join(c.Data, "journal", id+".relay.json"), Kafka: kopts,
		TopicPrefix: c.TopicPrefix, ReadCommitted: readCommitted, SnapshotLSN: rt.SnapshotLSN, Linger: c.Durability.RelayLinger, Logger: log})
	if err != nil {
		rt.Close(context.Background())
		jr.Close()
		return nil, fmt.Errorf("app: tenant %q: %w", id, err)
	}
	return &durableTenant{id: id, jr: jr, rt: rt, rl: rl}, nil
}

// stats is the tenant's relay figures, with the tenant's own failure as
// JournalErr where the journal reports none (see withTenantHealth).
func (d *durableTenant) stats() relay.Stats { return withTenantHealth(d.rl.Stats(), d.rt.Health()) }

// withTenantHealth puts the tenant's failure h.Err into s.JournalErr when
// the journal reports none: a tenant whose journal healed but whose engine
// could not be rebuilt from it refuses every command until restarted
// (tenant.Health says so, the journal does not), and readiness and the
// unhealthy gauge must show it.
func withTenantHealth(s relay.Stats, h tenant.Health) relay.Stats {
	if h.Err != nil && s.JournalErr == "" {
		s.JournalErr = h.Err.Error()
	}
	return s
}

// shutdownMargin is how long past Config.ShutdownTimeout the closing
// steps that do not take a deadline themselves (closing Kafka clients, the
// embedded broker, the SIP server, the journals) may still take before
// shutdown abandons them.
const shutdownMargin = 5 * time.Second

// stepWait is the least a closing step is waited for once the deadline
// has passed: a step that finishes at once is not reported as abandoned.
const stepWait = 20 * time.Millisecond

// stopper runs serve's closing steps one after the other, each waited for
// until a deadline at most: a step still running then is abandoned (left
// running in the background, logged with its name) and the next one runs,
// so that a shutdown always ends, whatever a Kafka broker, a client or a
// peer does.
type stopper struct {
	log       *slog.Logger
	deadline  time.Time
	abandoned []string // names of the steps abandoned, in order
}

func newStopper(log *slog.Logger, deadline time.Time) *stopper {
	return &stopper{log: log, deadline: deadline}
}

// do runs fn as the step what and reports whether it finished in time.
func (s *stopper) do(what string, fn func()) bool {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		fn()
	}()
	t := time.NewTimer(max(time.Until(s.deadline), stepWait))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
	}
	s.abandoned = append(s.abandoned, what)
	s.log.Error("shutdown: step abandoned at the deadline, left running", "step", what,
		"waited", time.Since(start).Round(time.Millisecond))
	return false
}

// tenantClosers are the tenants' part of the shutdown sequence: the
// tenants stop (taking no more commands, their steps durable), the relays
// wait until Kafka has their events or ctx ends, the publisher closes
// (which unblocks a relay waiting for Kafka), then the relays and the
// journals.
func tenantClosers(log *slog.Logger, ds []*durableTenant, pub interface{ Close() }) []closer {
	var cl []closer
	for _, d := range ds {
		cl = append(cl, closer{"runtime close " + d.id, func(ctx context.Context) {
			if err := d.rt.Close(ctx); err != nil {
				log.Error("tenant shutdown: steps not durable in time", "tenant", d.id, "err", err)
			}
		}})
	}
	for _, d := range ds {
		cl = append(cl, closer{"relay flush " + d.id, func(ctx context.Context) {
			if err := d.rl.Flush(ctx); err != nil {
				log.Warn("tenant shutdown: events stay in the journal and are published at the next start", "tenant", d.id, "err", err)
			}
		}})
	}
	cl = append(cl, closer{"publisher close", func(context.Context) { pub.Close() }})
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, d := range ds {
		// A relay still running when its journal closes stops on
		// journal.ErrClosed; what it had not handed over stays in the
		// journal for the next start.
		cl = append(cl, closer{"relay close " + d.id, func(context.Context) { d.rl.Close(done) }},
			closer{"journal close " + d.id, func(context.Context) {
				if err := d.jr.Close(); err != nil {
					log.Error("journal close", "tenant", d.id, "err", err)
				}
			}})
	}
	return cl
}

// writeReadyFile writes the bound addresses atomically.
func writeReadyFile(path string, a Addrs) error {
	b, err := json.Marshal(struct {
		HTTP  string   `json:"http"`
		Kafka []string `json:"kafka"`
	}{a.HTTP, a.Kafka})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("app: --ready-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("app: --ready-file: %w", err)
	}
	return nil
}

// releaseCalls is serve's recovery: after a restart no call survives (the
// SIP dialogs and media of the calls died with the process), so every live
// call is released cleanly, with its events: one party per call per round
// (releasing one party often clears the call), an internal party by
// Release, an external one by NetworkRelease.
func releaseCalls(m tenant.Machine) []engine.Command {
	e, ok := m.(*engine.Engine)
	if !ok {
		return nil
	}
	var cmds []engine.Command
	for _, c := range e.Calls() {
		for _, p := range c.Parties {
			if p.State == "Bridged" || p.Role == "Observer" {
				continue
			}
			if p.External {
				cmds = append(cmds, engine.NetworkRelease{ConnID: c.ConnID})
			} else {
				cmds = append(cmds, engine.Release{ConnID: c.ConnID, DN: p.DN})
			}
			break
		}
	}
	return cmds
}
