// Package kafkatest lets every package's tests run against both Kafka
// targets: the embedded broker (package broker, always) and a real Apache
// Kafka broker (when SWITCHBOARD_TEST_KAFKA names one, as scripts/test does).
// It also has helpers to read topics back, to keep tests that share one
// real broker apart (UniqueTopicPrefix), and to pipe records through the
// independent contract checker shared/tools/check-events (CheckEvents;
// EventRecords makes the records serve would publish from events that
// never went through Kafka).
//
// It is imported by tests only. It owns no production code path and must not
// start anything that outlives the test that asked for it, nor bind anything
// but 127.0.0.1.
//
// Environment:
//
//	SWITCHBOARD_TEST_KAFKA          host:port[,host:port...] of a real Kafka
//	CI=true or
//	SWITCHBOARD_REQUIRE_REAL_KAFKA=1  a missing SWITCHBOARD_TEST_KAFKA fails
//	                                the test instead of running embedded only
package kafkatest
