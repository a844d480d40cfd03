package app

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/metrics"
)

// TestServeTrunkStatus: a configured trunk registers to its carrier (a
// minimal UDP registrar that grants 60 s and answers OPTIONS) and gets
// keepalives; GET /v1/tenants/{t}/dns/{trunk} shows the registration and
// the keepalive, and /metrics both gauges at 1 (their families in
// testdata/metrics_trunk.golden: the demo tenant of metrics.golden has no
// trunk address).
func TestServeTrunkStatus(t *testing.T) {
	carrier := fakeCarrier(t)
	path := trunkConfig(t, "{address: "+carrier+", keepalive: 200ms, account: {user: acct, password: secret, register: true, expires: 60s}}")
	r := startMainWith(t, nil, "", func(c *Config) { c.ConfigFile = path })
	var dn struct {
		Type string `json:"type"`
		SIP  struct {
			Registration    string `json:"registration"`
			RegisteredUntil string `json:"registeredUntil"`
			Keepalive       string `json:"keepalive"`
		} `json:"sip"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, body := r.post(t, "GET", "/v1/tenants/acme/dns/pstn", "")
		if st != 200 {
			t.Fatalf("GET dns/pstn: %d %s", st, body)
		}
		if err := json.Unmarshal([]byte(body), &dn); err != nil {
			t.Fatal(err)
		}
		if dn.SIP.Registration == "registered" && dn.SIP.Keepalive == "up" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET dns/pstn: %s, want registered and up", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if until, err := time.Parse(time.RFC3339, dn.SIP.RegisteredUntil); err != nil || time.Until(until) > time.Minute {
		t.Errorf("registeredUntil %q, want within the 60 s granted", dn.SIP.RegisteredUntil)
	}
	if _, body := r.post(t, "GET", "/v1/tenants/acme/dns/1001", ""); strings.Contains(body, `"sip"`) {
		t.Errorf("an extension shows a trunk's SIP state: %s", body)
	}
	e := scrape(t, r)
	checkGolden(t, "metrics_trunk.golden", e.Describe("switchboard_sip_trunk_"))
	for _, name := range []string{metrics.NameSIPTrunkRegistered, metrics.NameSIPTrunkUp} {
		if v, ok := e.Value(name, map[string]string{"tenant": "acme", "trunk": "pstn"}); !ok || v != 1 {
			t.Errorf("%s{acme,pstn} = %v (%v), want 1", name, v, ok)
		}
	}
}

// fakeCarrier answers every SIP request on a UDP socket with 200 OK (a
// REGISTER's with its Contact granted 60 s); it returns the address.
func fakeCarrier(t *testing.T) string {
	t.Helper()
	addr, _ := fakeCarrierDown(t)
	return addr
}

// fakeCarrierDown is fakeCarrier whose answers become 503 (no answer to a
// keepalive) while the returned flag is set.
func fakeCarrierDown(t *testing.T) (string, *atomic.Bool) {
	t.Helper()
	down := new(atomic.Bool)
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 8192)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			var out []string
			lines := strings.Split(string(buf[:n]), "\r\n")
			if strings.HasPrefix(lines[0], "SIP/2.0") {
				continue // a response
			}
			if down.Load() {
				out = append(out, "SIP/2.0 503 Service Unavailable")
			} else {
				out = append(out, "SIP/2.0 200 OK")
			}
			for _, l := range lines[1:] {
				name, _, _ := strings.Cut(l, ":")
				switch strings.ToLower(strings.TrimSpace(name)) {
				case "via", "from", "call-id", "cseq":
					out = append(out, l)
				case "to":
					out = append(out, l+";tag=carrier")
				case "contact":
					out = append(out, l+";expires=60")
				}
			}
			out = append(out, "Content-Length: 0", "", "")
			c.WriteTo([]byte(strings.Join(out, "\r\n")), from)
		}
	}()
	return c.LocalAddr().String(), down
}

// TestCarrierPasswords: an account's password-env is read from the
// environment; unset, it is a configuration error naming it.
func TestCarrierPasswords(t *testing.T) {
	file := &config.File{Tenants: []config.Tenant{{ID: "acme", DNs: []config.DN{{Number: "pstn", Type: config.Trunk,
		Trunk: &config.TrunkSettings{Address: "127.0.0.1:5090", Account: &config.CarrierAccount{User: "acct", PasswordEnv: "ACME_PW"}}}}}}}
	env := map[string]string{"ACME_PW": "from-env"}
	if err := carrierPasswords(file, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if got := file.Tenants[0].DNs[0].Trunk.Account.Password; got != "from-env" {
		t.Fatalf("password %q, want from-env", got)
	}
	err := carrierPasswords(file, func(string) string { return "" })
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "ACME_PW") {
		t.Fatalf("unset variable: %v, want a configuration error naming ACME_PW", err)
	}
}

// TestServeTrunkKeepaliveEvents: a trunk whose carrier stops answering its
// keepalives (503) goes out of service, and back in service when it
// answers again: EventDNOutOfService and EventDNBackInService of the
// trunk, published to Kafka and accepted by check-events.
func TestServeTrunkKeepaliveEvents(t *testing.T) {
	carrier, down := fakeCarrierDown(t)
	path := trunkConfig(t, "{address: "+carrier+", keepalive: 100ms}")
	r := startMainWith(t, nil, "", func(c *Config) { c.ConfigFile = path })
	inService := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, body := r.post(t, "GET", "/v1/tenants/acme/dns/pstn", "")
			var dn struct {
				InService bool `json:"inService"`
			}
			json.Unmarshal([]byte(body), &dn)
			if dn.InService == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("pstn: %s, want inService %v", body, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	down.Store(true)
	inService(false)
	down.Store(false)
	inService(true)
	recs := kafkatest.Consume(t, r.addrs.Kafka, []string{event.AgentStateTopic, event.CallThreadTopic}, 2, 30*time.Second)
	var ids []event.Name
	for _, rec := range recs {
		var ev event.Event
		if err := event.Unmarshal(rec.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ThisDN != "pstn" {
			t.Errorf("event %s of %s, want the trunk's", ev.ID, ev.ThisDN)
		}
		ids = append(ids, ev.ID)
	}
	if len(ids) != 2 || ids[0] != event.EventDNOutOfService || ids[1] != event.EventDNBackInService {
		t.Fatalf("events %v, want EventDNOutOfService, EventDNBackInService", ids)
	}
	checkEvents(t, recs)
}

// trunkConfig writes a configuration file of tenant acme (the e2e token,
// extension 1001) whose trunk pstn has settings trunk (YAML flow) and
// returns its path.
func trunkConfig(t *testing.T, trunk string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	yaml := "tenants:\n  - id: acme\n    tokens: [" + e2eToken + "]\n    dns:\n" +
		"      - {number: \"1001\", type: extension}\n      - {number: pstn, type: trunk, trunk: " + trunk + "}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
