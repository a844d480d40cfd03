package ctiapi

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/internal/logsample"
	"github.com/switchboard-cc/switchboard/internal/metrics"
)

// ConnLimits bounds what the CTI API's connections may hold: how many are
// open at once, in all and per client address, and how long each may take
// to send its request, receive its answer and sit idle. The zero value
// gives the defaults.
type ConnLimits struct {
	// MaxConns bounds the open connections (WebSocket streams included).
	// A connection over the bound is closed as soon as it is accepted.
	// Default 4096; keep it under the process's file descriptor limit.
	MaxConns int
	// MaxConnsPerAddr bounds the open connections of one client address
	// (an IPv6 client by its /64). Default 256.
	MaxConnsPerAddr int
	// ReadHeaderTimeout bounds the reading of a request's headers
	// (default 10s), ReadTimeout of the whole request with its body
	// (default 30s), WriteTimeout of the response (default 30s),
	// IdleTimeout the wait for the next request on a keep-alive
	// connection (default 60s). A WebSocket stream is bounded per message
	// instead (Config.WriteTimeout).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

func (l ConnLimits) withDefaults() ConnLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxConns, 4096)
	def(&l.MaxConnsPerAddr, 256)
	defD(&l.ReadHeaderTimeout, 10*time.Second)
	defD(&l.ReadTimeout, 30*time.Second)
	defD(&l.WriteTimeout, 30*time.Second)
	defD(&l.IdleTimeout, 60*time.Second)
	return l
}

// HTTPServer returns an http.Server for h with l's timeouts.
func (l ConnLimits) HTTPServer(h http.Handler, errorLog *slog.Logger) *http.Server {
	l = l.withDefaults()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
	if errorLog != nil {
		srv.ErrorLog = slog.NewLogLogger(logsample.NewHandler(errorLog.Handler(), logsample.Options{}), slog.LevelWarn)
	}
	return srv
}

// LimitedListener is a net.Listener that closes the connections over its
// bounds as it accepts them, and counts what it holds.
type LimitedListener struct {
	net.Listener
	lim     ConnLimits
	metrics *metrics.Set
	log     *slog.Logger
	open    atomic.Int64
	mu      sync.Mutex
	byAddr  map[netip.Prefix]int
	blocked func(netip.Prefix) bool
}

// RefuseBlocked makes the listener close, as it accepts them, the
// connections of client addresses that the server s blocks for failed
// authentications (Ops.AuthFailures): a guesser then costs an accept and a
// close, not a parsed request and a 429.
func (l *LimitedListener) RefuseBlocked(s *Server) {
	l.blocked = func(p netip.Prefix) bool {
		f := s.fails
		if f == nil {
			return false
		}
		b, _ := f.blocked(p, s.now())
		return b
	}
}

// LimitListener bounds the connections accepted by ln per l. Refused
// connections are counted in m (switchboard_http_refused_total) and logged,
// sampled, to log.
func LimitListener(ln net.Listener, l ConnLimits, m *metrics.Set, log *slog.Logger) *LimitedListener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LimitedListener{Listener: ln, lim: l.withDefaults(), metrics: m,
		log: slog.New(logsample.NewHandler(log.Handler(), logsample.Options{})), byAddr: map[netip.Prefix]int{}}
}

// Open is the number of connections open now.
func (l *LimitedListener) Open() int { return int(l.open.Load()) }

// Accept returns the next connection within the bounds.
func (l *LimitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addrKey(c.RemoteAddr().String())
		reason := ""
		l.mu.Lock()
		switch {
		case l.open.Load() >= int64(l.lim.MaxConns):
			reason = "conn_limit"
		case l.byAddr[key] >= l.lim.MaxConnsPerAddr:
			reason = "conn_limit_addr"
		case l.blocked != nil && l.blocked(key):
			reason = "auth_blocked"
		default:
			l.byAddr[key]++
			l.open.Add(1)
		}
		l.mu.Unlock()
		if reason != "" {
			c.Close()
			l.metrics.HTTPRefused(reason)
			l.log.Warn("connection refused", "reason", reason, "addr", c.RemoteAddr().String())
			continue
		}
		return &limitedConn{Conn: c, l: l, key: key}, nil
	}
}

func (l *LimitedListener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byAddr[key]--; l.byAddr[key] <= 0 {
		delete(l.byAddr, key)
	}
	l.open.Add(-1)
}

type limitedConn struct {
	net.Conn
	l    *LimitedListener
	key  netip.Prefix
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// addrKey is the client a remote address belongs to for the per-address
// limits: the IPv4 address, or the /64 of an IPv6 address (one host
// usually has a whole /64).
func addrKey(remote string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// failLimiter limits failed authentications per client address: a token
// bucket of Burst failures refilled at Rate per second; an address whose
// bucket is empty is refused (429) on every request until a failure's
// worth has refilled.
type failLimiter struct {
	limit RateLimit
	mu    sync.Mutex
	m     map[netip.Prefix]*bucket
}

// maxFailAddrs bounds the addresses tracked; beyond it the ones whose
// bucket has refilled are forgotten.
const maxFailAddrs = 1 << 16

// blocked reports whether key may not try now, and for how long.
func (f *failLimiter) blocked(key netip.Prefix, now time.Time) (bool, time.Duration) {
	f.mu.Lock()
	b := f.m[key]
	f.mu.Unlock()
	if b == nil {
		return false, 0
	}
	return b.peek(now)
}

// fail takes one failure from key's bucket.
func (f *failLimiter) fail(key netip.Prefix, now time.Time) {
	f.mu.Lock()
	if f.m == nil {
		f.m = map[netip.Prefix]*bucket{}
	}
	b := f.m[key]
	if b == nil {
		if len(f.m) >= maxFailAddrs {
			for k, o := range f.m {
				if o.full(now) {
					delete(f.m, k)
				}
			}
		}
		b = &bucket{limit: f.limit}
		f.m[key] = b
	}
	f.mu.Unlock()
	b.take(now)
}

// sampled is log for lines an outsider can cause at will: at most a few a
// second per message, with the count of what was dropped.
func sampled(log *slog.Logger) *slog.Logger {
	return slog.New(logsample.NewHandler(log.Handler(), logsample.Options{}))
}

// streamCount counts the open event streams per tenant.
type streamCount struct {
	mu sync.Mutex
	n  map[string]int
}

// open counts one more stream of tenant unless it has max already.
func (c *streamCount) open(tenant string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	if c.n[tenant] >= max {
		return false
	}
	c.n[tenant]++
	return true
}

func (c *streamCount) close(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[tenant]--; c.n[tenant] <= 0 {
		delete(c.n, tenant)
	}
}

// total is the number of open streams of all tenants.
func (c *streamCount) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n {
		n += v
	}
	return n
}

// OpenStreams is the number of event streams open now, all tenants.
func (s *Server) OpenStreams() int { return s.streams.total() }

// takeToken takes one request from the rate limit of the token with index
// tok (a route message on the event stream), or says how long to wait.
func (s *Server) takeToken(tok int) (bool, time.Duration) {
	if tok < 0 || tok >= len(s.buckets) || s.buckets[tok] == nil {
		return true, 0
	}
	return s.buckets[tok].take(s.now())
}
