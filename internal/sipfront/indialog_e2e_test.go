package sipfront_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
)

// TestServeClickToDialToKafka runs the whole server (embedded Kafka): a
// call made through the CTI API from registered 1001 to registered 1002
// rings 1001's phone first, then 1002's, which answers (1001 is then
// re-INVITEd with 1002's SDP, checked by its scenario); the API releases
// 1001; then 1001's phone dials the feature codes *78 and *79. Every
// event is read back from Kafka, compared with the engine's golden flow
// and piped through check-events.
func TestServeClickToDialToKafka(t *testing.T) {
	cfg := e2eConfig(t, 3)
	addrs, stop := serveData(t, cfg)
	defer stop()

	server := cfg.SIP
	pa, pb, mb := sipfront.FreeUDPPort(t), sipfront.FreeUDPPort(t), sipfront.FreeUDPPort(t)
	sipfront.RegisterAt(t, server, "1002", pb, 3600)
	sipfront.RegisterAt(t, server, "1001", pa, 3600)
	a := sipfront.StartSippAt(t, server, sipfront.ScenarioWith(t, "uas_repointed.xml", "PEERPORT", strconv.Itoa(mb)), pa)
	b := sipfront.StartSippAt(t, server, "uas.xml", pb, "-mp", strconv.Itoa(mb))
	var made struct {
		ConnID string `json:"connId"`
	}
	apiPost(t, addrs.HTTP, "/v1/tenants/demo/calls", `{"from":"1001","to":"1002"}`, &made)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		established := 0
		for _, c := range liveCalls(t, addrs.HTTP) {
			for _, p := range c.Parties {
				if c.ConnID == made.ConnID && p.State == "Established" {
					established++
				}
			}
		}
		if established == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the click-to-dial call was not answered")
		}
	}
	time.Sleep(300 * time.Millisecond) // 1001's re-INVITE
	apiPost(t, addrs.HTTP, "/v1/tenants/demo/calls/"+made.ConnID+"/release", `{"dn":"1001"}`, nil)
	a()
	b()
	for _, code := range []string{"*78", "*79"} {
		sipfront.StartSippAt(t, server, "uac_wait_bye.xml", pa, "-key", "user", "1001", "-s", code)()
	}

	tenant := &config.Demo("token", sipfront.TestPassword).Tenants[0]
	want := sipfront.Expected(t, tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
		engine.SetDND{DN: "1001", On: true},
		engine.SetDND{DN: "1001", On: false},
	)
	sameKafkaFlow(t, addrs.Kafka, want)
}

// apiPost posts body to the demo tenant's CTI API path and decodes the
// answer into out (nil: ignored); a status other than 2xx fails the test.
func apiPost(t *testing.T, addr, path, body string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer token")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %d %s", path, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("POST %s: %v: %s", path, err, b)
		}
	}
}
