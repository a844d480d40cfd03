package sipfront_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/metrics/metricstest"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
)

// TestServeSIPCallToKafka runs the whole server (app.Main: demo tenant,
// embedded Kafka broker, publisher, runtime, SIP on a free UDP port), makes
// the basic call between two sipp phones, reads every event back from
// Kafka and compares each record key's events with the engine's golden
// flow 5.1 for the same commands.
func TestServeSIPCallToKafka(t *testing.T) {
	sipPort := sipfront.FreeUDPPort(t)
	cfg := app.DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.KafkaListen = "127.0.0.1:0"
	cfg.SIP = "127.0.0.1:" + strconv.Itoa(sipPort)
	cfg.ServerID = sipfront.TestServer
	cfg.Partitions = 3
	ready := make(chan app.Addrs, 1)
	out := &bytes.Buffer{}
	m := app.Main{
		Config: cfg,
		Stdout: out,
		Logger: kafkatest.Logger(t, slog.LevelWarn),
		Getenv: func(k string) string {
			switch k {
			case app.EnvDemoToken:
				return "token"
			case app.EnvDemoSIPPassword:
				return sipfront.TestPassword
			}
			return ""
		},
		OnReady: func(a app.Addrs) { ready <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Main.Run: %v", err)
		}
	})
	var addrs app.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("Main.Run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("not ready")
	}
	if !bytes.Contains(out.Bytes(), []byte("password "+sipfront.TestPassword)) {
		t.Errorf("the banner does not show the SIP password:\n%s", out)
	}

	server := cfg.SIP
	pa, pb := sipfront.FreeUDPPort(t), sipfront.FreeUDPPort(t)
	sipfront.RegisterAt(t, server, "1002", pb, 3600)
	sipfront.RegisterAt(t, server, "1001", pa, 3600)
	uas := sipfront.StartSippAt(t, server, "uas.xml", pb)
	sipfront.StartSippAt(t, server, "uac.xml", pa, "-key", "user", "1001", "-s", "1002")()
	uas()

	tenant := &config.Demo("token", sipfront.TestPassword).Tenants[0]
	want := sipfront.Expected(t, tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameKafkaFlow(t, addrs.Kafka, want)

	// The SIP counters on /metrics: two registrations (challenged, then
	// authenticated), the call's INVITE (challenged, then authenticated)
	// and the caller's BYE.
	scraped := scrapeMetrics(t, addrs.HTTP)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{metrics.NameSIPTransactions, map[string]string{"method": "REGISTER"}, 4},
		{metrics.NameSIPTransactions, map[string]string{"method": "INVITE"}, 2},
		{metrics.NameSIPTransactions, map[string]string{"method": "BYE"}, 1},
		{metrics.NameSIPResponses, map[string]string{"method": "REGISTER", "status": "401"}, 2},
		{metrics.NameSIPResponses, map[string]string{"method": "REGISTER", "status": "200"}, 2},
		{metrics.NameSIPResponses, map[string]string{"method": "INVITE", "status": "407"}, 1},
		{metrics.NameSIPResponses, map[string]string{"method": "INVITE", "status": "200"}, 1},
		{metrics.NameSIPResponses, map[string]string{"method": "BYE", "status": "200"}, 1},
	} {
		if v, _ := scraped.Value(c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
}

// sameKafkaFlow reads every event from Kafka (exactly len(want) records)
// and compares each record key's events with want's for that key.
func sameKafkaFlow(t *testing.T, kafka []string, want []event.Event) {
	t.Helper()
	topics := []string{event.AgentStateTopic, event.CallThreadTopic}
	recs := kafkatest.Consume(t, kafka, topics, len(want), 30*time.Second)
	if n := kafkatest.RecordCount(t, kafka, topics...); n != int64(len(want)) {
		t.Fatalf("Kafka holds %d records, want %d", n, len(want))
	}
	var got []event.Event
	for _, r := range recs {
		var ev event.Event
		if err := event.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != ev.Key() {
			t.Errorf("record key %q, event key %q", r.Key, ev.Key())
		}
		got = append(got, ev)
	}
	checkEvents(t, recs)
	// Kafka orders per key: compare each key's sequence, normalised on
	// its own (thread ids numbered by first appearance within the key:
	// the order across keys differs between Kafka and the engine). A
	// call thread's key (its random id) is named by its first ConnID.
	byKey := func(evs []event.Event) map[string][]event.Event {
		m := map[string][]event.Event{}
		for _, e := range evs {
			m[e.Key()] = append(m[e.Key()], e)
		}
		out := map[string][]event.Event{}
		for k, v := range m {
			if v[0].ID.Topic() == event.CallThreadTopic {
				k = "thread of " + v[0].ConnID
			}
			out[k] = sipfront.Normalize(v)
		}
		return out
	}
	g, w := byKey(got), byKey(want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("Kafka events differ from the golden flow\ngot:\n%swant:\n%s", sipfront.Format(got), sipfront.Format(want))
	}
}

// scrapeMetrics reads and parses serve's /metrics.
func scrapeMetrics(t *testing.T, addr string) metricstest.Exposition {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", res.StatusCode, b)
	}
	e, err := metricstest.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/metrics: %v\n%s", err, b)
	}
	return e
}

// checkEvents pipes the records through the independent checker
// ../shared/tools/check-events and expects exit 0.
func checkEvents(t *testing.T, recs []*kgo.Record) { t.Helper(); kafkatest.CheckEvents(t, recs) }

// TestServeRestartReleasesSIPCalls: a SIP call between two phones is
// established when serve stops; its dialogs die with the process. The
// next start on the same data directory (its journal) releases it, so no
// call is left that no phone can hang up.
func TestServeRestartReleasesSIPCalls(t *testing.T) {
	sipPort := sipfront.FreeUDPPort(t)
	cfg := app.DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.KafkaListen = "127.0.0.1:0"
	cfg.SIP = "127.0.0.1:" + strconv.Itoa(sipPort)
	cfg.ServerID = sipfront.TestServer
	cfg.Partitions = 1
	serve := func() (app.Addrs, func()) { return serveData(t, cfg) }

	addrs, stop := serve()
	server := cfg.SIP
	pa, pb := sipfront.FreeUDPPort(t), sipfront.FreeUDPPort(t)
	sipfront.RegisterAt(t, server, "1002", pb, 3600)
	sipfront.RegisterAt(t, server, "1001", pa, 3600)
	// Both phones wait for a BYE that never comes (t.Cleanup ends them).
	sipfront.StartSippAt(t, server, "uas.xml", pb)
	sipfront.StartSippAt(t, server, "uac_wait_bye.xml", pa, "-key", "user", "1001", "-s", "1002")
	deadline := time.Now().Add(20 * time.Second)
	for {
		calls := liveCalls(t, addrs.HTTP)
		if len(calls) == 1 && len(calls[0].Parties) == 2 && calls[0].Parties[0].State == "Established" &&
			calls[0].Parties[1].State == "Established" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no established SIP call: %+v", calls)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()

	addrs, stop = serve()
	defer stop()
	if calls := liveCalls(t, addrs.HTTP); len(calls) != 0 {
		t.Fatalf("after the restart %d calls are live, want none: %+v", len(calls), calls)
	}
}

// e2eConfig is serve's configuration for these tests: a fresh data
// directory, the API and the embedded broker on free ports, SIP on a free
// UDP port, topics of partitions partitions.
func e2eConfig(t *testing.T, partitions int) app.Config {
	cfg := app.DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.KafkaListen = "127.0.0.1:0"
	cfg.SIP = "127.0.0.1:" + strconv.Itoa(sipfront.FreeUDPPort(t))
	cfg.ServerID = sipfront.TestServer
	cfg.Partitions = partitions
	return cfg
}

// serveData runs serve (app.Main, demo tenant) with cfg until the
// returned function stops it.
func serveData(t *testing.T, cfg app.Config) (app.Addrs, func()) {
	t.Helper()
	ready := make(chan app.Addrs, 1)
	m := app.Main{
		Config: cfg,
		Stdout: io.Discard,
		Logger: kafkatest.Logger(t, slog.LevelWarn),
		Getenv: func(k string) string {
			switch k {
			case app.EnvDemoToken:
				return "token"
			case app.EnvDemoSIPPassword:
				return sipfront.TestPassword
			}
			return ""
		},
		OnReady: func(a app.Addrs) { ready <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Main.Run: %v", err)
		}
	}
	select {
	case a := <-ready:
		return a, stop
	case err := <-done:
		t.Fatalf("Main.Run: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("not ready")
	}
	return app.Addrs{}, nil
}

// apiCall is what GET /calls gives of a call (the fields the test reads).
type apiCall struct {
	ConnID  string `json:"connId"`
	Parties []struct {
		DN    string `json:"dn"`
		State string `json:"state"`
	} `json:"parties"`
}

// liveCalls lists the demo tenant's calls through the CTI API.
func liveCalls(t *testing.T, addr string) []apiCall {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/tenants/demo/calls", nil)
	req.Header.Set("Authorization", "Bearer token")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET calls: %d %s", res.StatusCode, b)
	}
	var calls []apiCall
	if err := json.Unmarshal(b, &calls); err != nil {
		var wrapped struct {
			Calls []apiCall `json:"calls"`
		}
		if err2 := json.Unmarshal(b, &wrapped); err2 != nil {
			t.Fatalf("GET calls: %v: %s", err, b)
		}
		calls = wrapped.Calls
	}
	return calls
}

// TestServeRestartKeepsSIPBindings: 1001, 1002 and 1003 register with
// serve; serve stops; 1003's binding expires while it is down (its expiry
// in --data/sip/bindings.json is moved into the past). The next start
// takes 1003 out of service (journaled and published like any step), and
// a call from 1001 to 1002 rings 1002's phone at the contact it
// registered before the restart. Kafka holds exactly the golden flow.
func TestServeRestartKeepsSIPBindings(t *testing.T) {
	cfg := e2eConfig(t, 1)
	_, stop := serveData(t, cfg)
	server := cfg.SIP
	pa, pb := sipfront.FreeUDPPort(t), sipfront.FreeUDPPort(t)
	sipfront.RegisterAt(t, server, "1002", pb, 3600)
	sipfront.RegisterAt(t, server, "1001", pa, 3600)
	sipfront.RegisterAt(t, server, "1003", sipfront.FreeUDPPort(t), 3600)
	stop()

	file := filepath.Join(cfg.Data, "sip", sipfront.StateFile)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	bs, _ := st["bindings"].([]any)
	if len(bs) != 3 {
		t.Fatalf("bindings file after stop: %s", b)
	}
	for _, x := range bs {
		if m, _ := x.(map[string]any); m["dn"] == "1003" {
			m["expires"] = time.Now().Add(-time.Minute).Format(time.RFC3339Nano)
		}
	}
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}

	addrs, stop := serveData(t, cfg)
	defer stop()
	uas := sipfront.StartSippAt(t, server, "uas.xml", pb)
	sipfront.StartSippAt(t, server, "uac.xml", pa, "-key", "user", "1001", "-s", "1002")()
	uas()

	tenant := &config.Demo("token", sipfront.TestPassword).Tenants[0]
	want := sipfront.Expected(t, tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1003", InService: false}, // at the restart
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameKafkaFlow(t, addrs.Kafka, want)
}
