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
// With an external Kafka (serve's --kafka-brokers) a produce request the
// dead process had sent may even reach the broker after the restart; that
// is fenced below ("A dead process's late requests"). The embedded broker
// dies with the process, so there no request outlives it.
// The checkpoint therefore also holds, per partition of both topics, an end
// offset E taken before any record it does not cover was produced: the
// relay asks Kafka for the end offsets, then reads the last LSN it has
// handed to the publisher, P; once Kafka acknowledged everything up to P it
// writes (acked, E). Every record beyond the checkpoint's acked LSN was
// handed over after E was taken, so it sits at an offset >= E. At start the
// relay reads every partition from E to its end, notes each (topic, key,
// Seq) of this tenant's pending keys found there, and skips exactly the
// pending events Kafka has; the others are published again, in order. Per
// key, what Kafka holds is a prefix of what was handed over (idempotent
// producer, one partition per key, one batch at a time: below), so the
// events skipped are a prefix of each key's pending events.
//
// # A dead process's late requests
//
// With an external Kafka the tails alone do not settle it: a produce
// request of a process killed with kill -9 can still be on its way (in a
// socket buffer, a slow broker) and be appended after the restarted relay
// has read the tails, and the events it carries would then be published
// twice. The idempotent producer cannot refuse it: its producer id is the
// dead process's, unknown to the new one. So with --kafka-brokers each
// tenant's relay publishes through a transactional publisher of its own
// (publisher.Transactional), transactional id
// publisher.TransactionalID(prefix, server id, tenant), and each batch
// handed over is one transaction, committed before its done reports it
// acknowledged. serve initialises that transactional id before Start:
// Kafka aborts the dead process's open transaction and refuses every later
// request of its producer epoch. Config.ReadCommitted then has the tails
// read read_committed, up to the high watermark taken after that fence
// (the read waits until every transaction with records below it has
// ended, another tenant's too), so the resume sees what was committed and
// nothing the dead process left uncommitted, and no late request of it
// can land after. Consumers that read read_committed see each event once
// (EVENTS.md section 6); one reading uncommitted may also see the aborted
// records, which repeat a (topic, key, Seq) it has or will have.
//
// The same fence stops an older process of the same server id and tenant
// that is still running (a second serve on another data directory): its
// next transaction fails with publisher.ErrFenced, and the relay stops
// for good (Stats.Err, /readyz), its journal keeping its events.
// # One batch at a time
//
// The relay hands the publisher one batch, and the next only once Kafka has
// acknowledged every record of it; meanwhile the step records read
// accumulate into the next batch (up to MaxBatch), so under load batches
// grow rather than queue. This is what keeps the log a prefix when Kafka
// refuses a batch: the producer fails the refused partition's buffered
// records at once, but hears of the refusal before the relay does (the
// batch's done waits for its other partitions too) and would write records
// handed over meanwhile under a new producer epoch, so a key could get Seq
// n+1 without n. With one batch in flight nothing is handed over between a
// refusal and the rewind that publishes n again first. With the
// transactional publisher a batch is one transaction, so a refused batch
// is aborted whole and read_committed Kafka holds whole batches; one batch
// at a time still orders the transactions (the next begins only once the
// previous one is committed) and keeps the rewind's tail read after the
// abort.
//
// A batch that is not full lingers: it is handed over only once its first
// step record has waited Config.Linger (serve's --relay-linger), so that
// under a steady trickle of steps one produce request carries the events
// of many, instead of one or two records per partition each time the
// batch before is acknowledged; a full batch (MaxBatch step records) goes
// at once, and nothing lingers while a Flush or Close waits (so neither a
// shutdown nor a caller waiting for Kafka waits for the linger). Lingering
// only delays a handover: the batch in flight, the rewind after a refusal
// and the resume (which reads the partition tails before handing anything
// over) are as above.
//
// Within one batch the producer may split a partition's records over
// several produce requests. The publisher hands a batch to the Kafka client
// whole and then flushes it, handing nothing over during a flush, so the
// partition's first request leaves only once every record of the batch is in
// the client: when Kafka refuses it the client fails all the partition's
// records behind it, and none can be handed over after that failure and
// land under a new producer epoch. A later request of the partition leaves
// before the earlier one is answered only after the partition has had a
// successful answer (franz-go), so the broker holds the producer's sequence
// and refuses a request following a refused one. Per key Kafka therefore
// holds a prefix of each batch, and the rewind publishes the rest in order.
// (Should a later Seq of a key land without an earlier one all the same,
// the resume finds the earlier one missing, publishes it after the later
// one, nothing lost, and logs an error.)
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
// the rest over again (one batch at a time: above), retrying with backoff (retryMinWait..retryMaxWait).
// (A transactional batch that failed was aborted before its done; a
// commit whose outcome Kafka left unknown is settled by the read_committed
// tail read, which waits for it to end.)
// A journal that failed to write is waited for (the tenant heals it). Only
// a closed or fenced publisher or an unreadable journal stops the relay
// for good.
//
// It owns the checkpoint file and nothing else; it does not write the
// journal (the tenant goroutine is its only appender) and knows nothing of
// HTTP or the engine: it imports neither the engine nor package tenant.
package relay
