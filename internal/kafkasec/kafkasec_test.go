package kafkasec

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/publisher"
)

func TestKafkaExplain(t *testing.T) {
	base := errors.New("publisher: cannot connect: context deadline exceeded")
	k := Flags{TLS: true, TLSCA: "/etc/ca.pem", SASLMechanism: publisher.MechanismScramSHA512, SASLUser: "sb"}
	err := k.Explain(base, []string{"k1:9093", "k2:9093"})
	if !errors.Is(err, base) {
		t.Fatalf("%v does not wrap the cause", err)
	}
	for _, want := range []string{"k1:9093,k2:9093", "TLS verified with /etc/ca.pem", `SCRAM-SHA-512 as "sb"`, "$" + EnvKafkaSASLPassword} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
	k = Flags{SASLMechanism: publisher.MechanismScramSHA256, SASLUser: "sb", SASLPasswordFile: "/run/secrets/kafka"}
	if err := k.Explain(base, []string{"k:9092"}); !strings.Contains(err.Error(), "no TLS") || !strings.Contains(err.Error(), "/run/secrets/kafka") {
		t.Errorf("%v", err)
	}
	if (&Flags{}).Explain(nil, nil) != nil {
		t.Error("Explain(nil) is not nil")
	}
}
