package cluster

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

func openBindings(t *testing.T, cfg *Config) *Bindings {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := OpenBindings(ctx, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func put(t *testing.T, b *Bindings, tenant, dn string, v []byte) {
	t.Helper()
	done := make(chan error, 1)
	b.Put(tenant, dn, v, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestBindingsShared: a binding one node writes is known on another node
// once it loads the tenant, and so is its end; a node opened later reads
// the bindings written before it (the topic is its memory), by tenant.
func TestBindingsShared(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			cfg := testConfig(t, tg.Brokers)
			a, b := openBindings(t, cfg), openBindings(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			put(t, a, "t0", "1001", []byte("c1"))
			put(t, a, "t1", "1001", []byte("other tenant"))
			got, err := b.Load(ctx, "t0")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || string(got["1001"]) != "c1" {
				t.Fatalf("B's bindings of t0 after A's REGISTER: %q", got)
			}
			put(t, b, "t0", "1002", []byte("c2"))
			put(t, a, "t0", "1001", nil) // the end of 1001's binding
			c := openBindings(t, cfg)
			for _, n := range []*Bindings{a, b, c} {
				got, err := n.Load(ctx, "t0")
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || string(got["1002"]) != "c2" {
					t.Fatalf("bindings of t0: %q, want only 1002", got)
				}
			}
			if got, _ := c.Load(ctx, "t1"); string(got["1001"]) != "other tenant" {
				t.Fatalf("bindings of t1: %q", got)
			}
		})
	}
}

// TestFeed: the feed hands a tenant's committed events to its subscribers
// in order (filtered by DN), never another tenant's; a subscriber that falls behind is dropped; Close ends
// the subscriptions.
func TestFeed(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			cfg := testConfig(t, tg.Brokers)
			parts := ensure(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f, err := OpenFeed(ctx, *cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			id := demoTenant
			all := f.Subscribe(id, tenant.Filter{}, 1000)
			dn := f.Subscribe(id, tenant.Filter{DN: "1002"}, 1000)
			slow := f.Subscribe(id, tenant.Filter{}, 1)
			other := f.Subscribe("t9", tenant.Filter{}, 1000)
			sh, st := openShard(t, cfg, parts, "a")
			tn := startTenant(t, sh, st, -1)
			for i := 1; i <= 2; i++ {
				if err := login(ctx, tn, i); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			var got []string
			for !slices.Contains(got, "1002") && time.Now().Before(deadline) {
				select {
				case <-all.Ready():
					for _, e := range all.Take(nil) {
						if e.CustomerID != id {
							t.Fatalf("event of tenant %s on %s's feed", e.CustomerID, id)
						}
						got = append(got, e.ThisDN)
					}
				case <-time.After(100 * time.Millisecond):
				}
			}
			if len(got) < 2 || got[0] != "1001" || !slices.Contains(got, "1002") || slices.Index(got, "1002") < slices.Index(got, "1001") {
				t.Fatalf("events on the feed: DNs %v, want 1001's then 1002's", got)
			}
			<-dn.Ready()
			evs := dn.Take(nil)
			if len(evs) == 0 {
				t.Fatal("DN 1002's feed is empty")
			}
			for _, e := range evs {
				if e.ThisDN != "1002" {
					t.Fatalf("DN 1002's feed has an event of %s", e.ThisDN)
				}
			}
			select {
			case <-slow.Done():
				if !errors.Is(slow.Err(), tenant.ErrSlowSubscriber) {
					t.Fatalf("slow subscriber ended with %v", slow.Err())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a subscriber with room for one event was not dropped after two")
			}
			select {
			case <-other.Ready():
				t.Fatalf("tenant t9's subscriber got %v", other.Take(nil))
			default:
			}
			f.Close()
			<-all.Done()
			if !errors.Is(all.Err(), tenant.ErrClosed) {
				t.Fatalf("subscription after Close: %v", all.Err())
			}
		})
	}
}
