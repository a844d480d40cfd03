package app

import (
	"log/slog"
	"net/http"

	"github.com/switchboard-cc/switchboard/internal/cluster"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// clusterStream is a cluster node's handler of the event streams of
// tenants other nodes serve (cluster.Front.Stream): the events come from
// feed (the output topics, read_committed), the route decisions sent on a
// stream go through front, which forwards them to the owner.
func clusterStream(file *config.File, feed *cluster.Feed, front http.Handler, getenv func(string) string,
	set *metrics.Set, limit ctiapi.RateLimit, log *slog.Logger) (http.Handler, error) {
	ts := map[string]ctiapi.Tenant{}
	lim := map[string]ctiapi.RateLimit{}
	for i := range file.Tenants {
		t := &file.Tenants[i]
		id := t.ID
		ts[id] = ctiapi.Tenant{Tokens: t.Tokens, Stream: &ctiapi.RemoteStream{Tenant: id,
			Subscribe: func(f tenant.Filter, max int) ctiapi.EventSub { return feed.Subscribe(id, f, max) },
			Route:     ctiapi.RouteThrough(front, id)}}
		if l := t.RateLimit; l != nil {
			lim[id] = ctiapi.RateLimit{Rate: l.Rate, Burst: l.Burst}
		}
	}
	api, err := ctiapi.New(ctiapi.Config{Tenants: ts, Logger: log.With("component", "ctiapi")})
	if err != nil {
		return nil, err
	}
	for i := range file.Tenants {
		if err := addTokenHashes(api, &file.Tenants[i], getenv); err != nil {
			return nil, err
		}
	}
	return api.Handler(ctiapi.Ops{Metrics: set, Default: limit, RateLimits: lim}), nil
}
