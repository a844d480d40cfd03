package journal

import (
	"io"
	"os"
)

// File is a segment file as the journal writes it: the file layer through
// which Options.WrapFile injects failures (EIO, ENOSPC, a slow sync) in
// tests. Sync is the journal's data sync (fdatasync on Linux). The flusher
// writes records with Write at the file's offset; WriteAt writes the zeros
// ahead of them and Heal's probe.
type File interface {
	io.Writer
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Close() error
	Name() string
}

// osFile is the default File: an *os.File whose Sync is datasync.
type osFile struct{ *os.File }

func (f osFile) Sync() error { return datasync(f.File) }

// openFile opens a segment file for writing through Options.WrapFile, its
// offset at off. It is never opened with O_APPEND: a segment's records
// overwrite the zeros written ahead of them.
func (j *Journal) openFile(path string, flag int, perm os.FileMode, off int64) (File, error) {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return nil, err
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	var w File = osFile{f}
	if j.opts.WrapFile != nil {
		w = j.opts.WrapFile(w)
	}
	return w, nil
}
