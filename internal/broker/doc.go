// Package broker runs switchboard's embedded single-node Kafka-protocol
// broker: franz-go's kfake with a data directory, so that one command gives a
// working system that any Kafka client (kcat, Java, Python, franz-go) can
// read.
//
// It owns the broker's listener, its data directory and the explicit creation
// of the configured topics at start-up (with partition count and retention;
// a topic that exists keeps its partitions and takes the configured
// retention); topics are never auto-created, because auto-created topics are not what an
// operator configured. It does not produce or consume records (that is the
// publisher's and the consumers' business) and knows nothing of events.
//
// The broker advertises in metadata exactly the address it is bound to (or
// Config.Advertise), so clients that bootstrap from it connect back to it.
//
// It advertises every API kfake implements but DescribeTopicPartitions,
// which kfake answers in a form the Java admin client throws on (see
// advertisedVersions): Java tools such as MirrorMaker 2 describe topics
// through Metadata instead.
//
// Retention is run by this package, every Config.RetentionCheck (5 minutes
// by default), through an in-process client (never on the network): records
// older than a topic's retention.ms, and the oldest records beyond its
// retention.bytes (Kafka's meaning: per partition; Config.RetentionBytes is
// per topic and divided by the partition count), are deleted, except each
// partition's last record, as Kafka keeps its active segment, and except
// the records at or after Config.Keep's offset (serve's relays read them
// again at a restart). kfake's own retention pass is switched off because
// it can empty a partition, and kfake forgets the offsets of an empty
// partition when it restarts, handing out offsets consumers have already
// seen. A size-bounded topic gets segments of a quarter of its partition's
// share, so deleted records leave the disk soon after.
//
// # Memory
//
// kfake keeps the records in its segment files and, in memory, an index of
// their batches (tens of bytes a batch); but at start-up it reads every
// segment file whole, all partitions at once, so the start-up briefly needs
// about as much memory as the retained bytes (BenchmarkStartLoaded). The
// retention is therefore what bounds the broker's memory. Start logs the
// records and bytes it loaded, per topic, and how fast; Stats gives them at
// any time; a warning is logged when they pass Config.MemoryWarnShare of the
// machine's memory (or of the container's limit).
package broker
