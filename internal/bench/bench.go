package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/media"
	"github.com/switchboard-cc/switchboard/internal/sim"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
	"github.com/switchboard-cc/switchboard/internal/sipload"
	"github.com/switchboard-cc/switchboard/internal/stats"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// ErrUsage is wrapped by flag errors.
var ErrUsage = errors.New("bench: usage")

// Row is one measured figure.
type Row struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Higher says whether a higher value is better (for --baseline ratios).
	Higher bool   `json:"higher"`
	Note   string `json:"note,omitempty"` // why it was skipped, or how it was measured
	Skip   bool   `json:"skipped,omitempty"`
}

// Result is a run of the suite (the --json output).
type Result struct {
	Time      time.Time `json:"time"`
	GoVersion string    `json:"goVersion"`
	CPUs      int       `json:"cpus"`
	Duration  string    `json:"duration"`
	Rows      []Row     `json:"rows"`
}

// Config of a run.
type Config struct {
	Duration time.Duration // per measurement (default 3s)
	Brokers  []string      // also measure end to end to this Kafka
	Rate     float64       // requests per second of the latency measurement (default 200)
	Workers  int           // concurrent API clients of the throughput rows (default 8)
	SIPRate  int           // SIP calls per second offered by sipp (default 500)
	// Peer "kamailio" adds the SIP comparison with Kamailio (ComparePeer)
	// over Bindings phones (default 6 x SIPRate) registered at
	// RegisterRate per second (default 1,000), with Idle (default 2s) of
	// idle CPU after the load. SIPOnly measures only the SIP rows.
	Peer         string
	Bindings     int
	RegisterRate int
	Idle         time.Duration
	SIPOnly      bool
	Profiles     Profiles // of serve under the --peer load
	// MediaCalls is how many anchored calls the media rows run (default
	// 1000); MediaOnly measures only those rows.
	MediaCalls int
	MediaOnly  bool
	// SIPTransports adds the SIP load through serve over UDP, TCP and TLS
	// (SIPTransports).
	SIPTransports bool
	// ClusterBrokers adds the cluster rows (runCluster), measured
	// against this Kafka (a 3-broker one: scripts/kafka start --brokers 3).
	ClusterBrokers []string
	ClusterOnly    bool // only the cluster rows
	// ClusterRates are the request rates of the cluster rows, each 1,000
	// or 5,000 (default ClusterRates: both).
	ClusterRates []int
	// JournalMinSyncInterval, if set, is --journal-min-sync-interval of
	// every serve the bench starts in this process (nil: serve's
	// default), for an A/B of that setting with one binary.
	JournalMinSyncInterval *time.Duration
	Logger                 *slog.Logger
}

// serveConfig is the configuration every serve the bench starts in this
// process begins with: serve's defaults, with cfg's serve settings.
func (cfg Config) serveConfig() app.Config {
	ac := app.DefaultConfig()
	if cfg.JournalMinSyncInterval != nil {
		ac.Durability.JournalMinSyncInterval = *cfg.JournalMinSyncInterval
	}
	return ac
}

// Row names, in table order.
const (
	RowEngineSteps  = "engine steps/s"
	RowEngineCalls  = "engine basic calls/s"
	RowEngineEvents = "engine events/s"
	RowSimEvents    = "sim in-process events/s"
	RowStatsAgg     = "stats aggregator events/s"
	RowStatsDecode  = "stats decode+aggregate events/s"
	RowE2ECalls     = "API calls/s, embedded broker"
	RowE2EEvents    = "events/s end to end, embedded broker"
	RowKafkaCalls   = "API calls/s, --kafka-brokers"
	RowKafkaEvents  = "events/s end to end, --kafka-brokers"
	RowP50          = "API latency p50"
	RowP90          = "API latency p90"
	RowP99          = "API latency p99"
	RowMemCall      = "memory per active call"
	RowMemAgent     = "memory per logged-in agent"
	RowSIP          = "SIP calls/s"
	RowSIPFailed    = "SIP failed calls"
	RowSIPP99       = "SIP INVITE-to-200 p99"
	RowSIPMedia     = "SIP calls/s, media configured"
	RowMediaCalls   = "anchored G.711 calls"
	RowMediaP999    = "media send deviation p99.9"
	RowMediaCPU     = "media CPU per call-second"
	RowMediaHeap    = "media heap per 1,000 calls"
)

// RowNames are every row's name in table order.
var RowNames = []string{RowEngineSteps, RowEngineCalls, RowEngineEvents, RowSimEvents, RowStatsAgg, RowStatsDecode, RowE2ECalls, RowE2EEvents,
	RowKafkaCalls, RowKafkaEvents, RowP50, RowP90, RowP99, RowMemCall, RowMemAgent, RowSIP, RowSIPFailed, RowSIPP99,
	RowSIPMedia, RowMediaCalls, RowMediaP999, RowMediaCPU, RowMediaHeap}

const usageText = `usage: switchboard bench [flags]

Runs switchboard's benchmark suite in this process and prints a table:
engine steps, calls and events per second (one core, no I/O), the
simulator's contact-centre mix in-process, the statistics aggregator's
events per second (decoded events, and record values decoded and
aggregated, one core), API calls and events per second
end to end to the embedded broker (and to --kafka-brokers), API latency
percentiles at a fixed request rate, memory per active call and per
logged-in agent, and SIP calls per second sustained by sipp at --sip-rate
for --duration, with failed calls and the INVITE-to-200 p99 (skipped with
a note when sipp is not installed) and the same load again with a media
section on the tenant (no call anchored; its ratio to the first), and the
media plane: --media-calls anchored G.711 calls playing music to
receivers that talk back, for --duration, their send-interval deviation
p99.9 and loss, CPU per call-second and heap per 1,000 calls (--media-only
for just those; on a shared host the timing depends on the process getting
a CPU when its 20 ms tick is due: run it under chrt -f 10, as media
servers are run, to see the send path's own figure). --baseline prints
each figure's ratio to an earlier run's --json output (>1 is better).

--peer kamailio runs the same sipp load through serve (in this process,
with its journal and the embedded broker, or --kafka-brokers; its quota of
unauthenticated SIP answers per address, --sip-unauth-rate, lifted for the
one sipp address) and through
Kamailio (a stateful proxy with registrar, bindings in memory; Debian
package kamailio) one after the other: --bindings phones register with
digest authentication at --register-rate, then --sip-rate calls per second
for --duration, then --idle without load; it prints each server's CPU per
call (/proc/PID/stat), INVITE-to-200 p99, registrations per second and idle
CPU, and their ratios. --sip-only measures only the SIP rows (without
the one with media).

--journal-min-sync-interval D sets serve's --journal-min-sync-interval in
every serve the bench starts in this process (the API rows, --peer,
--sip-transports, the single-node cluster row), so one binary can compare
values of it; without it they run with serve's default.

--sip-transports runs the same sipp load (phones registered by REGISTER,
--sip-rate calls per second for --duration) through one serve in this
process (events published) over UDP, TCP and TLS one after the other, and
prints each one's calls per second and the ratios of TCP and TLS to UDP.

--cluster-brokers (a 3-broker Kafka: scripts/kafka start --brokers 3)
adds cluster mode: a paced load of agent logins and logouts (8 tenants x
20 DNs) at 1,000 and 5,000 requests/s for --duration on one single-node
serve (local journal, relay to that Kafka) and on three cluster nodes
(Kafka as the journal, transactions), one after the other: API p50/p99
(with where a transaction's time goes), events per second per node and
the cluster's ratio to single-node mode; the same load on bare franz-go
transactional producers, one per shard, with no switchboard (the floor:
1 journal record and as many output records per request as the cluster's
batches had, to the same partitions, then EndTxn; p50/p99 and the split
into produce and EndTxn); then a takeover (a new owner
replays 5,000 steps after a 1,000-agent snapshot): replay steps per second
and the snapshot's size. --cluster-only measures only those rows;
--cluster-rates 1000 only at 1,000 requests/s (the events rows are those of
the highest rate measured).

Flags:
`

// Main runs `switchboard bench` and returns the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("switchboard bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dur := fs.Duration("duration", 3*time.Second, "how long each measurement runs")
	brokers := fs.String("kafka-brokers", "", "also measure end to end to this Kafka (comma list)")
	rate := fs.Float64("rate", 200, "requests per second of the API latency measurement")
	workers := fs.Int("workers", 8, "concurrent API clients of the throughput measurements")
	sipRate := fs.Int("sip-rate", 500, "SIP calls per second offered by sipp (when sipp is installed)")
	peer := fs.String("peer", "", "compare SIP with this peer: kamailio")
	bindings := fs.Int("bindings", 0, "phones registered for --peer (0: 6 x --sip-rate)")
	regRate := fs.Int("register-rate", 1000, "registrations per second offered for --peer")
	idle := fs.Duration("idle", 2*time.Second, "idle time measured after the --peer load")
	sipOnly := fs.Bool("sip-only", false, "measure only the SIP rows (and --peer's)")
	transports := fs.Bool("sip-transports", false, "also measure SIP calls/s through serve over UDP, TCP and TLS, and the ratios to UDP")
	var prof Profiles
	fs.StringVar(&prof.CPU, "cpuprofile", "", "write a CPU profile of serve under the --peer load to `FILE`")
	fs.StringVar(&prof.Alloc, "allocprofile", "", "write an allocation profile after the --peer load to `FILE`")
	fs.StringVar(&prof.Trace, "trace", "", "write an execution trace of serve under the --peer load to `FILE`")
	mediaCalls := fs.Int("media-calls", 1000, "concurrent anchored calls of the media rows")
	clusterBrokers := fs.String("cluster-brokers", os.Getenv(EnvClusterBrokers),
		"add the cluster rows, measured against this Kafka (comma list; default $"+EnvClusterBrokers+")")
	clusterOnly := fs.Bool("cluster-only", false, "measure only the cluster rows (needs --cluster-brokers)")
	clusterRates := fs.String("cluster-rates", "1000,5000", "request rates of the cluster rows (1000, 5000 or both)")
	mediaOnly := fs.Bool("media-only", false, "measure only the media rows")
	jsonOut := fs.Bool("json", false, "print the result as JSON (for --baseline)")
	baseline := fs.String("baseline", "", "an earlier run's --json output: print ratios against it")
	minSync := fs.Duration("journal-min-sync-interval", app.DefaultConfig().Durability.JournalMinSyncInterval,
		"serve's --journal-min-sync-interval in every serve the bench starts in this process")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "bench: %v\nrun 'switchboard bench --help' for usage\n", err)
		return 2
	}
	if fs.NArg() > 0 || *dur <= 0 || *rate <= 0 || *workers <= 0 || *sipRate <= 0 || *bindings < 0 || *regRate <= 0 || *idle <= 0 || *mediaCalls <= 0 ||
		(*peer != "" && *peer != "kamailio") || *sipOnly && *mediaOnly {
		fmt.Fprintln(stderr, "bench: bad arguments; run 'switchboard bench --help' for usage")
		return 2
	}
	var base *Result
	if *baseline != "" {
		b, err := os.ReadFile(*baseline)
		if err == nil {
			base = &Result{}
			err = json.Unmarshal(b, base)
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench: --baseline:", err)
			return 2
		}
	}
	cfg := Config{Duration: *dur, Rate: *rate, Workers: *workers, SIPRate: *sipRate,
		Peer: *peer, Bindings: *bindings, RegisterRate: *regRate, Idle: *idle, SIPOnly: *sipOnly, Profiles: prof,
		MediaCalls: *mediaCalls, MediaOnly: *mediaOnly, SIPTransports: *transports}
	cfg.Brokers, cfg.ClusterBrokers, cfg.ClusterOnly = splitList(*brokers), splitList(*clusterBrokers), *clusterOnly
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "journal-min-sync-interval" {
			cfg.JournalMinSyncInterval = minSync
		}
	})
	if ac := cfg.serveConfig(); ac.Validate() != nil {
		fmt.Fprintln(stderr, "bench:", ac.Validate())
		return 2
	}
	for _, r := range splitList(*clusterRates) {
		n, err := strconv.Atoi(r)
		if err != nil || (n != 1000 && n != 5000) || slices.Contains(cfg.ClusterRates, n) {
			fmt.Fprintln(stderr, "bench: --cluster-rates takes 1000, 5000 or both")
			return 2
		}
		cfg.ClusterRates = append(cfg.ClusterRates, n)
	}
	if cfg.ClusterOnly && len(cfg.ClusterBrokers) == 0 {
		fmt.Fprintln(stderr, "bench: --cluster-only needs --cluster-brokers")
		return 2
	}
	res, err := Run(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *jsonOut {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	res.WriteTable(stdout, base)
	return 0
}

// EnvClusterBrokers is the default of --cluster-brokers.
const EnvClusterBrokers = "SWITCHBOARD_BENCH_CLUSTER_BROKERS"

func splitList(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// WriteTable prints the result, with ratios to base when given.
func (r *Result) WriteTable(w io.Writer, base *Result) {
	fmt.Fprintf(w, "switchboard bench: %s, %d CPUs, %s per measurement\n", r.GoVersion, r.CPUs, r.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "figure\tvalue\tunit"
	if base != nil {
		head += "\tbaseline\tratio"
	}
	fmt.Fprintln(tw, head+"\tnote")
	for _, row := range r.Rows {
		val := "-"
		if !row.Skip {
			val = fmtNum(row.Value)
		}
		line := row.Name + "\t" + val + "\t" + row.Unit
		if base != nil {
			b, ok := base.row(row.Name)
			switch {
			case !ok || b.Skip || row.Skip || b.Value == 0:
				line += "\t-\t-"
			default:
				ratio := row.Value / b.Value
				if !row.Higher && row.Value != 0 {
					ratio = b.Value / row.Value
				}
				line += "\t" + fmtNum(b.Value) + "\t" + strconv.FormatFloat(ratio, 'f', 2, 64) + "x"
			}
		}
		fmt.Fprintln(tw, line+"\t"+row.Note)
	}
	tw.Flush()
	if base != nil {
		fmt.Fprintln(w, "ratio > 1: better than the baseline (higher throughput, lower latency or memory)")
	}
}

func (r *Result) row(name string) (Row, bool) {
	for _, x := range r.Rows {
		if x.Name == name {
			return x, true
		}
	}
	return Row{}, false
}

func fmtNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// Run measures every row.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Result, error) {
	if cfg.Duration <= 0 {
		cfg.Duration = 3 * time.Second
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 200
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.SIPRate <= 0 {
		cfg.SIPRate = 500
	}
	if cfg.Bindings <= 0 {
		cfg.Bindings = 6 * cfg.SIPRate
	}
	if cfg.RegisterRate <= 0 {
		cfg.RegisterRate = 1000
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 2 * time.Second
	}
	if cfg.MediaCalls <= 0 {
		cfg.MediaCalls = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	res := &Result{Time: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Duration: cfg.Duration.String()}
	say := func(s string) {
		if progress != nil {
			fmt.Fprintln(progress, "bench:", s)
		}
	}
	add := func(rows ...Row) { res.Rows = append(res.Rows, rows...) }
	if cfg.ClusterOnly {
		if err := runCluster(ctx, cfg, say, add); err != nil {
			return nil, err
		}
		return res, nil
	}
	if !cfg.SIPOnly && !cfg.MediaOnly {
		if err := runNonSIP(ctx, cfg, say, add); err != nil {
			return nil, err
		}
	}
	if !cfg.MediaOnly {
		if err := runSIP(ctx, cfg, say, add); err != nil {
			return nil, err
		}
	}
	if !cfg.SIPOnly {
		if err := runMedia(ctx, cfg, say, add); err != nil {
			return nil, err
		}
	}
	if cfg.SIPTransports {
		rs, err := SIPTransports(ctx, cfg, say)
		if err != nil {
			return nil, err
		}
		add(transportRows(cfg, rs)...)
	}
	if cfg.Peer == "kamailio" {
		say("SIP comparison with Kamailio (sipp, serve, kamailio)")
		sb, peer, err := ComparePeer(ctx, cfg)
		if err != nil {
			return nil, err
		}
		add(peerRows(cfg, sb, peer)...)
	}
	if len(cfg.ClusterBrokers) > 0 {
		if err := runCluster(ctx, cfg, say, add); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func runNonSIP(ctx context.Context, cfg Config, say func(string), add func(...Row)) error {
	say("engine")
	steps, calls, evs, err := EngineBasicCalls(cfg.Duration)
	if err != nil {
		return err
	}
	add(Row{Name: RowEngineSteps, Value: steps, Unit: "steps/s", Higher: true, Note: "one goroutine, basic calls (network call, answer, release)"},
		Row{Name: RowEngineCalls, Value: calls, Unit: "calls/s", Higher: true},
		Row{Name: RowEngineEvents, Value: evs, Unit: "events/s", Higher: true})

	say("sim in-process")
	simEv, err := SimEventsPerSecond(ctx, cfg.Duration)
	if err != nil {
		return err
	}
	add(Row{Name: RowSimEvents, Value: simEv, Unit: "events/s", Higher: true, Note: "contact-centre mix, 200 agents, virtual clock"})

	say("stats aggregator")
	agg, dec, err := StatsEventsPerSecond(ctx, cfg.Duration)
	if err != nil {
		return err
	}
	add(Row{Name: RowStatsAgg, Value: agg, Unit: "events/s", Higher: true, Note: "one goroutine, a simulated hour's decoded events (100 agents, queue mode)"},
		Row{Name: RowStatsDecode, Value: dec, Unit: "events/s", Higher: true, Note: "the same day's record values: event.Unmarshal, then the aggregator"})

	say("end to end, embedded broker")
	e2e, err := EndToEnd(ctx, nil, cfg)
	if err != nil {
		return err
	}
	add(Row{Name: RowE2ECalls, Value: e2e.CallsPerSec, Unit: "calls/s", Higher: true,
		Note: fmt.Sprintf("serve in-process, %d HTTP clients, 3 requests a call", cfg.Workers)},
		Row{Name: RowE2EEvents, Value: e2e.EventsPerSec, Unit: "events/s", Higher: true, Note: "until Kafka holds every event"})
	if len(cfg.Brokers) > 0 {
		say("end to end, " + strings.Join(cfg.Brokers, ","))
		k, err := EndToEnd(ctx, cfg.Brokers, cfg)
		if err != nil {
			return err
		}
		add(Row{Name: RowKafkaCalls, Value: k.CallsPerSec, Unit: "calls/s", Higher: true},
			Row{Name: RowKafkaEvents, Value: k.EventsPerSec, Unit: "events/s", Higher: true})
	} else {
		add(Row{Name: RowKafkaCalls, Unit: "calls/s", Skip: true, Note: "no --kafka-brokers"},
			Row{Name: RowKafkaEvents, Unit: "events/s", Skip: true, Note: "no --kafka-brokers"})
	}
	note := fmt.Sprintf("%.0f requests/s, embedded broker, %d requests", cfg.Rate, e2e.LatencyCount)
	add(Row{Name: RowP50, Value: ms(e2e.P50), Unit: "ms", Note: note},
		Row{Name: RowP90, Value: ms(e2e.P90), Unit: "ms"},
		Row{Name: RowP99, Value: ms(e2e.P99), Unit: "ms"})

	say("memory")
	perCall, perAgent, err := Memory(20000)
	if err != nil {
		return err
	}
	add(Row{Name: RowMemCall, Value: perCall, Unit: "bytes", Note: "engine heap, established internal calls"},
		Row{Name: RowMemAgent, Value: perAgent, Unit: "bytes", Note: "engine heap: agent and its extension, logged in to a queue"})

	return nil
}

func runSIP(ctx context.Context, cfg Config, say func(string), add func(...Row)) error {
	if sipp, err := exec.LookPath("sipp"); err != nil {
		note := "skipped: sipp is not installed (Debian package sip-tester)"
		add(Row{Name: RowSIP, Unit: "calls/s", Skip: true, Note: note},
			Row{Name: RowSIPFailed, Unit: "calls", Skip: true, Note: note},
			Row{Name: RowSIPP99, Unit: "ms", Skip: true, Note: note},
			Row{Name: RowSIPMedia, Unit: "calls/s", Skip: true, Note: note})
	} else {
		say("SIP load (sipp)")
		lr, err := SIPLoad(ctx, sipp, cfg.SIPRate, cfg.Duration, cfg.Logger)
		if err != nil {
			return err
		}
		if lr.Failed > 0 {
			cfg.Logger.Warn("bench: SIP calls failed", "failed", lr.Failed, "sipp", lr.Output, "errors", lr.Errors)
		}
		add(Row{Name: RowSIP, Value: lr.CallsPerSec, Unit: "calls/s", Higher: true,
			Note: fmt.Sprintf("sipp %d calls/s offered, %d calls between registered phones; engine, runtime, sipfront in-process, events not sent to Kafka", cfg.SIPRate, lr.OK+lr.Failed)},
			// Zero failed calls is a figure, not a skip (lower is better).
			Row{Name: RowSIPFailed, Value: float64(lr.Failed), Unit: "calls", Note: fmt.Sprintf("%d ok", lr.OK)},
			Row{Name: RowSIPP99, Value: lr.Percentile(0.99), Unit: "ms",
				Note: fmt.Sprintf("sipp rtd through the B2BUA, %d samples, ms resolution", len(lr.RTT))})
		if cfg.SIPOnly {
			return nil
		}
		say("SIP load (sipp), tenant with media")
		mr, err := SIPLoadMedia(ctx, sipp, cfg.SIPRate, cfg.Duration, cfg.Logger)
		if err != nil {
			return err
		}
		add(sipMediaRow(lr, mr))
	}
	return nil
}

func runMedia(ctx context.Context, cfg Config, say func(string), add func(...Row)) error {
	say("media")
	mr, err := media.Load(ctx, cfg.MediaCalls, cfg.Duration, true)
	if err != nil {
		return err
	}
	verdict := "goal met (p99.9 <= 10 ms, no loss)"
	if !mr.OK() {
		verdict = "goal NOT met (p99.9 <= 10 ms, no loss)"
	}
	add(Row{Name: RowMediaCalls, Value: float64(mr.Calls), Unit: "calls", Higher: true,
		Note: fmt.Sprintf("%s: music to loopback receivers in this process, which talk back 50 packets/s per call (%d sent back, %d read by the sessions); %d sent, %d lost, %d scheduler stalls, %d of %d scheduler wake-ups >= 10 ms late", verdict, mr.Talked, mr.Heard, mr.Sent, mr.Lost, mr.Stalls, mr.Late10, mr.Ticks)},
		Row{Name: RowMediaP999, Value: mr.P999, Unit: "ms",
			Note: fmt.Sprintf("|packet interval - 20 ms| per stream, %s: p50 %.2f, p99 %.2f, max %.1f", stampNote(mr), mr.P50, mr.P99, mr.Max)},
		Row{Name: RowMediaCPU, Value: mr.CPUPerCallSecond, Unit: "µs", Note: "process user+system CPU, receivers included"},
		Row{Name: RowMediaHeap, Value: mr.HeapPer1000 / 1e6, Unit: "MB", Note: "live heap of the sessions after GC"})
	return nil
}

// SIPLoad serves a tenant of 3 x rate caller/callee extension pairs on
// loopback SIP (engine, runtime with events discarded, sipfront; no
// Kafka), registers them to sipp and makes rate x d basic calls at rate
// calls per second (sipload.Run).
func SIPLoad(ctx context.Context, sipp string, rate int, d time.Duration, log *slog.Logger) (sipload.Result, error) {
	return sipLoad(ctx, sipp, rate, d, log, nil)
}

// sipLoad is SIPLoad with the tenant's media setup m (nil: none).
func sipLoad(ctx context.Context, sipp string, rate int, d time.Duration, log *slog.Logger, m *sipfront.Media) (sipload.Result, error) {
	pairs := 3 * rate
	calls := max(1, int(float64(rate)*d.Seconds()))
	t, err := sipload.Tenant("bench-sip", pairs, "bench")
	if err != nil {
		return sipload.Result{}, err
	}
	e, err := engine.New(t, engine.Options{Server: "bench"})
	if err != nil {
		return sipload.Result{}, err
	}
	rt, err := tenant.Start(tenant.Config{Engine: e, Sink: discardSink{}})
	if err != nil {
		return sipload.Result{}, err
	}
	defer rt.Close(context.Background())
	srv, err := sipfront.Start(sipfront.Config{Listen: "127.0.0.1:0", Tenants: []sipfront.Tenant{{Config: t, Runtime: rt, Media: m}}, Logger: log,
		// Every phone of the load shares one address: the per-address quota
		// of answers to unauthenticated requests (each call's 407) is for
		// attackers, not for this.
		UnauthRate: benchUnauthRate, UnauthBurst: benchUnauthBurst})
	if err != nil {
		return sipload.Result{}, err
	}
	defer srv.Close()
	return sipload.Run(ctx, srv, sipload.Config{Sipp: sipp, Rate: rate, Calls: calls, Pairs: pairs, Password: "bench"})
}

// discardSink acknowledges every event at once: the SIP figure is SIP and
// engine capacity without Kafka.
type discardSink struct{}

func (discardSink) Publish(_ []event.Event, done func(error)) { done(nil) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchTenant is n extensions 200000..., n agents, a queue and a trunk.
func benchTenant(n int) *config.Tenant {
	t := &config.Tenant{ID: "bench", Tokens: []string{"bench-token"}}
	for i := 0; i < n; i++ {
		t.DNs = append(t.DNs, config.DN{Number: strconv.Itoa(200000 + i), Type: config.Extension})
		t.Agents = append(t.Agents, config.Agent{ID: "a" + strconv.Itoa(i)})
	}
	t.DNs = append(t.DNs, config.DN{Number: "7000", Type: config.ACDQueue, Queue: &config.Queue{WrapUpTime: config.WrapUpNone()}},
		config.DN{Number: "pstn", Type: config.Trunk, Trunk: &config.TrunkSettings{}})
	return t
}

// EngineBasicCalls drives one engine for d with inbound basic calls
// (NetworkCall, Answer, NetworkRelease) over 1,000 extensions with agents
// logged in, and returns steps, calls and events per second.
func EngineBasicCalls(d time.Duration) (steps, calls, events float64, err error) {
	const n = 1000
	e, err := engine.New(benchTenant(n), engine.Options{Server: "bench"})
	if err != nil {
		return 0, 0, 0, err
	}
	at := sim.Epoch
	dns := make([]string, n)
	for i := range dns {
		dns[i] = strconv.Itoa(200000 + i)
		if _, err := e.Step(at, engine.Login{DN: dns[i], AgentID: "a" + strconv.Itoa(i)}); err != nil {
			return 0, 0, 0, err
		}
	}
	var nCalls, nEvents int
	start := time.Now()
	for time.Since(start) < d {
		for k := 0; k < 100; k++ {
			at++
			dn := dns[nCalls%n]
			res, err := e.Step(at, engine.NetworkCall{Trunk: "pstn", ANI: "+15550001", DNIS: dn})
			if err != nil {
				return 0, 0, 0, err
			}
			nEvents += len(res.Events)
			conn := res.Reply.(engine.CallReply).ConnID
			if res, err = e.Step(at, engine.Answer{ConnID: conn, DN: dn}); err != nil {
				return 0, 0, 0, err
			}
			nEvents += len(res.Events)
			if res, err = e.Step(at, engine.NetworkRelease{ConnID: conn}); err != nil {
				return 0, 0, 0, err
			}
			nEvents += len(res.Events)
			nCalls++
		}
	}
	sec := time.Since(start).Seconds()
	return float64(3*nCalls) / sec, float64(nCalls) / sec, float64(nEvents) / sec, nil
}

// SimEventsPerSecond runs the simulator's day in-process (200 agents,
// 2 calls/s) for about d of wall time and returns events per wall second.
func SimEventsPerSecond(ctx context.Context, d time.Duration) (float64, error) {
	cfg := sim.Default()
	cfg.Agents, cfg.Rate, cfg.Duration, cfg.Seed = 200, 1, 8*time.Hour, 1
	cfg.Supervisors = []sim.Supervisor{{DN: "1900", AgentID: "super1"}}
	// The day this row has always measured: direct mode, one queue (so the
	// figure stays comparable with earlier baselines).
	cfg.Direct, cfg.Queues = true, []string{"7000"}
	// At least a second: a shorter run on a loaded machine may end before
	// the day's first events, and its rate says nothing.
	d = max(d, time.Second)
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	drv, err := sim.NewInProcess(&cfg, "bench", nil)
	if err != nil {
		return 0, err
	}
	s, err := sim.New(cfg, drv)
	if err != nil {
		return 0, err
	}
	drv.Attach(s)
	start := time.Now()
	err = s.Run(cctx)
	sec := time.Since(start).Seconds()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return 0, err
	}
	return float64(drv.Events()) / sec, nil
}

// StatsEventsPerSecond measures the statistics aggregator on one
// goroutine: a simulated hour (100 agents, sim's default queue mode:
// queues 7000 and 7001, routing points 5000 and 5001) is made once
// in-process, then fed again and again, each time to a
// new aggregator, for d: first as decoded events (agg), then as the
// record values a consumer fetches, decoded with event.Unmarshal (dec).
func StatsEventsPerSecond(ctx context.Context, d time.Duration) (agg, dec float64, err error) {
	cfg := sim.Default()
	cfg.Agents, cfg.Rate, cfg.Duration, cfg.Seed = 100, 1, time.Hour, 1
	var recs [][]byte
	drv, err := sim.NewInProcess(&cfg, "bench", func(evs []event.Event) error {
		for i := range evs {
			recs = append(recs, evs[i].AppendJSON(nil))
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	s, err := sim.New(cfg, drv)
	if err != nil {
		return 0, 0, err
	}
	drv.Attach(s)
	if err := s.Run(ctx); err != nil {
		return 0, 0, err
	}
	if len(recs) == 0 {
		return 0, 0, errors.New("bench: the simulated hour produced no events")
	}
	evs := make([]event.Event, len(recs))
	for i, r := range recs {
		if err := event.Unmarshal(r, &evs[i]); err != nil {
			return 0, 0, err
		}
	}
	d = max(d, 100*time.Millisecond)
	rate := func(feed func(a *stats.Aggregator) error) (float64, error) {
		n, start := 0, time.Now()
		for time.Since(start) < d && ctx.Err() == nil {
			if err := feed(stats.New(stats.Options{})); err != nil {
				return 0, err
			}
			n += len(recs)
		}
		return float64(n) / time.Since(start).Seconds(), ctx.Err()
	}
	if agg, err = rate(func(a *stats.Aggregator) error {
		for i := range evs {
			a.Add(&evs[i])
		}
		return nil
	}); err != nil {
		return 0, 0, err
	}
	var ev event.Event
	dec, err = rate(func(a *stats.Aggregator) error {
		for _, r := range recs {
			if err := event.Unmarshal(r, &ev); err != nil {
				return err
			}
			a.Add(&ev)
		}
		return nil
	})
	return agg, dec, err
}

// E2E are the end-to-end figures.
type E2E struct {
	CallsPerSec, EventsPerSec float64
	P50, P90, P99             time.Duration
	LatencyCount              int
}

// EndToEnd starts serve in this process (the embedded broker when brokers
// is empty) with a tenant of 1,000 extensions, runs inbound basic calls
// through the API from cfg.Workers clients for cfg.Duration, waits until
// Kafka holds every event, then measures request latencies at cfg.Rate
// requests per second for cfg.Duration.
func EndToEnd(ctx context.Context, brokers []string, cfg Config) (E2E, error) {
	var out E2E
	dir, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		return out, err
	}
	defer os.RemoveAll(dir)
	const n = 1000
	scfg := sim.Default()
	scfg.Agents, scfg.AgentDNStart, scfg.Supervisors = n, 200000, []sim.Supervisor{}
	scfg.Direct, scfg.Queues = true, []string{"7000"} // extensions, one queue, no routing points
	if err := os.WriteFile(dir+"/bench.yaml", []byte(scfg.ServeYAML("bench", "bench-token")), 0o644); err != nil {
		return out, err
	}
	ac := cfg.serveConfig()
	ac.Data, ac.HTTP, ac.KafkaListen, ac.SIP = dir+"/data", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	ac.KafkaBrokers, ac.ConfigFile, ac.Partitions = brokers, dir+"/bench.yaml", 12
	ac.TopicPrefix = fmt.Sprintf("bench-%d.", time.Now().UnixNano())
	ready := make(chan app.Addrs, 1)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	m := app.Main{Config: ac, Stdout: io.Discard, Stderr: io.Discard, Logger: cfg.Logger,
		Getenv: func(string) string { return "" }, OnReady: func(a app.Addrs) { ready <- a }}
	go func() { done <- m.Run(sctx) }()
	defer func() {
		stop()
		select {
		case <-done:
		case <-time.After(time.Minute):
			cfg.Logger.Warn("bench: serve did not shut down within a minute; left running")
		}
	}()
	var addrs app.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		return out, fmt.Errorf("bench: serve: %w", err)
	case <-time.After(2 * time.Minute):
		return out, errors.New("bench: serve did not start")
	}
	base := "http://" + addrs.HTTP
	drv := sim.NewHTTP(base, "bench", "bench-token", nil)

	// throughput: each worker owns n/workers extensions
	var calls atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(cfg.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; time.Now().Before(deadline); k++ {
				dn := strconv.Itoa(200000 + w + cfg.Workers*(k%(n/cfg.Workers)))
				if err := basicCall(ctx, drv, dn); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				calls.Add(1)
			}
		}(w)
	}
	wg.Wait()
	callSec := time.Since(start).Seconds()
	if e, _ := firstErr.Load().(error); e != nil {
		return out, fmt.Errorf("bench: %w", e)
	}
	// every call gives 5 events: Ringing, OffHook, Established, Released, OnHook
	total := 5 * calls.Load()
	if _, err := waitRecords(ctx, addrs.Kafka, ac.TopicPrefix, total); err != nil {
		return out, err
	}
	// With --kafka-brokers the relays write transactions, whose markers
	// count in the end offsets: Kafka holds every event once the relays
	// have every journaled step acknowledged (committed).
	if err := waitRelays(ctx, addrs); err != nil {
		return out, err
	}
	allSec := time.Since(start).Seconds()
	out.CallsPerSec = float64(calls.Load()) / callSec
	out.EventsPerSec = float64(total) / allSec

	// latency at a fixed rate: basic calls paced so requests go at cfg.Rate
	lat := &sim.Latencies{}
	ldrv := sim.NewHTTP(base, "bench", "bench-token", lat)
	interval := time.Duration(float64(3*time.Second) / cfg.Rate) // a call is 3 requests
	deadline = time.Now().Add(cfg.Duration)
	next := time.Now()
	var lwg sync.WaitGroup
	for k := 0; time.Now().Before(deadline); k++ {
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		dn := strconv.Itoa(200000 + k%n)
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			if err := basicCall(ctx, ldrv, dn); err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	lwg.Wait()
	if e, _ := firstErr.Load().(error); e != nil {
		return out, fmt.Errorf("bench: latency: %w", e)
	}
	out.P50, out.P90, out.P99, out.LatencyCount = lat.Percentile(50), lat.Percentile(90), lat.Percentile(99), lat.Len()
	return out, nil
}

func basicCall(ctx context.Context, d *sim.HTTP, dn string) error {
	rep, err := d.Do(ctx, 0, engine.NetworkCall{Trunk: "pstn", ANI: "+15550001", DNIS: dn})
	if err != nil {
		return err
	}
	if _, err := d.Do(ctx, 0, engine.Answer{ConnID: rep.ConnID, DN: dn}); err != nil {
		return err
	}
	_, err = d.Do(ctx, 0, engine.NetworkRelease{ConnID: rep.ConnID})
	return err
}

// waitRelays waits until every tenant's relay has Kafka acknowledge every
// step record durable in its journal.
func waitRelays(ctx context.Context, addrs app.Addrs) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		behind := 0
		for _, st := range addrs.Durability() {
			if st.AckedLSN < st.DurableLSN {
				behind++
			}
		}
		if behind == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bench: %d relays have events not acknowledged by Kafka", behind)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitRecords waits until the two topics hold at least want records and
// returns how many they hold.
func waitRecords(ctx context.Context, brokers []string, prefix string, want int64) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ends, err := adm.ListEndOffsets(ctx, prefix+event.AgentStateTopic, prefix+event.CallThreadTopic)
		var total int64
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					total += o.Offset
				}
			})
			if total >= want {
				return total, nil
			}
		}
		if time.Now().After(deadline) {
			return total, fmt.Errorf("bench: Kafka holds %d records, want %d (last error %v)", total, want, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Memory returns the engine heap per established call and per logged-in
// agent, measured over n extensions.
//
// Per agent counts the engine's whole state for an agent on its own
// extension, logged in to a queue (the tenant's configuration itself is
// built before the first reading and not counted).
func Memory(n int) (perCall, perAgent float64, err error) {
	t := benchTenant(n)
	h0 := heap()
	e, err := engine.New(t, engine.Options{Server: "bench"})
	if err != nil {
		return 0, 0, err
	}
	at := sim.Epoch
	for i := 0; i < n; i++ {
		if _, err := e.Step(at, engine.Login{DN: strconv.Itoa(200000 + i), AgentID: "a" + strconv.Itoa(i), Queues: []string{"7000"}}); err != nil {
			return 0, 0, err
		}
	}
	h1 := heap()
	for i := 0; i < n/2; i++ {
		from, to := strconv.Itoa(200000+2*i), strconv.Itoa(200001+2*i)
		res, err := e.Step(at, engine.MakeCall{From: from, To: to})
		if err != nil {
			return 0, 0, err
		}
		if _, err := e.Step(at, engine.Answer{ConnID: res.Reply.(engine.CallReply).ConnID, DN: to}); err != nil {
			return 0, 0, err
		}
	}
	h2 := heap()
	runtime.KeepAlive(e)
	return float64(int64(h2)-int64(h1)) / float64(n/2), float64(int64(h1)-int64(h0)) / float64(n), nil
}

func heap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
