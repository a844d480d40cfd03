// Package kafkasectest holds, for tests, the Kafka TLS and SASL command
// lines every switchboard command that talks to Kafka must take alike
// (Cases), and Check, which reads back from a set of kgo options the TLS
// configuration and SASL login they make and compares them with what the
// case's files and password say, independently of package kafkasec.
//
// Test code only: nothing outside tests imports it.
package kafkasectest
