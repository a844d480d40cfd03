package stats

import (
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/internal/kafkasec"
	"github.com/switchboard-cc/switchboard/internal/kafkasec/kafkasectest"
)

// switchboard stats takes serve's Kafka TLS and SASL flags and variables
// and gives its consumer the same options (internal/app's
// TestServeKafkaOptsCases holds serve to the same cases).
func TestKafkaSecurityFlags(t *testing.T) {
	kafkasectest.Run(t, kafkasec.ErrConfig, func(t *testing.T, c kafkasectest.Case) ([]kgo.Opt, error) {
		m, err := parse(append([]string{"--kafka-brokers", "k:9093", "--config", "sb.yaml"}, c.Args...), io.Discard, c.Getenv)
		return m.kafkaOpts, err
	})
}
