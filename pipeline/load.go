package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zpipe/zpipe/cueschemas"
	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// LoadOption configures Load.
type LoadOption func(*loader)

// OutRoot lets outputs go anywhere under root instead of only under the
// manifest's folder.
func OutRoot(root string) LoadOption {
	return func(l *loader) { l.root = root }
}

// manifestSchema checks a manifest; filledSchema gives it back with its
// defaults, once it passes.
var (
	manifestSchema = sync.OnceValues(func() (*schema.Schema, error) {
		return schema.Compile("manifest.cue", cueschemas.Manifest, "Manifest")
	})
	filledSchema = sync.OnceValues(func() (*schema.Schema, error) {
		return schema.Compile("manifest.cue", cueschemas.Manifest, "Filled")
	})
	filledStageSchema = sync.OnceValues(func() (*schema.Schema, error) {
		return schema.Compile("manifest.cue", cueschemas.Manifest, "FilledStage")
	})
)

// Load reads a manifest, checks it against cueschemas/manifest.cue and
// against the rules a schema cannot state (schema references, output paths
// inside the root, stage names in needs), and resolves defaults and paths.
// A bad manifest returns an *Error listing every problem with its position.
func Load(file string, opts ...LoadOption) (*Manifest, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{Diags: []Diagnostic{{File: file, Msg: "manifest does not exist"}}}
		}
		return nil, &Error{Diags: []Diagnostic{{File: file, Msg: err.Error()}}}
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	l := &loader{name: file, m: &Manifest{File: abs, Dir: filepath.Dir(abs)}}
	l.root = l.m.Dir
	for _, o := range opts {
		o(l)
	}
	if l.root, err = filepath.Abs(l.root); err != nil {
		return nil, err
	}
	l.m.Root = l.root
	sum := sha256.Sum256(data)
	l.m.Sum = hex.EncodeToString(sum[:])
	return l.load(data)
}

type loader struct {
	name  string // the manifest as the user named it
	root  string
	m     *Manifest
	rec   format.Record
	diags []Diagnostic
}

func (l *loader) errorf(path []string, format string, args ...any) {
	line, col := l.rec.Locate(path)
	l.diags = append(l.diags, Diagnostic{File: l.name, Line: line, Col: col, Path: dotted(path), Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) load(data []byte) (*Manifest, error) {
	dec, err := format.NewDecoder(format.YAML, bytes.NewReader(data), format.DefaultLimits)
	if err == nil {
		l.rec, err = dec.Next()
	}
	if err == io.EOF {
		return nil, &Error{Diags: []Diagnostic{{File: l.name, Msg: "manifest is empty"}}}
	}
	if err != nil {
		return nil, &Error{Diags: []Diagnostic{decodeDiag(l.name, err)}}
	}
	if _, err := dec.Next(); err != io.EOF {
		d := Diagnostic{File: l.name, Msg: "manifest holds more than one YAML document"}
		if err != nil {
			d = decodeDiag(l.name, err)
		}
		return nil, &Error{Diags: []Diagnostic{d}}
	}
	if _, ok := l.check(manifestSchema, l.rec.Value, nil); !ok {
		return nil, &Error{Diags: l.diags}
	}
	filled, ok := l.fill()
	if !ok {
		return nil, &Error{Diags: l.diags}
	}
	l.build(filled)
	if len(l.diags) > 0 {
		return nil, &Error{Diags: l.diags}
	}
	l.m.src = &source{l.name, l.rec}
	return l.m, nil
}

// check checks a value of the manifest, at path, against one of
// manifest.cue's definitions and returns what it gave back; its
// violations become diagnostics.
func (l *loader) check(load func() (*schema.Schema, error), value any, path []string) (any, bool) {
	sch, err := load()
	if err != nil {
		panic("cueschemas/manifest.cue does not compile: " + err.Error())
	}
	v := sch.Validator()
	checked, violations := v.Check(value, false)
	sch.Put(v)
	for _, vi := range violations {
		elems := append(slices.Clip(path), vi.Elems...)
		line, col := l.rec.Locate(elems)
		if strings.HasPrefix(vi.Msg, "field not allowed") {
			line, col = l.rec.LocateKey(elems) // where the typo is
		}
		l.diags = append(l.diags, Diagnostic{File: l.name, Line: line, Col: col, Path: schema.PathString(elems), Msg: vi.Msg})
	}
	return checked, len(violations) == 0
}

// fill gives the manifest back with its defaults: the top level with
// #Filled, each stage with #FilledStage, so that a manifest of many
// stages costs what its stages do, not one evaluation that grows faster.
func (l *loader) fill() (*format.Object, bool) {
	doc, _ := l.rec.Value.(*format.Object)
	stages, _ := get(doc, "stages").(*format.Object)
	filled, ok := l.check(filledSchema, withStages(doc, &format.Object{}), nil)
	if !ok {
		return nil, false
	}
	all := &format.Object{}
	for _, f := range stages.Fields {
		st, ok := l.check(filledStageSchema, f.Value, []string{"stages", f.Key})
		if !ok {
			return nil, false
		}
		all.Fields = append(all.Fields, format.Field{Key: f.Key, Value: st})
	}
	return withStages(filled.(*format.Object), all), true
}

// withStages is a copy of a manifest whose stages are stages.
func withStages(doc, stages *format.Object) *format.Object {
	out := &format.Object{Fields: slices.Clone(doc.Fields)}
	for i := range out.Fields {
		if out.Fields[i].Key == "stages" {
			out.Fields[i].Value = stages
		}
	}
	return out
}

func decodeDiag(file string, err error) Diagnostic {
	var fe *format.Error
	if errors.As(err, &fe) {
		return Diagnostic{File: file, Line: fe.Line, Col: fe.Col, Msg: fe.Msg}
	}
	return Diagnostic{File: file, Msg: err.Error()}
}

// The raw forms of a manifest's parts, decoded from what the manifest
// schema gave back: every key checked, and manifest.cue's defaults filled
// in. What a schema cannot say (that a duration parses, which stage a
// name means) is checked while they become a Manifest.
type (
	rawManifest struct {
		Name     string            `json:"name"`
		Executor string            `json:"executor"`
		Priority json.RawMessage   `json:"priority"`
		Defaults rawSettings       `json:"defaults"`
		Limits   rawLimits         `json:"limits"`
		Schemas  map[string]string `json:"schemas"`
		Refs     map[string]string `json:"schema_refs"`
	}
	rawSettings struct {
		Parallel *int    `json:"parallel"`
		OnError  *string `json:"on_error"`
		Retry    struct {
			Max      *int     `json:"max"`
			Delay    *string  `json:"delay"`
			Backoff  *float64 `json:"backoff"`
			MaxDelay *string  `json:"max_delay"`
		} `json:"retry"`
		Timeout *string `json:"timeout"`
	}
	rawLimits struct {
		MaxConcurrentStages int             `json:"max_concurrent_stages"`
		MaxMemory           json.RawMessage `json:"max_memory"`
		Throttle            *string         `json:"throttle"`
		Rate                *string         `json:"rate"`
	}
	rawStage struct {
		rawSettings
		Priority json.RawMessage `json:"priority"`
		Needs    []string        `json:"needs"`
		Source   struct {
			Paths          []string `json:"paths"`
			Exclude        []string `json:"exclude"`
			Format         string   `json:"format"`
			FollowSymlinks bool     `json:"follow_symlinks"`
			Whole          bool     `json:"whole"`
		} `json:"source"`
		Schema    string  `json:"schema"`
		Transform *string `json:"transform"`
		Outputs   []struct {
			Format string `json:"format"`
			Path   string `json:"path"`
			Indent int    `json:"indent"`
			Pretty *bool  `json:"pretty"`
		} `json:"outputs"`
		Rejects *string `json:"rejects"`
	}
)

// decode reads a part of the checked manifest into its raw form.
func decode(v any, into any) error {
	b, err := format.AppendJSON(nil, v)
	if err == nil {
		err = json.Unmarshal(b, into)
	}
	return err
}

// build fills the Manifest from a value the manifest schema accepted, so
// every key and type here is already known to be right.
func (l *loader) build(doc *format.Object) {
	m := l.m
	var raw rawManifest
	if err := decode(doc, &raw); err != nil {
		l.errorf(nil, "%v", err)
		return
	}
	m.Version = 1
	m.Name, m.Executor = raw.Name, raw.Executor
	for prefix, path := range raw.Refs {
		if m.SchemaRefs == nil {
			m.SchemaRefs = map[string]string{}
		}
		abs := path
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(m.Dir, path)
		}
		if strings.HasSuffix(path, "/") {
			abs += string(filepath.Separator)
		}
		m.SchemaRefs[prefix] = abs
	}
	if m.Name == "" {
		m.Name = strings.TrimSuffix(filepath.Base(m.File), filepath.Ext(m.File))
	}
	m.Priority = priority(raw.Priority)
	defaults := Settings{Parallel: runtime.NumCPU()}
	defaults = l.settings(raw.Defaults, defaults, []string{"defaults"})
	l.limits(raw.Limits)
	stages, _ := get(doc, "stages").(*format.Object)
	if stages == nil || len(stages.Fields) == 0 {
		l.errorf([]string{"stages"}, "manifest declares no stages")
		return
	}
	for _, f := range stages.Fields {
		var rs rawStage
		if err := decode(f.Value, &rs); err != nil {
			l.errorf([]string{"stages", f.Key}, "%v", err)
			continue
		}
		l.stage(f.Key, rs, defaults, raw.Schemas)
	}
	names := map[string]bool{}
	for _, s := range m.Stages {
		names[s.Name] = true
	}
	for _, s := range m.Stages {
		for i, n := range s.Needs {
			if !names[n] {
				l.errorf([]string{"stages", s.Name, "needs", strconv.Itoa(i)}, "no stage is named %q (stages: %s)", n, strings.Join(slices.Sorted(maps.Keys(names)), ", "))
			}
		}
	}
}

// priority reads a priority: a name from Priorities, or a number.
func priority(raw json.RawMessage) int {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		return Priorities[name]
	}
	var n int
	json.Unmarshal(raw, &n)
	return n
}

// settings lays what o sets over s.
func (l *loader) settings(o rawSettings, s Settings, at []string) Settings {
	if o.Parallel != nil {
		s.Parallel, s.ParallelSet = *o.Parallel, true
	}
	if o.OnError != nil {
		s.OnError = OnError(*o.OnError)
	}
	if o.Timeout != nil {
		s.Timeout = l.duration(*o.Timeout, at, "timeout")
	}
	r, rat := o.Retry, append(slices.Clip(at), "retry")
	if r.Max != nil {
		s.Retry.Max = *r.Max
	}
	if r.Delay != nil {
		s.Retry.Delay = l.duration(*r.Delay, rat, "delay")
	}
	if r.Backoff != nil {
		s.Retry.Backoff = *r.Backoff
	}
	if r.MaxDelay != nil {
		s.Retry.MaxDelay = l.duration(*r.MaxDelay, rat, "max_delay")
	}
	return s
}

func (l *loader) limits(o rawLimits) {
	at := []string{"limits"}
	lim := &l.m.Limits
	lim.MaxConcurrentStages = o.MaxConcurrentStages
	if len(o.MaxMemory) > 0 {
		var size string
		if json.Unmarshal(o.MaxMemory, &size) == nil {
			n, err := ParseSize(size)
			if err != nil {
				l.errorf(append(at, "max_memory"), "%v", err)
			}
			lim.MaxMemory = n
		} else {
			json.Unmarshal(o.MaxMemory, &lim.MaxMemory)
		}
	}
	if o.Throttle != nil {
		lim.Throttle = l.duration(*o.Throttle, at, "throttle")
	}
	if o.Rate != nil {
		num, unit, _ := strings.Cut(*o.Rate, "/")
		n, _ := strconv.ParseFloat(num, 64)
		per := map[string]float64{"s": 1, "m": 60, "h": 3600}[unit]
		lim.Rate = n / per
	}
}

func (l *loader) duration(s string, at []string, key string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		l.errorf(append(slices.Clip(at), key), "%q is not a duration such as 200ms or 1m30s", s)
	}
	return d
}

var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?) ?([KMGT]i?B|B)?$`)

// ParseSize reads a byte size such as 512MiB, 1.5GB or 4096.
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size such as 512MiB or 2GB", s)
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	return int64(n * unit), nil
}

func (l *loader) stage(name string, o rawStage, defaults Settings, named map[string]string) {
	at := []string{"stages", name}
	s := &Stage{Name: name, Settings: l.settings(o.rawSettings, defaults, at), Priority: priority(o.Priority), Needs: o.Needs}
	line, col := l.rec.Locate(at)
	s.pos = fmt.Sprintf("%s:%d:%d", l.name, line, col)
	s.Source.Paths, s.Source.Exclude, s.Source.FollowSymlinks = o.Source.Paths, o.Source.Exclude, o.Source.FollowSymlinks
	s.Source.Whole = o.Source.Whole
	if o.Source.Format != "auto" {
		s.Source.Format = format.Format(o.Source.Format)
	}
	for i, p := range s.Source.Paths {
		if _, err := filepath.Match(strings.ReplaceAll(p, "**", "*"), ""); err != nil {
			l.errorf(append(at, "source", "paths", strconv.Itoa(i)), "bad glob %q: %v", p, err)
		}
	}
	var ok bool
	if s.Schema, ok = l.schemaRef(o.Schema, named, append(at, "schema")); !ok {
		return
	}
	if o.Transform != nil {
		spec, ok := l.schemaRef(*o.Transform, named, append(at, "transform"))
		if !ok {
			return
		}
		s.Transform = &spec
	}
	for i, out := range o.Outputs {
		oat := append(slices.Clip(at), "outputs", strconv.Itoa(i))
		f := format.Format(out.Format)
		l.layout(f, "indent", out.Indent != 0, oat)
		l.layout(f, "pretty", out.Pretty != nil, oat)
		if l.outputPath(out.Path, append(slices.Clip(oat), "path")) {
			s.Outputs = append(s.Outputs, Output{Format: f, Path: out.Path, Indent: out.Indent, Pretty: out.Pretty})
		}
	}
	if o.Rejects != nil && hasPlaceholder(*o.Rejects) && unknownPlaceholder(*o.Rejects) == "" {
		ph := placeholderRE.FindString(*o.Rejects)
		l.errorf(append(slices.Clip(at), "rejects"), "rejects path %q has the placeholder %s, but a stage has one rejects file; name it without one", *o.Rejects, ph)
	} else if o.Rejects != nil && l.outputPath(*o.Rejects, append(slices.Clip(at), "rejects")) {
		s.Rejects = filepath.Join(l.m.Dir, *o.Rejects)
	}
	l.m.Stages = append(l.m.Stages, s)
}

// layout reports an output option set on a format that would ignore it.
func (l *loader) layout(f format.Format, option string, set bool, at []string) {
	if set && !f.Honours(option) {
		l.errorf(append(slices.Clip(at), option), "%s does not apply to a %s output; it shapes %s", option, f, joinFormats(format.HonouredBy(option)))
	}
}

func joinFormats(fs []format.Format) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	switch len(s) {
	case 1:
		return s[0] + " only"
	default:
		return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
	}
}

// schemaRef resolves a schema name from the manifest's schemas, a
// file.cue#Definition reference or a JSON Schema file, to a spec with an
// absolute file.
func (l *loader) schemaRef(ref string, named map[string]string, at []string) (schema.Spec, bool) {
	if spec, ok := named[ref]; ok {
		ref = spec
	} else if file, _, _ := strings.Cut(ref, "#"); !strings.HasSuffix(file, ".cue") && !schema.IsJSONSchema(file) {
		l.errorf(at, "%q is neither a name under schemas (%s) nor a .cue or JSON Schema (.json) file", ref, strings.Join(slices.Sorted(maps.Keys(named)), ", "))
		return schema.Spec{}, false
	}
	spec, err := schema.ParseSpec(ref)
	if err != nil {
		l.errorf(at, "%v", err)
		return spec, false
	}
	if !filepath.IsAbs(spec.File) {
		spec.File = filepath.Join(l.m.Dir, spec.File)
	}
	return spec, true
}

// outputPath checks a written path as written: it must stay inside the
// root whatever its placeholders hold. Guard checks where it really leads.
func (l *loader) outputPath(p string, at []string) bool {
	if bad := unknownPlaceholder(p); bad != "" {
		l.errorf(at, "unknown placeholder %s; use {stem}, {name}, {ext} or {dir}", bad)
		return false
	}
	if filepath.IsAbs(p) {
		l.errorf(at, "output path %q is absolute; write it relative to the manifest", p)
		return false
	}
	abs := filepath.Join(l.m.Dir, placeholderRE.ReplaceAllString(p, "x"))
	if !Inside(l.root, abs) {
		l.errorf(at, "output path %q escapes %s", p, l.m.rootName())
		return false
	}
	return true
}

// Inside reports whether p is root or lies under it, comparing the paths
// as written.
func Inside(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func get(o *format.Object, key string) any {
	v, _ := o.Get(key)
	return v
}

func dotted(path []string) string {
	var b strings.Builder
	for _, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}
