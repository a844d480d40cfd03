package stats

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/metrics"
)

// OptionsFromConfig takes each tenant's time zone and each queue's and
// routing point's service level and type from a configuration.
func OptionsFromConfig(f *config.File) (Options, error) {
	o := Options{Tenants: map[string]TenantOptions{}}
	for i := range f.Tenants {
		t := &f.Tenants[i]
		loc, err := t.Location()
		if err != nil {
			return o, fmt.Errorf("stats: tenant %s: %w", t.ID, err)
		}
		to := TenantOptions{Location: loc, ServiceLevel: map[string]time.Duration{}, Kinds: map[string]string{}}
		for _, d := range t.DNs {
			switch {
			case d.Type == config.ACDQueue:
				to.Kinds[d.Number] = string(d.Type)
				if d.Queue != nil {
					to.ServiceLevel[d.Number] = d.Queue.ServiceLevel.Duration
				}
			case d.Type == config.RoutingPoint:
				to.Kinds[d.Number] = string(d.Type)
				if d.Routing != nil {
					to.ServiceLevel[d.Number] = d.Routing.ServiceLevel.Duration
				}
			}
		}
		o.Tenants[t.ID] = to
	}
	return o, nil
}

// GuardFromConfig is a ctiapi.Guard with the configuration's API tokens.
func GuardFromConfig(f *config.File) (*ctiapi.Guard, error) {
	toks, hashes := map[string][]string{}, map[string][]ctiapi.TokenHash{}
	for _, t := range f.Tenants {
		toks[t.ID] = t.Tokens
		for _, s := range t.TokenHashes {
			h, err := ctiapi.ParseTokenHash(s)
			if err != nil {
				return nil, fmt.Errorf("stats: tenant %s: %w", t.ID, err)
			}
			hashes[t.ID] = append(hashes[t.ID], h)
		}
	}
	return ctiapi.NewGuard(toks, hashes), nil
}

const usageText = `usage: switchboard stats --kafka-brokers LIST --config FILE [flags]

Reads voice-agentstate and voice-callthread and serves today's statistics
per tenant, queue and agent (docs/STATS.md) on
GET /v1/tenants/{t}/stats[/tenant|/queues|/agents|/ws], with the tenants'
API tokens from the configuration, and its per-queue Prometheus metrics on
GET /metrics (no token, like serve's).

`

// Main is `switchboard stats`.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("switchboard stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText); fs.PrintDefaults() }
	brokers := fs.String("kafka-brokers", os.Getenv("SWITCHBOARD_KAFKA_BROKERS"), "Kafka bootstrap brokers, comma-separated `LIST` (env SWITCHBOARD_KAFKA_BROKERS)")
	prefix := fs.String("topic-prefix", os.Getenv("SWITCHBOARD_TOPIC_PREFIX"), "topic name `PREFIX` (env SWITCHBOARD_TOPIC_PREFIX)")
	cfgPath := fs.String("config", "", "the switchboard configuration `FILE` (tenants, tokens, time zones, service levels)")
	listen := fs.String("listen", "127.0.0.1:8091", "HTTP listen `ADDRESS`")
	data := fs.String("data", "", "`DIR` for the checkpoint (stats.checkpoint); empty: none, every start reads from the start of the day")
	group := fs.String("group", "switchboard-stats", "Kafka consumer `GROUP`; one per instance")
	every := fs.Duration("checkpoint-every", 5*time.Second, "how often the checkpoint is written")
	at := fs.String("now", "", "evaluate the figures at this fixed RFC 3339 `TIME` instead of the clock (replaying a past day)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(code int, err error) int { fmt.Fprintln(stderr, "switchboard stats:", err); return code }
	if *brokers == "" || *cfgPath == "" {
		return fail(2, errors.New("--kafka-brokers and --config are required"))
	}
	f, err := config.Load(*cfgPath)
	if err != nil {
		return fail(2, err)
	}
	opts, err := OptionsFromConfig(f)
	if err != nil {
		return fail(2, err)
	}
	guard, err := GuardFromConfig(f)
	if err != nil {
		return fail(2, err)
	}
	now := time.Now
	if *at != "" {
		tm, err := time.Parse(time.RFC3339Nano, *at)
		if err != nil {
			return fail(2, fmt.Errorf("--now: %w", err))
		}
		now = func() time.Time { return tm }
	}
	cp := ""
	if *data != "" {
		cp = filepath.Join(*data, "stats.checkpoint")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	svc := NewService(Config{
		Brokers: strings.Split(*brokers, ","), TopicPrefix: *prefix, Group: *group,
		Checkpoint: cp, CheckpointEvery: *every, Options: opts, Logger: log, Now: now,
	})
	mux := http.NewServeMux()
	svc.Mount(mux.Handle, guard)
	set := metrics.NewRuntimeSet()
	svc.RegisterMetrics(set)
	mux.Handle("/metrics", set.Handler())
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail(1, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintf(stdout, "switchboard stats: listening on http://%s\n", ln.Addr())
	err = svc.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	srv.Shutdown(sctx)
	cancel()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fail(1, err)
	}
	return 0
}
