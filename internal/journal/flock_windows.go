package journal

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes an exclusive lock on f, or fails at once. It locks a byte
// far past the pid, which other processes must still be able to read.
func lockFile(f *os.File) error {
	var ol windows.Overlapped
	ol.OffsetHigh = 1
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
}
