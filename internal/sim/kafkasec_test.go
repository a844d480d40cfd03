package sim

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/kafkasec"
	"github.com/switchboard-cc/switchboard/internal/kafkasec/kafkasectest"
)

// sim --in-process --kafka-brokers takes serve's Kafka TLS and SASL flags
// and variables and publishes with the same TLS and SASL (internal/app's
// TestServeKafkaOptsCases holds serve to the same cases); without
// --kafka-brokers it publishes nowhere and ignores them.
func TestKafkaSecurityFlags(t *testing.T) {
	for _, tc := range kafkasectest.Cases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			_, o, err := parse(append([]string{"--in-process", "--kafka-brokers", "k:9093"}, tc.Args...), io.Discard, io.Discard, tc.Getenv)
			if tc.Err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Err) || !errors.Is(err, ErrUsage) {
					t.Fatalf("err %v, want ErrUsage with %q", err, tc.Err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			opts, err := kafkasec.Opts(o.KafkaTLS, o.KafkaSASL)
			if err != nil {
				t.Fatal(err)
			}
			if err := kafkasectest.Check(opts, tc.Want); err != nil {
				t.Fatal(err)
			}
		})
	}
	env := map[string]string{"SWITCHBOARD_KAFKA_TLS": "true", "SWITCHBOARD_KAFKA_SASL_MECHANISM": "PLAIN"}
	if _, _, err := parse([]string{"--in-process"}, io.Discard, io.Discard, func(k string) string { return env[k] }); err != nil {
		t.Errorf("without --kafka-brokers: %v", err)
	}
}
