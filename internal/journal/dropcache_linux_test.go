//go:build linux

package journal

import (
	"os"
	"path/filepath"
	"syscall"
)

// dropCache asks the kernel to drop the cached pages of the segment files
// (posix_fadvise POSIX_FADV_DONTNEED), so Open reads them from the device.
func dropCache(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		return err
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		const fadvDontNeed = 4
		_, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
		f.Close()
		if errno != 0 {
			return errno
		}
	}
	return nil
}
