// Package interop holds the interoperability tests: events that switchboard's
// publisher writes to Kafka (the embedded broker and a real Apache Kafka) are
// read back by third-party clients, never by switchboard's own code: kcat,
// whose output goes through the independent checker shared/tools/check-events,
// and a Python consumer on confluent-kafka (consume.py) that checks keys,
// Java-compatible murmur2 partitions and Seq from the contract alone.
//
// It has no production code and nothing imports it. The tools come from
// scripts/test (kcat from Debian, Python from the venv in .cache/venv,
// SWITCHBOARD_PYTHON and SWITCHBOARD_CHECK_EVENTS point at them); with CI=true
// a missing tool fails the tests instead of skipping them.
package interop
