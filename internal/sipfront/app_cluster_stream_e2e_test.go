package sipfront_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
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
	// The owner of the demo tenant, as both nodes see it.
	var edge *node
	for deadline := time.Now().Add(60 * time.Second); edge == nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no node serves the demo tenant")
		}
		owners := map[string]bool{}
		for _, n := range nodes {
			owners[demoOwner(t, n.addrs.HTTP)] = true
		}
		if len(owners) != 1 {
			continue
		}
		for _, n := range nodes {
			if owners[n.id] {
				continue
			}
			edge = n
		}
		if edge == nil || owners[""] {
			edge = nil
		}
	}
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
	for _, sh := range st.Shards {
		if slices.Contains(sh.Tenants, "demo") {
			return sh.Owner
		}
	}
	return ""
}
