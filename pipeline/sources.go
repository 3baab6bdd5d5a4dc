package pipeline

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/zpipe/zpipe/internal/atomicfile"
)

// Stdin is the source path that stands for standard input.
const Stdin = "-"

// SourceFile is one file a stage reads: the path its glob matched, which
// names and placeholders use, and the file it really is once symlinks are
// resolved, which every safety check uses.
type SourceFile struct {
	Path, Real string
}

// Sources is what a stage's globs match now.
type Sources struct {
	Files []SourceFile
	// Empty lists the globs, relative to the manifest, that match no file.
	Empty []string
	// Skipped says which symlinked folders were not followed, and why.
	Skipped []string
	// PathFiles counts, for each of the source's paths in order, the
	// Files it listed first: a file that two match is the first's. "-"
	// lists none.
	PathFiles []int
	// Own lists the files the globs matched that the stage itself
	// writes, which are not read: each with the output path that writes
	// it. Only a file zpipe wrote there may be replaced; the engine
	// checks that against its journal.
	Own   []OwnFile
	reals *RealSet
}

// OwnFile is a file a stage's glob matched that the stage writes.
type OwnFile struct {
	Path   string // as the glob found it
	Output string // the stage's output path that writes it
}

// Resolve expands the stage's source globs, in a stable order: the globs
// in the order written, the matches of each sorted, each file once even
// when two links lead to it. The stage's own outputs and zpipe's temp files
// are never among them. The walk never enters stateDir, does not
// follow a symlinked folder out of the manifest's folder (or out of the
// folder a glob starts in, when that lies outside) unless the source sets
// follow_symlinks, and never follows a link back into a folder it is
// already in.
func (s *Stage) Resolve(m *Manifest, stateDir string) (*Sources, error) {
	w := &walker{stage: s, dir: m.Dir, rootReal: realPath(m.Dir), out: &Sources{}, noted: map[string]bool{}}
	if stateDir != "" {
		w.state = realPath(stateDir)
	}
	globs := make([][]SourceFile, len(s.Source.Paths))
	for i, pat := range s.Source.Paths {
		if pat == Stdin {
			continue // not a file: the engine reads it
		}
		if !filepath.IsAbs(pat) {
			pat = filepath.Join(m.Dir, pat)
		}
		pat = filepath.Clean(pat)
		if !doublestar.ValidatePattern(filepath.ToSlash(pat)) {
			return nil, fmt.Errorf("stage %s: glob %q is not valid", s.Name, pat)
		}
		globs[i] = w.glob(pat)
		slices.SortFunc(globs[i], func(a, b SourceFile) int { return strings.Compare(a.Path, b.Path) })
	}
	own := s.ownFiles(m, globs)
	total, matched := 0, 0
	for _, matches := range globs {
		total += len(matches)
		if len(matches) > 0 {
			matched++
		}
	}
	if matched == 1 {
		// The files kept are taken from one glob's in order: they can
		// take its place, rather than a second slice of a million.
		for _, matches := range globs {
			if len(matches) > 0 {
				w.out.Files = matches[:0]
			}
		}
	} else {
		w.out.Files = make([]SourceFile, 0, total)
	}
	// Two globs may match one file, and two links lead to one. A glob
	// alone walks each folder once, so where no link is on the way its
	// matches are distinct: a million of them need no set to tell.
	if w.linked || matched > 1 {
		w.seen = make(map[string]bool, total)
	}
	for i, matches := range globs {
		n, earlier := 0, 0
		for _, f := range matches {
			switch {
			case w.seen != nil && w.seen[f.Real]:
				earlier++ // listed by an earlier glob: this one matches it all the same
				continue
			case s.excluded(m.Dir, f.Path) || strings.HasPrefix(filepath.Base(f.Real), atomicfile.TempPrefix):
				continue
			case ownedBy(own, f.Real):
				// The stage's own output, reached through a link or a
				// {dir} that its glob also matches, is never its source.
				w.skip(f.Path, "it is an output of this stage", "not reading")
				w.out.Own = append(w.out.Own, OwnFile{Path: f.Path, Output: own[f.Real].path})
				continue
			}
			if w.seen != nil {
				w.seen[f.Real] = true
			}
			w.out.Files = append(w.out.Files, f)
			n++
		}
		w.out.PathFiles = append(w.out.PathFiles, n)
		if n+earlier == 0 && s.Source.Paths[i] != Stdin {
			pat := s.Source.Paths[i]
			if filepath.IsAbs(pat) {
				pat, _ = filepath.Rel(m.Dir, pat)
			}
			w.out.Empty = append(w.out.Empty, filepath.ToSlash(filepath.Clean(pat)))
		}
	}
	return w.out, nil
}

// ownFiles maps the real path of each file the stage writes, when its
// sources are the files its globs matched, to the source it is written
// for ("" for a fixed output and the rejects file, which every source
// feeds) and the path it is written at. A file written only for itself (a per-source output that names
// its own source) is no output of another: it stays a source, for the
// guard to refuse.
func (s *Stage) ownFiles(m *Manifest, globs [][]SourceFile) map[string]ownFile {
	own := map[string]ownFile{}
	dirs := map[string]string{} // folder → its real path; many files share one
	add := func(p, from string) {
		d := filepath.Dir(p)
		r, ok := dirs[d]
		if !ok {
			r = realPath(d)
			dirs[d] = r
		}
		r = filepath.Join(r, filepath.Base(p))
		if prev, ok := own[r]; ok && prev.from != from {
			from = ""
		}
		own[r] = ownFile{from: from, path: p}
	}
	if s.Rejects != "" {
		add(s.Rejects, "")
	}
	for _, o := range s.Outputs {
		if !o.PerSource() {
			add(filepath.Join(m.Dir, o.Path), "")
			continue
		}
		for _, matches := range globs {
			for _, f := range matches {
				add(m.expand(o.Path, f.Path), f.Real)
			}
		}
	}
	return own
}

// ownedBy reports whether the stage writes real for some file other than
// real itself.
func ownedBy(own map[string]ownFile, real string) bool {
	o, ok := own[real]
	return ok && o.from != real
}

// ownFile is what ownFiles knows of a file the stage writes: the source
// it is written for, and the path it is written at.
type ownFile struct{ from, path string }

type walker struct {
	stage    *Stage
	dir      string // the manifest's folder
	rootReal string
	state    string // the state folder, real; "" for none
	out      *Sources
	seen     map[string]bool // real paths of the files listed, when two may be one
	linked   bool            // a file's real path is not the path it was found at
	noted    map[string]bool // links already reported as skipped
	visited  map[string]bool // real folders walked by an unbounded glob
}

// glob lists the files one absolute, clean pattern matches.
func (w *walker) glob(pat string) []SourceFile {
	slash := filepath.ToSlash(pat)
	i := strings.IndexAny(slash, "*?[{")
	if i < 0 {
		// No wildcard: the file the user named, wherever it is.
		fi, err := os.Stat(pat)
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		real := realPath(pat)
		if w.state != "" && Inside(w.state, real) {
			return nil
		}
		w.linked = w.linked || real != pat
		return []SourceFile{{pat, real}}
	}
	base := filepath.FromSlash(slash[:strings.LastIndex(slash[:i], "/")+1])
	rest := slash[len(filepath.ToSlash(base)):]
	depth := strings.Count(rest, "/") + 1
	if strings.Contains(rest, "**") || strings.Contains(rest, "{") {
		depth = -1 // any depth; {a,b/c} may hold slashes
	}
	baseReal, err := filepath.EvalSymlinks(base)
	if err != nil {
		return nil
	}
	boundary := w.rootReal
	if !Inside(boundary, baseReal) {
		boundary = baseReal
	}
	w.visited = map[string]bool{baseReal: true}
	var out []SourceFile
	w.walk(filepath.Clean(base), baseReal, slash, depth, boundary, &out)
	return out
}

// walk lists what pat matches under dir, whose real path is real, going
// at most depth folders down (-1: no limit). Resolve sorts what it finds.
func (w *walker) walk(dir, real, pat string, depth int, boundary string, out *[]SourceFile) {
	from := len(*out)
	rest, err := w.readDir(dir, real, pat, out)
	if err != nil {
		*out = (*out)[:from] // an unreadable folder lists nothing
		return
	}
	// In name order, so that links are noted in the order ls shows them.
	slices.SortFunc(rest, func(a, b dirEntry) int { return strings.Compare(a.name, b.name) })
	dirInState := w.state != "" && Inside(w.state, real)
	for _, e := range rest {
		w.walkEntry(dir, real, pat, depth, boundary, e, dirInState, out)
	}
}

// dirEntry is what walk keeps of a folder's entry that is no plain file.
type dirEntry struct {
	name string
	typ  fs.FileMode
}

// readDir appends the plain files of dir that pat matches to out, and
// returns its other entries. It reads the folder a batch at a time: as
// os.DirEntry values, a folder of a million files held 100 MB at once.
func (w *walker) readDir(dir, real, pat string, out *[]SourceFile) ([]dirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A file in the folder is in the state folder when the folder is;
	// a link or a folder is asked on its own.
	if w.state != "" && Inside(w.state, real) {
		pat = "" // nothing plain is a source
	}
	var rest []dirEntry
	// The matches are gathered a batch at a time and appended once, at
	// their count: growing one slice of a million by appending copied it
	// some thirty times.
	var batches [][]SourceFile
	n := 0
	defer func() {
		*out = slices.Grow(*out, n)
		for _, b := range batches {
			*out = append(*out, b...)
		}
	}()
	var names []string
	for {
		ents, err := f.ReadDir(4096)
		names = names[:0]
		for _, e := range ents {
			typ := e.Type()
			if !typ.IsRegular() {
				rest = append(rest, dirEntry{e.Name(), typ})
				continue
			}
			if pat == "" {
				continue
			}
			if ok, _ := doublestar.Match(pat, filepath.ToSlash(join(dir, e.Name()))); ok {
				names = append(names, e.Name())
			}
		}
		if len(names) > 0 {
			batch := w.files(dir, real, names)
			batches, n = append(batches, batch), n+len(batch)
		}
		switch {
		case err == io.EOF:
			return rest, nil
		case err != nil:
			return rest, err
		case len(ents) == 0:
			return rest, nil
		}
	}
}

// walkEntry lists what pat matches at a folder's entry that is no plain
// file: a link, a folder, or what neither reads.
func (w *walker) walkEntry(dir, real, pat string, depth int, boundary string, e dirEntry, dirInState bool, out *[]SourceFile) {
	p := join(dir, e.name)
	r := p
	if real != dir {
		r = join(real, e.name)
	}
	typ := e.typ
	link := typ&fs.ModeSymlink != 0
	if link {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return // dangling
		}
		fi, err := os.Stat(target)
		if err != nil {
			return
		}
		r, typ = target, fi.Mode().Type()
	}
	inState := dirInState
	if link || typ.IsDir() {
		inState = w.state != "" && Inside(w.state, r)
	}
	if inState {
		return // zpipe's own files are never a source
	}
	if typ.IsDir() {
		if depth == 1 {
			return
		}
		if link {
			switch {
			case Inside(r, real):
				w.skip(p, "the symlink loops back to "+w.show(r))
				return
			case !w.stage.Source.FollowSymlinks && !Inside(boundary, r):
				w.skip(p, fmt.Sprintf("the symlink leads out of the manifest's folder to %s; set source.follow_symlinks: true to read it", w.show(r)))
				return
			}
		}
		if depth < 0 {
			if w.visited[r] {
				return
			}
			w.visited[r] = true
		}
		w.walk(p, r, pat, max(depth-1, -1), boundary, out)
		return
	}
	if !typ.IsRegular() {
		return
	}
	if ok, _ := doublestar.Match(pat, filepath.ToSlash(p)); ok {
		w.linked = w.linked || r != p
		*out = append(*out, SourceFile{p, r})
	}
}

// files are the sources named in dir, whose real path is real. Their
// paths share one string: a million paths as strings of their own were a
// million objects for the collector to mark on every cycle.
func (w *walker) files(dir, real string, names []string) []SourceFile {
	prefix := join(dir, "") // dir and a separator
	var all strings.Builder
	all.Grow(len(names) * (len(prefix) + len(names[0])))
	ends := make([]int, len(names))
	for i, name := range names {
		all.WriteString(prefix)
		all.WriteString(name)
		ends[i] = all.Len()
	}
	paths := all.String()
	out := make([]SourceFile, len(names))
	start := 0
	for i, name := range names {
		p := paths[start:ends[i]]
		start = ends[i]
		r := p // the same string where no link is on the way
		if real != dir {
			r = join(real, name)
		}
		w.linked = w.linked || r != p
		out[i] = SourceFile{p, r}
	}
	return out
}

// join is filepath.Join for a clean folder and a name from it, without
// cleaning again: a folder of a million files asked for it a million
// times.
func join(dir, name string) string {
	if dir != "" && os.IsPathSeparator(dir[len(dir)-1]) {
		return dir + name
	}
	return dir + string(filepath.Separator) + name
}

// skip notes a path the walk leaves out: "not following" a link, or "not
// reading" a file.
func (w *walker) skip(path, why string, verb ...string) {
	if w.noted[path] {
		return
	}
	w.noted[path] = true
	rel, err := filepath.Rel(w.dir, path)
	if err != nil {
		rel = path
	}
	v := "not following"
	if len(verb) > 0 {
		v = verb[0]
	}
	w.out.Skipped = append(w.out.Skipped, fmt.Sprintf("%s %s: %s", v, filepath.ToSlash(rel), why))
}

// show names a real path relative to the manifest's real folder.
func (w *walker) show(real string) string {
	if rel, err := filepath.Rel(w.rootReal, real); err == nil {
		return filepath.ToSlash(rel)
	}
	return real
}

// realPath resolves every symlink in p, one component at a time, as the
// kernel would when opening it. A link whose target does not exist yet is
// followed all the same, and the part of p that does not exist is kept as
// written: so the place a file about to be created will really be is
// known, even when a folder another output creates later is where a
// dangling link leads.
func realPath(p string) string {
	p = filepath.Clean(p)
	if !filepath.IsAbs(p) {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
	}
	todo := strings.Split(strings.TrimPrefix(p, string(filepath.Separator)), string(filepath.Separator))
	cur := string(filepath.Separator)
	for hops := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, name)
		fi, err := os.Lstat(next)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		target, err := os.Readlink(next)
		if hops++; err != nil || hops > 255 {
			cur = next // a loop: leave it as written
			continue
		}
		if filepath.IsAbs(target) {
			cur = string(filepath.Separator)
		}
		todo = append(strings.Split(target, string(filepath.Separator)), todo...)
	}
	return cur
}
