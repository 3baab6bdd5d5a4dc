// Package atomicfile writes files so that a reader, or a crash, never sees
// half of one: the bytes go to a temp file in the same folder, which is
// synced and then renamed over the target, and the folder is synced so the
// rename itself survives a power loss.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// TempPrefix starts the name of every temp file, so that they can be found
// and cleaned after a crash.
const TempPrefix = ".zpipe-tmp-"

// Write creates or replaces path with what fill writes. On any error the
// target is left as it was and the temp file is removed.
func Write(path string, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(f.Name(), modeFor(path)); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// tempPattern names a temp file after its target and its writer's pid, so
// that a later run can tell an orphan from another process's work.
func tempPattern(path string) string {
	return TempPrefix + strconv.Itoa(os.Getpid()) + "-" + filepath.Base(path) + "-*"
}

// Orphan reports whether a temp file's writer is gone: its pid is not a
// live process. A name without a pid is an orphan.
func Orphan(path string) bool {
	rest := strings.TrimPrefix(filepath.Base(path), TempPrefix)
	pidText, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return true
	}
	if pid == os.Getpid() {
		return false
	}
	return !alive(pid)
}

// RemoveOrphans deletes the temp files in dir whose writer is gone.
func RemoveOrphans(dir string) {
	stale, _ := filepath.Glob(filepath.Join(dir, TempPrefix+"*"))
	for _, p := range stale {
		if Orphan(p) {
			os.Remove(p)
		}
	}
}

// modeFor keeps the mode of the file being replaced, so that a private
// output stays private; a new file is 0644.
func modeFor(path string) os.FileMode {
	if fi, err := os.Stat(path); err == nil {
		return fi.Mode().Perm()
	}
	return 0o644
}
