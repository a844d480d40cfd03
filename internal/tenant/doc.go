// Package tenant runs each tenant's engine on one goroutine of its own and
// connects it to the world: it serialises commands, supplies the time, turns
// the engine's timer effects into TimerFired commands, hands the events of
// every step to a Sink in step order, and releases a command's reply only
// after the Sink has acknowledged that step's events ("a reply means
// recorded"). It also fans the recorded events out to subscribers (the
// WebSocket event stream).
//
// # Pipelining
//
// The tenant goroutine does not wait for acknowledgements. It steps the
// commands that are waiting (up to Config.MaxBatch), passes their events to
// the Sink (or the journal) as one batch, and goes on to the next batch
// while they are recorded. Replies are released strictly in step order: a reply is sent
// when its batch and every earlier batch are acknowledged, so a reply also
// means that everything the tenant did before it is recorded. A refused
// command (an *engine.Error) produces no events and changes nothing, but its
// reply still waits for the earlier batches, because the refusal was decided
// on state they produced. At most Config.MaxInFlight batches await
// acknowledgement; beyond that the goroutine stops taking commands
// (back-pressure), so memory stays bounded when the Sink is slow.
//
// # Subscribers
//
// Subscribers receive the events of released batches, in step order, per
// tenant. A subscriber that does not keep up (its buffer is full) is dropped
// with ErrSlowSubscriber rather than blocking the tenant.
//
// # Journal mode
//
// With Config.Journal set (serve's mode), the Sink is not used: every
// successful step is appended to the tenant's journal as one step record
// (package steprec: the time, the command in its journal encoding, the wire
// JSON of its events), and a batch is acknowledged once its last record is durable
// (fsync, group commit), so a reply means "journaled"; package relay
// carries the journal to Kafka. A command is stepped only while the journal
// has Config.RecordReserve bytes of room (the tenant goroutine is the
// journal's only appender, so the record then fits); otherwise it gets
// ErrJournalFull (503) and nothing changes. Start first recovers: the newest
// snapshot (if the Machine is a Snapshotter), then every later step record
// replayed through the engine, each reproduced event compared byte for byte
// with the journal (ErrReplay otherwise), the engine's pending timers
// re-armed; then Config.RecoveryCommand, if any, is stepped and journaled.
// Snapshots are taken every Config.SnapshotEvery steps and at Close.
//
// In journal mode every reply, a query's (GET) included, is released only
// once every step it was decided on is durable: a reader never sees a change
// whose request got 503. When the journal fails to write (a full disk, EIO)
// the engine may hold steps the journal does not: the tenant then answers
// every command and query with ErrNotRecorded (503), logs that once (then
// sampled, package logsample) and counts it (Health), and heals by itself:
// once the batches in flight have failed it calls journal.Heal (which cuts
// what was never durable) every healMinWait..healMaxWait (up to flapMaxWait
// when it keeps failing again right after healing) until writes
// succeed, rebuilds the engine with Config.NewEngine from the newest
// snapshot and the journal (as Start does; the unjournaled steps vanish),
// re-arms its timers and takes commands again, logged once.
//
// # Log mode
//
// With Config.Log set (cluster mode, package cluster), steps are numbered
// per tenant from 1 and each batch's step records and events are handed to
// the StepLog, which commits them atomically (a Kafka transaction); the
// batch is acknowledged when the commit succeeded, so a reply, and an event
// to subscribers, means "committed". Snapshots go to the same StepLog, after
// the steps they include. Start first recovers from Config.LogState (the
// log's latest snapshot and the numbered step records after it, checked as
// in journal mode, gaps refused), steps Config.RecoveryCommands through the
// StepLog, and hands over a snapshot. Once a commit fails (the log fenced
// this process), every later command gets ErrNotRecorded: the tenant must be
// rebuilt from the log.
//
// # Time
//
// A step's time is the clock, never before the previous step's, so event
// times never go backwards when the clock is stepped back; timers are armed
// against that time and run on the monotonic clock, so they fire on time.
//
// The tenant owns no I/O of its own other than timers and the journal it
// is given: it does not know HTTP or Kafka. It must not touch engine state outside the tenant goroutine;
// GET endpoints read it through Tenant.Query, which runs on that goroutine.
package tenant
