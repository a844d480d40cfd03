package verify

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/kafkasec/kafkasectest"
)

// verify takes serve's Kafka TLS and SASL flags and variables and gives its
// clients the same options (internal/app's TestServeKafkaOptsCases holds
// serve to the same cases).
func TestKafkaSecurityFlags(t *testing.T) {
	for _, tc := range kafkasectest.Cases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			cfg, err := parse(append([]string{"--kafka-brokers", "k:9093"}, tc.Args...), io.Discard, tc.Getenv)
			if tc.Err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Err) || !errors.Is(err, ErrUsage) {
					t.Fatalf("err %v, want ErrUsage with %q", err, tc.Err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := kafkasectest.Check(cfg.KafkaOpts, tc.Want); err != nil {
				t.Fatal(err)
			}
		})
	}
}
