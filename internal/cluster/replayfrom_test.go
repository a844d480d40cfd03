package cluster

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// TestReplayFromIdleTenants: a shard holds a busy tenant, an idle one
// (nothing since its snapshot, long ago in the journal) and one never
// used (no snapshot at all). A new owner's replay starts after the busy
// tenant's latest snapshot, not at the idle tenant's snapshot nor at the
// journal's start: it reads only the busy tenant's two records after its
// snapshot (and the one of its snapshot's step, if they were committed
// together). Every tenant's views are the same after the takeover.
func TestReplayFromIdleTenants(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			cfg := testConfig(t, tg.Brokers)
			cfg.Shards = 1
			parts := ensure(t, cfg)
			ctx := context.Background()
			ids := []string{"idle", "unused", "busy"}
			start := func(s *Shard, states map[string]*tenant.LogState) map[string]*tenant.Tenant {
				out := map[string]*tenant.Tenant{}
				for _, id := range ids {
					ten := config.Demo("tok-"+id, "pw").Tenants[0]
					ten.ID = id
					out[id] = startTenantOf(t, &ten, s, states[id], 5)
				}
				return out
			}
			a, states, err := OpenShard(ctx, cfg, parts, 0, Owner{Node: "a"}, ids)
			if err != nil {
				t.Fatal(err)
			}
			ta := start(a, states)
			do := func(tn *tenant.Tenant, i int) {
				t.Helper()
				var c engine.Command = engine.Login{DN: fmt.Sprint(1001 + i%4), AgentID: fmt.Sprint("agent", 1+i%4)}
				if (i/4)%2 == 1 {
					c = engine.Logout{DN: fmt.Sprint(1001 + i%4)}
				}
				if _, err := tn.Do(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 5; i++ { // a snapshot at step 5, then nothing
				do(ta["idle"], i)
			}
			for i := 0; i < 52; i++ { // snapshots up to step 50, then 2 steps
				do(ta["busy"], i)
			}
			type view struct {
				agents []engine.AgentView
				calls  []engine.CallView
			}
			before := map[string]view{}
			for _, id := range ids {
				ag, ca := views(t, ta[id])
				before[id] = view{ag, ca}
			}

			// Crash of A; B takes over.
			b, statesB, err := OpenShard(ctx, cfg, parts, 0, Owner{Node: "b"}, ids)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close(ctx, false)
			rs := b.Stats().Replay
			// 3 records if the busy tenant's last snapshot went in the
			// same transaction as its step 50: its offset is then that
			// transaction's start.
			if rs.From <= 0 || rs.JournalRecords > 3 || rs.Steps != 2 {
				t.Fatalf("B's replay read from offset %d %d journal records (%d steps), want the busy tenant's 2 after its snapshot (of 57)",
					rs.From, rs.JournalRecords, rs.Steps)
			}
			tb := start(b, statesB)
			for _, id := range ids {
				defer tb[id].Close(ctx)
				ag, ca := views(t, tb[id])
				if !reflect.DeepEqual(before[id], view{ag, ca}) {
					t.Fatalf("%s: views differ after the takeover", id)
				}
			}
			for _, id := range ids {
				ta[id].Close(ctx)
			}
			a.Abandon()
		})
	}
}
