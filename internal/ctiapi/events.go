package ctiapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// Close reasons of the event stream's WebSocket.
const (
	closeSlow     = "slow consumer: fell behind the event stream and was dropped; reconnect and resume from the last Seq (the events missed are in Kafka)"
	closeShutdown = "switchboard is shutting down"
)

// EventStreamParams documents the query parameters of the event stream.
type EventStreamParams struct {
	Topic string `json:"topic,omitempty" enum:"voice-agentstate,voice-callthread" doc:"only events of this topic (unprefixed name)"`
	DN    string `json:"dn,omitempty" doc:"only events reported for this DN (ThisDN)"`
	// Ticket replaces the Authorization header (browsers cannot set one).
	Ticket string `json:"ticket,omitempty" doc:"a one-time ticket from POST /v1/tenants/{tenant}/events/ticket, instead of the Authorization header"`
}

func eventRoutes(s *Server) []route {
	return []route{{
		method: "GET", path: "/v1/tenants/{tenant}/events", auth: true, raw: true, ticket: true, status: http.StatusSwitchingProtocols,
		summary: "WebSocket stream of the tenant's events as they are recorded, each message one event exactly as its Kafka record value. " +
			"A router may send its decisions on the same socket as text messages {\"route\":{\"connId\",\"routingPoint\",\"to\"},\"referenceId\"} " +
			"(unknown fields refused), each executed exactly like POST /v1/tenants/{tenant}/calls/{connId}/route; the server answers " +
			"{\"routeResult\":{\"connId\",\"ok\":true}} or {\"routeResult\":{\"connId\",\"ok\":false,\"error\":{\"code\",\"message\"}}} " +
			"with the HTTP error codes. Results have no \"id\" field, events always do; a result and the events of its route may arrive in either order.",
		params: EventStreamParams{},
		handle: s.serveEvents,
	}}
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, t *Tenant) error {
	var f tenant.Filter
	q := r.URL.Query()
	for k := range q {
		if k != "topic" && k != "dn" && k != "ticket" {
			return apiErr(CodeUnknownField, "unknown query parameter %q (want topic, dn, ticket)", k)
		}
	}
	if q.Has("topic") {
		topic := q.Get("topic")
		if topic != event.AgentStateTopic && topic != event.CallThreadTopic {
			return apiErr(CodeBadEnum, "topic %q is not one of %s, %s", topic, event.AgentStateTopic, event.CallThreadTopic)
		}
		f.Topic = topic
	}
	if q.Has("dn") {
		if f.DN = q.Get("dn"); f.DN == "" {
			return apiErr(CodeInvalid, "dn is empty")
		}
	}
	id := t.id()
	if !s.streams.open(id, s.cfg.MaxStreams) {
		s.metrics.HTTPRefused("stream_limit")
		w.Header().Set("Retry-After", "5")
		return apiErr(CodeLimitReached, "tenant %q has %d event streams open, its limit", id, s.cfg.MaxStreams)
	}
	defer s.streams.close(id)
	// Subscribe before the upgrade, so that no event recorded after the
	// client's handshake completes is missed. The queue reserves nothing
	// up front: an idle stream costs its goroutines and socket buffers.
	sub := t.subscribe(f, s.cfg.EventBuffer)
	defer sub.Close()
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		logger(r.Context()).Info("websocket upgrade failed", "err", err)
		return nil // Accept has written the response
	}
	c.SetReadLimit(maxRouteMessage)
	tok, _ := r.Context().Value(tokenKey{}).(int)
	log := logger(r.Context())
	log.Debug("event stream opened", "tenant", id, "topic", f.Topic, "dn", f.DN)
	ctx, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(r.Context()), authKey{}, r.Header.Get("Authorization")))
	// All data messages go through write: the event loop and the route
	// reader share the socket.
	var wmu sync.Mutex
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		wctx, wcancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		defer wcancel()
		return c.Write(wctx, websocket.MessageText, b)
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel() // the peer closed or reading failed: the stream ends
		s.readRoutes(ctx, c, t, tok, write)
	}()
	defer func() {
		cancel()
		c.CloseNow()
		<-readerDone
	}()
	var buf []byte
	var evs []event.Event
	for {
		select {
		case <-sub.Ready():
			evs = sub.Take(evs[:0])
			for i := range evs {
				buf = evs[i].AppendJSON(buf[:0])
				if err := write(buf); err != nil {
					log.Debug("event stream write failed", "err", err)
					return nil
				}
			}
			// Give back what a burst made grow: an idle stream stays small.
			if cap(evs) > 16 {
				evs = nil
			}
			clear(evs)
			if cap(buf) > 16<<10 {
				buf = nil
			}
		case <-sub.Done():
			reason, status := closeShutdown, websocket.StatusGoingAway
			if errors.Is(sub.Err(), tenant.ErrSlowSubscriber) {
				reason, status = closeSlow, websocket.StatusPolicyViolation
				s.metrics.HTTPRefused("slow_stream")
				s.refusals.Info("event stream closed", "reason", reason, "tenant", id)
			} else {
				log.Info("event stream closed", "reason", reason)
			}
			c.Close(status, reason)
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// RouteMessage is a router's decision sent by the client on the event
// stream's WebSocket: the same decision as POST /calls/{connId}/route.
type RouteMessage struct {
	Common
	Route *RouteDecision `json:"route" required:"true"`
}

// RouteDecision is the route of a RouteMessage.
type RouteDecision struct {
	ConnID       *string `json:"connId" required:"true"`
	RoutingPoint *string `json:"routingPoint" required:"true"`
	To           *string `json:"to" required:"true"`
}

// RouteResult is the server's answer to a RouteMessage, sent as
// {"routeResult": ...}. It has no "id" field, so it is never taken for an
// event.
type RouteResult struct {
	ConnID string `json:"connId"`
	OK     bool   `json:"ok"`
	Error  *Error `json:"error,omitempty"`
}

type routeResultMsg struct {
	RouteResult RouteResult `json:"routeResult"`
}

// maxRouteMessage bounds a message the client sends on the event stream
// (a route decision is a few hundred bytes); a longer one ends the stream.
const maxRouteMessage = 16 << 10

// readRoutes reads the client's messages until the socket fails or ctx
// ends, executes each route decision and writes its result. Each message
// takes one request from the rate limit of the token that opened the
// stream, like a POST would.
func (s *Server) readRoutes(ctx context.Context, c *websocket.Conn, t *Tenant, tok int, write func([]byte) error) {
	log := logger(ctx)
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		var res RouteResult
		if ok, wait := s.takeToken(tok); !ok {
			s.metrics.APIRateLimited(t.id())
			s.metrics.HTTPRefused("route_rate_limited")
			res.Error = apiErr(CodeRateLimited, "too many requests for this token; retry after %ds", retryAfter(wait))
		} else if typ != websocket.MessageText {
			res.Error = apiErr(CodeMalformed, "a route message must be a text message")
		} else {
			res = s.routeMessage(ctx, t, data)
		}
		b, err := json.Marshal(routeResultMsg{res})
		if err != nil {
			return
		}
		if err := write(b); err != nil {
			log.Debug("event stream write failed", "err", err)
			return
		}
	}
}

// routeMessage decodes, validates and executes one route message exactly
// as the POST route endpoint does.
func (s *Server) routeMessage(ctx context.Context, t *Tenant, data []byte) (res RouteResult) {
	fail := func(err error) RouteResult {
		res.OK, res.Error = false, toError(err)
		return res
	}
	if firstByte(data) != '{' {
		return fail(apiErr(CodeMalformed, "the message must be a JSON object"))
	}
	var m RouteMessage
	if hasNull(data) {
		return fail(apiErr(CodeWrongType, "null is not a value any field takes: leave the field out"))
	}
	dec := json.NewDecoder(bytes.NewReader(integralNumbers(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return fail(decodeError(err, data, &m))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(apiErr(CodeMalformed, "unexpected data after the JSON object"))
	}
	if err := validate(&m); err != nil {
		return fail(err)
	}
	if m.Route.ConnID != nil {
		res.ConnID = *m.Route.ConnID
	}
	if err := validate(m.Route); err != nil {
		return fail(err)
	}
	if !pathRegexps["connId"].MatchString(res.ConnID) {
		return fail(apiErr(CodeNotFound, "unknown ConnID %q (a ConnID is 16 lowercase hex digits)", res.ConnID))
	}
	q, err := m.Common.request()
	if err != nil {
		return fail(err)
	}
	cmd := engine.RouteCall{Request: q, ConnID: res.ConnID, RoutingPoint: *m.Route.RoutingPoint, To: *m.Route.To}
	if err := t.route(ctx, cmd, data); err != nil {
		return fail(err)
	}
	res.OK = true
	return res
}
