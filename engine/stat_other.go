//go:build !unix

package engine

import "os"

// statOf reads what fileStat compares; without inodes and change times
// here, a file is recognised by its size and modification time alone.
func statOf(path string) (*fileStat, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return &fileStat{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}, nil
}
