//go:build !linux

package schema

import "syscall"

// childAttr has nothing to add where the kernel cannot kill a child with
// its parent; the child still ends when its input closes.
func childAttr() *syscall.SysProcAttr { return nil }

// processRSS is unknown here.
func processRSS(pid int) int64 { return 0 }
