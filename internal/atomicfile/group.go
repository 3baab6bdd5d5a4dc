package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Group writes many files with one sync for all of them: each file goes to
// a temp file beside its target; Commit makes every temp file durable,
// renames each over its target, then syncs each folder once. An fsync per
// small file costs far more than writing it.
type Group struct {
	temps [][2]string // temp path, target
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
	return nil
}

// Commit puts every written file in place, all of them or none: it makes
// the temp files durable, checks that each target can be replaced (a
// folder in a target's place fails here, before any rename), hands intent
// the renames it is about to do, so that the caller can record them where
// a crash between two renames can be rolled forward (see RollForward),
// then renames each temp file over its target and syncs each folder once.
// intent may be nil. On an error before the renames no target is touched.
func (g *Group) Commit(intent func(renames [][2]string) error) error {
	if len(g.temps) == 0 {
		return nil
	}
	paths := make([]string, len(g.temps))
	for i, t := range g.temps {
		paths[i] = t[0]
		if fi, err := os.Lstat(t[1]); err == nil && fi.IsDir() {
			g.Abort()
			return fmt.Errorf("%s is a directory", t[1])
		}
	}
	if err := SyncFiles(paths); err != nil {
		g.Abort()
		return err
	}
	if intent != nil {
		if err := intent(g.temps); err != nil {
			g.Abort()
			return err
		}
	}
	renames := g.temps
	g.temps = nil
	return RollForward(renames)
}

// RollForward does the renames of a commit that were not done yet: each
// temp file still there is renamed over its target; a temp file already
// gone was renamed before. Then it syncs each folder once. It stops at the
// first rename that fails, leaving the rest for another try.
func RollForward(renames [][2]string) error {
	dirs := map[string]bool{}
	for _, r := range renames {
		err := os.Rename(r[0], r[1])
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		dirs[filepath.Dir(r[1])] = true
	}
	for dir := range dirs {
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

// SyncFiles makes files durable: one sync of their whole file system where
// the system offers one and there are many files on it, else an fsync each.
func SyncFiles(paths []string) error {
	if len(paths) > 4 && syncFS(paths) {
		return nil
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
