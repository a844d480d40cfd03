package sipfront_test

import (
	"testing"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
)

// TestServeSIPFeaturesToKafka runs serve (demo tenant, embedded Kafka):
// message waiting is set through the CTI API, then phone 1001 subscribes
// to its message-summary and its first NOTIFY says 2 new, 8 old (the
// scenario checks it), and unsubscribes; the phone dials *78, *721002,
// *73 and *79 (TestServeClickToDialToKafka dials *78 and *79 after a
// call). Kafka holds exactly the events of the same requests made
// through the API, and check-events accepts them.
func TestServeSIPFeaturesToKafka(t *testing.T) {
	cfg := e2eConfig(t, 1)
	addrs, stop := serveData(t, cfg)
	defer stop()
	server := cfg.SIP
	pa := sipfront.FreeUDPPort(t)
	sipfront.RegisterAt(t, server, "1001", pa, 3600)
	apiPost(t, addrs.HTTP, "/v1/tenants/demo/dns/1001/message-waiting", `{"on":true,"newMessages":2,"oldMessages":8}`, nil)
	sipfront.StartSippAt(t, server, "subscribe_mwi_on.xml", pa, "-key", "user", "1001", "-s", "1001")()
	for _, code := range []string{"*78", "*721002", "*73", "*79"} {
		sipfront.StartSippAt(t, server, "uac_wait_bye.xml", pa, "-key", "user", "1001", "-s", code)()
	}

	tenant := &config.Demo("token", sipfront.TestPassword).Tenants[0]
	want := sipfront.Expected(t, tenant,
		engine.SetService{DN: "1001", InService: true},
		engine.MessageWaiting{DN: "1001", On: true, New: 2, Old: 8},
		engine.SetDND{DN: "1001", On: true},
		engine.SetForward{DN: "1001", To: "1002", Mode: engine.ForwardUnconditional},
		engine.CancelForward{DN: "1001"},
		engine.SetDND{DN: "1001", On: false},
	)
	sameKafkaFlow(t, addrs.Kafka, want)
}
