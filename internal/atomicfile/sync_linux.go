package atomicfile

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// syncFS syncs the file system that holds every one of paths, with one
// syncfs, and reports whether it did; false when they are on several.
func syncFS(paths []string) bool {
	var first unix.Stat_t
	if unix.Stat(paths[0], &first) != nil {
		return false
	}
	for _, p := range paths[1:] {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil || st.Dev != first.Dev {
			return false
		}
	}
	d, err := os.Open(filepath.Dir(paths[0]))
	if err != nil {
		return false
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd())) == nil
}
