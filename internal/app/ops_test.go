package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/metrics/metricstest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
)

// testPKI writes a test CA and a server certificate for 127.0.0.1 signed by
// it into dir; it returns the server's TLS config and the CA file.
func testPKI(t *testing.T, dir string) (*tls.Config, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "switchboard test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kafka.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"kafka.test"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, ca
}

func opsConfig(mod func(*Config)) func(*Config) {
	return func(c *Config) {
		c.SIP = "127.0.0.1:0"
		if mod != nil {
			mod(c)
		}
	}
}

func scrape(t *testing.T, r *running) metricstest.Exposition {
	t.Helper()
	res, err := http.Get("http://" + r.addrs.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", res.StatusCode, b)
	}
	e, err := metricstest.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/metrics: %v\n%s", err, b)
	}
	return e
}

// serve publishes through Kafka TLS (a CA made here) and SCRAM-SHA-512
// with the password from the environment; a consumer with the same
// credentials reads the events back; /metrics and /readyz reflect it. A
// wrong password makes serve fail to start with a connection error, and a
// password file works like the variable.
func TestServeKafkaTLSSCRAM(t *testing.T) {
	dir := t.TempDir()
	srvTLS, ca := testPKI(t, dir)
	const user, password = "switchboard", "s3cret-scram"
	b, err := broker.Start(context.Background(), broker.Config{Dir: t.TempDir(), Listen: "127.0.0.1:0", TLS: srvTLS,
		SASL:   []broker.SASLUser{{Mechanism: broker.MechanismScramSHA512, User: user, Password: password}},
		Topics: []string{event.AgentStateTopic, event.CallThreadTopic}, Partitions: 3,
		Logger: kafkatest.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	secure := func(c *Config) {
		c.Kafka = KafkaSecurity{TLS: true, TLSCA: ca, SASLMechanism: publisher.MechanismScramSHA512, SASLUser: user}
	}
	r := startMainEnv(t, []string{b.Addr()}, opsConfig(secure), map[string]string{EnvKafkaSASLPassword: password})
	if st, body := r.post(t, "POST", "/v1/tenants/demo/dns/1001/login", `{"agentId":"agent1","referenceId":77}`); st != 200 {
		t.Fatalf("login: %d %s", st, body)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(ca)
	pool.AppendCertsFromPEM(pem)
	cl := kafkatest.Client(t, []string{b.Addr()},
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()),
		kgo.ConsumeTopics(event.AgentStateTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []event.Event
	for len(got) < 1 && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(rec *kgo.Record) {
			var ev event.Event
			if err := event.Unmarshal(rec.Value, &ev); err != nil {
				t.Errorf("record: %v", err)
			}
			got = append(got, ev)
		})
	}
	if len(got) == 0 || got[0].ID != event.EventAgentLogin || got[0].ReferenceID != 77 {
		t.Fatalf("read back %+v", got)
	}
	// The relay writes to --kafka-brokers in transactions, and counts a
	// record produced once its transaction commits: a read_uncommitted
	// consumer can see the record first, so the counters are waited for.
	e := scrape(t, r)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); e = scrape(t, r) {
		p, _ := e.Value(metrics.NameEventsProduced, map[string]string{"topic": event.AgentStateTopic, "tenant": "demo"})
		a, _ := e.Value(metrics.NameKafkaAckLatency+"_count", nil)
		if p >= 1 && a >= 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v, _ := e.Value(metrics.NameEventsProduced, map[string]string{"topic": event.AgentStateTopic, "tenant": "demo"}); v < 1 {
		t.Errorf("events produced %v", v)
	}
	if v, ok := e.Value(metrics.NameKafkaAckLatency+"_count", nil); !ok || v < 1 {
		t.Errorf("ack latency count %v", v)
	}
	if v, _ := e.Value(metrics.NameAgentsLoggedIn, map[string]string{"tenant": "demo"}); v != 1 {
		t.Errorf("agents logged in %v", v)
	}
	res, err := http.Get("http://" + r.addrs.HTTP + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/readyz %d", res.StatusCode)
	}
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	r.done <- nil // for the cleanup's stop

	t.Run("password file", func(t *testing.T) {
		pf := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(pf, []byte(password+"\n"), 0o600)
		r := startMainEnv(t, []string{b.Addr()}, opsConfig(func(c *Config) { secure(c); c.Kafka.SASLPasswordFile = pf }), nil)
		if st, body := r.post(t, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true}`); st != 200 {
			t.Fatalf("dnd: %d %s", st, body)
		}
	})
	for _, tc := range []struct {
		name string
		env  map[string]string
		mod  func(*Config)
	}{
		{"wrong password", map[string]string{EnvKafkaSASLPassword: "wrong"}, secure},
		{"no TLS", map[string]string{EnvKafkaSASLPassword: password}, func(c *Config) { secure(c); c.Kafka.TLS, c.Kafka.TLSCA = false, "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runBriefly(t, []string{b.Addr()}, opsConfig(tc.mod), tc.env, 3*time.Second)
			if !errors.Is(err, publisher.ErrConnect) && !errors.Is(err, publisher.ErrTopics) {
				t.Fatalf("Run: %v, want a Kafka connection error", err)
			}
			if !strings.Contains(err.Error(), `SASL SCRAM-SHA-512 as "`+user+`"`) || strings.Contains(err.Error(), password) {
				t.Fatalf("Run: %v: want how serve connected, never the password", err)
			}
		})
	}
	t.Run("no password", func(t *testing.T) {
		err := runBriefly(t, []string{b.Addr()}, opsConfig(secure), nil, 3*time.Second)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), EnvKafkaSASLPassword) {
			t.Fatalf("Run: %v", err)
		}
	})
}

// startMainEnv is startMainWith with environment variables (the demo
// token is e2eToken).
func startMainEnv(t *testing.T, brokers []string, mod func(*Config), env map[string]string) *running {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.KafkaListen = "127.0.0.1:0"
	cfg.SIP = "127.0.0.1:0"
	cfg.KafkaBrokers = brokers
	cfg.Partitions = 3
	mod(&cfg)
	ready := make(chan Addrs, 1)
	r := &running{done: make(chan error, 1), out: &bytes.Buffer{}}
	m := Main{
		Config: cfg,
		Stdout: r.out,
		Logger: kafkatest.Logger(t, slog.LevelWarn),
		Getenv: func(k string) string {
			if k == EnvDemoToken {
				return e2eToken
			}
			return env[k]
		},
		OnReady: func(a Addrs) { ready <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- m.Run(ctx) }()
	select {
	case r.addrs = <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("Main.Run: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("Main did not become ready")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// runBriefly runs Main until it fails or timeout passes, returning Run's
// error.
func runBriefly(t *testing.T, brokers []string, mod func(*Config), env map[string]string, timeout time.Duration) error {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.KafkaListen = "127.0.0.1:0"
	cfg.SIP = "127.0.0.1:0"
	cfg.KafkaBrokers = brokers
	mod(&cfg)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m := Main{Config: cfg, Stdout: io.Discard, Logger: kafkatest.Logger(t, slog.LevelError),
		Getenv: func(k string) string { return env[k] }}
	return m.Run(ctx)
}

// Graceful shutdown: requests run while serve's context is cancelled (as
// SIGTERM does); every request that got a 2xx has its events in Kafka
// afterwards, and requests that did not get one are refused cleanly
// (connection refused, or 503), never half-answered.
func TestGracefulShutdownKeepsAcknowledgedEvents(t *testing.T) {
	b, err := broker.Start(context.Background(), broker.Config{Dir: t.TempDir(), Listen: "127.0.0.1:0",
		Topics: []string{event.AgentStateTopic, event.CallThreadTopic}, Partitions: 3,
		Logger: kafkatest.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r := startMainWith(t, []string{b.Addr()}, "", opsConfig(nil))
	const workers = 8
	var (
		mu    sync.Mutex
		oks   []int64 // referenceIds answered 2xx
		other = map[string]int{}
		wg    sync.WaitGroup
		ref   int64
	)
	client := &http.Client{Timeout: 20 * time.Second}
	stop := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			dn := fmt.Sprint(1001 + w)
			on := true
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				ref++
				id := ref
				mu.Unlock()
				body := fmt.Sprintf(`{"on":%v,"referenceId":%d}`, on, id)
				req, _ := http.NewRequest("POST", "http://"+r.addrs.HTTP+"/v1/tenants/demo/dns/"+dn+"/dnd", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+e2eToken)
				res, err := client.Do(req)
				mu.Lock()
				switch {
				case err != nil:
					other["transport error"]++
				case res.StatusCode == 200:
					oks = append(oks, id)
					on = !on
				default:
					other[res.Status]++
				}
				mu.Unlock()
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 503 {
					return
				}
			}
		}(w)
	}
	time.Sleep(300 * time.Millisecond) // requests in flight
	r.cancel()
	err = <-r.done
	close(stop)
	wg.Wait()
	r.done <- err // for the cleanup's stop
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for st := range other {
		if st != "transport error" && !strings.HasPrefix(st, "503") {
			t.Errorf("answers other than 200, 503 or a refused connection: %v", other)
		}
	}
	if len(oks) == 0 {
		t.Fatal("no request succeeded before the shutdown")
	}
	// read_committed: serve's relay writes to this broker (--kafka-brokers)
	// in transactions, whose markers the end offsets count.
	recs := kafkatest.ConsumeCommitted(t, []string{b.Addr()}, []string{event.AgentStateTopic}, 20*time.Second)
	inKafka := map[int64]bool{}
	for _, rec := range recs {
		var ev event.Event
		if err := event.Unmarshal(rec.Value, &ev); err != nil {
			t.Fatal(err)
		}
		inKafka[ev.ReferenceID] = true
	}
	missing := 0
	for _, id := range oks {
		if !inKafka[id] {
			missing++
		}
	}
	t.Logf("%d requests answered 200, %d records in Kafka, other answers %v", len(oks), len(recs), other)
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged requests have no event in Kafka", missing, len(oks))
	}
}

// Tokens from $SWITCHBOARD_API_TOKENS authenticate; malformed ones stop
// serve with an error that does not print the token.
func TestAPITokensFromEnvironment(t *testing.T) {
	hs, err := apiTokens(" demo=tok-a , demo=tok-b", map[string]bool{"demo": true})
	if err != nil || len(hs["demo"]) != 2 || hs["demo"][1] != ctiapi.HashToken("tok-b") {
		t.Fatalf("%v %v", hs, err)
	}
	for _, bad := range []string{"demo", "=x", "demo=", "nobody=secret-1", "demo=a b"} {
		_, err := apiTokens(bad, map[string]bool{"demo": true})
		if !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), "secret-1") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	r := startMainEnv(t, nil, opsConfig(nil), map[string]string{EnvAPITokens: "demo=env-token-1"})
	req, _ := http.NewRequest("GET", "http://"+r.addrs.HTTP+"/v1/tenants/demo/agents", nil)
	req.Header.Set("Authorization", "Bearer env-token-1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("env token: %d", res.StatusCode)
	}
}

// --api-rate/--api-burst reach the API: the burst+1st request is 429.
func TestServeRateLimit(t *testing.T) {
	r := startMainWith(t, nil, "", opsConfig(func(c *Config) { c.Ops = OpsConfig{APIRate: 0.01, APIBurst: 3} }))
	var codes []int
	for i := 0; i < 4; i++ {
		st, _ := r.post(t, "GET", "/v1/tenants/demo/agents", "")
		codes = append(codes, st)
	}
	if fmt.Sprint(codes) != "[200 200 200 429]" {
		t.Fatalf("statuses %v", codes)
	}
}

func TestOpsFlags(t *testing.T) {
	env := map[string]string{"SWITCHBOARD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "SWITCHBOARD_API_RATE": "5", "SWITCHBOARD_SIP_UNAUTH_RATE": "2000"}
	c, err := ParseFlags([]string{"--kafka-brokers", "k:9093", "--kafka-tls", "--kafka-tls-ca", "/ca.pem", "--kafka-sasl-user", "u", "--api-burst", "9",
		"--sip-unauth-burst", "4000"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := KafkaSecurity{TLS: true, TLSCA: "/ca.pem", SASLMechanism: "SCRAM-SHA-256", SASLUser: "u"}
	if c.Kafka != want || c.Ops != (OpsConfig{APIRate: 5, APIBurst: 9, SIPUnauthRate: 2000, SIPUnauthBurst: 4000}) {
		t.Fatalf("%+v %+v", c.Kafka, c.Ops)
	}
	for _, tc := range []struct{ args, flag string }{
		{"--kafka-tls", "--kafka-brokers"},
		{"--kafka-brokers k:1 --kafka-tls-ca x", "--kafka-tls-ca"},
		{"--kafka-brokers k:1 --kafka-tls --kafka-tls-cert c", "--kafka-tls-cert"},
		{"--kafka-brokers k:1 --kafka-sasl-mechanism PLAIN --kafka-sasl-user u", "--kafka-sasl-mechanism"},
		{"--kafka-brokers k:1 --kafka-sasl-mechanism MD5 --kafka-sasl-user u", "--kafka-sasl-mechanism"},
		{"--kafka-brokers k:1 --kafka-sasl-mechanism SCRAM-SHA-512", "--kafka-sasl-user"},
		{"--kafka-brokers k:1 --kafka-sasl-user u", "--kafka-sasl-mechanism"},
		{"--api-rate -1", "--api-rate"},
		{"--sip-unauth-rate -1", "--sip-unauth-rate"},
		{"--sip-unauth-burst -2", "--sip-unauth-burst"},
		{"--kafka-sasl-password x", "kafka-sasl-password"}, // no such flag
	} {
		_, err := ParseFlags(strings.Fields(tc.args), nil, io.Discard)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: %v, want an error naming %s", tc.args, err, tc.flag)
		}
	}
}

func TestHashToken(t *testing.T) {
	var out bytes.Buffer
	if err := HashToken(nil, strings.NewReader("tok-1\n\n  tok-2 \n"), &out); err != nil {
		t.Fatal(err)
	}
	want := ctiapi.HashToken("tok-1").String() + "\n" + ctiapi.HashToken("tok-2").String() + "\n"
	if out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := HashToken([]string{"--new"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	var tok, hash string
	fmt.Sscanf(out.String(), "token: %s\nhash: %s", &tok, &hash)
	if len(tok) != 32 || hash != ctiapi.HashToken(tok).String() {
		t.Fatalf("--new: %q", out.String())
	}
	if err := HashToken(nil, strings.NewReader(""), io.Discard); err == nil {
		t.Error("no token: no error")
	}
}

// A configuration file with token-hashes: the hashed token authenticates
// with its tenant's rate limit; the plain token still works and the start
// warns about it.
func TestServeTokenHashesFromConfig(t *testing.T) {
	const hashed, plain = "hashed-token-1", "plain-token-1"
	yaml := "tenants:\n  - id: acme\n    tokens: [" + plain + "]\n    token-hashes: [" + config.HashToken(hashed) +
		"]\n    rate-limit: {rate: 0.01, burst: 2}\n    dns:\n      - {number: \"1001\", type: extension}\n"
	path := filepath.Join(t.TempDir(), "sb.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	cfg := DefaultConfig()
	cfg.Data, cfg.HTTP, cfg.KafkaListen, cfg.SIP, cfg.ConfigFile = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", path
	ready := make(chan Addrs, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	m := Main{Config: cfg, Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)),
		Getenv: func(string) string { return "" }, OnReady: func(a Addrs) { ready <- a }}
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var a Addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	get := func(tok string) int {
		req, _ := http.NewRequest("GET", "http://"+a.HTTP+"/v1/tenants/acme/agents", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	got := []int{get(hashed), get(hashed), get(hashed), get(plain), get(config.HashToken(hashed))}
	if fmt.Sprint(got) != "[200 200 429 200 401]" {
		t.Fatalf("statuses %v, want hashed 200 200 429 (burst 2), plain 200, the hash itself 401", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "API tokens in plain text") || strings.Contains(logs.String(), plain) {
		t.Errorf("logs: want the plain-token warning, never the token:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// /metrics of a running serve: events produced per topic and tenant match
// what Kafka holds, calls and agents are read from the engine, API latency
// is by route.
func TestServeMetrics(t *testing.T) {
	r := startMainWith(t, nil, "", opsConfig(nil))
	for _, req := range [][3]string{
		{"POST", "/v1/tenants/demo/dns/1001/login", `{"agentId":"agent1"}`},
		{"POST", "/v1/tenants/demo/dns/1004/login", `{"agentId":"agent2"}`},
		{"POST", "/v1/tenants/demo/calls", `{"from":"1002","to":"1003"}`},
		{"POST", "/v1/tenants/demo/calls", `{"from":"1005","to":"1006"}`},
	} {
		if st, body := r.post(t, req[0], req[1], req[2]); st >= 300 {
			t.Fatalf("%s: %d %s", req[1], st, body)
		}
	}
	// A reply means journaled; the events reach Kafka (and the produced
	// counters) a moment later.
	r.waitPublished(t)
	e := scrape(t, r)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{metrics.NameActiveCalls, map[string]string{"tenant": "demo"}, 2},
		{metrics.NameAgentsLoggedIn, map[string]string{"tenant": "demo"}, 2},
		{metrics.NameAPILatency + "_count", map[string]string{"method": "POST", "route": "/v1/tenants/{tenant}/calls", "code": "2xx"}, 2},
		{metrics.NameAPILatency + "_count", map[string]string{"method": "POST", "route": "/v1/tenants/{tenant}/dns/{dn}/login", "code": "2xx"}, 2},
	} {
		if got, ok := e.Value(tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	for _, topic := range []string{event.AgentStateTopic, event.CallThreadTopic} {
		got, _ := e.Value(metrics.NameEventsProduced, map[string]string{"topic": topic, "tenant": "demo"})
		if want := kafkatest.CommittedCount(t, r.addrs.Kafka, topic); got != float64(want) || want == 0 {
			t.Errorf("%s: %v events produced, Kafka holds %d", topic, got, want)
		}
	}
	if v, ok := e.Value(metrics.NameJournalSize, map[string]string{"tenant": "demo"}); !ok || v <= 0 {
		t.Errorf("journal size %v (found %v)", v, ok)
	}
	if v, ok := e.Value(metrics.NameJournalMaxSize, map[string]string{"tenant": "demo"}); !ok || v <= 0 {
		t.Errorf("journal max size %v (found %v)", v, ok)
	}
	if _, ok := e.Value(metrics.NamePublishLag, map[string]string{"tenant": "demo"}); !ok {
		t.Errorf("no publishing lag")
	}
	if v, _ := e.Value(metrics.NameKafkaAckLatency+"_count", nil); v < 1 {
		t.Errorf("ack latency observations %v, want at least one per publishing batch", v)
	}
}
