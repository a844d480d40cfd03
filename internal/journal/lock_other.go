//go:build !unix

package journal

import (
	"fmt"
	"os"
)

// lockDir creates dir/LOCK; without flock it cannot exclude other processes.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: lock: %w", err)
	}
	return f, nil
}
