package atomicfile

import (
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Group writes many files with one sync for all of them: each file goes to
// a temp file beside its target; Commit makes every temp file durable,
// renames each over its target, then syncs each folder once. An fsync per
// small file costs far more than writing it.
type Group struct {
	temps   [][2]string // temp path, target
	dirs    map[string]bool
	created []*os.File
}

// Write fills a temp file for path; nothing is visible until Commit.
func (g *Group) Write(path string, fill func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return err
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), modeFor(path))
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	g.temps = append(g.temps, [2]string{f.Name(), path})
	if g.dirs == nil {
		g.dirs = map[string]bool{}
	}
	g.dirs[dir] = true
	return nil
}

// Commit makes the written files durable and puts them in place. On an
// error before the renames, no target is touched.
func (g *Group) Commit() error {
	if len(g.temps) == 0 {
		return nil
	}
	paths := make([]string, len(g.temps))
	for i, t := range g.temps {
		paths[i] = t[0]
	}
	if err := SyncFiles(paths); err != nil {
		g.Abort()
		return err
	}
	for i, t := range g.temps {
		if err := os.Rename(t[0], t[1]); err != nil {
			g.temps = g.temps[i:]
			g.Abort()
			return err
		}
	}
	g.temps = nil
	for dir := range g.dirs {
		if err := SyncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// Abort removes the temp files not yet committed.
func (g *Group) Abort() {
	for _, t := range g.temps {
		os.Remove(t[0])
	}
	g.temps = nil
}

// SyncFiles makes files durable: one syncfs for their file system when
// there are many on one, else an fsync each.
func SyncFiles(paths []string) error {
	if len(paths) > 4 && sameFS(paths) {
		if d, err := os.Open(filepath.Dir(paths[0])); err == nil {
			err = unix.Syncfs(int(d.Fd()))
			d.Close()
			if err == nil {
				return nil
			}
		}
	}
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// sameFS reports whether every file is on the file system of the first,
// which one syncfs covers.
func sameFS(paths []string) bool {
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
	return true
}
