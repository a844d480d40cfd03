package ctiapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/metrics"
)

// Ops configures what Server.Handler adds around the API: metrics, health
// endpoints and per-token rate limits.
type Ops struct {
	// Metrics, if set, receives every request's latency (by method, route
	// pattern and status class) and the rate-limited requests, and is
	// served at GET /metrics.
	Metrics *metrics.Set
	// Ready, if set, answers GET /readyz: nil is 200 {"status":"ready"},
	// an error 503 {"status":"unavailable","reason":"..."}. It gets the
	// request's context and should return within a second or so. Without
	// it /readyz answers like /healthz.
	Ready func(context.Context) error
	// RateLimits are the per-token limits by tenant id; Default applies to
	// the tenants not listed. The zero RateLimit is unlimited.
	RateLimits map[string]RateLimit
	Default    RateLimit
	// Now is the clock of the rate limiter. Default time.Now.
	Now func() time.Time
}

// opsRoutes document the endpoints Handler answers before the API's
// routes: they are in the OpenAPI document, not in the mux.
func opsRoutes() []route {
	return []route{
		{method: "GET", path: "/readyz", summary: "Ready to take requests: every journal open and below 90% of its bound, the Kafka producer's buffer below 90%, a broker answering",
			reply: Readiness{}, otherStatus: http.StatusServiceUnavailable, otherStatusDesc: "not ready, with the reason"},
		{method: "GET", path: "/metrics", summary: "Prometheus metrics (text exposition format), when the server has metrics",
			produces: "text/plain; version=0.0.4"},
	}
}

// Readiness is the body of GET /readyz.
type Readiness struct {
	Status string `json:"status"`           // "ready" or "unavailable"
	Reason string `json:"reason,omitempty"` // why not ready
}

// Handler returns the server wrapped with the operational endpoints and
// checks of o: GET /metrics (Prometheus text format) and GET /readyz, both
// without authentication (they carry no tenant data: counts by tenant id
// only), the per-token rate limit (429 before the request reaches the API),
// and the latency metrics. It also makes the server's log lines carry the
// request id through ContextLogHandler. Call it once, after New and
// AddTokenHashes, before serving.
func (s *Server) Handler(o Ops) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if _, ok := s.log.Handler().(contextHandler); !ok {
		s.log = slog.New(ContextLogHandler(s.log.Handler()))
	}
	h := &opsHandler{s: s, o: o, buckets: make([]*bucket, len(s.tokens))}
	for i, e := range s.tokens {
		l, ok := o.RateLimits[e.tenant]
		if !ok {
			l = o.Default
		}
		if l.enabled() {
			h.buckets[i] = &bucket{limit: l}
		}
	}
	if o.Metrics != nil {
		h.metrics = o.Metrics.Handler()
	}
	return h
}

type opsHandler struct {
	s       *Server
	o       Ops
	buckets []*bucket // by index in s.tokens; nil: unlimited
	metrics http.Handler
}

func (h *opsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	route := h.serve(rec, r)
	if h.o.Metrics != nil {
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		h.o.Metrics.APIRequest(r.Method, route, status, time.Since(start))
	}
}

// serve answers r and returns its route label.
func (h *opsHandler) serve(w http.ResponseWriter, r *http.Request) string {
	switch r.URL.Path {
	case "/metrics":
		if h.metrics != nil {
			h.withID(w, r)
			h.metrics.ServeHTTP(w, r)
			return "/metrics"
		}
	case "/readyz":
		h.withID(w, r)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, apiErr(CodeMethodNotAllowed, "%s is not allowed on /readyz; allowed: GET", r.Method))
			return "/readyz"
		}
		if h.o.Ready != nil {
			if err := h.o.Ready(r.Context()); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, Readiness{Status: "unavailable", Reason: err.Error()})
				return "/readyz"
			}
		}
		writeJSON(w, http.StatusOK, Readiness{Status: "ready"})
		return "/readyz"
	}
	if tok, ok := bearer(r.Header.Get("Authorization")); ok {
		if i, known := h.s.lookupToken(tok); known && i < len(h.buckets) && h.buckets[i] != nil {
			if ok, wait := h.buckets[i].take(h.o.Now()); !ok {
				tenant := h.s.tokens[i].tenant
				h.o.Metrics.APIRateLimited(tenant)
				id := h.withID(w, r)
				secs := retryAfter(wait)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				writeJSON(w, http.StatusTooManyRequests, errorBody{apiErr(CodeRateLimited,
					"too many requests for this token (limit %g/s, burst %g); retry after %ds", h.buckets[i].limit.Rate, h.buckets[i].limit.burst(), secs)})
				if h.s.log.Enabled(r.Context(), slog.LevelInfo) {
					h.s.log.Info("http request", "request_id", id, "method", r.Method, "path", r.URL.Path,
						"status", http.StatusTooManyRequests, "error", CodeRateLimited, "tenant", tenant)
				}
				return h.route(r)
			}
		}
	}
	h.s.ServeHTTP(w, r)
	return h.route(r)
}

// withID gives a response answered here the request id the API would
// have given it.
func (h *opsHandler) withID(w http.ResponseWriter, r *http.Request) string {
	id := r.Header.Get("X-Request-Id")
	if !validRequestID(id) {
		id = fmt.Sprintf("%s-%d", h.s.idBase, h.s.nextID.Add(1))
	}
	w.Header().Set("X-Request-Id", id)
	return id
}

// route is the route label of r: the path pattern that serves it, or
// "unmatched" (never the raw path: the label set stays bounded).
func (h *opsHandler) route(r *http.Request) string {
	_, pattern := h.s.mux.Handler(r)
	if pattern == "" || pattern == "/" {
		return "unmatched"
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// statusRecorder notes the status; Unwrap lets the WebSocket upgrade reach
// the connection.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
	r.ResponseWriter.WriteHeader(s)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
