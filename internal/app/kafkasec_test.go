package app

import (
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/internal/kafkasec/kafkasectest"
)

// serve's Kafka clients get the TLS and SASL each case of the command
// lines every Kafka command shares wants (the tools' tests hold them to the
// same cases), and serve refuses the same combinations.
func TestServeKafkaOptsCases(t *testing.T) {
	kafkasectest.Run(t, ErrConfig, func(t *testing.T, c kafkasectest.Case) ([]kgo.Opt, error) {
		return serveKafkaOpts(append([]string{"--kafka-brokers", "k:9093", "--data", t.TempDir()}, c.Args...), c.Getenv)
	})
}

// serveKafkaOpts are the options of serve's relay and stats clients for
// args, made as Run makes them.
func serveKafkaOpts(args []string, getenv func(string) string) ([]kgo.Opt, error) {
	c, err := ParseFlags(args, getenv, io.Discard)
	if err != nil {
		return nil, err
	}
	tc, sc, err := kafkaConfig(&c.Kafka, getenv)
	if err != nil {
		return nil, err
	}
	return kafkaOpts(c.KafkaBrokers, tc, sc)
}
