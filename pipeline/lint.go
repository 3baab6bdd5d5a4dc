package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"

	"cuelang.org/go/cue"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// Lint checks a loaded manifest for what Load does not: that the stages
// form no cycle, that schemas and transforms compile and their definitions
// exist, that each source glob matches a file or a stage's output (a
// warning), and that each output's format can hold every field the schema
// allows. It reads schema files and lists folders, and writes nothing. The
// diagnostics come in manifest order, each at the node it is about. When
// ctx ends, a schema still compiling is an error: ctx's.
func Lint(ctx context.Context, m *Manifest) []Diagnostic {
	l := &linter{ctx: ctx, m: m, name: m.DisplayName(), schemas: map[string]schemaResult{}, stateDir: filepath.Join(m.Dir, ".zpipe")}
	defer func() {
		for _, r := range l.schemas {
			if r.s != nil {
				r.s.Close()
			}
		}
	}()
	l.compile()
	l.outputs()
	l.writtenGlobs()
	for i, s := range m.Stages {
		l.globs(i, s)
		if sch := l.schema(s); sch != nil {
			l.formats(s, sch)
		}
	}
	sort.SliceStable(l.diags, func(i, j int) bool {
		a, b := l.diags[i], l.diags[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return l.diags
}

type linter struct {
	ctx      context.Context
	m        *Manifest
	stateDir string
	name     string
	diags    []Diagnostic
	// schemas caches compiled schemas by spec, since stages often share one.
	schemas map[string]schemaResult
	// written holds the source globs, by stage and path, that match a
	// file some stage writes.
	written map[[2]int]bool
}

type schemaResult struct {
	s   *schema.Schema
	err error
}

func (l *linter) add(sev Severity, at []string, msg string, args ...any) {
	line, col := l.m.Pos(at...)
	l.diags = append(l.diags, Diagnostic{File: l.name, Line: line, Col: col, Path: dotted(at), Msg: fmt.Sprintf(msg, args...), Severity: sev})
}

// compile reports what Compile finds: a cycle, or a stage that reads its
// own output.
func (l *linter) compile() {
	_, err := Compile(l.m)
	var e *Error
	if err == nil || !errors.As(err, &e) {
		if err != nil {
			l.diags = append(l.diags, Diagnostic{File: l.name, Msg: err.Error()})
		}
		return
	}
	for _, d := range e.Diags {
		// Compile names the stage by its position in File; locate the
		// stage's node instead, or its source.paths when Compile names it.
		for _, s := range l.m.Stages {
			if d.File != s.pos {
				continue
			}
			at := []string{"stages", s.Name}
			if d.Path != "" {
				at = append(at, "source", "paths")
			}
			l.add(SeverityError, at, "%s", d.Msg)
		}
	}
}

// outputs reports the outputs that a run would refuse to write: see Guard.
func (l *linter) outputs() {
	var e *Error
	if err := NewGuard([]*Manifest{l.m}, l.stateDir).Check(); errors.As(err, &e) {
		l.diags = append(l.diags, e.Diags...)
	} else if err != nil {
		l.diags = append(l.diags, Diagnostic{File: l.name, Msg: err.Error()})
	}
}

// globs warns about a source glob that matches no file, unless a stage
// writes a file it would match: that file appears during the run.
func (l *linter) globs(si int, s *Stage) {
	for i, p := range s.Source.Paths {
		if p == Stdin {
			continue
		}
		one := *s
		one.Source.Paths = []string{p}
		at := []string{"stages", s.Name, "source", "paths", strconv.Itoa(i)}
		src, err := one.Resolve(l.m, l.stateDir)
		if err != nil {
			l.add(SeverityError, at, "%v", err)
			continue
		}
		for _, why := range src.Skipped {
			l.add(SeverityWarning, at, "%s", why)
		}
		if len(src.Files) == 0 && !l.written[[2]int{si, i}] {
			l.add(SeverityWarning, at, "source %q matches no file", p)
		}
	}
}

// writtenGlobs finds the source globs that match a file a stage writes.
// A stage's own outputs count too: Compile reports that as an error, so a
// warning would only repeat it.
func (l *linter) writtenGlobs() {
	l.written = map[[2]int]bool{}
	idx := newReadIndex(l.m)
	for _, w := range l.m.Stages {
		for _, out := range w.produces(l.m.Dir) {
			idx.globs(l.m, out, func(stage, path int) { l.written[[2]int{stage, path}] = true })
		}
	}
}

// schema compiles the stage's schema, then with its transform, so that an
// error points at the value that names the broken file. It returns nil
// after reporting an error.
func (l *linter) schema(s *Stage) *schema.Schema {
	at := []string{"stages", s.Name, "schema"}
	sch, err := l.load(s.Schema, nil)
	if err == nil && s.Transform != nil {
		at[2] = "transform"
		sch, err = l.load(s.Schema, s.Transform)
	}
	if err != nil {
		l.diags = append(l.diags, l.m.ErrorAt(err, at...).Diags...)
		return nil
	}
	return sch
}

func (l *linter) load(spec schema.Spec, transform *schema.Spec) (*schema.Schema, error) {
	key := spec.String()
	if transform != nil {
		key += "\x00" + transform.String()
	}
	r, ok := l.schemas[key]
	if !ok {
		r.s, r.err = l.m.LoadSchema(spec, transform, schema.WithContext(l.ctx))
		l.schemas[key] = r
	}
	return r.s, r.err
}

// formats reports fields the schema allows that an output's format cannot
// hold, as its codec declares. A csv column for objects or lists is a
// design mistake, so an error; a field that allows null may never be null
// in practice, so a format without null, such as toml, gets a warning, as
// does a string field with a default in a format that reads "" as absent.
func (l *linter) formats(s *Stage, sch *schema.Schema) {
	spec := s.Schema
	if s.Transform != nil {
		spec = *s.Transform
	}
	spec.File = l.m.Rel(spec.File)
	fields := sch.Fields()
	for i, o := range s.Outputs {
		at := []string{"stages", s.Name, "outputs", strconv.Itoa(i)}
		for _, f := range fields {
			if f.Kind == cue.TopKind {
				continue // _ allows anything; only the records can tell
			}
			switch {
			case f.Kind&cue.StructKind != 0 && !o.Format.Holds(format.Objects):
				l.add(SeverityError, at, "%s cannot hold the nested object field %q (%s)", o.Format, f.Name, spec)
			case f.Kind&cue.ListKind != 0 && !o.Format.Holds(format.Lists):
				l.add(SeverityError, at, "%s cannot hold the list field %q (%s)", o.Format, f.Name, spec)
			case f.Kind&cue.NullKind != 0 && !o.Format.Holds(format.Nulls):
				l.add(SeverityWarning, at, "%s cannot hold null, which the field %q allows (%s)", o.Format, f.Name, spec)
			case f.Kind&cue.StringKind != 0 && f.Default && !o.Format.Holds(format.EmptyStrings):
				l.add(SeverityWarning, at, "%s writes \"\" as an empty cell, which reads back as absent, so the default of the field %q replaces it (%s)", o.Format, f.Name, spec)
			}
		}
	}
}
