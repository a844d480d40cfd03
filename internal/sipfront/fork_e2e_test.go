package sipfront_test

import (
	"testing"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
)

// TestServeSIPForkToKafka: the whole server (demo tenant, embedded
// Kafka); 1002 registers two devices, 1001 calls it: the first device
// answers, the second gets CANCEL with the completed-elsewhere Reason (its
// scenario checks it). Kafka holds exactly flow 5.1 (one EventRinging and
// one EventEstablished for 1002), and check-events accepts the records.
func TestServeSIPForkToKafka(t *testing.T) {
	cfg := e2eConfig(t, 3)
	addrs, stop := serveData(t, cfg)
	defer stop()
	server := cfg.SIP
	pa, desk, soft := sipfront.FreeUDPPort(t), sipfront.FreeUDPPort(t), sipfront.FreeUDPPort(t)
	sipfront.RegisterAt(t, server, "1002", desk, 3600)
	sipfront.RegisterAt(t, server, "1002", soft, 3600)
	sipfront.RegisterAt(t, server, "1001", pa, 3600)
	answers := sipfront.StartSippAt(t, server, "uas.xml", desk)
	loses := sipfront.StartSippAt(t, server, "uas_fork_lose.xml", soft)
	sipfront.StartSippAt(t, server, "uac.xml", pa, "-key", "user", "1001", "-s", "1002")()
	answers()
	loses()

	tenant := &config.Demo("token", sipfront.TestPassword).Tenants[0]
	want := sipfront.Expected(t, tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameKafkaFlow(t, addrs.Kafka, want)
}
