package stats

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/kafkasec"
	"github.com/switchboard-cc/switchboard/internal/kafkasec/kafkasectest"
)

// switchboard stats takes serve's Kafka TLS and SASL flags and variables
// and gives its consumer the same options (internal/app's
// TestServeKafkaOptsCases holds serve to the same cases).
func TestKafkaSecurityFlags(t *testing.T) {
	for _, tc := range kafkasectest.Cases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			m, err := parse(append([]string{"--kafka-brokers", "k:9093", "--config", "sb.yaml"}, tc.Args...), io.Discard, tc.Getenv)
			if tc.Err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Err) || !errors.Is(err, kafkasec.ErrConfig) {
					t.Fatalf("err %v, want kafkasec.ErrConfig with %q", err, tc.Err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := kafkasectest.Check(m.kafkaOpts, tc.Want); err != nil {
				t.Fatal(err)
			}
		})
	}
}
