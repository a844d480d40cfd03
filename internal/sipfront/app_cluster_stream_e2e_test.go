package sipfront_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/cluster"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
)

const streamOpsToken = "ops-token-streams"

// TestServeClusterSIPStreams: two serve processes' worth of cluster nodes
// (app.Main, in this process) on the embedded Kafka (kfake), each with
// SIP over UDP, TCP, TLS and WebSocket. Phones connect over TCP, TLS and
// WebSocket to the node that does not own the demo tenant, with Contacts
// nobody can reach: they register, 1001 calls 1002, 1002 answers, 1001
// hangs up. The INVITE, ACK and BYE reach 1002 only through its
// connection to that node, which proxies between the phones and the
// owner.
func TestServeClusterSIPStreams(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	dir := t.TempDir()
	sipfront.WriteCert(t, dir, "node")
	type node struct {
		id    string
		addrs app.Addrs
		cfg   app.Config
	}
	var nodes []*node
	for _, id := range []string{"n1", "n2"} {
		cfg := e2eConfig(t, 3)
		cfg.KafkaBrokers = tg.Brokers
		cfg.TopicPrefix = prefix
		cfg.SIPTLS = app.SIPTLS{Listen: "127.0.0.1:" + strconv.Itoa(freeTCPPort(t)),
			Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
		cfg.Cluster = app.ClusterConfig{Name: "cl", NodeID: id, Shards: 2, OpsToken: streamOpsToken, HandoverWait: 20 * time.Second}
		addrs, stop := serveData(t, cfg)
		t.Cleanup(stop)
		nodes = append(nodes, &node{id: id, addrs: addrs, cfg: cfg})
	}
	// The owner of the demo tenant, as both nodes see it, once both own
	// a shard (the group has balanced them: the tenant stays put).
	for deadline := time.Now().Add(60 * time.Second); !twoOwners(t, nodes[0].addrs.HTTP) || !twoOwners(t, nodes[1].addrs.HTTP); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the two nodes do not own a shard each")
		}
	}
	owner := demoOwner(t, nodes[0].addrs.HTTP)
	if o := demoOwner(t, nodes[1].addrs.HTTP); o != owner || owner == "" {
		t.Fatalf("the nodes disagree on the demo tenant's owner: %q and %q", owner, o)
	}
	edge := nodes[0]
	if edge.id == owner {
		edge = nodes[1]
	}
	defer func() {
		if o := demoOwner(t, edge.addrs.HTTP); o != owner {
			t.Errorf("the demo tenant moved from %s to %s during the test: the calls may not have been proxied", owner, o)
		}
	}()
	for _, c := range []struct {
		network, server, ws string
		tls                 *tls.Config
	}{
		{"TCP", edge.cfg.SIP, "", nil},
		{"TLS", edge.cfg.SIPTLS.Listen, "", sipfront.Trusting(t, dir)},
		{"WS", edge.addrs.HTTP, "/sip", nil},
	} {
		t.Run(c.network, func(t *testing.T) {
			b := sipfront.NewGoPhone(t, c.network, c.server, "1002", c.tls, c.ws)
			a := sipfront.NewGoPhone(t, c.network, c.server, "1001", c.tls, c.ws)
			b.Register()
			a.Register()
			d := a.Call("1002")
			b.WaitCall()
			b.WaitAck()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := d.Bye(ctx); err != nil {
				t.Fatalf("1001: BYE: %v", err)
			}
			b.WaitBye()
		})
	}
}

// demoOwner is the node serving the demo tenant as the node at addr sees
// it ("" while none does).
func demoOwner(t *testing.T, addr string) string {
	t.Helper()
	for _, sh := range clusterStatus(t, addr).Shards {
		if slices.Contains(sh.Tenants, "demo") {
			return sh.Owner
		}
	}
	return ""
}

// clusterStatus is GET /v1/cluster of the node at addr.
func clusterStatus(t *testing.T, addr string) cluster.ClusterStatus {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/cluster", nil)
	req.Header.Set("Authorization", "Bearer "+streamOpsToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var st cluster.ClusterStatus
	if res.StatusCode != 200 || json.Unmarshal(body, &st) != nil {
		t.Fatalf("GET /v1/cluster: %d %s", res.StatusCode, body)
	}
	return st
}

// twoOwners reports whether the node at addr sees two nodes owning the
// shards.
func twoOwners(t *testing.T, addr string) bool {
	t.Helper()
	owners := map[string]bool{}
	for _, sh := range clusterStatus(t, addr).Shards {
		owners[sh.Owner] = true
	}
	return len(owners) == 2 && !owners[""]
}

// TestServeClusterTrunkOwner: two cluster nodes (app.Main on kfake) with
// a tenant whose trunk registers to its carrier and sends it OPTIONS
// keepalives every second. Only the node owning the tenant does either;
// when it stops, it un-registers and the other node, taking the tenant
// over, registers and sends the keepalives.
func TestServeClusterTrunkOwner(t *testing.T) {
	tg := kafkatest.Embedded(t)
	prefix := kafkatest.UniqueTopicPrefix(t)
	carrier := sipfront.NewFakeCarrier(t)
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	yaml := "tenants:\n  - id: demo\n    tokens: [tok-demo]\n    dns:\n" +
		"      - number: \"1001\"\n        type: extension\n" +
		"      - number: pstn\n        type: trunk\n        trunk:\n" +
		"          address: " + carrier.Addr() + "\n" +
		"          account: {user: acct, password: secret, register: true, expires: 1h}\n" +
		"          keepalive: 1s\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	type node struct {
		id, http, sip string
		stop          func()
	}
	start := func(id string) *node {
		cfg := e2eConfig(t, 3)
		cfg.ConfigFile = file
		cfg.KafkaBrokers = tg.Brokers
		cfg.TopicPrefix = prefix
		cfg.Cluster = app.ClusterConfig{Name: "cl", NodeID: id, Shards: 2, OpsToken: streamOpsToken, HandoverWait: 20 * time.Second}
		addrs, stop := serveData(t, cfg)
		n := &node{id: id, http: addrs.HTTP, sip: cfg.SIP}
		var once sync.Once
		n.stop = func() { once.Do(stop) }
		t.Cleanup(n.stop)
		return n
	}
	owner := func(nodes ...*node) *node {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			seen := map[string]bool{}
			for _, n := range nodes {
				seen[demoOwner(t, n.http)] = true
			}
			if len(seen) == 1 {
				for _, n := range nodes {
					if seen[n.id] {
						return n
					}
				}
			}
		}
		t.Fatal("no node serves the demo tenant")
		return nil
	}
	n1 := start("n1")
	if o := owner(n1); o != n1 {
		t.Fatalf("owner %s, want n1", o.id)
	}
	carrier.Await(t, "REGISTER 3600 "+n1.sip)
	n2 := start("n2")
	// Once both nodes own a shard each (the group has balanced them),
	// the owner of the demo tenant stays.
	for deadline := time.Now().Add(60 * time.Second); !twoOwners(t, n1.http) || !twoOwners(t, n2.http); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the two nodes do not own a shard each")
		}
	}
	o := owner(n1, n2)
	other := n1
	if o == n1 {
		other = n2
	} else {
		// The rebalance moved the tenant to n2: n1 let its
		// registration go.
		carrier.Await(t, "REGISTER 0 "+n1.sip)
		carrier.Await(t, "REGISTER 3600 "+n2.sip)
	}
	// While both run, only the owner talks to the carrier.
	time.Sleep(500 * time.Millisecond)
	carrier.Drain()
	time.Sleep(2500 * time.Millisecond)
	if now := owner(n1, n2); now != o {
		t.Fatalf("the tenant moved from %s to %s meanwhile", o.id, now.id)
	}
	got := carrier.Drain()
	for _, r := range got {
		if strings.HasSuffix(r, " "+other.sip) {
			t.Fatalf("the carrier got %q from %s, which does not own the tenant (%s): %q", r, other.id, o.id, got)
		}
	}
	o.stop()
	carrier.Await(t, "REGISTER 0 "+o.sip)
	carrier.Await(t, "REGISTER 3600 "+other.sip)
	carrier.Await(t, "OPTIONS  "+other.sip)
}
