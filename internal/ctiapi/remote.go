package ctiapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// RemoteStream serves the event stream of a tenant another node of a
// cluster runs (Tenant.Stream, instead of Runtime): its events come from
// Subscribe (the output topics, read_committed), its route decisions go
// to Route (the owner). Every other request for such a tenant gets 503:
// the cluster's front forwards them to the owner.
type RemoteStream struct {
	// Tenant is the tenant's id.
	Tenant string
	// Subscribe subscribes to the tenant's events that pass f, at most
	// max waiting.
	Subscribe func(f tenant.Filter, max int) EventSub
	// Route executes a route decision for call connID: body is the
	// request body of POST /v1/tenants/{tenant}/calls/{connId}/route,
	// authorization the stream's Authorization header. An error that is
	// an *Error keeps its code and status.
	Route func(ctx context.Context, connID string, body []byte, authorization string) error
}

// EventSub is an event subscription: *tenant.Subscription's queue mode.
type EventSub interface {
	Ready() <-chan struct{}
	Take(dst []event.Event) []event.Event
	Done() <-chan struct{}
	Err() error
	Close()
}

var _ EventSub = (*tenant.Subscription)(nil)

// eventsPath is the event stream's route, the only one a remote tenant
// serves.
const eventsPath = "/v1/tenants/{tenant}/events"

// id is the tenant's id.
func (t *Tenant) id() string {
	if t.Runtime != nil {
		return t.Runtime.ID()
	}
	return t.Stream.Tenant
}

func (t *Tenant) subscribe(f tenant.Filter, max int) EventSub {
	if t.Runtime != nil {
		return t.Runtime.SubscribeQueue(f, max)
	}
	return t.Stream.Subscribe(f, max)
}

// authKey is the context key of the event stream's Authorization header
// (a remote tenant's route decisions are sent with it).
type authKey struct{}

// route executes a route decision: on the runtime, or, for a remote
// tenant, as a POST route request at the owner (raw is the message).
func (t *Tenant) route(ctx context.Context, cmd engine.RouteCall, raw []byte) error {
	if t.Runtime != nil {
		_, err := t.Runtime.Do(ctx, cmd)
		return err
	}
	var m map[string]json.RawMessage
	var r map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	if err := json.Unmarshal(m["route"], &r); err != nil {
		return err
	}
	delete(m, "route")
	m["routingPoint"], m["to"] = r["routingPoint"], r["to"]
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	auth, _ := ctx.Value(authKey{}).(string)
	return t.Stream.Route(ctx, cmd.ConnID, body, auth)
}

// RouteThrough returns a RemoteStream.Route that sends each decision as a
// POST route request to h (a cluster node's front: it forwards the
// request to the tenant's owner, or waits for one during a handover) and
// returns the error the answer carries.
func RouteThrough(h http.Handler, tenantID string) func(ctx context.Context, connID string, body []byte, authorization string) error {
	return func(ctx context.Context, connID string, body []byte, authorization string) error {
		req := httptest.NewRequestWithContext(ctx, http.MethodPost,
			"/v1/tenants/"+url.PathEscape(tenantID)+"/calls/"+url.PathEscape(connID)+"/route", bytes.NewReader(body))
		req.Header.Set("Authorization", authorization)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code/100 == 2 {
			return nil
		}
		var e struct {
			Error Error `json:"error"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Code == "" {
			return &Error{Code: CodeUnavailable, Message: "the route decision got no answer from the tenant's node; retry", status: http.StatusServiceUnavailable}
		}
		e.Error.status = rec.Code
		return &e.Error
	}
}
