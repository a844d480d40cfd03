package sim

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/kafkasec"
	"github.com/switchboard-cc/switchboard/internal/publisher"
)

// Options are the flags of `switchboard sim` that are not Config.
type Options struct {
	API         string // base URL of a running switchboard
	Tenant      string
	Token       string
	InProcess   bool
	EventsOut   string   // in-process: JSON lines file ("-" stdout)
	Brokers     []string // in-process: publish to this Kafka
	TopicPrefix string
	Partitions  int
	// KafkaTLS and KafkaSASL are TLS and SASL to Brokers (the
	// --kafka-tls* and --kafka-sasl-* flags, internal/kafkasec).
	KafkaTLS    publisher.TLSConfig
	KafkaSASL   publisher.SASLConfig
	ExpectOut   string // summary for verify
	WriteConfig string // write a serve configuration for the day and exit
	Progress    bool   // progress bar and live summary on stderr
}

const usageText = `usage: switchboard sim [flags]

Runs a contact-centre day against a switchboard: Poisson arrivals, agents
logging in and out, log-normal talk, wrap-up and break times, transfers and
conferences, callers abandoning, supervisors monitoring. Against a running
server (--api, the CTI and network-side APIs, on the wall clock) or, with
--in-process, against the engine on a virtual clock (a day in seconds;
events to --events-out and/or --kafka-brokers). Deterministic for a seed:
the sequence of intended actions depends only on --seed, the configuration
and the switch's answers; against a server, wall-clock scheduling can only
make an action late (when the simulator or the server falls behind), never
reorder actions, and the switch's own timers fire on its clock.

By default calls go to the demo tenant's ACD queues (7000, 7001) and routing
points (5000, 5001) and the switch picks the agent (queue mode); --direct
makes the simulator the ACD instead, ringing the longest-ready agent's DN and
holding callers itself. The progress line counts callers: arrived, waiting
(queued, ringing or held), answered, abandoned (hung up before an answer).

Write the summary with --expect-out and check the stream with
'switchboard verify --expect FILE'. For a day bigger than the demo tenant
(20 agents) write a matching server configuration first:
  switchboard sim --agents 2000 --write-config day.yaml --token T
  switchboard serve --config day.yaml &
  switchboard sim --agents 2000 --rate 50 --duration 10m --token T --tenant sim --expect-out day.json
  switchboard verify --tenant sim --expect day.json

Flags (the YAML --config may set everything; flags given win):
`

// Main runs `switchboard sim` and returns the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, opts, err := parse(args, stdout, stderr, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "run 'switchboard sim --help' for usage")
		return 2
	}
	if opts.WriteConfig != "" {
		if err := os.WriteFile(opts.WriteConfig, []byte(cfg.ServeYAML(opts.Tenant, opts.Token)), 0o644); err != nil {
			fmt.Fprintln(stderr, "sim:", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s: tenant %s, %d agents\n", opts.WriteConfig, opts.Tenant, cfg.Agents)
		return 0
	}
	st, err := Execute(ctx, cfg, opts, stdout, stderr)
	if st != nil {
		fmt.Fprintln(stderr, st.Summary())
		for _, e := range st.FirstErrors {
			fmt.Fprintln(stderr, "  refused:", e)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// parse reads the flags, with defaults from the environment (getenv).
func parse(args []string, stdout, stderr io.Writer, getenv func(string) string) (Config, Options, error) {
	cfg := Default()
	fs := flag.NewFlagSet("switchboard sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	var o Options
	fs.StringVar(&o.API, "api", "http://127.0.0.1:8080", "base URL of the switchboard CTI API")
	fs.StringVar(&o.Tenant, "tenant", "demo", "tenant id")
	fs.StringVar(&o.Token, "token", env("SWITCHBOARD_DEMO_TOKEN", ""), "API bearer token (env SWITCHBOARD_DEMO_TOKEN)")
	agents := fs.Int("agents", cfg.Agents, "agents")
	rate := fs.Float64("rate", cfg.Rate, "inbound calls per second (Poisson)")
	dur := fs.Duration("duration", cfg.Duration, "how long calls arrive (then the day drains)")
	seed := fs.Uint64("seed", cfg.Seed, "random seed")
	file := fs.String("config", "", "YAML file with the rest of the day's parameters (see internal/sim.Config)")
	fs.StringVar(&o.ExpectOut, "expect-out", "", "write the summary for 'switchboard verify --expect' here")
	direct := fs.Bool("direct", false, "direct mode: the simulator is the ACD and rings agents' DNs itself (default: calls go to the queues and routing points, the switch picks the agent)")
	fs.BoolVar(&o.InProcess, "in-process", false, "run the engine in-process on a virtual clock (no server)")
	fs.StringVar(&o.EventsOut, "events-out", "", "in-process: write the events as JSON lines here ('-' stdout)")
	brokers := fs.String("kafka-brokers", "", "in-process: also publish the events to this Kafka (comma list)")
	fs.StringVar(&o.TopicPrefix, "topic-prefix", "", "in-process with --kafka-brokers: topic name prefix")
	fs.IntVar(&o.Partitions, "partitions", 12, "in-process with --kafka-brokers: partitions of created topics")
	fs.StringVar(&o.WriteConfig, "write-config", "", "write a serve configuration (YAML) with this day's tenant, agents and supervisors, and exit")
	progress := fs.String("progress", "auto", "progress bar and live summary on stderr: auto (when a terminal), always, never")
	var sec kafkasec.Flags
	secErr := sec.Register(fs, getenv)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return cfg, o, err
		}
		return cfg, o, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return cfg, o, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	if *file != "" {
		if err := LoadConfigFile(*file, &cfg); err != nil {
			return cfg, o, err
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "agents":
			cfg.Agents = *agents
		case "rate":
			cfg.Rate = *rate
		case "duration":
			cfg.Duration = *dur
		case "seed":
			cfg.Seed = *seed
		case "direct":
			cfg.Direct = *direct
		}
	})
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.Brokers = append(o.Brokers, b)
		}
	}
	if len(o.Brokers) > 0 {
		// TLS and SASL as serve's; without --kafka-brokers sim publishes
		// nowhere, and the flags (or serve's variables in the
		// environment) are ignored
		if secErr != nil {
			return cfg, o, fmt.Errorf("%w: %w", ErrUsage, secErr)
		}
		if err := sec.Check(o.Brokers); err != nil {
			return cfg, o, fmt.Errorf("%w: %w", ErrUsage, err)
		}
		var err error
		if o.KafkaTLS, o.KafkaSASL, err = sec.PublisherConfig(getenv); err != nil {
			return cfg, o, fmt.Errorf("%w: %w", ErrUsage, err)
		}
	}
	switch *progress {
	case "auto":
		o.Progress = isTerminal(stderr)
	case "always":
		o.Progress = true
	case "never":
	default:
		return cfg, o, fmt.Errorf("%w: --progress %q: want auto, always or never", ErrUsage, *progress)
	}
	if !o.InProcess && o.Token == "" && o.WriteConfig == "" {
		return cfg, o, fmt.Errorf("%w: --token is required against a server (or --in-process)", ErrUsage)
	}
	if o.WriteConfig != "" && o.Token == "" {
		return cfg, o, fmt.Errorf("%w: --write-config needs --token (the token the tenant will accept)", ErrUsage)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, o, err
	}
	if o.InProcess || o.WriteConfig != "" {
		if err := cfg.checkTenant(); err != nil {
			return cfg, o, err
		}
	}
	return cfg, o, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Execute runs one day with the given options and returns its stats; with
// opts.ExpectOut it writes the summary.
func Execute(ctx context.Context, cfg Config, opts Options, stdout, stderr io.Writer) (*Stats, error) {
	var drv Driver
	var attach func(*Sim)
	var closeFn func() error
	var lat *Latencies
	wallStart := time.Now()
	if opts.InProcess {
		var sinks []func([]event.Event) error
		if opts.EventsOut != "" {
			var w io.Writer = stdout
			var f *os.File
			if opts.EventsOut != "-" {
				var err error
				if f, err = os.Create(opts.EventsOut); err != nil {
					return nil, fmt.Errorf("sim: %w", err)
				}
				w = f
			}
			bw := bufio.NewWriterSize(w, 1<<16)
			var buf []byte
			sinks = append(sinks, func(evs []event.Event) error {
				for i := range evs {
					buf = evs[i].AppendJSON(buf[:0])
					buf = append(buf, '\n')
					if _, err := bw.Write(buf); err != nil {
						return err
					}
				}
				return nil
			})
			prev := closeFn
			closeFn = func() error {
				err := bw.Flush()
				if f != nil {
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}
				if prev != nil {
					if perr := prev(); err == nil {
						err = perr
					}
				}
				return err
			}
		}
		if len(opts.Brokers) > 0 {
			pub, err := publisher.New(ctx, publisher.Config{Brokers: opts.Brokers, TopicPrefix: opts.TopicPrefix,
				Partitions: int32(opts.Partitions), CreateTopics: true, ClientID: "switchboard-sim",
				TLS: opts.KafkaTLS, SASL: opts.KafkaSASL})
			if err != nil {
				return nil, fmt.Errorf("sim: %w", err)
			}
			var pubErr atomic.Value
			sinks = append(sinks, func(evs []event.Event) error {
				if e, _ := pubErr.Load().(error); e != nil {
					return e
				}
				pub.Publish(evs, func(err error) {
					if err != nil {
						pubErr.CompareAndSwap(nil, err)
					}
				})
				return nil
			})
			prev := closeFn
			closeFn = func() error {
				fctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				err := pub.Flush(fctx)
				cancel()
				pub.Close()
				if e, _ := pubErr.Load().(error); e != nil && err == nil {
					err = e
				}
				if prev != nil {
					if perr := prev(); err == nil {
						err = perr
					}
				}
				return err
			}
		}
		var sink func([]event.Event) error
		if len(sinks) > 0 {
			sink = func(evs []event.Event) error {
				for _, s := range sinks {
					if err := s(evs); err != nil {
						return err
					}
				}
				return nil
			}
		}
		d, err := NewInProcess(&cfg, opts.Tenant, sink)
		if err != nil {
			return nil, err
		}
		drv, attach = d, d.Attach
	} else {
		if cfg.Drain == 0 {
			cfg.Drain = 5 * time.Minute
		}
		lat = &Latencies{}
		d := NewHTTP(opts.API, opts.Tenant, opts.Token, lat)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		drv = d
		attach = func(*Sim) { d.Start(wctx) } // after New subscribed
	}
	s, err := New(cfg, drv)
	if err != nil {
		return nil, err
	}
	if attach != nil {
		attach(s)
	}
	if opts.Progress {
		s.Progress = progressPrinter(stderr, &cfg, drv)
	}
	runErr := s.Run(ctx)
	if opts.Progress {
		fmt.Fprintln(stderr)
	}
	if closeFn != nil {
		if err := closeFn(); err != nil && runErr == nil {
			runErr = fmt.Errorf("sim: %w", err)
		}
	}
	st := s.Stats()
	st.Wall = time.Since(wallStart)
	st.EventsSeen = drv.Events()
	if lat != nil && lat.Len() > 0 {
		st.LatencyP50, st.LatencyP90, st.LatencyP99 = lat.Percentile(50), lat.Percentile(90), lat.Percentile(99)
	}
	if opts.ExpectOut != "" && runErr == nil {
		if err := st.Expect(opts.Tenant, cfg.Seed).WriteFile(opts.ExpectOut); err != nil {
			return &st, fmt.Errorf("sim: %w", err)
		}
	}
	return &st, runErr
}

// progressPrinter redraws a progress bar and a live summary at most four
// times a (wall) second.
func progressPrinter(w io.Writer, cfg *Config, drv Driver) func(*Stats) {
	start := time.Now()
	var last time.Time
	var lastEv int64
	lastAt := start
	return func(st *Stats) {
		now := time.Now()
		if now.Sub(last) < 250*time.Millisecond {
			return
		}
		last = now
		sim := st.Now
		frac := min(float64(sim)/float64(cfg.Duration), 1)
		const width = 24
		n := int(frac * width)
		bar := strings.Repeat("#", n) + strings.Repeat(".", width-n)
		evs := drv.Events()
		rate := "n/a"
		if evs >= 0 {
			rate = fmt.Sprintf("%.0f", float64(evs-lastEv)/now.Sub(lastAt).Seconds())
			lastEv, lastAt = evs, now
		}
		fmt.Fprintf(w, "\r[%s] %3.0f%% sim %v arrived %d waiting %d answered %d abandoned %d | SL %.0f%% | calls in progress %d | events/s %s   ",
			bar, 100*frac, sim.Round(time.Second), st.Arrived, st.Waiting, st.Answered, st.Abandoned+st.LeftWaiting,
			100*st.ServiceLevel(), st.InProgress, rate)
	}
}
