// Package relay carries one tenant's journaled events to Kafka: it reads the
// step records of the tenant's journal (package steprec) in LSN
// order, hands their events to the publisher, records durably how far Kafka
// has acknowledged (a checkpoint file beside the journal), and truncates the
// journal once Kafka has the records and a snapshot covers them.
//
// # Exactly once across crashes
//
// The publisher is idempotent within one process; across a crash the
// records produced after the last checkpoint may or may not be in Kafka.
// The checkpoint therefore also holds, per partition of both topics, an end
// offset E taken before any record it does not cover was produced: the
// relay asks Kafka for the end offsets, then reads the last LSN it has
// handed to the publisher, P; once Kafka acknowledged everything up to P it
// writes (acked, E). Every record beyond the checkpoint's acked LSN was
// handed over after E was taken, so it sits at an offset >= E. At start the
// relay reads every partition from E to its end, notes the highest Seq per
// key of this tenant's pending events, and skips the pending events Kafka
// already has. Per key, what Kafka holds is a prefix of what was produced
// (idempotent producer, one partition per key), so Seq decides.
//
// # Kafka down
//
// The publisher never gives up on a record, so the relay simply waits: the
// journal grows (bounded by its MaxSize: then the tenant answers 503) and
// delivery resumes in order when Kafka returns. Stats and a periodic log
// line show the journal's size and the publishing lag.
//
// # Kafka refusing events
//
// A batch the publisher fails (an error Kafka does not let a client retry,
// like the UNKNOWN_SERVER_ERROR of a broker whose disk is full) pauses
// publishing (Stats.Paused): once every batch handed over has finished, the
// relay rewinds to the first step record Kafka has not acknowledged, reads
// the partition tails as at start to skip the events Kafka has, and hands
// the rest over again, retrying with backoff (retryMinWait..retryMaxWait).
// A journal that failed to write is waited for (the tenant heals it). Only
// a closed publisher or an unreadable journal stops the relay for good.
//
// It owns the checkpoint file and nothing else; it does not write the
// journal (the tenant goroutine is its only appender) and knows nothing of
// HTTP or the engine: it imports neither the engine nor package tenant.
package relay
