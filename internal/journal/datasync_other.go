//go:build !linux

package journal

import "os"

// datasync makes a segment's appended data durable (fsync; F_FULLFSYNC on darwin).
func datasync(f *os.File) error { return f.Sync() }
