package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// checkpoint is what the relay records durably.
type checkpoint struct {
	// Acked: every step record up to this LSN is in Kafka.
	Acked uint64 `json:"acked"`
	// Offsets: per topic and partition, an offset before every record
	// beyond Acked (see the package doc). Absent partitions are read from
	// their start.
	Offsets map[string]map[int32]int64 `json:"offsets,omitempty"`
}

func readCheckpoint(path string) (checkpoint, error) {
	var c checkpoint
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("relay: checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("relay: checkpoint %s: %w", path, err)
	}
	return c, nil
}

// writeCheckpoint writes c atomically and durably: temporary file, fsync,
// rename, fsync of the directory.
func writeCheckpoint(path string, c checkpoint) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("relay: checkpoint: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		var d *os.File
		if d, err = os.Open(filepath.Dir(path)); err == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("relay: checkpoint: %w", err)
	}
	return nil
}
