package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/cluster"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

// BenchmarkClusterAPI measures the CTI API under a paced load of agent
// logins and logouts (8 tenants x 20 DNs, each DN a lane sending its next
// request at its scheduled time, or at once when late) for 5 s, in
// single-node mode (local journal, relay) and with three cluster nodes in
// this process (Kafka journal, a transaction per group commit), at 1,000
// and 5,000 requests/s. Kafka: $SWITCHBOARD_TEST_KAFKA3 (scripts/kafka
// start --brokers 3) if set, else $SWITCHBOARD_TEST_KAFKA, else the
// embedded broker. It reports p50 and p99 in ms, the rate achieved, events
// per second per node (counted in the topics afterwards), and in cluster
// mode the mean transaction's produce+flush and EndTxn times and steps per
// transaction. Run it once per row:
//
//	go test ./internal/app -run '^$' -bench ClusterAPI -benchtime 1x
func BenchmarkClusterAPI(b *testing.B) {
	brokers := strings.Split(os.Getenv("SWITCHBOARD_TEST_KAFKA3"), ",")
	if brokers[0] == "" {
		if r := kafkatest.RealKafka(b); r != nil {
			brokers = r.Brokers
		} else {
			brokers = kafkatest.Embedded(b).Brokers
		}
	}
	for _, mode := range []string{"single", "cluster3"} {
		for _, rate := range []int{1000, 5000} {
			b.Run(fmt.Sprintf("%s/rate=%d", mode, rate), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					benchClusterAPI(b, brokers, mode, rate)
				}
			})
		}
	}
}

func benchClusterAPI(b *testing.B, brokers []string, mode string, rate int) {
	const tenants, dns, dur = 8, 20, 5 * time.Second
	prefix := kafkatest.UniqueTopicPrefix(b)
	file := clusterConfigFileDNs(b, tenants, dns)
	var nodes []*running
	if mode == "single" {
		nodes = append(nodes, startMainWith(b, brokers, prefix, func(c *Config) { c.ConfigFile = file }))
	} else {
		for _, id := range []string{"n1", "n2", "n3"} {
			nodes = append(nodes, startClusterNode(b, brokers, prefix, file, id))
		}
		deadline := time.Now().Add(60 * time.Second)
		for !clusterSettled(b, nodes) {
			if time.Now().After(deadline) {
				b.Fatal("cluster did not settle")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 512}
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	lanes := tenants * dns
	interval := time.Duration(float64(time.Second) * float64(lanes) / float64(rate))
	var mu sync.Mutex
	var lat []time.Duration
	codes := map[int]int{}
	var wg sync.WaitGroup
	start := time.Now().Add(100 * time.Millisecond)
	b.ResetTimer()
	for l := 0; l < lanes; l++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tn, dn := fmt.Sprint("t", l%tenants), 1001+l/tenants
			node := nodes[l%len(nodes)]
			in := false
			first := start.Add(time.Duration(l) * interval / time.Duration(lanes))
			for k := 0; ; k++ {
				at := first.Add(time.Duration(k) * interval)
				if at.Sub(start) >= dur {
					return
				}
				time.Sleep(time.Until(at))
				op, body := "login", fmt.Sprintf(`{"agentId":"agent%d"}`, dn-1000)
				if in {
					op, body = "logout", "{}"
				}
				req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/v1/tenants/%s/dns/%d/%s", node.addrs.HTTP, tn, dn, op), strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer tok-"+tn)
				t0 := time.Now()
				res, err := cl.Do(req)
				d := time.Since(t0)
				code := 0
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					code = res.StatusCode
				}
				if code/100 == 2 || code == 409 {
					in = !in
				}
				mu.Lock()
				lat = append(lat, d)
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var produceMs, flushMs, endMs, waitMs float64
	var commits, steps, batches int64
	if mode == "cluster3" {
		for _, n := range nodes {
			st := clusterStatus(b, n)
			for _, s := range st.Shards {
				if s.Local == "serving" {
					produceMs += s.ProduceMs * float64(s.Commits)
					flushMs += s.FlushMs * float64(s.Commits)
					endMs += s.EndMs * float64(s.Commits)
					waitMs += s.WaitMs * float64(s.Batches)
					commits += s.Commits
					steps += s.Steps
					batches += s.Batches
				}
			}
		}
	}
	for _, n := range nodes {
		stopNode(b, n)
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("no requests")
	}
	// Counted read_committed: end offsets would count transaction markers.
	events := len(readCommitted(b, brokers, prefix+event.AgentStateTopic, prefix+event.CallThreadTopic))
	ok := codes[200] + codes[201] + codes[204]
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(events)/elapsed.Seconds()/float64(len(nodes)), "events/s/node")
	if commits > 0 {
		b.ReportMetric(produceMs/float64(commits), "produce-ms/txn")
		b.ReportMetric(flushMs/float64(commits), "flush-ms/txn")
		b.ReportMetric(waitMs/float64(max(batches, 1)), "commit-wait-ms/batch")
		b.ReportMetric(endMs/float64(commits), "endtxn-ms/txn")
		b.ReportMetric(float64(steps)/float64(commits), "steps/txn")
	}
	b.Logf("%s at %d/s: %d requests, %d 2xx, codes %v, %d events", mode, rate, len(lat), ok, codes, events)
}

func clusterStatus(t testing.TB, n *running) cluster.ClusterStatus {
	t.Helper()
	code, body := do(t, "GET", "http://"+n.addrs.HTTP+"/v1/cluster", clusterOpsToken, "")
	var st cluster.ClusterStatus
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("GET /v1/cluster: %d %s", code, body)
	}
	return st
}

func clusterSettled(t testing.TB, nodes []*running) bool {
	ids := map[string]bool{"n1": true, "n2": true, "n3": true}
	for _, n := range nodes {
		owners := map[string]bool{}
		for _, s := range clusterStatus(t, n).Shards {
			if !ids[s.Owner] {
				return false
			}
			owners[s.Owner] = true
		}
		if len(owners) < len(nodes) {
			return false
		}
	}
	return true
}
