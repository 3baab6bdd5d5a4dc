//go:build !unix

package watch

import "io/fs"

// statOf has no inode off Unix; size and mtime still catch most changes.
func statOf(fi fs.FileInfo) fileStat {
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}
