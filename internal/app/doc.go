// Package app is the switchboard server program as a value tests can start:
// Main{Config}.Run(ctx) loads the configuration (or the demo tenant), starts
// the embedded Kafka broker unless brokers are given, the publisher, one
// runtime per tenant and the CTI API, and shuts them down in order when ctx
// ends. Config holds the serve flags, each also read from SWITCHBOARD_<NAME>.
//
// It owns wiring, start-up and shutdown order, and the start-up banner. It
// must not hold domain logic: the engine decides, the runtime serialises,
// ctiapi speaks HTTP, the publisher and broker speak Kafka.
package app
