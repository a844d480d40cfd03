package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/config"
)

// TestSnapshotRestore: random command sequences (the agent, call and ACD
// property generators) run on an engine; every 200 steps a snapshot is
// restored into a fresh engine of the same configuration, which must have
// the same state (digest), give the same snapshot back, and then answer
// the next 200 commands exactly as the original: the same refusals, events
// byte for byte, effects, replies and state after each step.
func TestSnapshotRestore(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tenant func(*rand.Rand) *config.Tenant
		gen    func(*rand.Rand) func(*Engine) Command
	}{
		{"agents", func(*rand.Rand) *config.Tenant { return goldenTenant() },
			func(r *rand.Rand) func(*Engine) Command { g := &gen{rng: r}; return g.command }},
		{"calls", func(*rand.Rand) *config.Tenant { return goldenTenant() },
			func(r *rand.Rand) func(*Engine) Command { g := &callGen{gen: gen{rng: r}}; return g.command }},
		{"acd", acdTenant,
			func(r *rand.Rand) func(*Engine) Command { return func(e *Engine) Command { return acdCommand(r, e) } }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 3; seed++ {
				rng := rand.New(rand.NewPCG(seed, 0x5a9))
				ten := tc.tenant(rng)
				newEngine := func() *Engine {
					e, err := New(ten, Options{Server: "n"})
					if err != nil {
						t.Fatal(err)
					}
					return e
				}
				a := newEngine()
				next := tc.gen(rng)
				at := goldenStart
				var b *Engine
				for step := 0; step < 3000; step++ {
					if step%200 == 0 {
						snap, err := a.Snapshot()
						if err != nil {
							t.Fatalf("seed %d step %d: %v", seed, step, err)
						}
						b = newEngine()
						if err := b.Restore(snap); err != nil {
							t.Fatalf("seed %d step %d: %v", seed, step, err)
						}
						if da, db := digest(a), digest(b); da != db {
							t.Fatalf("seed %d step %d: restored state differs:\n%s\n---\n%s", seed, step, da, db)
						}
						again, err := b.Snapshot()
						if err != nil || !bytes.Equal(again, snap) {
							t.Fatalf("seed %d step %d: the restored engine's snapshot differs (%v)", seed, step, err)
						}
					}
					at += int64(rng.IntN(3_000_000))
					cmd := next(a)
					ra, ea := a.Step(at, cmd)
					rb, eb := b.Step(at, cmd)
					if fmt.Sprint(ea) != fmt.Sprint(eb) {
						t.Fatalf("seed %d step %d %s: error %v, restored %v", seed, step, cmd.Kind(), ea, eb)
					}
					if len(ra.Events) != len(rb.Events) {
						t.Fatalf("seed %d step %d %s: %d events, restored %d", seed, step, cmd.Kind(), len(ra.Events), len(rb.Events))
					}
					for i := range ra.Events {
						ja, jb := ra.Events[i].AppendJSON(nil), rb.Events[i].AppendJSON(nil)
						if !bytes.Equal(ja, jb) {
							t.Fatalf("seed %d step %d %s: event %d\n%s\nrestored\n%s", seed, step, cmd.Kind(), i, ja, jb)
						}
					}
					if fmt.Sprint(ra.Effects, ra.Reply) != fmt.Sprint(rb.Effects, rb.Reply) {
						t.Fatalf("seed %d step %d %s: effects/reply %v %v, restored %v %v", seed, step, cmd.Kind(), ra.Effects, ra.Reply, rb.Effects, rb.Reply)
					}
					if da, db := digest(a), digest(b); da != db {
						t.Fatalf("seed %d step %d %s: state differs after the step:\n%s\n---\n%s", seed, step, cmd.Kind(), da, db)
					}
				}
			}
		})
	}
}
