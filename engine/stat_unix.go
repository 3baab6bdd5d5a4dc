//go:build unix

package engine

import (
	"os"

	"golang.org/x/sys/unix"
)

// statOf reads what fileStat compares.
func statOf(path string) (*fileStat, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return &fileStat{Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: uint64(st.Ino), Dev: uint64(st.Dev)}, nil
}
