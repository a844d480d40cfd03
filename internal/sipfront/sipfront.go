package sipfront

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/logsample"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// Errors of the package.
var (
	ErrNoTenants = errors.New("sipfront: no tenants")
	ErrClosed    = errors.New("sipfront: closed")
)

// Runtime is what sipfront needs of a tenant's runtime; *tenant.Tenant
// satisfies it.
type Runtime interface {
	Do(ctx context.Context, cmd engine.Command) (tenant.Outcome, error)
	Subscribe(f tenant.Filter, buffer int) *tenant.Subscription
}

var _ Runtime = (*tenant.Tenant)(nil)

// Tenant is one tenant served on the SIP listener.
type Tenant struct {
	// Config is the tenant's validated configuration: its DNs, their SIP
	// passwords and its trunks.
	Config *config.Tenant
	// Runtime runs the tenant's engine.
	Runtime Runtime
	// Media anchors SIP callers for their treatments (anchor.go); nil
	// never anchors.
	Media *Media
}

// Config configures the SIP front end. Listen and at least one tenant are
// required.
type Config struct {
	// Listen is the UDP address (host:port; port 0 picks a free one).
	Listen string
	// TCP is the TCP address; empty serves TCP on Listen's address (the
	// same port), "-" serves no TCP.
	TCP string
	// TLS serves SIP over TLS (transport.go); SIP over WebSocket is
	// Server.WebSocket, mounted on an HTTP server.
	TLS TLSConfig
	// MaxConns bounds the TCP and TLS connections open at once (a
	// phone's takes about 43 KB); more are closed as accepted. Default
	// 10,000.
	MaxConns int
	// Tenants served. With one tenant every request belongs to it; with
	// several, the host of the request's To URI (REGISTER, INVITE from a
	// phone) or of its Request-URI must be a tenant id.
	Tenants []Tenant
	// Realm of the digest challenges. Default "switchboard".
	Realm string
	// DigestAlgorithms are the digest algorithms a challenge offers, one
	// WWW-Authenticate (or Proxy-Authenticate) each, in this order: MD5
	// and SHA-256 (ParseDigestAlgorithms). Default both, MD5 first. Some
	// phones give up on a challenge they cannot answer instead of taking
	// the one they can (baresip on libre 1.x: "Function not
	// implemented"): MD5 alone serves them.
	DigestAlgorithms []string
	// MaxExpires caps the binding time a phone asks for. Default 1 hour.
	MaxExpires time.Duration
	// MinExpires is the shortest binding time accepted (shorter asks get
	// 423 Interval Too Brief). Default 1 s.
	MinExpires time.Duration
	// NonceTTL is how long a digest nonce stays valid. Default 5 minutes.
	NonceTTL time.Duration
	// AuthSlowAfter failed authentications of a source address (or three
	// times as many of a user) delay the answers to its next failures
	// (default 5); AuthBlockAfter failures block it for AuthBlockFor
	// (default 20 and 10 minutes): a blocked address gets no answers, a
	// blocked user 403. Failures older than AuthBlockFor are forgotten.
	AuthSlowAfter, AuthBlockAfter int
	AuthBlockFor                  time.Duration
	// UnauthRate and UnauthBurst bound the answers to requests that are
	// not authenticated (challenges, 403s) per source address, per second
	// and at once (default 100 and 200: every call of a phone starts with
	// a challenge, and many phones may share an address behind NAT);
	// beyond them requests go unanswered. Over UDP only: the quota is
	// against reflection, and a connection's source is not forged.
	UnauthRate  float64
	UnauthBurst int
	// AckTimeout is how long our 2xx to an INVITE waits for its ACK
	// before the dialog is ended with BYE and its call released (RFC 3261
	// section 13.3.1.4). Default 64*T1 (32 s).
	AckTimeout time.Duration
	// ReinviteTimeout is how long a re-INVITE we send waits for its final
	// response; a step-out's that gets none falls back to relaying
	// (anchor.go). Default 10 s.
	ReinviteTimeout time.Duration
	// SessionExpires is the session interval (RFC 4028) offered on our
	// INVITEs and given to phones that support timers without asking for
	// one (default 30 minutes); MinSE the shortest accepted (shorter asks
	// get 422; default 90 s, the RFC's floor: lower only in tests).
	SessionExpires, MinSE time.Duration
	// FeatureCodes are the numbers phones dial to set do-not-disturb and
	// forwarding (features.go); default *78/*79, *72<number>/*73.
	FeatureCodes FeatureCodes
	// TrunkRetry is how long a trunk whose registration to its carrier
	// failed waits before the next attempt (carrier.go). Default 30 s.
	TrunkRetry time.Duration
	// KeepaliveTimeout is how long an OPTIONS to a trunk waits for its
	// answer (default 5 s); KeepaliveMisses unanswered in a row take the
	// trunk out of service (default 2).
	KeepaliveTimeout time.Duration
	KeepaliveMisses  int
	// CommandTimeout bounds one engine command. Default 10 s.
	CommandTimeout time.Duration
	// EventBuffer is the size of the event subscription of each tenant.
	// Default 16384 (each buffered event is about 600 bytes the GC scans).
	EventBuffer int
	// SocketBuffer is the UDP socket's receive and send buffer size in
	// bytes (capped by the kernel's net.core.rmem_max/wmem_max). Default
	// 4 MiB.
	SocketBuffer int
	// StateDir is where the bindings are kept (StateFile, a snapshot, and
	// LogFile, each change appended) so that they survive a restart; empty
	// keeps them in memory only.
	StateDir string
	// Logger; default discards.
	Logger *slog.Logger
	// Cluster is set on a node of a cluster (cluster.go): the tenants
	// (without Runtime) are served while this node owns them (Attach,
	// Detach), requests for the others are forwarded to their owner, and
	// the bindings are kept in the cluster (StateDir is not used).
	Cluster *Cluster
	// Metrics counts SIP requests received (SIPTransaction, by method) and
	// final responses sent (SIPResponse, by method and status); nil counts
	// nothing.
	Metrics *metrics.Set
}

func (c *Config) setDefaults() {
	if c.Realm == "" {
		c.Realm = "switchboard"
	}
	if len(c.DigestAlgorithms) == 0 {
		c.DigestAlgorithms = []string{"MD5", "SHA-256"}
	}
	if c.MaxExpires <= 0 {
		c.MaxExpires = time.Hour
	}
	if c.MinExpires <= 0 {
		c.MinExpires = time.Second
	}
	if c.NonceTTL <= 0 {
		c.NonceTTL = 5 * time.Minute
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 64 * sip.T1
	}
	if c.SessionExpires <= 0 {
		c.SessionExpires = 30 * time.Minute
	}
	if c.MinSE <= 0 {
		c.MinSE = 90 * time.Second
	}
	c.FeatureCodes.setDefaults()
	if c.TrunkRetry <= 0 {
		c.TrunkRetry = 30 * time.Second
	}
	if c.KeepaliveTimeout <= 0 {
		c.KeepaliveTimeout = 5 * time.Second
	}
	if c.KeepaliveMisses <= 0 {
		c.KeepaliveMisses = 2
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 10 * time.Second
	}
	if c.ReinviteTimeout <= 0 {
		c.ReinviteTimeout = 10 * time.Second
	}
	if c.AuthSlowAfter <= 0 {
		c.AuthSlowAfter = 5
	}
	if c.AuthBlockAfter <= 0 {
		c.AuthBlockAfter = 20
	}
	if c.AuthBlockFor <= 0 {
		c.AuthBlockFor = 10 * time.Minute
	}
	if c.UnauthRate <= 0 {
		c.UnauthRate = 100
	}
	if c.UnauthBurst <= 0 {
		c.UnauthBurst = 200
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 1 << 14
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 10000
	}
	if c.SocketBuffer <= 0 {
		c.SocketBuffer = 4 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	if len(c.Tenants) == 0 {
		return ErrNoTenants
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("sipfront: Config.Listen: %w", err)
	}
	for i, t := range c.Tenants {
		if t.Config == nil || (t.Runtime == nil && c.Cluster == nil) {
			return fmt.Errorf("sipfront: Config.Tenants[%d]: Config and Runtime are required", i)
		}
	}
	return nil
}

// Server is the SIP front end: a registrar and back-to-back user agent on
// one UDP socket.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	dua     *sipgo.DialogUA
	conn    net.PacketConn
	addr    string
	secret  [32]byte
	slTag   string                                // the To tags of our stateless answers start with it (auth.go: statelessTag)
	slCount atomic.Uint64                         // and go on with a count of them
	tenants atomic.Pointer[map[string]*sipTenant] // the tenants served, by id (served)
	single  *sipTenant

	store  bindingLog    // the bindings on disk or in the cluster (nil without either)
	absorb *absorber     // finished non-INVITE transactions (absorb.go)
	cl     *clusterFront // cluster mode (cluster.go); nil on a single node
	tr     transports    // TCP, TLS, WebSocket and the phones' flows (transport.go)

	guard    guard                         // digest authentication's memory (auth.go)
	notes    notifier                      // message-summary and dialog subscriptions (notify.go)
	reasons  cancelReasons                 // the Reason headers of CANCELs being sent (fork.go)
	pending  pendingInvites                // our INVITEs over UDP awaiting their 2xx (invite.go)
	acking   sync.Map                      // Call-ID -> caller leg whose 200 awaits its ACK (ack.go)
	ackSeen  atomic.Pointer[func(seenAck)] // tests: sees each ACK handled (ack.go)
	refusals *slog.Logger                  // sampled: lines outsiders cause at will

	mu   sync.Mutex
	legs map[string]*leg // by SIP Call-ID
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	// carriers: the trunks' registration and keepalive loops (carrier.go),
	// which end before the UA closes (a registration ends with a REGISTER).
	carriers sync.WaitGroup
	// carriersClosed, set by Close under carrierMu, starts no more of
	// them (carrierTask).
	carrierMu      sync.Mutex
	carriersClosed bool
	close          sync.Once
}

// Start binds the UDP socket, starts serving and subscribes to every
// tenant's events. Stop it with Close.
func Start(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, legs: map[string]*leg{}}
	s.refusals = slog.New(logsample.NewHandler(s.log.Handler(), logsample.Options{}))
	useSIPLibLogger(s.log)
	rand.Read(s.secret[:])
	var sl [8]byte
	rand.Read(sl[:])
	s.slTag = "sl" + hex.EncodeToString(sl[:]) + "-"
	for _, tc := range cfg.Tenants {
		// A tenant's own feature codes over the server's (newTenant).
		if _, err := tenantCodes(cfg.FeatureCodes, tc.Config.FeatureCodes); err != nil {
			return nil, fmt.Errorf("sipfront: tenant %s: %w", tc.Config.ID, err)
		}
	}
	tenants := map[string]*sipTenant{}
	if cfg.Cluster == nil {
		for _, tc := range cfg.Tenants {
			t := newTenant(s, tc)
			tenants[t.id] = t
			s.single = t
		}
	}
	if len(tenants) > 1 {
		s.single = nil
	}
	s.tenants.Store(&tenants)

	conn, tcp, err := bindUDPAndTCP(cfg)
	if err != nil {
		return nil, err
	}
	s.conn, s.tr.tcp = conn, tcp
	if uc, ok := conn.(*net.UDPConn); ok {
		// Bursts of calls overflow the default receive buffer (about 200
		// KB): drops mean retransmissions, which add load exactly when
		// there is too much. The kernel caps this at net.core.rmem_max.
		uc.SetReadBuffer(cfg.SocketBuffer)
		uc.SetWriteBuffer(cfg.SocketBuffer)
	}
	full := newFullDatagrams(conn) // readbuf.go
	conn, s.conn = full, full
	s.addr = conn.LocalAddr().String()
	host, portS, _ := net.SplitHostPort(s.addr)
	port, _ := strconv.Atoi(portS)

	fail := func(err error) (*Server, error) {
		if s.ua != nil {
			s.ua.Close()
		}
		conn.Close()
		s.closeStreams()
		return nil, err
	}
	s.absorb = newAbsorber(conn)
	// Whole datagrams first (readbuf.go), then the ACKs of our 2xx
	// (ack.go), the 2xx to our INVITEs (invite.go) and the absorber.
	filter := func(p sip.TransportReadProps, data []byte) ([]byte, error) {
		if s.cl != nil && p.Transport != "UDP" {
			// A cluster node forwards what a stream brings for other
			// nodes (cluster_stream.go).
			return s.cl.filterStream(p, data), nil
		}
		data, _ = full.whole(p, data)
		if p.Transport == "UDP" {
			if s.divertAck(data) { // ack.go
				return nil, nil
			}
			s.pending.filterResponse(data) // invite.go
		}
		return s.absorb.filter(p, data)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("switchboard"), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(filter)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerUnhandledResponseHandler(s.strayResponse)))
	if err != nil {
		return fail(fmt.Errorf("sipfront: %w", err))
	}
	s.ua = ua
	if s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(debugOnly(s.log))); err != nil {
		return fail(fmt.Errorf("sipfront: %w", err))
	}
	if s.cli, err = sipgo.NewClient(ua, sipgo.WithClientLogger(debugOnly(s.log)),
		sipgo.WithClientAddr(s.addr), sipgo.WithClientConnectionAddr(s.addr)); err != nil {
		return fail(fmt.Errorf("sipfront: %w", err))
	}
	s.cli.TxRequester = reasonRequester{ua: ua, reasons: &s.reasons, pending: &s.pending}
	s.dua = &sipgo.DialogUA{
		Client:     s.cli,
		ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "switchboard", Host: host, Port: port}},
	}
	if err := s.listenStreams(host, port); err != nil {
		return fail(err)
	}
	for m, h := range s.handlers() {
		s.srv.OnRequest(m, s.counting(m, s.compacting(h)))
	}
	// Other methods: 405, or 505 for another SIP version like the rest
	// (sipgo's own 405 echoed SIP/7.3).
	s.srv.OnNoRoute(func(req *sip.Request, tx sip.ServerTransaction) {
		s.counting(req.Method, s.notAllowed)(req, tx)
	})

	s.ctx, s.stop = context.WithCancel(context.Background())
	for _, t := range tenants {
		t.start()
	}
	s.restore()
	s.startCluster()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.ServeUDP(s.clusterConn(conn)); err != nil && s.ctx.Err() == nil {
			s.log.Error("SIP listener stopped", "err", err)
		}
	}()
	s.carrierTask(s.startCarriers) // carrier.go
	s.serveStreams()
	s.log.Info("SIP front end serving", "udp", s.addr, "tcp", s.TCPAddr(), "tls", s.TLSAddr(), "tenants", len(cfg.Tenants))
	return s, nil
}

// handlers are the request handlers by method; others get 405
// (notAllowed).
func (s *Server) handlers() map[sip.RequestMethod]sipgo.RequestHandler {
	return map[sip.RequestMethod]sipgo.RequestHandler{
		sip.REGISTER:  s.handleRegister,
		sip.INVITE:    s.handleInvite,
		sip.ACK:       s.handleAck,
		sip.BYE:       s.handleBye,
		sip.CANCEL:    s.handleCancel,
		sip.REFER:     s.handleRefer,
		sip.OPTIONS:   s.handleOptions,
		sip.NOTIFY:    s.handleNotify,
		sip.SUBSCRIBE: s.handleSubscribe,
		sip.UPDATE:    s.handleUpdate,
		sip.PRACK:     s.handlePrack,
	}
}

// notAllowed answers a method without a handler (handlers).
func (s *Server) notAllowed(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 405, "Method Not Allowed", nil, sip.NewHeader("Allow", allowed))
}

// counting wraps handler h of method m: every request received is
// counted (Config.Metrics).
func (s *Server) counting(m sip.RequestMethod, h sipgo.RequestHandler) sipgo.RequestHandler {
	method := string(m)
	return func(req *sip.Request, tx sip.ServerTransaction) {
		s.cfg.Metrics.SIPTransaction(method)
		if req.SipVersion != "SIP/2.0" {
			s.cfg.Metrics.SIPRefused("version")
			if m != sip.ACK {
				res := sip.NewResponseFromRequest(req, 505, "Version Not Supported", nil)
				res.SipVersion = "SIP/2.0"
				s.cfg.Metrics.SIPResponse(method, 505)
				s.srv.WriteResponse(res)
			}
			tx.Terminate()
			return
		}
		h(req, tx)
	}
}

// Addr is the bound UDP address (host:port).
func (s *Server) Addr() string { return s.addr }

// Close stops serving: it ends the event subscriptions and registration
// timers and closes the socket. Calls in progress are left to the engine
// (their SIP dialogs end with the process).
func (s *Server) Close() error {
	s.close.Do(func() {
		s.stop()
		for _, t := range s.served() {
			t.shutdown()
		}
		s.carrierMu.Lock()
		s.carriersClosed = true
		s.carrierMu.Unlock()
		s.carriers.Wait()
		s.closeStreams()
		s.ua.Close()
		s.conn.Close()
		s.absorb.stop()
	})
	s.wg.Wait()
	if s.store != nil {
		s.store.close()
	}
	return nil
}

// tenantFor maps a request to its tenant: the only one, else the tenant
// whose id is host.
func (s *Server) tenantFor(host string) *sipTenant {
	if s.single != nil {
		return s.single
	}
	if s.cl != nil && s.cl.only != "" {
		return s.served()[s.cl.only]
	}
	return s.served()[strings.ToLower(host)]
}

// served are the tenants served now, by id: fixed on a single node; in a
// cluster, those whose shards this node owns (Attach, Detach).
func (s *Server) served() map[string]*sipTenant { return *s.tenants.Load() }

// do runs one engine command with the configured timeout.
func (t *sipTenant) do(cmd engine.Command) (tenant.Outcome, error) {
	if rt, ok := t.rt.(withinRuntime); ok {
		return rt.DoWithin(t.s.ctx, t.s.cfg.CommandTimeout, cmd)
	}
	ctx, cancel := context.WithTimeout(t.s.ctx, t.s.cfg.CommandTimeout)
	defer cancel()
	return t.rt.Do(ctx, cmd)
}

// withinRuntime is a Runtime that bounds a command's wait without a
// context of its own per command (*tenant.Tenant: DoWithin), which every
// SIP call's three commands would otherwise make, with its timer.
type withinRuntime interface {
	DoWithin(ctx context.Context, d time.Duration, cmd engine.Command) (tenant.Outcome, error)
}

var _ withinRuntime = (*tenant.Tenant)(nil)

// respond answers req on tx, logging a failure.
func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, body []byte, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if code >= 200 {
		s.cfg.Metrics.SIPResponse(string(req.Method), code)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("SIP respond", "code", code, "err", err)
	}
}

// sipStatus is the one table from an engine refusal's reason to the SIP
// final response of the request that caused it: a busy or out-of-service
// DN is busy for the caller (486), any other conflict forbidden (403).
var sipStatus = map[engine.Reason]final{
	engine.ReasonInvalid:      {code: 400, reason: "Bad Request"},
	engine.ReasonNotFound:     {code: 404, reason: "Not Found"},
	engine.ReasonConflict:     {code: 403, reason: "Forbidden"},
	engine.ReasonBusy:         {code: 486, reason: "Busy Here"},
	engine.ReasonOutOfService: {code: 486, reason: "Busy Here"},
	// A re-INVITE asking for the state the call is in gets 200 instead
	// (handleReInvite).
	engine.ReasonAlready: {code: 403, reason: "Forbidden"},
}

// statusOf maps an engine refusal (sipStatus) or a runtime failure (503)
// to a SIP status.
func statusOf(err error) (int, string) {
	var ee *engine.Error
	if errors.As(err, &ee) {
		if f, ok := sipStatus[ee.Why()]; ok {
			return f.code, f.reason
		}
	}
	return 503, "Service Unavailable"
}

// callThread is the subscription filter: sipfront reacts to call events
// only.
var callThread = tenant.Filter{Topic: event.CallThreadTopic}
