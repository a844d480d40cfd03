package ctiapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/internal/logsample"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/tenant"
	"github.com/switchboard-cc/switchboard/internal/wallboard"
)

// Tenant is one tenant as the API sees it: its runtime and its tokens.
type Tenant struct {
	Runtime *tenant.Tenant
	// Tokens are the bearer tokens accepted for this tenant.
	Tokens []string
	// Recording pauses, resumes or stops call connID's recording (action
	// "pause", "resume", "stop"; the SIP front end's); an error wrapping
	// ErrNotRecorded is 404. Nil: no call of the tenant is recorded.
	Recording func(connID, action string) error
	// Stream, set instead of Runtime, serves only the event stream of a
	// tenant another node runs (remote.go).
	Stream *RemoteStream
	// TrunkSIP is the SIP state of trunk DN dn (the SIP front end's),
	// shown by GET .../dns/{dn}; nil (or a nil answer): none.
	TrunkSIP func(dn string) *TrunkSIP
}

// Config configures the API server.
type Config struct {
	// Tenants by tenant id. A token must belong to exactly one tenant.
	Tenants map[string]Tenant
	// Logger receives one line per request (debug for 2xx, info for 4xx,
	// error for 5xx), each with its request_id. Default: discard.
	Logger *slog.Logger
	// EventBuffer bounds the events waiting to be sent on one WebSocket
	// event stream. The queue grows with use and is given back once
	// drained; a stream that falls this far behind is closed (1008, the
	// reason says so) and its client resumes from its last Seq. Default
	// 1024.
	EventBuffer int
	// MaxStreams bounds the open event streams of one tenant (429 beyond).
	// Default 256.
	MaxStreams int
	// MaxTickets bounds the outstanding event stream tickets of one
	// tenant (429 beyond). Default 64.
	MaxTickets int
	// WriteTimeout bounds the write of one WebSocket message. Default 10s.
	WriteTimeout time.Duration
	// QueueTimeout bounds how long a command or query waits for its
	// tenant to take it (a tenant held up by a slow disk): then it gets
	// 503 and is not applied. Once taken, a command waits for its outcome
	// (its step durable, or its journal write failed). Default 10s.
	QueueTimeout time.Duration
	// TicketTTL is how long an event stream ticket (ticket.go) stays
	// valid. Default 30s.
	TicketTTL time.Duration
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	seen := map[[32]byte]string{}
	for id, t := range c.Tenants {
		if t.Runtime == nil && t.Stream == nil {
			return fmt.Errorf("ctiapi: Tenants[%q].Runtime is nil", id)
		}
		if t.id() != id {
			return fmt.Errorf("ctiapi: Tenants[%q] runs tenant %q", id, t.id())
		}
		for i, tok := range t.Tokens {
			if tok == "" {
				return fmt.Errorf("ctiapi: Tenants[%q].Tokens[%d] is empty", id, i)
			}
			h := sha256.Sum256([]byte(tok))
			if other, ok := seen[h]; ok {
				return fmt.Errorf("ctiapi: Tenants[%q].Tokens[%d] is also a token of tenant %q", id, i, other)
			}
			seen[h] = id
		}
	}
	return nil
}

// Server serves the CTI API. It is an http.Handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	tokens  []tokenEntry
	routes  []route
	openapi []byte
	nextID  atomic.Uint64
	idBase  string
	tickets tickets
	// failures samples the log lines of failed requests by cause: a full
	// disk fails every request, and one line each would fill it again.
	failures *logsample.Sampler
	// refusals logs what an outsider can cause at will (4xx), sampled.
	refusals *slog.Logger
	// buckets are the per-token rate limits by index in tokens, set by
	// Handler (nil: unlimited); route messages on the event stream take
	// from them too.
	buckets []*bucket
	now     func() time.Time
	metrics *metrics.Set
	streams streamCount
	fails   *failLimiter // set by Handler; nil: failed logins not limited
}

type tokenEntry struct {
	hash   [32]byte
	tenant string
}

// New builds the server and its route table.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 1024
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 256
	}
	if cfg.MaxTickets <= 0 {
		cfg.MaxTickets = 64
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.TicketTTL <= 0 {
		cfg.TicketTTL = 30 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), failures: logsample.New(cfg.Logger, 0), now: time.Now}
	s.refusals = sampled(s.log)
	var b [4]byte
	rand.Read(b[:])
	s.idBase = hex.EncodeToString(b[:])
	for id, t := range cfg.Tenants {
		for _, tok := range t.Tokens {
			s.tokens = append(s.tokens, tokenEntry{sha256.Sum256([]byte(tok)), id})
		}
	}
	s.routes = append(s.routes, serviceRoutes(s)...)
	s.routes = append(s.routes, agentRoutes()...)
	s.routes = append(s.routes, callRoutes()...)
	s.routes = append(s.routes, routingRoutes()...)
	s.routes = append(s.routes, eventRoutes(s)...)
	s.routes = append(s.routes, ticketRoutes(s)...)
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	// The wallboard page: public static files (no data in them); its data
	// requests carry the tenant's token (internal/wallboard). Not an API
	// endpoint, so not in the route table nor the OpenAPI document.
	s.mux.Handle("GET /wallboard/", http.StripPrefix("/wallboard", wallboard.Handler()))
	s.mux.Handle("GET /wallboard", http.RedirectHandler("/wallboard/", http.StatusMovedPermanently))
	s.mux.HandleFunc("/", s.noRoute)
	// The operational endpoints Handler serves in front of the mux are
	// documented with the API.
	doc, err := buildOpenAPI(append(slices.Clone(s.routes), opsRoutes()...))
	if err != nil {
		return nil, err
	}
	s.openapi = doc
	return s, nil
}

// noRoute answers what no route matched: 405 with Allow when the path
// exists with other methods, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if m == r.Method {
			continue
		}
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, apiErr(CodeMethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	writeError(w, apiErr(CodeNoRoute, "no endpoint %s %s", r.Method, r.URL.Path))
}

// Route is one served endpoint: a method and a net/http ServeMux path
// pattern (which is also its OpenAPI path).
type Route struct {
	Method, Path string
	// Kind is the engine command kind the route sends ("" for routes that
	// send none).
	Kind string
}

// Routes lists the endpoints registered with the mux, in registration order.
func (s *Server) Routes() []Route {
	out := make([]Route, len(s.routes))
	for i, rt := range s.routes {
		out[i] = Route{Method: rt.method, Path: rt.path, Kind: rt.kind}
	}
	return out
}

// OpenAPI returns the OpenAPI 3 document served at /v1/openapi.json.
func (s *Server) OpenAPI() []byte { return s.openapi }

// ServeHTTP gives every request an id (X-Request-Id, taken from the request
// when it carries a sensible one), dispatches it, and logs it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if !validRequestID(id) {
		id = fmt.Sprintf("%s-%d", s.idBase, s.nextID.Add(1))
	}
	w.Header().Set("X-Request-Id", id)
	rec := &recorder{ResponseWriter: w}
	r = r.WithContext(context.WithValue(context.WithValue(r.Context(), logKey{}, reqLog{s.log, id}), queueKey{}, s.cfg.QueueTimeout))
	s.mux.ServeHTTP(rec, r)
	level, log := slog.LevelDebug, s.log
	switch {
	case rec.status >= 500:
		level = slog.LevelError
	case rec.status >= 400:
		level, log = slog.LevelInfo, s.refusals
	}
	switch {
	case rec.status >= 500:
		// Sampled by status and error code: when every request fails
		// (a full disk), one line each would flood the log.
		s.failures.Log(r.Context(), level, "http "+strconv.Itoa(rec.status)+" "+rec.code, "http request", "request_id", id,
			"method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start), "error", rec.code)
	case log.Enabled(r.Context(), level):
		log.Log(r.Context(), level, "http request", "request_id", id, "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start), "error", rec.code)
	}
}

// reqLog is the server's logger and a request's id; the logger with the
// request_id attribute is made only when a handler logs (rarely), not for
// every request.
type reqLog struct {
	log *slog.Logger
	id  string
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

type logKey struct{}

// logger returns the request's logger (with its request_id).
type queueKey struct{}

// queued is the context of a request's command or query: it ends after
// Config.QueueTimeout, which bounds the wait for the tenant to take it.
func queued(r *http.Request) (context.Context, context.CancelFunc) {
	if d, ok := r.Context().Value(queueKey{}).(time.Duration); ok && d > 0 {
		return context.WithTimeout(r.Context(), d)
	}
	return context.WithCancel(r.Context())
}

// failureCause is what a failed request's log line is sampled by: the API
// error code and the runtime's reason.
func failureCause(ae *Error, err error) string {
	switch {
	case errors.Is(err, tenant.ErrJournalFull):
		return ae.Code + ":journal full"
	case errors.Is(err, tenant.ErrNotRecorded):
		return ae.Code + ":not recorded"
	case errors.Is(err, tenant.ErrClosed):
		return ae.Code + ":closed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ae.Code + ":abandoned"
	}
	return ae.Code
}

// requestID is the request's id, "" outside a request.
func requestID(ctx context.Context) string {
	if l, ok := ctx.Value(logKey{}).(reqLog); ok {
		return l.id
	}
	return ""
}

func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(reqLog); ok {
		return l.log.With("request_id", l.id)
	}
	return slog.New(slog.DiscardHandler)
}

// recorder notes the status and error code of a response.
type recorder struct {
	http.ResponseWriter
	status int
	code   string
}

func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
	r.ResponseWriter.WriteHeader(s)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.status >= 400 && r.code == "" && len(b) < 512 {
		if i := strings.Index(string(b), `"code":"`); i >= 0 {
			rest := string(b[i+8:])
			if j := strings.IndexByte(rest, '"'); j >= 0 {
				r.code = rest[:j]
			}
		}
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController and the WebSocket upgrade reach the
// underlying writer (Hijack, Flush).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// route is one entry of the route table: what the mux serves and what the
// OpenAPI document says.
type route struct {
	method, path string
	summary      string
	// auth: the path has a {tenant} and needs its bearer token.
	auth bool
	// body is a pointer to the request body type (nil: no body).
	body any
	// reply is an example of the success body, for the document's schema.
	reply any
	// params is a struct whose fields document the query parameters.
	params any
	// status is the success status (default 200).
	status int
	// kind is the engine command kind a command route sends ("" for
	// others).
	kind string
	// handle serves the request; for auth routes the tenant is resolved.
	handle func(w http.ResponseWriter, r *http.Request, t *Tenant) error
	// raw: handle writes the response itself, also on success.
	raw bool
	// ticket: a request without an Authorization header may authorize
	// with a one-time ?ticket= instead (ticket.go).
	ticket bool
	// produces is the success body's content type when it is not JSON
	// (documented without a schema).
	produces string
	// otherStatus, when set, is another documented status with a reply
	// body (reply's schema), and what it means.
	otherStatus     int
	otherStatusDesc string
}

func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var t *Tenant
		if rt.auth {
			var err *Error
			var tok int
			if rt.ticket && r.Header.Get("Authorization") == "" && r.URL.Query().Has("ticket") {
				t, tok, err = s.authorizeTicket(r)
			} else {
				t, tok, err = s.authorize(r)
			}
			if err != nil {
				if err.Code == CodeUnauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
				}
				closeIfBodyUnread(w, r)
				writeError(w, err)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok))
		}
		if t != nil && t.Runtime == nil && rt.path != eventsPath {
			writeError(w, apiErr(CodeUnavailable, "tenant %q is not served on this node", t.id()))
			return
		}
		if err := rt.handle(w, r, t); err != nil {
			ae := toError(err)
			if ae.Status() >= 500 {
				// Logged once per cause, then sampled with the count
				// of lines left out; the metrics count every request.
				s.failures.Log(r.Context(), slog.LevelError, failureCause(ae, err), "request failed",
					"request_id", requestID(r.Context()), "err", err)
			}
			writeError(w, ae)
		}
	})
}

// authorize checks the bearer token against every token in constant time
// and the path's tenant against the token's tenant: 401 without a valid
// token, 403 for a path of another tenant (also an unknown one: a token
// gives no hint about which tenants exist). It returns the token's index
// in s.tokens (its rate limit).
func (s *Server) authorize(r *http.Request) (*Tenant, int, *Error) {
	tok, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return nil, 0, apiErr(CodeUnauthorized, "an Authorization: Bearer token is required")
	}
	i, found := s.lookupToken(tok)
	if !found {
		return nil, 0, apiErr(CodeUnauthorized, "the bearer token is not valid")
	}
	owner := s.tokens[i].tenant
	want := r.PathValue("tenant")
	if owner != want {
		return nil, 0, apiErr(CodeForbidden, "the token does not give access to tenant %q", want)
	}
	t := s.cfg.Tenants[owner]
	return &t, i, nil
}

// tokenKey is the context key of the index in s.tokens of the token that
// authorized a request (directly or through a ticket).
type tokenKey struct{}

// closeIfBodyUnread makes a response sent without reading the request's
// body close the connection: net/http would otherwise read (up to 256 KiB
// of) the body before sending the response, and a client that announced a
// body and sends none would hold the connection and never get its answer.
func closeIfBodyUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}
