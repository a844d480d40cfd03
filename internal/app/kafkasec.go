package app

import (
	"fmt"

	"github.com/switchboard-cc/switchboard/internal/kafkasec"
	"github.com/switchboard-cc/switchboard/internal/publisher"
)

// KafkaSecurity is TLS and SASL from serve to the Kafka cluster given with
// --kafka-brokers: the flags every command that talks to Kafka shares
// (internal/kafkasec).
type KafkaSecurity = kafkasec.Flags

// EnvKafkaSASLPassword holds the SASL password (there is no flag for it).
const EnvKafkaSASLPassword = kafkasec.EnvKafkaSASLPassword

// kafkaConfig returns the publisher's TLS and SASL configuration, reading
// the password from the file or the environment.
func kafkaConfig(k *KafkaSecurity, getenv func(string) string) (publisher.TLSConfig, publisher.SASLConfig, error) {
	tc, sc, err := k.PublisherConfig(getenv)
	if err != nil {
		return tc, sc, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return tc, sc, nil
}
