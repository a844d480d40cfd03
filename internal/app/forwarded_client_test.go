package app

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/cluster"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

// TestClusterForwardedClientAuthLimit: a client guessing tokens through a
// node that does not serve the tenant gets blocked (429) by the owner's
// failed-authentication limit, and only that client: another client
// forwarded by the same node is still served, because the owner keys the
// limit by the client's address the forwarding node passed on, not by the
// forwarding node's. The clients connect from 127.0.0.2 and 127.0.0.3.
// The nodes share a cluster secret (--cluster-secret), so the owner
// believes the forwarded address by its signature.
func TestClusterForwardedClientAuthLimit(t *testing.T) {
	for _, tg := range kafkatest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			prefix := kafkatest.UniqueTopicPrefix(t)
			file := clusterConfigFile(t, 6)
			withSecret := func(c *Config) {
				c.ConfigFile = file
				c.Cluster = ClusterConfig{Name: "cl", Shards: 4, OpsToken: clusterOpsToken, HandoverWait: 20 * time.Second,
					Secret: "0123456789abcdef0123456789abcdef"}
			}
			n1 := startMainWith(t, tg.Brokers, prefix, func(c *Config) { withSecret(c); c.Cluster.NodeID = "n1" })
			n2 := startMainWith(t, tg.Brokers, prefix, func(c *Config) { withSecret(c); c.Cluster.NodeID = "n2" })
			waitCluster(t, []*running{n1, n2}, "n1", "n2")
			code, body := do(t, "GET", "http://"+n1.addrs.HTTP+"/v1/cluster", clusterOpsToken, "")
			var st cluster.ClusterStatus
			if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
				t.Fatalf("GET /v1/cluster: %d %s", code, body)
			}
			// A tenant n1 serves, asked through n2.
			tid := ""
			for i := 0; i < 6 && tid == ""; i++ {
				if id := fmt.Sprint("t", i); st.Shards[cluster.ShardOf(id, 4)].Owner == "n1" {
					tid = id
				}
			}
			if tid == "" {
				t.Fatalf("n1 serves no tenant: %s", body)
			}
			from := func(ip string) *http.Client {
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
				return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
			}
			get := func(cl *http.Client, token string) int {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, "http://"+n2.addrs.HTTP+"/v1/tenants/"+tid+"/agents", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := cl.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode
			}
			guesser, other := from("127.0.0.2"), from("127.0.0.3")
			blocked := false
			for i := 0; i < 100 && !blocked; i++ {
				switch c := get(guesser, "wrong"); c {
				case http.StatusUnauthorized:
				case http.StatusTooManyRequests:
					blocked = true
				default:
					t.Fatalf("guess %d: %d", i, c)
				}
			}
			if !blocked {
				t.Fatal("100 wrong tokens through n2 and the guesser is not blocked")
			}
			if c := get(other, "tok-"+tid); c != http.StatusOK {
				t.Fatalf("another client through the same node: %d, want 200 (only the guesser is blocked)", c)
			}
			if c := get(guesser, "tok-"+tid); c != http.StatusTooManyRequests {
				t.Fatalf("the guesser with the right token: %d, want 429 (blocked)", c)
			}
			// A local client straight to the owner, from the nodes' own
			// address, claiming to be forwarded for a new address at
			// every guess: without the secret's signature the claim is
			// ignored, so it is blocked as itself.
			forger := from("127.0.0.1")
			blocked = false
			for i := 0; i < 100 && !blocked; i++ {
				req, _ := http.NewRequest(http.MethodGet, "http://"+n1.addrs.HTTP+"/v1/tenants/"+tid+"/agents", nil)
				req.Header.Set("Authorization", "Bearer wrong")
				req.Header.Set(cluster.HeaderForwarded, "n2")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.0.0.%d", i+1))
				res, err := forger.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				blocked = res.StatusCode == http.StatusTooManyRequests
			}
			if !blocked {
				t.Fatal("100 wrong tokens with forged forwarding headers and the forger is not blocked")
			}
		})
	}
}
