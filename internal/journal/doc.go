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
// Group commit adapts by itself: the faster the fsync, the more of them and
// the smaller the batches. Every batch wakes the flusher, the notifier, the
// appenders and the Readers, which at high rates costs more CPU than the
// syscall; Options.MinSyncInterval (off by default) makes a batch smaller
// than 64 KiB wait out the rest of that interval since the previous batch
// started, trading up to that much latency per record for fewer batches,
// but only under load: while the arrival rate of records, exponentially
// weighted over the last 4 intervals, is at least 4 records per interval
// (pace.go). Below it, a record never waits, so chained requests at low
// rates (each sent just after the previous reply) keep the latency of one
// fsync. Nor does it wait where waiting slows the records down, a closed
// loop of a few appenders that each wait for their record: the pacer
// probes taking batches at once for a short while now and then, and keeps
// to it while that brings records markedly faster.
//
// # Zeros ahead of the records
//
// A segment that grows with every batch makes every fdatasync write the
// inode too (the new size, and on ext4 the newly allocated blocks' metadata),
// synchronously: on ext4 without a journal that is about half of the
// syscall's CPU and wall time. So a background goroutine keeps
// Options.ZeroAhead bytes (default min(SegmentSize, 4 MiB)) of zeros written
// and fdatasynced after the records of the active segment, never beyond
// SegmentSize: it starts another stretch when less than half is left, on a
// file descriptor of its own (an fsync error is reported once per open file
// description, so the zeroing can never take the error of a page of records
// from the flusher's fsync). The flusher writes each batch at its offset,
// over the zeros (waiting for a zeroing in progress only if the batch would
// reach it), and its fdatasync then writes data pages only. This is
// PostgreSQL's wal_init_zero and etcd's preallocation, but a stretch at a
// time rather than a whole segment: an idle tenant's journal costs 4 MiB,
// not 64, and the first segment of a new journal benefits at once.
//
// Durability does not depend on the zeros: a record is durable when the
// fdatasync after its write returns, as before, and that fdatasync also
// persists the file size if it changed. A failed zeroing (a full disk) is
// not a failure of the journal: it is counted (Stats.ZeroFailures), logged
// at debug level, and the segment grows with each batch, as without zeros,
// until the next segment or Heal; if the disk is really full the batches
// then fail by themselves (ErrFailed wrapping ENOSPC, Heal as always).
//
// Size() and Recovery.Bytes count the bytes of records as before, and
// MaxSize bounds them; the files hold more: the active segment up to
// ZeroAhead bytes of zeros, a segment rotated away from at most
// min(ZeroAhead, MaxRecordSize+17) (it was rotated because the next record
// did not fit), and no file exceeds SegmentSize because of zeros.
// Options.ZeroAhead negative turns it off. Journals written before (no
// zeros) open unchanged.
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
// Size() is the bytes of the records of the live segments plus the records
// not yet written (not the zeros written ahead of them).
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
// In the active segment a Reader reads no further than where the durable
// records end (the flusher publishes that offset before DurableLSN): the
// bytes after it are zeros about to be overwritten, or records not yet
// durable that a reader buffering them would otherwise take for the end.
//
// # Recovery
//
// Open scans every segment and checks every frame: its checksum, its length
// and that its LSN is the next one. The policy on a bad frame:
//
//   - Zeros after a segment's last record, up to the end of the file, are
//     the end of its records (written ahead of them), in any segment: not
//     a bad frame, nothing cut or reported. A non-final segment whose last
//     records were zeroed by damage is still caught: the next segment
//     would not start at the LSN after its last record.
//   - In the final segment, the first bad frame and everything after it are a
//     torn tail (a crash during a write that was never acknowledged as
//     durable): the file is truncated there, and Recovery reports the bytes
//     cut (up to the last nonzero byte) and how many intact frames were
//     found beyond the cut.
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
