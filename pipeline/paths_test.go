package pipeline

import (
	"path/filepath"
	"runtime"
	"testing"
)

// Manifest.Rel's quick way for clean paths under the folder answers as
// filepath.Rel does, and leaves every other path to it.
func TestRelAnswersAsFilepathRel(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the quick way is for slashed paths")
	}
	slow := func(dir, p string) string {
		if rel, err := filepath.Rel(dir, p); err == nil && Inside(dir, p) {
			return filepath.ToSlash(rel)
		}
		return p
	}
	dirs := []string{"/", "/a", "/a/b", "/a/b/", "/a/./b", "/a/../b", "//a", "a/b", ""}
	paths := []string{
		"/a/b/c.json", "/a/b/d/e.json", "/a/b", "/a/b/", "/a/bc/d.json", "/a/b/./c.json", "/a/b/../c.json",
		"/a/b//c.json", "/a/b/c/..", "/a/b/..json", "/a/b/.hidden", "/a/b/...", "/x/y.json", "/a", "a/b/c.json", "",
	}
	for _, dir := range dirs {
		m := &Manifest{Dir: dir}
		for _, p := range paths {
			if got, want := m.Rel(p), slow(dir, p); got != want {
				t.Errorf("Rel(%q) in %q = %q, filepath.Rel gives %q", p, dir, got, want)
			}
		}
	}
}
