package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock is an exclusive hold on a state folder. The kernel releases it when
// the process dies, so a lock left by a crashed run is simply taken over.
type Lock struct {
	f *os.File
}

// Acquire takes the lock file in dir, or fails at once naming the process
// that holds it; show is dir as messages should name it.
func Acquire(dir, show string) (*Lock, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		owner := strings.TrimSpace(string(b))
		if owner == "" {
			owner = "unknown"
		}
		return nil, &BusyError{Dir: show, Owner: owner}
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Lock{f: f}, nil
}

// BusyError says that another process holds the lock.
type BusyError struct {
	Dir   string // as messages name it
	Owner string // the holder's pid, or "unknown"
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("state folder %s is in use by another zpipe (pid %s); wait for it to finish, or use another --state-dir", e.Dir, e.Owner)
}

// Release gives the lock up.
func (l *Lock) Release() error {
	l.f.Truncate(0)
	return l.f.Close()
}
