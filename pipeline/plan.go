package pipeline

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/zpipe/zpipe/format"
)

// Plan is a manifest compiled to a DAG: the stages in the order they run,
// each with the stages it waits for and why.
type Plan struct {
	Manifest *Manifest
	// Stages in run order: dependencies first, then by priority, then as
	// the manifest lists them.
	Stages []*Stage
	// Deps maps a stage name to the stages it depends on.
	Deps map[string][]Dep
}

// Dep is one edge of the DAG.
type Dep struct {
	Stage string
	// Why is "needs", or the output path the stage reads.
	Why string
}

// Compile builds the DAG from needs and from implied edges, where a stage's
// source glob matches another stage's output, and orders it. A cycle is an
// *Error that names it.
func Compile(m *Manifest) (*Plan, error) {
	p := &Plan{Manifest: m, Deps: map[string][]Dep{}}
	byName := map[string]*Stage{}
	for _, s := range m.Stages {
		byName[s.Name] = s
	}
	// implied[s] lists, in stage order, each stage that writes what s
	// reads, with the first such file.
	implied := make([][]Dep, len(m.Stages))
	last := make([]int, len(m.Stages))
	for i := range last {
		last[i] = -1
	}
	idx := newReadIndex(m)
	for wi, w := range m.Stages {
		for _, out := range w.produces(m.Dir) {
			idx.readers(m, out, func(si int) {
				s := m.Stages[si]
				if si == wi || last[si] == wi || contains(s.Needs, w.Name) {
					return
				}
				last[si] = wi
				implied[si] = append(implied[si], Dep{w.Name, out})
			})
		}
	}
	for si, s := range m.Stages {
		for _, n := range s.Needs {
			p.Deps[s.Name] = append(p.Deps[s.Name], Dep{n, "needs"})
		}
		if len(implied[si]) > 0 {
			p.Deps[s.Name] = append(p.Deps[s.Name], implied[si]...)
		}
	}
	for _, s := range m.Stages {
		for _, out := range s.writes() {
			if s.readsOwn(m.Dir, out) {
				return nil, &Error{Diags: []Diagnostic{{File: s.pos, Path: "stages." + s.Name + ".source.paths",
					Msg: fmt.Sprintf("the stage reads its own output %s; exclude it or write elsewhere", out)}}}
			}
		}
	}
	if cycle := p.cycle(); cycle != nil {
		first := byName[cycle[0]]
		return nil, &Error{Diags: []Diagnostic{{File: first.pos, Msg: "stages depend on each other in a cycle: " + strings.Join(cycle, " -> ")}}}
	}
	p.order(byName)
	return p, nil
}

// writes lists the stage's outputs relative to the manifest, in slash
// form; a path with {dir} as written, for produces to fill it in.
func (s *Stage) writes() []string {
	var out []string
	for _, o := range s.Outputs {
		if strings.Contains(o.Path, "{dir}") {
			out = append(out, filepath.ToSlash(o.Path))
			continue
		}
		out = append(out, templateOf(o.Path))
	}
	return out
}

// readsOwn reports whether the stage's globs would match its own output
// out; {dir} stands for the folder of each of its source globs, where a
// per-source output lands. Unlike reads, each other placeholder is a
// name no source has: it is an error, and a per-source output matched
// only where it names its own source (../in/{stem}.json of ../in/a.json)
// is the guard's to refuse, as the source itself.
func (s *Stage) readsOwn(dir, out string) bool {
	if !strings.Contains(out, "{dir}") {
		return s.readsSample(dir, out)
	}
	for _, src := range s.Source.Paths {
		if s.readsSample(dir, filepath.ToSlash(filepath.Clean(strings.ReplaceAll(out, "{dir}", staticDir(matchGlob(dir, src)))))) {
			return true
		}
	}
	return false
}

// produces is writes plus the rejects file: everything another stage could
// read from this one. {dir} stands for the folders of the stage's own
// sources, where it puts per-source outputs.
func (s *Stage) produces(dir string) []string {
	var out []string
	for _, w := range s.writes() {
		if !strings.Contains(w, "{dir}") && !strings.Contains(w, "{ext}") {
			out = append(out, w)
			continue
		}
		for _, src := range s.Source.Paths {
			// {ext} is the sources' own where their glob says it
			// (*.ndjson): as any name, work/{stem}.{ext} of mid/*.ndjson
			// was read by work/*.json, a cycle that is not there.
			for _, d := range dirsOf(matchGlob(dir, src)) {
				t := strings.ReplaceAll(w, "{dir}", d)
				if ext, ok := literalExt(src); ok {
					t = strings.ReplaceAll(t, "{ext}", ext)
				}
				if t = templateOf(t); !contains(out, t) {
					out = append(out, t)
				}
			}
		}
	}
	if s.Rejects != "" {
		if rel, err := filepath.Rel(dir, s.Rejects); err == nil {
			out = append(out, filepath.ToSlash(rel))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cycle returns the first cycle found, as stage names with the first one
// repeated at the end, or nil.
func (p *Plan) cycle() []string {
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		state[n] = open
		stack = append(stack, n)
		for _, d := range p.Deps[n] {
			switch state[d.Stage] {
			case open:
				for i, s := range stack {
					if s == d.Stage {
						return append(append([]string(nil), stack[i:]...), d.Stage)
					}
				}
			case unseen:
				if c := visit(d.Stage); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	for _, s := range p.Manifest.Stages {
		if state[s.Name] == unseen {
			if c := visit(s.Name); c != nil {
				// Read the cycle in the direction data flows.
				for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
					c[i], c[j] = c[j], c[i]
				}
				return c
			}
		}
	}
	return nil
}

// order sorts the stages topologically, taking the ready stage with the
// highest priority first and the manifest's order among equals.
func (p *Plan) order(byName map[string]*Stage) {
	stages := p.Manifest.Stages
	index := make(map[string]int, len(stages))
	for i, s := range stages {
		index[s.Name] = i
	}
	deps := func(i int) []int {
		var out []int
		for _, d := range p.Deps[stages[i].Name] {
			out = append(out, index[d.Stage])
		}
		return out
	}
	less := func(a, b int) bool {
		if stages[a].Priority != stages[b].Priority {
			return stages[a].Priority > stages[b].Priority
		}
		return a < b
	}
	for _, i := range Order(len(stages), deps, less) {
		p.Stages = append(p.Stages, stages[i])
	}
}

// staticDir is the folder part of a glob before its first wildcard:
// "data/users" for "data/users/*.json", "." for "*.json".
// literalExt is the extension that every file a glob matches has, as
// {ext} holds it (ndjson.gz for a compressed one); ok is false when the
// glob does not fix one (data/*, data/*.*).
func literalExt(glob string) (string, bool) {
	name := glob[strings.LastIndexAny(glob, `/\`)+1:]
	base := format.TrimCompression(name)
	dot := strings.LastIndexByte(base, '.')
	if dot < 0 {
		return "", false
	}
	ext := name[dot+1:]
	if ext == "" || strings.ContainsAny(ext, `*?[]{}\`) {
		return "", false
	}
	return ext, true
}

// dirsOf is what {dir} may be for a file the glob matches: its static
// folder, and, when the glob reaches below it (data/**/*.json), also that
// folder followed by {dir}, one or more folders. The two are apart, since
// {dir} followed by a name ({dir}_out) is not optional as {dir}/ is.
func dirsOf(glob string) []string {
	d := staticDir(glob)
	rest := strings.TrimPrefix(strings.TrimPrefix(filepath.ToSlash(glob), filepath.ToSlash(StaticPrefix(glob))), "/")
	if !strings.Contains(rest, "/") && !strings.Contains(rest, "**") {
		return []string{d}
	}
	below := d + "/{dir}"
	if d == "." {
		below = "{dir}"
	}
	// The static folder itself only where ** may be no folder and then
	// the name follows (data/**/*.json, data/**): not data/*/*.json.
	direct := rest
	for strings.HasPrefix(direct, "**/") {
		direct = strings.TrimPrefix(direct, "**/")
	}
	if direct == "**" || !strings.Contains(direct, "/") {
		return []string{d, below}
	}
	return []string{below}
}

func staticDir(glob string) string {
	p := StaticPrefix(glob)
	switch {
	case p == glob:
		return filepath.Dir(glob)
	case p == "":
		return "."
	}
	return filepath.ToSlash(p)
}

// Only narrows the plan to the named stages and every stage they depend
// on, as make builds a target and what it needs; the order stays. A name
// the manifest does not have is an error that lists the ones it has.
func (p *Plan) Only(names []string) (*Plan, error) {
	keep := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if keep[name] {
			return
		}
		keep[name] = true
		for _, d := range p.Deps[name] {
			visit(d.Stage)
		}
	}
	var have []string
	for _, s := range p.Manifest.Stages {
		have = append(have, s.Name)
	}
	for _, n := range names {
		if !slices.Contains(have, n) {
			return nil, fmt.Errorf("%s has no stage %q (stages: %s)", p.Manifest.File, n, strings.Join(have, ", "))
		}
		visit(n)
	}
	out := &Plan{Manifest: p.Manifest, Deps: map[string][]Dep{}}
	for _, s := range p.Stages {
		if keep[s.Name] {
			out.Stages = append(out.Stages, s)
			out.Deps[s.Name] = p.Deps[s.Name]
		}
	}
	return out, nil
}
