package pipeline

import (
	"maps"
	"path/filepath"
	"slices"
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
	// folders are byDir's keys, sorted once a template needs them.
	folders []string
}

func (x *readIndex) sortedFolders() []string {
	if x.folders == nil {
		x.folders = slices.Sorted(maps.Keys(x.byDir))
	}
	return x.folders
}

type readGlob struct {
	stage, path int    // the stage, and which of its source paths
	pat         string // as Stage.reads matches it
	// paths and ok are pat as globPaths reads it, once parsed.
	paths  [][]step
	ok     bool
	parsed bool
}

func newReadIndex(m *Manifest) *readIndex {
	x := &readIndex{dir: m.Dir, byDir: map[string][]readGlob{}}
	for i, s := range m.Stages {
		for k, pat := range s.Source.Paths {
			pat = matchGlob(m.Dir, pat)
			lit := pat[:literalEnd(pat)]
			folder := lit[:strings.LastIndexByte(lit, '/')+1]
			x.byDir[folder] = append(x.byDir[folder], readGlob{stage: i, path: k, pat: pat})
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
	tpl := templateOf(out)
	var tpls [][]step
	if hasPlaceholder(tpl) {
		tpls, _ = templatePaths(tpl)
	}
	// A stage's excludes are tried on a path that both its glob and the
	// template match.
	match := func(g *readGlob) bool {
		excluded := func(p string) bool { return m.Stages[g.stage].excluded(x.dir, filepath.Join(x.dir, p)) }
		if tpls == nil {
			ok, _ := doublestar.Match(g.pat, tpl)
			return ok && !excluded(raw)
		}
		if !g.parsed {
			g.paths, g.ok = globPaths(g.pat)
			g.parsed = true
		}
		return patternsMeet(g.paths, g.ok, tpls, excluded)
	}
	try := func(folder string) {
		globs := x.byDir[folder]
		for k := range globs {
			if g := &globs[k]; match(g) {
				f(g.stage, g.path)
			}
		}
	}
	if ph := placeholderRE.FindStringIndex(tpl); ph != nil {
		// A placeholder may name a folder, or a file that a glob of
		// what is under it (out/a/**) matches: the globs filed under
		// any folder below the ones named before it are tried.
		lit := tpl[:strings.LastIndexByte(tpl[:ph[0]], '/')+1]
		try("")
		for i := 0; i < len(lit)-1; i++ {
			if lit[i] == '/' {
				try(lit[:i+1])
			}
		}
		folders := x.sortedFolders()
		for k, _ := slices.BinarySearch(folders, lit); k < len(folders) && strings.HasPrefix(folders[k], lit); k++ {
			if folders[k] != "" {
				try(folders[k])
			}
		}
		return
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
