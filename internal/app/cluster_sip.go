package app

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/switchboard-cc/switchboard/internal/cluster"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
)

// startClusterSIP starts a cluster node's SIP front on c.SIP: it follows
// the cluster's bindings and dialogs topics (closed by the returned func
// after the server), serves the tenants the node is given
// (Attach, Detach from the node's Serving) and forwards the requests of
// the others to their owners. The node is set in the returned pointer
// once it has joined; until then requests for tenants are dropped (the
// phones retransmit).
func startClusterSIP(ctx context.Context, c Config, file *config.File, cc cluster.Config, set *metrics.Set, log *slog.Logger) (*sipfront.Server, func(), *atomic.Pointer[cluster.Node], error) {
	bindings, err := cluster.OpenBindings(ctx, cc)
	if err != nil {
		return nil, nil, nil, err
	}
	dialogs, err := cluster.OpenDialogs(ctx, cc)
	if err != nil {
		bindings.Close()
		return nil, nil, nil, err
	}
	closeTopics := func() {
		dialogs.Close()
		bindings.Close()
	}
	var node atomic.Pointer[cluster.Node]
	srv, err := startSIPFront(c, file, nil, sipfront.Config{Cluster: &sipfront.Cluster{
		Owner: func(id string) (string, bool, bool) {
			if n := node.Load(); n != nil {
				return n.SIPOwner(id)
			}
			return "", false, false
		},
		Peer: func(addr string) bool {
			n := node.Load()
			return n != nil && n.SIPPeer(addr)
		},
		Bindings:  bindings,
		Dialogs:   dialogs,
		Advertise: c.Cluster.AdvertiseSIP,
	}}, set, log)
	if err != nil {
		closeTopics()
		return nil, nil, nil, err
	}
	return srv, closeTopics, &node, nil
}
