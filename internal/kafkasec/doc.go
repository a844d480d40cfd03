// Package kafkasec is TLS and SASL to a Kafka cluster for every switchboard
// command that talks to one (serve, stats, tail, verify, sim).
//
// It owns one definition of the --kafka-tls, --kafka-tls-ca,
// --kafka-tls-cert, --kafka-tls-key, --kafka-sasl-mechanism,
// --kafka-sasl-user and --kafka-sasl-password-file flags, their
// environment variables ($SWITCHBOARD_KAFKA_TLS and so on, and
// $SWITCHBOARD_KAFKA_SASL_PASSWORD for the password, which has no flag),
// their validation, and the kgo options they give (Opts), so that a tool
// reads a secured cluster exactly as serve publishes to it: serve
// registers the flags through its own ParseFlags (Flags.AddFlags), the
// other commands on their flag set (Flags.Register) and take their kgo
// options from Flags.Options. It imports package publisher only for the
// TLSConfig and SASLConfig types serve's publisher is configured with.
package kafkasec
