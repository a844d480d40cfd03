package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/publisher"
	"github.com/switchboard-cc/switchboard/internal/relay"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// EnvAPITokens gives API tokens outside the configuration file:
// "tenant=token,tenant=token". They are hashed at start and never logged.
const EnvAPITokens = "SWITCHBOARD_API_TOKENS"

// Defaults of OpsConfig: no rate limit, so that a single client (a
// benchmark, a CTI middleware multiplexing many agents over one token) is
// not throttled by surprise. Production deployments set --api-rate.
const (
	DefaultAPIRate  = 0.0
	DefaultAPIBurst = 0
)

// OpsConfig is the operational part of Config.
type OpsConfig struct {
	// APIRate is each API token's sustained request rate in requests per
	// second (--api-rate, default 0: no limit); APIBurst the requests it
	// may make at once (--api-burst, default 0: the rate rounded up).
	// Requests over the limit get 429 with Retry-After.
	APIRate  float64
	APIBurst int
	// MaxConns bounds the API's open connections (--http-max-conns,
	// default 4096, never above three quarters of the open files limit);
	// MaxConnsPerAddr those of one client address
	// (--http-max-conns-per-addr, default 256).
	MaxConns, MaxConnsPerAddr int
	// AuthFailures is how many failed authentications a client address
	// may make at once before it is refused (429) until it has waited a
	// second per further try (--api-auth-failures, default 20).
	AuthFailures int
	// SIPUnauthRate and SIPUnauthBurst bound the SIP answers to requests
	// that are not authenticated (challenges, 403s) per source address, per
	// second and at once (--sip-unauth-rate, --sip-unauth-burst; default 0:
	// sipfront's 100 and 200). A load test sending every call from one
	// address raises them (switchboard bench --peer does, for its loopback
	// sipp).
	SIPUnauthRate  float64
	SIPUnauthBurst int
}

func (o *OpsConfig) addFlags(add func(name string, v flag.Value, usage string)) {
	add("api-rate", (*floatValue)(&o.APIRate), "requests per second each API token may make on average (`RATE`; 0: no limit)")
	add("api-burst", (*intValue)(&o.APIBurst), "requests an API token may make at once (`COUNT`; 0: --api-rate rounded up)")
	add("http-max-conns", (*intValue)(&o.MaxConns), "open API connections at most (`COUNT`; 0: 4096, within the open files limit)")
	add("http-max-conns-per-addr", (*intValue)(&o.MaxConnsPerAddr), "open API connections of one client address at most (`COUNT`; 0: 256)")
	add("api-auth-failures", (*intValue)(&o.AuthFailures), "failed API authentications a client address may make at once, then one a second (`COUNT`; 0: 20)")
	add("sip-unauth-rate", (*floatValue)(&o.SIPUnauthRate), "SIP answers to unauthenticated requests (challenges, 403) per second per source address (`RATE`; 0: 100)")
	add("sip-unauth-burst", (*intValue)(&o.SIPUnauthBurst), "SIP answers to unauthenticated requests a source address may get at once (`COUNT`; 0: 200)")
}

func (o *OpsConfig) validate(bad func(flag, format string, args ...any) error) error {
	if o.APIRate < 0 || o.APIRate > 1e6 {
		return bad("api-rate", "%v is not between 0 and 1000000", o.APIRate)
	}
	if o.APIBurst < 0 {
		return bad("api-burst", "%d is negative", o.APIBurst)
	}
	if o.SIPUnauthRate < 0 || o.SIPUnauthRate > 1e6 {
		return bad("sip-unauth-rate", "%v is not between 0 and 1000000", o.SIPUnauthRate)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"http-max-conns", o.MaxConns}, {"http-max-conns-per-addr", o.MaxConnsPerAddr}, {"api-auth-failures", o.AuthFailures}, {"sip-unauth-burst", o.SIPUnauthBurst}} {
		if f.v < 0 {
			return bad(f.name, "%d is negative", f.v)
		}
	}
	return nil
}

// JournalOps is one tenant's journal and publishing figures, as the
// journal integration reports them (relay.Stats maps onto it).
type JournalOps struct {
	Tenant     string
	Open       bool          // the journal is open and appendable
	Size       int64         // bytes of the live segments
	MaxSize    int64         // the journal's bound
	LagRecords uint64        // step records durable but not yet acknowledged by Kafka
	LagAge     time.Duration // how long the oldest of them has waited
	Err        string        // publishing stopped for good, if not empty
	// Unhealthy says why the tenant refuses commands or does not publish
	// for now (the journal fails to write, Kafka refuses events); it heals
	// by itself. Empty when healthy.
	Unhealthy string
	// The journal's fsyncs and their total and longest time, its write
	// failures and heals, and how often publishing paused.
	Fsyncs                       uint64
	FsyncTime, MaxFsync          time.Duration
	Failures, Heals, KafkaPauses uint64
}

// ops is serve's operational side: metrics, readiness, token handling.
type ops struct {
	set *metrics.Set
	log *slog.Logger
	// journal, if set, reports the journals (journal mode); readiness then
	// requires every journal open, and tolerates Kafka being away while
	// the journals have room. Set with setJournal or setRelayStats, also
	// while serving.
	journal atomic.Pointer[func() []JournalOps]
	readyC  readyCache
}

// setJournal sets the source of the journal figures.
func (o *ops) setJournal(f func() []JournalOps) {
	if f == nil {
		o.journal.Store(nil)
		return
	}
	o.journal.Store(&f)
}

// setRelayStats takes the journal figures from the relays (the journal
// integration's Addrs.Durability).
func (o *ops) setRelayStats(stats func() []relay.Stats) {
	if stats == nil {
		return
	}
	o.setJournal(func() []JournalOps {
		rs := stats()
		out := make([]JournalOps, len(rs))
		for i, r := range rs {
			// A relay runs on an open journal; Err is publishing stopped
			// for good (Kafka refused events permanently).
			out[i] = JournalOps{Tenant: r.Tenant, Open: true, Size: r.JournalSize, MaxSize: r.JournalMaxSize,
				LagRecords: r.LagRecords, LagAge: r.LagSince, Err: r.Err,
				Fsyncs: r.JournalFsyncs, FsyncTime: r.JournalFsyncTime, MaxFsync: r.JournalMaxFsync,
				Failures: r.JournalFailures, Heals: r.JournalHeals, KafkaPauses: r.Pauses}
			switch {
			case r.JournalErr != "":
				out[i].Unhealthy = "the journal fails to write (commands get 503 until it heals): " + r.JournalErr
			case r.Paused != "":
				out[i].Unhealthy = "Kafka refuses events (publishing retries): " + r.Paused
			}
		}
		return out
	})
}

// journals returns the journal figures, nil without a source.
func (o *ops) journals() []JournalOps {
	if f := o.journal.Load(); f != nil {
		return (*f)()
	}
	return nil
}

func newOps(log *slog.Logger) *ops { return &ops{set: metrics.NewSet(), log: log} }

// sink wraps the publisher (or anything the runtime or the relay hands
// events to) to count events by topic and tenant and time the
// acknowledgements.
func (o *ops) sink(next tenant.Sink) tenant.Sink { return metricsSink{next, o.set} }

type metricsSink struct {
	next tenant.Sink
	set  *metrics.Set
}

type topicTenant struct {
	topic, tenant string
	n             int
}

func (s metricsSink) Publish(evs []event.Event, done func(error)) {
	// evs is not retained after Publish: count now. A batch is one tenant
	// and usually one or two topics.
	var counts []topicTenant
	for i := range evs {
		tp, tn := evs[i].Topic(), evs[i].CustomerID
		found := false
		for j := range counts {
			if counts[j].topic == tp && counts[j].tenant == tn {
				counts[j].n++
				found = true
				break
			}
		}
		if !found {
			counts = append(counts, topicTenant{tp, tn, 1})
		}
	}
	start := time.Now()
	s.next.Publish(evs, func(err error) {
		if err == nil {
			s.set.KafkaAck(time.Since(start))
		}
		for _, c := range counts {
			s.set.EventsPublished(c.topic, c.tenant, c.n, err == nil)
		}
		if done != nil {
			done(err)
		}
	})
}

// apiTokens parses $SWITCHBOARD_API_TOKENS into token hashes by tenant.
// Errors never contain a token.
func apiTokens(v string, tenants map[string]bool) (map[string][]ctiapi.TokenHash, error) {
	out := map[string][]ctiapi.TokenHash{}
	if strings.TrimSpace(v) == "" {
		return out, nil
	}
	for i, item := range strings.Split(v, ",") {
		tenant, tok, ok := strings.Cut(strings.TrimSpace(item), "=")
		switch {
		case !ok || tenant == "" || tok == "":
			return nil, fmt.Errorf("%w: $%s: entry %d is not tenant=token", ErrConfig, EnvAPITokens, i+1)
		case strings.ContainsAny(tok, " \t\r\n"):
			return nil, fmt.Errorf("%w: $%s: entry %d: the token contains white space", ErrConfig, EnvAPITokens, i+1)
		case !tenants[tenant]:
			return nil, fmt.Errorf("%w: $%s: entry %d: no tenant %q", ErrConfig, EnvAPITokens, i+1, tenant)
		}
		out[tenant] = append(out[tenant], ctiapi.HashToken(tok))
	}
	return out, nil
}

// handler registers the scrape-time metrics, adds the tokens of the
// environment, and wraps the API with the metrics, health and rate limits.
func (o *ops) handler(c Config, getenv func(string) string, api *ctiapi.Server, file *config.File, demo bool,
	rts []*tenant.Tenant, pub *publisher.Publisher) (http.Handler, error) {
	ids := map[string]bool{}
	for _, t := range file.Tenants {
		ids[t.ID] = true
		if !demo && len(t.Tokens) > 0 {
			o.log.Warn("API tokens in plain text in the configuration: store their hashes instead (token-hashes, `switchboard hash-token`) or pass them in $"+EnvAPITokens,
				"tenant", t.ID, "tokens", len(t.Tokens))
		}
	}
	limits := map[string]ctiapi.RateLimit{}
	for _, t := range file.Tenants {
		for j, text := range t.TokenHashes {
			h, err := ctiapi.ParseTokenHash(text)
			if err == nil {
				err = api.AddTokenHashes(t.ID, h)
			}
			if err != nil {
				return nil, fmt.Errorf("app: tenant %q: token-hashes[%d]: %w", t.ID, j, err)
			}
		}
		if l := t.RateLimit; l != nil {
			limits[t.ID] = ctiapi.RateLimit{Rate: l.Rate, Burst: l.Burst}
		}
	}
	env, err := apiTokens(getenv(EnvAPITokens), ids)
	if err != nil {
		return nil, err
	}
	for tenant, hs := range env {
		if err := api.AddTokenHashes(tenant, hs...); err != nil {
			return nil, fmt.Errorf("%w: $%s: %v", ErrConfig, EnvAPITokens, err)
		}
	}
	o.registerGauges(rts, pub)
	limit := ctiapi.RateLimit{Rate: c.Ops.APIRate, Burst: c.Ops.APIBurst}
	return api.Handler(ctiapi.Ops{
		Metrics:      o.set,
		Default:      limit,
		RateLimits:   limits,
		AuthFailures: authFailures(c.Ops.AuthFailures),
		Ready:        func(ctx context.Context) error { return o.cachedReady(ctx, pub) },
	}), nil
}

// authFailures is the limit on failed authentications per client address:
// burst at once (default 20), then one a second.
func authFailures(burst int) ctiapi.RateLimit {
	if burst <= 0 {
		burst = 20
	}
	return ctiapi.RateLimit{Rate: 1, Burst: burst}
}

// listen bounds the API's listener and gives the server its timeouts; the
// open connections and streams are reported at scrape time.
func (o *ops) listen(c Config, ln net.Listener, api *ctiapi.Server, handler http.Handler, fdLimit uint64) (net.Listener, *http.Server) {
	lim := ctiapi.ConnLimits{MaxConns: c.Ops.MaxConns, MaxConnsPerAddr: c.Ops.MaxConnsPerAddr}
	if lim.MaxConns == 0 {
		lim.MaxConns = 4096
		if fdLimit > 0 && uint64(lim.MaxConns) > fdLimit*3/4 {
			lim.MaxConns = int(fdLimit * 3 / 4)
		}
	}
	ll := ctiapi.LimitListener(ln, lim, o.set, o.log.With("component", "ctiapi"))
	ll.RefuseBlocked(api)
	o.set.GaugeFunc(metrics.NameHTTPConnsOpen, "CTI API connections open, WebSocket streams included.", nil,
		func(emit metrics.Emit) { emit(float64(ll.Open())) })
	o.set.GaugeFunc(metrics.NameHTTPStreamsOpen, "CTI API event streams (WebSocket) open.", nil,
		func(emit metrics.Emit) { emit(float64(api.OpenStreams())) })
	o.set.GaugeFunc(metrics.NameFDLimit, "The open files limit in force (raised to the hard limit at start where allowed).", nil,
		func(emit metrics.Emit) { emit(float64(fdLimit)) })
	return ll, lim.HTTPServer(handler, o.log)
}

func (o *ops) registerGauges(rts []*tenant.Tenant, pub *publisher.Publisher) {
	s := o.set
	s.GaugeFunc(metrics.NameKafkaBuffered, "Records handed to the Kafka client and not yet acknowledged.", nil,
		func(emit metrics.Emit) { emit(float64(pub.Stats().Buffered)) })
	s.GaugeFunc(metrics.NameKafkaBufferLimit, "The most records the Kafka client buffers before publishing blocks.", nil,
		func(emit metrics.Emit) { emit(float64(pub.Stats().BufferLimit)) })
	// Calls and agents: read from each engine on its tenant goroutine at
	// scrape time (a scrape costs one Query per tenant; requests never
	// pay for these metrics).
	type counts struct{ calls, agents int }
	read := func(rt *tenant.Tenant) (counts, bool) {
		var n counts
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := rt.Query(ctx, func(m tenant.Machine) {
			e, ok := m.(*engine.Engine)
			if !ok {
				return
			}
			n.calls = len(e.Calls())
			for _, a := range e.Agents() {
				if a.State != "" && a.State != "LoggedOut" {
					n.agents++
				}
			}
		})
		return n, err == nil
	}
	s.GaugeFunc(metrics.NameActiveCalls, "Live calls, by tenant.", []string{"tenant"}, func(emit metrics.Emit) {
		for _, rt := range rts {
			if n, ok := read(rt); ok {
				emit(float64(n.calls), rt.ID())
			}
		}
	})
	s.GaugeFunc(metrics.NameAgentsLoggedIn, "Agents and supervisors logged in, by tenant.", []string{"tenant"}, func(emit metrics.Emit) {
		for _, rt := range rts {
			if n, ok := read(rt); ok {
				emit(float64(n.agents), rt.ID())
			}
		}
	})
	journal := func(f func(JournalOps, metrics.Emit)) func(metrics.Emit) {
		return func(emit metrics.Emit) {
			for _, j := range o.journals() {
				f(j, emit)
			}
		}
	}
	s.GaugeFunc(metrics.NameJournalSize, "Bytes of the journal's live segments, by tenant.", []string{"tenant"},
		journal(func(j JournalOps, emit metrics.Emit) { emit(float64(j.Size), j.Tenant) }))
	s.GaugeFunc(metrics.NameJournalMaxSize, "The journal's size bound, by tenant.", []string{"tenant"},
		journal(func(j JournalOps, emit metrics.Emit) { emit(float64(j.MaxSize), j.Tenant) }))
	s.GaugeFunc(metrics.NamePublishLag, "Journaled steps not yet acknowledged by Kafka, by tenant.", []string{"tenant"},
		journal(func(j JournalOps, emit metrics.Emit) { emit(float64(j.LagRecords), j.Tenant) }))
	s.GaugeFunc(metrics.NamePublishLagAge, "How long the oldest journaled step not yet in Kafka has waited, by tenant.", []string{"tenant"},
		journal(func(j JournalOps, emit metrics.Emit) { emit(j.LagAge.Seconds(), j.Tenant) }))
	s.GaugeFunc(metrics.NameUnhealthy, "1 while the tenant refuses commands because its journal fails to write, or its publishing is paused because Kafka refuses events; it heals by itself.", []string{"tenant"},
		journal(func(j JournalOps, emit metrics.Emit) { emit(boolGauge(j.Unhealthy != ""), j.Tenant) }))
	s.CounterFunc(metrics.NameJournalFsyncs, "Fsyncs of the journal's segment files, by tenant.", []string{"tenant"},
		journal(func(j JournalOps, emit metrics.Emit) { emit(float64(j.Fsyncs), j.Tenant) }))
	s.CounterFunc(metrics.NameJournalFsyncTime, "Time spent in those fsyncs, in seconds (divided by the fsyncs: the mean latency), by tenant.", []string{"tenant"},
		journal(func(j JournalOps, emit metrics.Emit) { emit(j.FsyncTime.Seconds(), j.Tenant) }))
	s.GaugeFunc(metrics.NameJournalMaxFsync, "The longest journal fsync since the start, in seconds, by tenant.", []string{"tenant"},
		journal(func(j JournalOps, emit metrics.Emit) { emit(j.MaxFsync.Seconds(), j.Tenant) }))
	s.CounterFunc(metrics.NameJournalFailures, "Journal write or fsync failures, by tenant.", []string{"tenant"},
		journal(func(j JournalOps, emit metrics.Emit) { emit(float64(j.Failures), j.Tenant) }))
	s.CounterFunc(metrics.NameJournalHeals, "Journal failures healed without a restart, by tenant.", []string{"tenant"},
		journal(func(j JournalOps, emit metrics.Emit) { emit(float64(j.Heals), j.Tenant) }))
	s.CounterFunc(metrics.NamePublishPauses, "Times Kafka refused events and publishing paused to retry, by tenant.", []string{"tenant"},
		journal(func(j JournalOps, emit metrics.Emit) { emit(float64(j.KafkaPauses), j.Tenant) }))
}

// readyCache keeps /readyz's answer for a second: the endpoint is
// unauthenticated and each check pings Kafka, so a flood of probes must not
// become a flood of Kafka requests.
type readyCache struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

const readyCacheFor = time.Second

// cachedReady is ready, answered from the cache when it is fresh.
func (o *ops) cachedReady(ctx context.Context, pub *publisher.Publisher) error {
	o.readyC.mu.Lock()
	defer o.readyC.mu.Unlock()
	if now := time.Now(); o.readyC.at.IsZero() || now.Sub(o.readyC.at) >= readyCacheFor {
		o.readyC.err = o.ready(ctx, pub)
		o.readyC.at = time.Now()
	}
	return o.readyC.err
}

// ready is /readyz: every journal open (journal mode), the Kafka client's
// buffer below 90% of its bound, and Kafka reachable, or, in journal mode,
// not reachable but every journal below 90% of its bound (the journal
// buffers until Kafka is back).
func (o *ops) ready(ctx context.Context, pub *publisher.Publisher) error {
	js := o.journals()
	sort.Slice(js, func(a, b int) bool { return js[a].Tenant < js[b].Tenant })
	for _, j := range js {
		if !j.Open {
			return fmt.Errorf("the journal of tenant %q is not open", j.Tenant)
		}
		if j.Err != "" {
			return fmt.Errorf("publishing of tenant %q stopped: %s", j.Tenant, j.Err)
		}
		if j.Unhealthy != "" {
			return fmt.Errorf("tenant %q: %s", j.Tenant, j.Unhealthy)
		}
		if j.MaxSize > 0 && j.Size >= j.MaxSize/10*9 {
			return fmt.Errorf("the journal of tenant %q is %d%% full", j.Tenant, j.Size*100/j.MaxSize)
		}
	}
	st := pub.Stats()
	if st.BufferLimit > 0 && st.Buffered >= st.BufferLimit/10*9 {
		return fmt.Errorf("Kafka is not keeping up: %d of %d records buffered", st.Buffered, st.BufferLimit)
	}
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := pub.Ping(pctx); err != nil {
		if js != nil {
			return nil // the journals buffer, within bounds (checked above)
		}
		return fmt.Errorf("Kafka is not reachable: %v", err)
	}
	return nil
}

// HashToken is `switchboard hash-token`: it reads API tokens, one per line,
// from in (so that they are not in the shell's history or the process
// list) and writes each one's hash, the form of the configuration's
// token-hashes. With --new it makes a random token instead and writes the
// token and its hash.
func HashToken(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("switchboard hash-token", flag.ContinueOnError)
	fs.SetOutput(out)
	gen := fs.Bool("new", false, "generate a random token (128 bits) and print it with its hash")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: switchboard hash-token [--new] < tokens\n\n"+
			"Prints the hash of each API token read from standard input (one per line),\n"+
			"for the token-hashes of a tenant in the configuration file.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: hash-token takes no arguments (give the tokens on standard input)", ErrConfig)
	}
	if *gen {
		tok := randomToken()
		fmt.Fprintf(out, "token: %s\nhash:  %s\n", tok, ctiapi.HashToken(tok))
		return nil
	}
	sc := bufio.NewScanner(in)
	n := 0
	for sc.Scan() {
		tok := strings.TrimSpace(sc.Text())
		if tok == "" {
			continue
		}
		n++
		fmt.Fprintln(out, ctiapi.HashToken(tok))
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if n == 0 {
		return errors.New("app: hash-token: no token on standard input")
	}
	return nil
}

type floatValue float64

func (f *floatValue) String() string { return strconv.FormatFloat(float64(*f), 'g', -1, 64) }
func (f *floatValue) Set(v string) error {
	x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", v)
	}
	*f = floatValue(x)
	return nil
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
