package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/zpipe/zpipe/schema"
)

// Guard keeps the outputs of a run off what they must never overwrite: a
// manifest, a schema or transform, a source of the same stage, the state
// folder, a folder, anything outside the output root, and each other. It
// compares real paths, so a symlink cannot lead an output around a rule.
// One Guard serves a whole run, so that no two outputs of any stage of any
// manifest in it can claim one file.
type Guard struct {
	manifests []*Manifest
	stateDir  string
	stateReal string
	protected map[string]string // real path → what it is, for messages
	sources   []stageSources    // real paths of each stage's sources, as Check found them

	mu     sync.Mutex
	claims map[string]claim // real path of a target → the output that writes it
	// found is what Check found each stage's globs match, until the
	// stage takes it.
	found map[*Stage]*Sources
}

// claim is one output's hold on a file.
// stageSources are the real paths of a stage's sources.
type stageSources struct {
	m     *Manifest
	stage string
	set   RealSet
}

type claim struct {
	m      *Manifest
	stage  string
	out    int    // index into the stage's outputs; -1 for its rejects
	source string // for a per-source output, the source the file is for
}

// NewGuard prepares the checks for a run of these manifests with its state
// in stateDir.
func NewGuard(manifests []*Manifest, stateDir string) *Guard {
	g := &Guard{manifests: manifests, stateDir: stateDir, stateReal: realPath(stateDir),
		protected: map[string]string{}, claims: map[string]claim{}}
	for _, m := range manifests {
		g.protect(m.File, "the manifest "+m.Rel(m.File))
	}
	read := map[string]bool{} // manifest and JSON Schema whose documents are protected
	for _, m := range manifests {
		for _, s := range m.Stages {
			g.protect(s.Schema.File, "the schema of stage "+s.Name)
			if key := m.File + "\x00" + s.Schema.File; schema.IsJSONSchema(s.Schema.File) && !read[key] {
				read[key] = true
				// The documents its $refs lead to are the schema too. One
				// that cannot be read is the schema's to report.
				files, _ := schema.JSONSchemaFiles(s.Schema.File, m.SchemaRefs)
				for _, f := range files {
					g.protect(f, "a part of the schema of stage "+s.Name)
				}
			}
			if s.Transform != nil {
				g.protect(s.Transform.File, "the transform of stage "+s.Name)
			}
		}
	}
	return g
}

func (g *Guard) protect(path, what string) {
	if r := realPath(path); g.protected[r] == "" {
		g.protected[r] = what
	}
}

// Found returns, once, what Check found the stage's globs match. A stage
// that nothing in the run writes to may use it rather than walk the same
// folders again: walking a folder of a million files costs a second.
func (g *Guard) Found(s *Stage) *Sources {
	g.mu.Lock()
	defer g.mu.Unlock()
	src := g.found[s]
	delete(g.found, s)
	return src
}

// Check expands every output of every stage against the sources its globs
// match now, and reports each declaration that breaks a rule, at its
// position in the manifest, as an *Error. Stages that read what earlier
// stages write are checked again by Target when they run.
func (g *Guard) Check() error {
	var diags []Diagnostic
	keep := func(err error) bool {
		var e *Error
		if errors.As(err, &e) {
			diags = append(diags, e.Diags...)
		}
		return err == nil
	}
	for _, m := range g.manifests {
		for _, s := range m.Stages {
			src, err := s.Resolve(m, g.stateDir)
			if err != nil {
				diags = append(diags, Diagnostic{File: m.DisplayName(), Msg: err.Error()})
				continue
			}
			// Each stage's set, not their union: a copy of a
			// million paths is 50 MB.
			reals := src.Reals()
			g.sources = append(g.sources, stageSources{m, s.Name, reals})
			g.mu.Lock()
			if g.found == nil {
				g.found = map[*Stage]*Sources{}
			}
			g.found[s] = src
			g.mu.Unlock()
			for k, o := range s.Outputs {
				if !o.PerSource() {
					_, err := g.Target(m, s, k, "", reals)
					keep(err)
					continue
				}
				for _, f := range src.Files {
					if _, err := g.Target(m, s, k, f.Path, reals); !keep(err) {
						break // one finding a declaration is enough
					}
				}
			}
			if s.Rejects != "" {
				_, err := g.Target(m, s, -1, "", reals)
				keep(err)
			}
		}
	}
	if len(diags) > 0 {
		return &Error{Diags: diags}
	}
	return nil
}

// Reals is the set of the real paths of the files, made once and shared.
func (s *Sources) Reals() RealSet {
	if s.reals == nil {
		set := realSetOf(s.Files)
		s.reals = &set
	}
	return *s.reals
}

// Reads says whether a stage of the run reads the file at path, as Check
// found the stages' sources.
func (g *Guard) Reads(path string) bool {
	return g.isSource(filepath.Join(realPath(filepath.Dir(path)), filepath.Base(path)))
}

func (g *Guard) isSource(real string) bool {
	return g.readBy(real, func(*Manifest, string) bool { return false })
}

// readBy tells whether a stage of the run reads real, other than those
// that may.
func (g *Guard) readBy(real string, may func(m *Manifest, stage string) bool) bool {
	for _, src := range g.sources {
		if src.set.Has(real) && (may == nil || !may(src.m, src.stage)) {
			return true
		}
	}
	return false
}

// Target returns the file that output out of stage s writes (out -1 is the
// stage's rejects file); for a per-source output, the file for source.
// sources holds the real paths of the stage's sources. It claims the file
// for the output, and fails with a positioned *Error when the file is not
// the output's to write.
func (g *Guard) Target(m *Manifest, s *Stage, out int, source string, sources RealSet) (string, error) {
	at := []string{"stages", s.Name, "rejects"}
	what, template := "rejects file", m.Rel(s.Rejects)
	if out >= 0 {
		at = []string{"stages", s.Name, "outputs", strconv.Itoa(out), "path"}
		what, template = "output", s.Outputs[out].Path
	}
	fail := func(format string, args ...any) (string, error) {
		line, col := m.Pos(at...)
		msg := fmt.Sprintf("%s %q", what, template)
		if source != "" {
			msg += " for the source " + relTo(m.Dir, source)
		}
		return "", &Error{Diags: []Diagnostic{{File: m.DisplayName(), Line: line, Col: col, Path: dotted(at), Msg: msg + fmt.Sprintf(format, args...)}}}
	}
	path := filepath.Join(m.Dir, template)
	if source != "" {
		path = m.expand(template, source)
	} else if out < 0 {
		path = s.Rejects
	}
	root := m.root()
	if !Inside(root, path) {
		return fail(" is %s, which escapes %s", relTo(m.Dir, path), m.rootName())
	}
	// {dir} of a source outside the manifest's folder climbs (../ext):
	// out/{dir}/x would land beside the user's own files.
	if lit := literalDir(m.Dir, template); source != "" && !Inside(lit, path) {
		return fail(" is %s, which leaves %s/: {dir} is %s", relTo(m.Dir, path), relTo(m.Dir, lit), relTo(m.Dir, filepath.Dir(source)))
	}
	// The file itself may be a symlink: a rename replaces the link, not
	// what it points to, so only its folder is resolved.
	real := filepath.Join(realPath(filepath.Dir(path)), filepath.Base(path))
	if !Inside(realPath(root), real) {
		return fail(" is %s through a symlink, which escapes %s", relTo(realPath(m.Dir), real), m.rootName())
	}
	if Inside(g.stateReal, real) {
		return fail(" is inside the state folder %s", m.Rel(g.stateDir))
	}
	if p := g.protected[real]; p != "" {
		if p == "the manifest "+m.Rel(m.File) {
			p = "the manifest itself"
		}
		return fail(" is %s, %s", m.Rel(path), p)
	}
	if sources.Has(real) {
		return fail(" is %s, a source of this stage", m.Rel(path))
	}
	// A symlink is replaced, not written through; one that names what
	// zpipe may not write shows a mistake in the manifest.
	if to := linkTarget(real); to != "" {
		switch {
		case sources.Has(to):
			return fail(" is a symlink to %s, a source of this stage", relTo(realPath(m.Dir), to))
		case g.protected[to] != "":
			return fail(" is a symlink to %s, %s", relTo(realPath(m.Dir), to), g.protected[to])
		case Inside(g.stateReal, to):
			return fail(" is a symlink into the state folder %s", m.Rel(g.stateDir))
		}
	}
	if fi, err := os.Lstat(real); err == nil && fi.IsDir() {
		return fail(" is an existing directory")
	}
	c := claim{m: m, stage: s.Name, out: out}
	if out >= 0 && s.Outputs[out].PerSource() {
		c.source = source
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	prev, taken := g.claims[real]
	shown := m.Rel(path)
	if r := relTo(realPath(m.Dir), real); r != shown {
		shown += " (" + r + " through a symlink)"
	}
	switch {
	case !taken:
		g.claims[real] = c
	case prev == c:
	case prev.m == m && prev.stage == s.Name && prev.out == out:
		return fail(" is %s, which it also gives for the source %s", shown, m.Rel(prev.source))
	default:
		line, col := prev.m.Pos(prev.at()...)
		return fail(" is %s, which %s (%s:%d:%d) also writes", shown, dotted(prev.at()[:len(prev.at())-boolInt(prev.out >= 0)]), prev.m.DisplayName(), line, col)
	}
	return path, nil
}

// Replaceable says why zpipe may not replace the file at path as an output
// of m, or nil: it must lie inside m's output root, outside the state
// folder, and be no manifest, schema, transform or source of the run. A
// journal can be edited or copied, so what it names is checked here
// before zpipe renames anything over it.
func (g *Guard) Replaceable(m *Manifest, path string) error {
	return g.ReplaceableFor(m, path, nil)
}

// ReplaceableFor is Replaceable, but a source only of the stages that
// may (of manifest m and name stage) read the file is replaced: they read
// it after the replacement, or would read its replacement anyway.
func (g *Guard) ReplaceableFor(m *Manifest, path string, may func(m *Manifest, stage string) bool) error {
	if may == nil {
		may = func(*Manifest, string) bool { return false }
	}
	real := filepath.Join(realPath(filepath.Dir(path)), filepath.Base(path))
	switch {
	case !Inside(m.root(), path) || !Inside(realPath(m.root()), real):
		return fmt.Errorf("%s is outside %s", relTo(m.Dir, path), m.rootName())
	case Inside(g.stateReal, real):
		return fmt.Errorf("%s is inside the state folder", relTo(m.Dir, path))
	case g.protected[real] != "":
		return fmt.Errorf("%s is %s", relTo(m.Dir, path), g.protected[real])
	case g.readBy(real, may):
		return fmt.Errorf("%s is a source", relTo(m.Dir, path))
	}
	if to := linkTarget(real); to != "" && (g.readBy(to, may) || g.protected[to] != "" || Inside(g.stateReal, to)) {
		return fmt.Errorf("%s is a symlink to %s", relTo(m.Dir, path), relTo(realPath(m.Dir), to))
	}
	return nil
}

// linkTarget is where the symlink at path leads, resolved all the way, or
// "" when path is no symlink.
func linkTarget(path string) string {
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return ""
	}
	return realPath(path)
}

// literalDir is the folder an output template names before its first
// placeholder: what a per-source file must stay inside.
func literalDir(dir, template string) string {
	if i := strings.IndexByte(template, '{'); i >= 0 {
		template = template[:i] + "x"
	}
	return filepath.Join(dir, filepath.Dir(template))
}

// Removable is Replaceable for a file zpipe wrote for stage of m and would
// now remove; it must also not be the output of another stage of the run.
func (g *Guard) Removable(m *Manifest, stage, path string) error {
	return g.RemovableFor(m, stage, path, nil)
}

// RemovableFor is Removable, but a source only of the stages that may
// read the file is removed, as ReplaceableFor says.
func (g *Guard) RemovableFor(m *Manifest, stage, path string, may func(m *Manifest, stage string) bool) error {
	if err := g.ReplaceableFor(m, path, may); err != nil {
		return err
	}
	real := filepath.Join(realPath(filepath.Dir(path)), filepath.Base(path))
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.claims[real]; ok && (c.m != m || c.stage != stage) {
		return fmt.Errorf("%s is an output of stage %s", relTo(m.Dir, path), c.stage)
	}
	return nil
}

// Claims reports whether stage of m writes the file at path in this run,
// as Check found its outputs.
func (g *Guard) Claims(m *Manifest, stage, path string) bool {
	real := filepath.Join(realPath(filepath.Dir(path)), filepath.Base(path))
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.claims[real]
	return ok && c.m == m && c.stage == stage
}

// at is the manifest path of the claim's declaration.
func (c claim) at() []string {
	if c.out < 0 {
		return []string{"stages", c.stage, "rejects"}
	}
	return []string{"stages", c.stage, "outputs", strconv.Itoa(c.out), "path"}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func relTo(dir, p string) string {
	if rel, err := filepath.Rel(dir, p); err == nil {
		return filepath.ToSlash(rel)
	}
	return p
}
