// Package cluster runs switchboard on several nodes with Kafka as the
// replicated journal (design: ../shared/design/cluster.md).
//
// Tenants are hashed onto a fixed number of shards (ShardOf: murmur2 of the
// tenant id modulo Config.Shards, default 32, fixed for the cluster's
// life). A node owns a shard through a Shard: OpenShard initialises the
// shard's transactional ids (TransactionalIDs, derived from the cluster and
// the shard), which fences every earlier owner, because the broker aborts
// its open transactions and refuses its later produce and commit with
// PRODUCER_FENCED or INVALID_PRODUCER_EPOCH; it then commits a claim to the
// journal, snapshot and owners topics and reads the shard back,
// read_committed, up to that claim: per tenant the latest snapshot and the
// step batches after it. The tenants then run in tenant's Log mode
// (Shard.Log is their tenant.StepLog): one committer per shard puts
// everything queued (step batches of all its tenants, their output events,
// due snapshots) into one transaction, and replies, SIP messages and
// WebSocket events are released only when it committed. Transactions are
// pipelined over the shard's ids in turn: the next one produces while the
// previous one's EndTxn is in flight, and commits only after it succeeded
// (Shard.run). The proxy of Front waits longer for an owner's reply than
// the owner's own handover wait. A commit that
// fails closes Shard.Failed; the shard's memory is dropped.
//
// Topics (TopicsOf): <prefix>sb.<cluster>.shards (placement only),
// .journal (partition = shard; key tenant; one record per batch of steps,
// and the claims), .snapshots (compacted; partition = shard; key tenant;
// headers sb-step and sb-from, the journal offset its replay starts at; a
// snapshot larger than Config.MaxMessageBytes is split into chunks, so no
// broker limit needs raising), .owners (one partition,
// compacted; key shard; the Owner claims and releases), and the output
// topics voice-agentstate and voice-callthread, which consumers must read
// with isolation.level=read_committed, and .sip-bindings (compacted;
// partition = shard; key tenant, DN and contact; Bindings: every node follows it,
// whichever node serves a tenant writes its phones' registrations there)
// and .sip-dialogs (the same for the answered calls' SIP dialogs, key
// tenant and Call-ID: OpenDialogs).
//
// Feed follows the output topics read_committed from their end and hands
// each tenant's events to subscribers: a node serves the event stream of a
// tenant it does not own from it (Front.Stream).
package cluster
