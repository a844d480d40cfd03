package sim

import (
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/internal/kafkasec"
	"github.com/switchboard-cc/switchboard/internal/kafkasec/kafkasectest"
)

// sim --in-process --kafka-brokers takes serve's Kafka TLS and SASL flags
// and variables and publishes with the same TLS and SASL (internal/app's
// TestServeKafkaOptsCases holds serve to the same cases); without
// --kafka-brokers it publishes nowhere and ignores them.
func TestKafkaSecurityFlags(t *testing.T) {
	kafkasectest.Run(t, ErrUsage, func(t *testing.T, c kafkasectest.Case) ([]kgo.Opt, error) {
		_, o, err := parse(append([]string{"--in-process", "--kafka-brokers", "k:9093"}, c.Args...), io.Discard, io.Discard, c.Getenv)
		if err != nil {
			return nil, err
		}
		return kafkasec.Opts(o.KafkaTLS, o.KafkaSASL)
	})
	env := map[string]string{"SWITCHBOARD_KAFKA_TLS": "true", "SWITCHBOARD_KAFKA_SASL_MECHANISM": "PLAIN"}
	if _, _, err := parse([]string{"--in-process"}, io.Discard, io.Discard, func(k string) string { return env[k] }); err != nil {
		t.Errorf("without --kafka-brokers: %v", err)
	}
}
