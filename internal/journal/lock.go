package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	if err := lockFile(f); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		owner := strings.TrimSpace(string(b))
		if owner == "" {
			owner = "unknown"
		}
		return nil, &BusyError{Dir: show, Owner: owner}
	}
	// The pid is how a second zpipe names the holder.
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the lock %s: %w", path, err)
	}
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
	err := l.f.Truncate(0)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}
