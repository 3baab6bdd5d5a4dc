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
	f, err := os.CreateTemp(dir, TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
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
	if err := syncFiles(g.temps); err != nil {
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

// syncFiles makes the temp files durable: one syncfs for their file system
// when there are many, else an fsync each.
func syncFiles(temps [][2]string) error {
	if len(temps) > 4 {
		if d, err := os.Open(filepath.Dir(temps[0][0])); err == nil {
			err = unix.Syncfs(int(d.Fd()))
			d.Close()
			if err == nil && sameFS(temps) {
				return nil
			}
		}
	}
	for _, t := range temps {
		f, err := os.OpenFile(t[0], os.O_RDWR, 0)
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

// sameFS reports whether every temp file is on the file system of the
// first, which one syncfs covers.
func sameFS(temps [][2]string) bool {
	var first unix.Stat_t
	if unix.Stat(temps[0][0], &first) != nil {
		return false
	}
	for _, t := range temps[1:] {
		var st unix.Stat_t
		if unix.Stat(t[0], &st) != nil || st.Dev != first.Dev {
			return false
		}
	}
	return true
}
