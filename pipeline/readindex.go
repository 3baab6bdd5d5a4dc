package pipeline

import (
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// readIndex finds the stages whose source globs could read a path that a
// stage writes without matching every glob against it: a glob matches
// only paths under the folder its literal start names (data/*.json only
// paths under data/), so each glob is filed under that folder, and a path
// is tried against the globs filed under its own folders. Compile then
// costs what the stages do, not their square.
type readIndex struct {
	dir   string
	byDir map[string][]readGlob
}

type readGlob struct {
	stage, path int    // the stage, and which of its source paths
	pat         string // as Stage.reads matches it
}

func newReadIndex(m *Manifest) *readIndex {
	x := &readIndex{dir: m.Dir, byDir: map[string][]readGlob{}}
	for i, s := range m.Stages {
		for k, pat := range s.Source.Paths {
			pat = matchGlob(m.Dir, pat)
			lit := pat[:literalEnd(pat)]
			folder := lit[:strings.LastIndexByte(lit, '/')+1]
			x.byDir[folder] = append(x.byDir[folder], readGlob{i, k, pat})
		}
	}
	return x
}

// literalEnd is where the first character with a meaning in a glob is.
func literalEnd(pat string) int {
	if i := strings.IndexAny(pat, `*?[{\`); i >= 0 {
		return i
	}
	return len(pat)
}

// readers calls f, once each and in no set order, with the index of every
// stage that reads out, as Stage.reads says.
func (x *readIndex) readers(m *Manifest, out string, f func(stage int)) {
	var seen map[int]bool
	x.globs(m, out, func(stage, _ int) {
		if !seen[stage] {
			if seen == nil {
				seen = map[int]bool{}
			}
			seen[stage] = true
			f(stage)
		}
	})
}

// globs calls f, in no set order, with every source glob that reads out:
// its stage, and which of the stage's paths it is.
func (x *readIndex) globs(m *Manifest, out string, f func(stage, path int)) {
	raw, sample := samplePath(out)
	try := func(folder string) {
		for _, g := range x.byDir[folder] {
			if ok, _ := doublestar.Match(g.pat, sample); ok && !m.Stages[g.stage].excluded(x.dir, filepath.Join(x.dir, raw)) {
				f(g.stage, g.path)
			}
		}
	}
	try("")
	for i := 0; i < len(sample); i++ {
		if sample[i] == '/' {
			try(sample[:i+1])
		}
	}
	// out/** matches out itself: ** may stand for no folder.
	try(sample + "/")
}
