package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
)

// Snapshot file layout: magic | lsn uint64 | length uint64 | crc32c(data) uint32 | data.
var snapMagic = [8]byte{'S', 'B', 'S', 'N', 'A', 'P', '0', '1'}

const snapHeaderSize = 8 + 8 + 8 + 4

// Snapshot is a caller's serialized state as of LSN: it reflects every record
// up to and including LSN.
type Snapshot struct {
	LSN  uint64
	Data []byte
}

// WriteSnapshot stores data as the snapshot at lsn atomically (temporary
// file, fsync, rename, fsync of the directory) and removes the older
// snapshots beyond Options.KeepSnapshots. lsn must be durable (at most
// DurableLSN), so a snapshot never covers records a crash could lose.
func (j *Journal) WriteSnapshot(lsn uint64, data []byte) error {
	if d := j.durable.Load(); lsn > d {
		return fmt.Errorf("%w: snapshot at lsn %d, durable %d", ErrOutOfRange, lsn, d)
	}
	j.snapMu.Lock()
	defer j.snapMu.Unlock()
	name := snapshotName(lsn)
	tmp := join(j.dir, name+tmpExt)
	if err := writeFileSync(tmp, encodeSnapshot(lsn, data)); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, join(j.dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("journal: snapshot: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		return err
	}
	_, snaps, err := listDir(j.dir)
	if err != nil {
		return err
	}
	var errs []error
	for len(snaps) > j.opts.KeepSnapshots {
		if err := os.Remove(join(j.dir, snapshotName(snaps[0]))); err != nil {
			errs = append(errs, fmt.Errorf("journal: remove old snapshot: %w", err))
		}
		snaps = snaps[1:]
	}
	return errors.Join(errs...)
}

// LatestSnapshot returns the newest intact snapshot. A damaged newer one is
// skipped with a logged error. ErrNoSnapshot if there is none.
func (j *Journal) LatestSnapshot() (Snapshot, error) {
	j.snapMu.Lock()
	defer j.snapMu.Unlock()
	_, snaps, err := listDir(j.dir)
	if err != nil {
		return Snapshot{}, err
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		name := snapshotName(snaps[i])
		b, err := os.ReadFile(join(j.dir, name))
		if err == nil {
			var s Snapshot
			if s, err = decodeSnapshot(b); err == nil && s.LSN != snaps[i] {
				err = fmt.Errorf("header lsn %d", s.LSN)
			}
			if err == nil {
				return s, nil
			}
		}
		j.log.Error("journal: skipping damaged snapshot", slog.String("file", name), slog.Any("err", err))
	}
	return Snapshot{}, ErrNoSnapshot
}

func encodeSnapshot(lsn uint64, data []byte) []byte {
	b := make([]byte, snapHeaderSize, snapHeaderSize+len(data))
	copy(b, snapMagic[:])
	binary.LittleEndian.PutUint64(b[8:], lsn)
	binary.LittleEndian.PutUint64(b[16:], uint64(len(data)))
	binary.LittleEndian.PutUint32(b[24:], crc32.Checksum(data, castagnoli))
	return append(b, data...)
}

func decodeSnapshot(b []byte) (Snapshot, error) {
	if len(b) < snapHeaderSize || [8]byte(b[:8]) != snapMagic {
		return Snapshot{}, errors.New("not a snapshot file")
	}
	n := binary.LittleEndian.Uint64(b[16:])
	if n != uint64(len(b)-snapHeaderSize) {
		return Snapshot{}, fmt.Errorf("length %d, file holds %d", n, len(b)-snapHeaderSize)
	}
	data := b[snapHeaderSize:]
	if crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(b[24:]) {
		return Snapshot{}, errors.New("checksum mismatch")
	}
	return Snapshot{LSN: binary.LittleEndian.Uint64(b[8:]), Data: data}, nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("journal: snapshot: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("journal: snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("journal: snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("journal: snapshot: %w", err)
	}
	return nil
}
