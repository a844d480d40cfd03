package journal

import (
	"io"
	"os"
)

// File is a segment file as the journal writes it: the file layer through
// which Options.WrapFile injects failures (EIO, ENOSPC, a slow sync) in
// tests. Sync is the journal's data sync (fdatasync on Linux).
type File interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
	Name() string
}

// osFile is the default File: an *os.File whose Sync is datasync.
type osFile struct{ *os.File }

func (f osFile) Sync() error { return datasync(f.File) }

// openFile opens a segment file for writing through Options.WrapFile.
func (j *Journal) openFile(path string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return nil, err
	}
	var w File = osFile{f}
	if j.opts.WrapFile != nil {
		w = j.opts.WrapFile(w)
	}
	return w, nil
}
