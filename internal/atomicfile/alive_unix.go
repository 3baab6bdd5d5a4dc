//go:build unix

package atomicfile

import "syscall"

// alive reports whether a process with this pid exists.
func alive(pid int) bool { return syscall.Kill(pid, 0) != syscall.ESRCH }
