// Package stats is switchboard's real-time statistics: today's figures for
// every tenant, queue, routing point, agent and agent group, computed from
// the two topics alone (voice-agentstate, voice-callthread), so they prove
// the streams are enough. docs/STATS.md defines every figure and the
// events it comes from.
//
// Aggregator is the pure core: events in (Add, with their own
// timestamps), figures out for a given instant (Tenant, Queues, Agents);
// no clock, no I/O, golden-tested (testdata/*.txt) and checked against the
// simulator's own counts. Its state is a JSON snapshot (Snapshot,
// Restore).
//
// Service is the Kafka consumer around it (franz-go, a consumer group,
// read_committed, every tenant): it writes a checkpoint file holding the
// aggregator's snapshot and the offsets it covers, taken together, and on
// start resumes from it exactly (the offsets of the checkpoint, not the
// group's, decide where each partition starts); without a checkpoint it
// reads from the start of the day. It serves the figures on
// GET /v1/tenants/{t}/stats[/tenant|/queues|/agents] and pushes them on a
// WebSocket (/stats/ws) at most once a second, authorized by
// internal/ctiapi's Guard (the CTI API's tokens and tickets), and adds
// per-queue gauges to internal/metrics. `serve` runs it in-process
// (internal/app); Main is `switchboard stats`, on its own.
//
// It must not touch engine or tenant state: everything it knows comes
// from events and the configuration (time zones, service levels, tokens).
package stats
