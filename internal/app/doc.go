// Package app is the switchboard server program as a value tests can start:
// Main{Config}.Run(ctx) loads the configuration (or the demo tenant), starts
// the embedded Kafka broker unless brokers are given (its retention from
// the --kafka-retention* flags, held back by the relays' checkpoints:
// embedded.go), the publisher, and per
// tenant a journal (Data/journal/<tenant>), a runtime recovering from it and
// a relay publishing it (durability.go), then the CTI API; it shuts them
// down in order when ctx ends (steps durable, then Kafka flushed as far as
// the shutdown timeout allows: the rest stays in the journal). With
// --cluster (cluster.go) the node joins the cluster instead, with Kafka as
// the journal, and at the end hands its shards over before the API stops.
// Either way the start sequence returns what it started, and its ordered
// closers run each step bounded by the shutdown deadline (also after a
// failed start). Config holds the serve flags, each also read from
// SWITCHBOARD_<NAME>.
//
// It owns wiring, start-up and shutdown order, and the start-up banner. It
// must not hold domain logic: the engine decides, the runtime serialises,
// ctiapi speaks HTTP, the publisher and broker speak Kafka.
package app
