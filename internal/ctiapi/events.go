package ctiapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/runtime"
)

// Close reasons of the event stream's WebSocket.
const (
	closeSlow     = "slow consumer: fell behind the event stream and was dropped"
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
		summary: "WebSocket stream of the tenant's events as they are recorded, each message one event exactly as its Kafka record value",
		params:  EventStreamParams{},
		handle:  s.serveEvents,
	}}
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, t *Tenant) error {
	var f runtime.Filter
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
	// Subscribe before the upgrade, so that no event recorded after the
	// client's handshake completes is missed.
	sub := t.Runtime.Subscribe(f, s.cfg.EventBuffer)
	defer sub.Close()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		logger(r.Context()).Info("websocket upgrade failed", "err", err)
		return nil // Accept has written the response
	}
	defer c.CloseNow()
	log := logger(r.Context())
	log.Debug("event stream opened", "tenant", t.Runtime.ID(), "topic", f.Topic, "dn", f.DN)
	ctx := c.CloseRead(context.WithoutCancel(r.Context()))
	var buf []byte
	for {
		select {
		case ev := <-sub.C:
			buf = ev.AppendJSON(buf[:0])
			wctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
			err := c.Write(wctx, websocket.MessageText, buf)
			cancel()
			if err != nil {
				log.Debug("event stream write failed", "err", err)
				return nil
			}
		case <-sub.Done():
			reason, status := closeShutdown, websocket.StatusGoingAway
			if errors.Is(sub.Err(), runtime.ErrSlowSubscriber) {
				reason, status = closeSlow, websocket.StatusPolicyViolation
			}
			log.Info("event stream closed", "reason", reason)
			c.Close(status, reason)
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
