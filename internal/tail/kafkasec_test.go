package tail

import (
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/internal/kafkasec/kafkasectest"
)

// tail takes serve's Kafka TLS and SASL flags and variables and gives its
// clients the same options (internal/app's TestServeKafkaOptsCases holds
// serve to the same cases).
func TestKafkaSecurityFlags(t *testing.T) {
	kafkasectest.Run(t, ErrUsage, func(t *testing.T, c kafkasectest.Case) ([]kgo.Opt, error) {
		cfg, err := parse(append([]string{"--kafka-brokers", "k:9093"}, c.Args...), io.Discard, io.Discard, c.Getenv)
		return cfg.KafkaOpts, err
	})
}
