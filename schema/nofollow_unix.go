//go:build unix

package schema

import (
	"os"
	"syscall"
)

// noFollow makes an open fail on a symbolic link.
const noFollow = syscall.O_NOFOLLOW

// private reports whether only this process's user may write in the
// folder: its own, and neither its group nor others may.
func private(fi os.FileInfo) bool { return fi.Mode().Perm()&0o022 == 0 && ownedByMe(fi) }

// ownedByMe reports whether this process's user owns the file: a trial
// mark another user could have put there is not trusted.
func ownedByMe(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
