package stats

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/internal/ctiapi"
)

// PushInterval is the least time between two WebSocket pushes.
const PushInterval = time.Second

// Update is one WebSocket message, and the body of GET .../stats: the
// whole tenant's figures at one instant.
type Update struct {
	Tenant TenantStats  `json:"tenant"`
	Queues []QueueStats `json:"queues"`
	Agents []AgentStats `json:"agents"`
}

// UpdateOf returns a tenant's figures at now.
func UpdateOf(a *Aggregator, tenant string, now time.Time) Update {
	ts, ok := a.Tenant(tenant, now)
	if !ok {
		ts = TenantStats{Tenant: tenant, At: now.UTC(), Agents: map[string]int{}, Calls: map[string]int{}}
	}
	u := Update{Tenant: ts, Queues: a.Queues(tenant, now), Agents: a.Agents(tenant, now)}
	if u.Queues == nil {
		u.Queues = []QueueStats{}
	}
	if u.Agents == nil {
		u.Agents = []AgentStats{}
	}
	return u
}

// Update returns the tenant's figures now.
func (s *Service) Update(tenant string) Update {
	var u Update
	s.Read(func(a *Aggregator, now time.Time) { u = UpdateOf(a, tenant, now) })
	return u
}

// QueuesReply is the body of GET .../stats/queues.
type QueuesReply struct {
	Queues []QueueStats `json:"queues"`
}

// AgentsReply is the body of GET .../stats/agents.
type AgentsReply struct {
	Agents []AgentStats `json:"agents"`
}

// WSParams documents the query parameter of the WebSocket.
type WSParams struct {
	Ticket string `json:"ticket,omitempty" doc:"a one-time ticket from POST /v1/tenants/{tenant}/events/ticket, instead of the Authorization header"`
}

// Endpoint is one route of the statistics API, documented, with its
// handler (authorized by the guard given to Endpoints).
type Endpoint struct {
	Route   ctiapi.DocRoute
	Handler http.Handler
}

// Endpoints are the statistics API's routes, authorized by g:
//
//	GET /v1/tenants/{tenant}/stats          everything (Update)
//	GET /v1/tenants/{tenant}/stats/tenant   TenantStats
//	GET /v1/tenants/{tenant}/stats/queues   QueuesReply
//	GET /v1/tenants/{tenant}/stats/agents   AgentsReply
//	GET /v1/tenants/{tenant}/stats/ws       WebSocket: an Update at once, then at each change, at most once per PushInterval
func (s *Service) Endpoints(g *ctiapi.Guard) []Endpoint {
	const base = "/v1/tenants/{tenant}/stats"
	const defs = " Definitions of every figure: docs/STATS.md."
	get := func(path, summary string, reply any, h func(w http.ResponseWriter, r *http.Request, t string)) Endpoint {
		return Endpoint{ctiapi.DocRoute{Method: "GET", Path: base + path, Summary: summary + defs, Reply: reply}, g.Wrap(false, h)}
	}
	return []Endpoint{
		get("", "Statistics: the tenant's, every queue's and routing point's, and every agent's figures now (current state; today, last 15 and 60 minutes).", Update{},
			func(w http.ResponseWriter, r *http.Request, t string) { writeJSON(w, s.Update(t)) }),
		get("/tenant", "Statistics: the tenant as a whole now.", TenantStats{},
			func(w http.ResponseWriter, r *http.Request, t string) { writeJSON(w, s.Update(t).Tenant) }),
		get("/queues", "Statistics: every queue and routing point seen in the tenant's events, with its agent group, by number.", QueuesReply{},
			func(w http.ResponseWriter, r *http.Request, t string) { writeJSON(w, QueuesReply{s.Update(t).Queues}) }),
		get("/agents", "Statistics: every agent seen in the tenant's events, by id.", AgentsReply{},
			func(w http.ResponseWriter, r *http.Request, t string) { writeJSON(w, AgentsReply{s.Update(t).Agents}) }),
		{ctiapi.DocRoute{Method: "GET", Path: base + "/ws", WebSocket: true, Params: WSParams{}, Reply: Update{},
			Summary: "WebSocket of the statistics: each text message is the body of GET /v1/tenants/{tenant}/stats, sent at once and then at each change, at most once a second." + defs},
			g.Wrap(true, s.serveWS)},
	}
}

// Mount adds the statistics API (Endpoints) to a mux, authorized by g.
func (s *Service) Mount(handle func(pattern string, h http.Handler), g *ctiapi.Guard) {
	for _, e := range s.Endpoints(g) {
		handle(e.Route.Method+" "+e.Route.Path, e.Handler)
	}
}

// MountAPI adds the statistics API to the CTI API's server, behind its
// tokens and in its OpenAPI document.
func (s *Service) MountAPI(api *ctiapi.Server) error {
	for _, e := range s.Endpoints(api.Guard()) {
		if err := api.HandleDocumented(e.Route, e.Handler); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func (s *Service) serveWS(w http.ResponseWriter, r *http.Request, tenant string) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context())
	send := func() error {
		b, err := json.Marshal(s.Update(tenant))
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return c.Write(wctx, websocket.MessageText, b)
	}
	for {
		ch, _ := s.Changed()
		if err := send(); err != nil {
			return
		}
		last := time.Now()
		select {
		case <-ctx.Done():
			c.Close(websocket.StatusGoingAway, "")
			return
		case <-ch:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(last.Add(PushInterval))):
		}
	}
}
