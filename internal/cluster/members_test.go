package cluster

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMemberDown: a node killed with kill -9 leaves its announcement in
// the owners topic (no tombstone). Here "ghost" is such a node: its last
// announcement is written by hand and never refreshed. The live node a
// shows it in Members and as a SIP peer at first, then, after
// MemberDownAfter announcement intervals without a newer one, shows it
// down and no longer believes its SIP address; a itself, which refreshes
// its announcement, is never down.
func TestMemberDown(t *testing.T) {
	_, cfg := embedded(t, 1)
	nc := nodeConfig(cfg, "a", []string{demoTenant})
	nc.SIP = "sip-a:5060"
	nc.AnnounceInterval = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := StartNode(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })

	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	written := time.Now()
	v, _ := json.Marshal(Owner{Node: "ghost", HTTP: "ghost:80", SIP: "sip-ghost:5060", Since: written.UTC(), Beat: written.UTC()})
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: TopicsOf(cfg).Owners, Key: []byte(memberKey + "ghost"), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	member := func(id string) (Member, bool) {
		for _, m := range a.Members() {
			if m.Node == id {
				return m, true
			}
		}
		return Member{}, false
	}
	for {
		if m, ok := member("ghost"); ok {
			// (Read later than that under load, it is down already:
			// checked below.)
			if young := time.Since(written) < MemberDownAfter*nc.AnnounceInterval-50*time.Millisecond; young && (m.Down || !a.SIPPeer("sip-ghost:5060")) {
				t.Fatalf("ghost just announced: %+v, SIP peer %v; want up and a peer", m, a.SIPPeer("sip-ghost:5060"))
			}
			break
		}
		if time.Since(written) > 10*time.Second {
			t.Fatalf("ghost's announcement not read: %+v", a.Members())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		m, _ := member("ghost")
		if m.Down {
			if d := time.Since(written); d < MemberDownAfter*nc.AnnounceInterval {
				t.Fatalf("ghost down %v after its announcement, before %d intervals of %v", d, MemberDownAfter, nc.AnnounceInterval)
			}
			break
		}
		if time.Since(written) > 10*time.Second {
			t.Fatalf("ghost never shown down: %+v", a.Members())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a.SIPPeer("sip-ghost:5060") {
		t.Fatal("ghost is down but its SIP address is still a peer's")
	}
	// a has been up for more than MemberDownAfter intervals by now, and
	// refreshes its announcement: up, heard lately.
	time.Sleep(MemberDownAfter * nc.AnnounceInterval)
	m, ok := member("a")
	if !ok || m.Down || m.Heard == "" {
		t.Fatalf("a itself: %+v (found %v), want up with a heard time", m, ok)
	}
	// A node reading a's announcement (not its own) sees it up too.
	nb := nodeConfig(cfg, "b", []string{demoTenant})
	nb.AnnounceInterval = nc.AnnounceInterval
	b, err := StartNode(ctx, nb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ms := map[string]bool{}
		for _, m := range b.Members() {
			ms[m.Node] = m.Down
		}
		if down, ok := ms["a"]; ok && !down && ms["ghost"] {
			time.Sleep(MemberDownAfter * nc.AnnounceInterval)
			for _, m := range b.Members() {
				if m.Node == "a" && m.Down {
					t.Fatalf("b sees a down after %d intervals: %+v", MemberDownAfter, b.Members())
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's members: %+v, want a up and ghost down", b.Members())
		}
	}
}
