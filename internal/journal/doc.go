// Package journal is switchboard's durable append-only log: the link between
// the tenant runtime, which appends the records of each engine step and
// releases replies only once they are durable, and the Kafka publisher, which
// tails the durable records and produces them.
//
// It owns the files of one directory and nothing else: segment files
// <first-lsn, 20 digits>.log, snapshot files snap-<lsn, 20 digits>.bin and a
// LOCK file. It knows nothing about events, engines or Kafka; a payload is
// opaque bytes. It must not import the engine, runtime or publisher packages.
//
// # Records and files
//
// Every record has a log sequence number (LSN): 1 for the first record ever
// written, then +1 per record, gapless, never reused (truncation removes old
// segments but the numbering continues). A record is framed as
//
//	crc32c uint32 | length uint32 | type uint8 | lsn uint64 | payload
//
// little-endian, a 17-byte header. The CRC-32C (Castagnoli) is computed over
// payload || length || type || lsn (the payload first, so appenders checksum
// it before taking the lock), so a torn, zeroed or shifted frame does not
// decode as valid. Records live in segment files named by
// the LSN of their first record; a new segment starts when the next record
// would grow the active one beyond Options.SegmentSize.
//
// # Durability: group commit
//
// Append encodes the record into an in-memory batch and returns its LSN at
// once; it is not yet durable. One flusher goroutine takes the whole batch,
// writes it with one write call per segment and fsyncs, so all the records
// appended while the previous fsync ran share the next one. (On Linux the
// segment sync is fdatasync, which persists the data and the file size; new
// and removed files are made durable with an fsync of the directory.) A record is durable
// once DurableLSN() >= its LSN: Sync(ctx, lsn) waits for that, AppendSync does
// both, and AppendAsync calls a function when its record is durable (from one
// notifier goroutine, in LSN order), so a runtime needs no goroutine per
// request. A write or fsync error is sticky: the journal stops accepting
// records (ErrFailed) because after a failed fsync the page cache can no
// longer be trusted. Heal takes it back into service in place once writes
// succeed again (a full disk that got room, a transient EIO): it cuts every
// byte after DurableLSN, removes segments holding nothing durable, and
// writes and syncs a probe before accepting appends from DurableLSN+1
// again; readers reread their file past that point (those bytes were
// rewritten). Reopening also recovers what is on disk.
//
// Segment files are written through the File interface; Options.WrapFile
// lets tests inject EIO, ENOSPC and slow syncs. The flusher is the only
// goroutine that writes or syncs and holds no lock while it does: appends,
// Stats and readers never wait for an fsync (appenders wait only while
// MaxBatchBytes are pending). Stats reports the fsync latency (last, max,
// total), the failures and the heals.
//
// Records are atomic units: a crash keeps or loses whole records, so the
// runtime should write one record per engine step (all of its events), not one
// per event, if a step must survive entirely or not at all.
//
// # Size bound
//
// Size() is the bytes of the live segments plus the records not yet written.
// An append that would take it beyond Options.MaxSize fails with ErrFull and
// changes nothing; TruncateBefore frees whole segments. The engine being pure,
// the runtime computes a step, appends its record, and adopts the step's new
// state only if the append succeeded, so a refused request changes nothing. The journal logs a
// warning as it crosses 75% and 90% of MaxSize and an error when it is full.
//
// # Readers
//
// A Reader yields durable records in LSN order from a given LSN and waits at
// the end for more; it never sees a record that is not yet durable. Readers
// read the segment files (through the page cache) and do not slow appenders.
//
// # Recovery
//
// Open scans every segment and checks every frame: its checksum, its length
// and that its LSN is the next one. The policy on a bad frame:
//
//   - In the final segment, the first bad frame and everything after it are a
//     torn tail (a crash during a write that was never acknowledged as
//     durable): the file is truncated there, and Recovery reports the bytes
//     cut and how many intact frames were found beyond the cut.
//     One exception proves data loss rather than a torn write: the flusher
//     never has more than MaxBatchBytes+MaxRecordSize+17 bytes of a segment
//     written but not yet fsynced, so an intact frame found further than that
//     beyond the bad one means a record that had been fsynced was damaged. Open
//     then fails with a *CorruptError (errors.Is ErrCorrupt) and changes
//     nothing.
//   - In any other segment, a bad frame, a short file or an LSN gap is data
//     loss of records that were fsynced before the next segment was created:
//     Open fails with a *CorruptError and changes nothing, never cutting
//     silently. An operator must move the damaged files away (and accept the
//     loss) to start.
//   - Fewer records than the newest snapshot's LSN (snapshots are written only
//     at durable LSNs) is data loss too: a *CorruptError, nothing changed.
//
// # Snapshots
//
// WriteSnapshot stores a caller's snapshot of the state as of an LSN
// atomically (temporary file, fsync, rename, fsync of the directory) and keeps
// the newest Options.KeepSnapshots; LatestSnapshot returns the newest intact
// one. The runtime restores it, then replays records from its LSN+1 with a
// Reader, and calls TruncateBefore once Kafka acknowledged the records and a
// snapshot covers them.
package journal
