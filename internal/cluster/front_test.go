package cluster

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestForwardToStaleOwner: node a's owners table names b as the owner of a
// tenant's shard, but b does not serve it (b's table is stale too: it
// names itself, the handover is under way). A request sent to a is
// forwarded to b, which waits its handover wait for the shard and answers
// 503 with Retry-After; a's proxy must wait for that answer rather than
// give up on b first and report that b did not answer. Both use the
// default handover wait, which the proxy's bound once equalled.
func TestForwardToStaleOwner(t *testing.T) {
	const tenantID = "t1"
	cfg := Config{Cluster: "c1", Brokers: []string{"unused:9092"}, Shards: 4}
	shard := ShardOf(tenantID, cfg.Shards)
	none := func(string) http.Handler { return nil }
	base := http.NotFoundHandler()

	nb := &Node{cfg: NodeConfig{Config: cfg, NodeID: "b"}, tenants: nil, table: map[int]Owner{}}
	fb := &Front{Node: nb, Local: none, Base: base}
	sb := httptest.NewServer(fb)
	defer sb.Close()
	bAddr := strings.TrimPrefix(sb.URL, "http://")
	nb.cfg.HTTP = bAddr
	nb.table[shard] = Owner{Node: "b", HTTP: bAddr}

	na := &Node{cfg: NodeConfig{Config: cfg, NodeID: "a"}, table: map[int]Owner{shard: {Node: "b", HTTP: bAddr}}}
	fa := &Front{Node: na, Local: none, Base: base}
	sa := httptest.NewServer(fa)
	defer sa.Close()

	start := time.Now()
	res, err := http.Post(sa.URL+"/v1/tenants/"+tenantID+"/dns/1001/login", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	took := time.Since(start)
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%d %s: %v", res.StatusCode, body, err)
	}
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d (Retry-After %q) %s, want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if !strings.Contains(e.Error.Message, "handed over") {
		t.Fatalf("got %q after %v: the forwarder gave up before the owner's handover wait ended", e.Error.Message, took)
	}
	if fa.proxyTimeout() <= fb.wait() {
		t.Fatalf("proxy timeout %v is not above the handover wait %v", fa.proxyTimeout(), fb.wait())
	}
}
