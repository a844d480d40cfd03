package app

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/internal/kafkasec/kafkasectest"
)

// serve's Kafka clients get the TLS and SASL each case of the command
// lines every Kafka command shares wants (the tools' tests hold them to the
// same cases), and serve refuses the same combinations.
func TestServeKafkaOptsCases(t *testing.T) {
	for _, tc := range kafkasectest.Cases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			opts, err := serveKafkaOpts(append([]string{"--kafka-brokers", "k:9093", "--data", t.TempDir()}, tc.Args...), tc.Getenv)
			if tc.Err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Err) || !errors.Is(err, ErrConfig) {
					t.Fatalf("err %v, want ErrConfig with %q", err, tc.Err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := kafkasectest.Check(opts, tc.Want); err != nil {
				t.Fatal(err)
			}
		})
	}
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
