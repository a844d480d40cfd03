// Package broker runs switchboard's embedded single-node Kafka-protocol
// broker: franz-go's kfake with a data directory, so that one command gives a
// working system that any Kafka client (kcat, Java, Python, franz-go) can
// read.
//
// It owns the broker's listener, its data directory and the explicit creation
// of the configured topics at start-up (with partition count and retention);
// topics are never auto-created, because auto-created topics are not what an
// operator configured. It does not produce or consume records (that is the
// publisher's and the consumers' business) and knows nothing of events.
//
// The broker advertises in metadata exactly the address it is bound to (or
// Config.Advertise), so clients that bootstrap from it connect back to it.
//
// Retention is run by this package, every five minutes, through an
// in-process client (never on the network): records older than a topic's
// retention.ms are deleted, except each partition's last record, as Kafka
// keeps its active segment. kfake's own retention pass is switched off
// because it can empty a partition, and kfake forgets the offsets of an
// empty partition when it restarts, handing out offsets consumers have
// already seen.
package broker
