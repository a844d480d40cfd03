// Package chaos runs switchboard's cluster mode as real processes against a
// real 3-broker Apache Kafka (scripts/kafka start --brokers 3; scripts/test
// starts one and sets SWITCHBOARD_TEST_KAFKA3 and
// SWITCHBOARD_TEST_KAFKA3_INSTANCE) under API load, and breaks things:
// kill -9 of a node (repeatedly, measuring how long its tenants are
// unavailable), SIGSTOP of a node beyond its session timeout then SIGCONT,
// kill -9 of a broker then its restart, a rolling restart of the nodes and
// a fourth node joining. After all of it the topics, read read_committed,
// must hold every answered request's events exactly once with Seq gapless
// per key, and switchboard verify and check-events must be clean.
//
// It has no production code and nothing imports it. With CI=true a missing
// SWITCHBOARD_TEST_KAFKA3 fails the test instead of skipping it.
package chaos
