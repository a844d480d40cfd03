// Package chaos runs switchboard's cluster mode as real processes against a
// real 3-broker Apache Kafka (scripts/kafka start --brokers 3; scripts/test
// starts one and sets SWITCHBOARD_TEST_KAFKA3 and
// SWITCHBOARD_TEST_KAFKA3_INSTANCE) under API load and SIP load (sipp,
// sip_test.go: one phone registered for a DN of every tenant through the
// nodes, which forward to the owners, and callers making short calls to
// it through random live nodes), and breaks things:
// kill -9 of a node (repeatedly, measuring how long its tenants are
// unavailable), SIGSTOP of a node beyond its session timeout then SIGCONT,
// kill -9 of a broker then its restart, a rolling restart of the nodes and
// a fourth node joining. After each of these steps the topics, read
// read_committed, must hold every request answered so far's events, each
// once with Seq gapless per key, and switchboard verify and check-events
// must be clean; at the end no request may have more events than its 2xx
// replies plus those of unknown outcome (a call answered, its 200 come to
// the caller, counts as a reply: its callee's EventEstablished), and at
// the end every call must have ended (verify --closed: those a killed
// node left were released by the new owner). Each kill -9 logs the
// survivors' takeover (group assignment, fence, claim, read, recovery)
// with its time after the kill, and the time until the tenants' SIP calls
// were answered again. The callers' failures are counted by the
// disruption they met and by reason; one that met none fails the test.
//
// It has no production code and nothing imports it. With CI=true a missing
// SWITCHBOARD_TEST_KAFKA3 fails the test instead of skipping it.
package chaos
