// Package publisher produces switchboard's events to Kafka with franz-go: it
// owns the Kafka producer client, the creation and verification of the two
// topics (voice-agentstate and voice-callthread, with the configured prefix
// and partition count), the record layout of EVENTS.md section 1 (key,
// headers, JSON value from package event) and the reporting of Kafka's
// acknowledgements back to the caller.
//
// Delivery: the producer is idempotent with acks=all, never gives up on a
// record (no retry limit, no delivery timeout) and partitions keyed records
// with murmur2 exactly as the Java client does (see event.Partition), so all
// events of one key go to one partition in the order they were published,
// each once. A batch's done callback reports when Kafka holds all of it.
// Each batch reaches the client whole before a flush sends it (manual
// flushing, nothing handed over during a flush), so when Kafka refuses a
// produce request nothing of that batch later in the partition lands: per
// key Kafka holds a prefix of every batch.
//
// Transactional returns a publisher of its own transactional id whose
// every flush is one Kafka transaction, the id initialised first (which
// fences an earlier producer of it, a killed process's late requests
// included); single-node serve gives each tenant's relay one with
// --kafka-brokers (TransactionalID). A later initialisation of the id by
// another producer fails it with ErrFenced.
//
// It does not decide what to publish or when to publish again after a
// failure (that is the runtime's and the journal's business), does not
// consume, and does not run a broker (package broker does).
package publisher
