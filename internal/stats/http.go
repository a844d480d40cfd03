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

// Mount adds the statistics API to mux, authorized by g:
//
//	GET /v1/tenants/{tenant}/stats          everything (Update)
//	GET /v1/tenants/{tenant}/stats/tenant   TenantStats
//	GET /v1/tenants/{tenant}/stats/queues   {"queues": [QueueStats]}
//	GET /v1/tenants/{tenant}/stats/agents   {"agents": [AgentStats]}
//	GET /v1/tenants/{tenant}/stats/ws       WebSocket: an Update at once, then at each change, at most once per PushInterval
func (s *Service) Mount(handle func(pattern string, h http.Handler), g *ctiapi.Guard) {
	const base = "GET /v1/tenants/{tenant}/stats"
	handle(base, g.Wrap(false, func(w http.ResponseWriter, r *http.Request, t string) {
		writeJSON(w, s.Update(t))
	}))
	handle(base+"/tenant", g.Wrap(false, func(w http.ResponseWriter, r *http.Request, t string) {
		writeJSON(w, s.Update(t).Tenant)
	}))
	handle(base+"/queues", g.Wrap(false, func(w http.ResponseWriter, r *http.Request, t string) {
		writeJSON(w, map[string]any{"queues": s.Update(t).Queues})
	}))
	handle(base+"/agents", g.Wrap(false, func(w http.ResponseWriter, r *http.Request, t string) {
		writeJSON(w, map[string]any{"agents": s.Update(t).Agents})
	}))
	handle(base+"/ws", g.Wrap(true, s.serveWS))
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
