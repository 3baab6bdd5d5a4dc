package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
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

var manifestSchema = sync.OnceValues(func() (*schema.Schema, error) {
	return schema.Compile("manifest.cue", cueschemas.Manifest, "Manifest")
})

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
	sch, err := manifestSchema()
	if err != nil {
		panic("cueschemas/manifest.cue does not compile: " + err.Error())
	}
	v := sch.Validator()
	_, violations := v.Check(l.rec.Value, false)
	sch.Put(v)
	for _, vi := range violations {
		line, col := l.rec.Locate(vi.Elems)
		l.diags = append(l.diags, Diagnostic{File: l.name, Line: line, Col: col, Path: vi.Path, Msg: vi.Msg})
	}
	if len(l.diags) > 0 {
		return nil, &Error{Diags: l.diags}
	}
	l.build(l.rec.Value.(*format.Object))
	if len(l.diags) > 0 {
		return nil, &Error{Diags: l.diags}
	}
	l.m.src = &source{l.name, l.rec}
	return l.m, nil
}

func decodeDiag(file string, err error) Diagnostic {
	var fe *format.Error
	if errors.As(err, &fe) {
		return Diagnostic{File: file, Line: fe.Line, Col: fe.Col, Msg: fe.Msg}
	}
	return Diagnostic{File: file, Msg: err.Error()}
}

// build fills the Manifest from a value the manifest schema accepted, so
// every key and type here is already known to be right.
func (l *loader) build(doc *format.Object) {
	m := l.m
	m.Version = 1
	m.Name, _ = get(doc, "name").(string)
	if m.Name == "" {
		m.Name = strings.TrimSuffix(filepath.Base(m.File), filepath.Ext(m.File))
	}
	m.Priority = PriorityNormal
	switch p := get(doc, "priority").(type) {
	case string:
		m.Priority = Priorities[p]
	case format.Number:
		m.Priority = l.int(p, nil, "priority")
	}
	defaults := Settings{Parallel: runtime.NumCPU(), OnError: Continue, Retry: Retry{Delay: 200 * time.Millisecond, Backoff: 2, MaxDelay: 5 * time.Second}}
	if d, ok := get(doc, "defaults").(*format.Object); ok {
		defaults = l.settings(d, defaults, []string{"defaults"})
	}
	if lim, ok := get(doc, "limits").(*format.Object); ok {
		l.limits(lim)
	}
	named := map[string]string{}
	if s, ok := get(doc, "schemas").(*format.Object); ok {
		for _, f := range s.Fields {
			named[f.Key] = f.Value.(string)
		}
	}
	stages, _ := get(doc, "stages").(*format.Object)
	if stages == nil || len(stages.Fields) == 0 {
		l.errorf([]string{"stages"}, "manifest declares no stages")
	}
	for _, f := range stages.Fields {
		l.stage(f.Key, f.Value.(*format.Object), defaults, named)
	}
	names := map[string]bool{}
	for _, s := range m.Stages {
		names[s.Name] = true
	}
	for _, s := range m.Stages {
		for i, n := range s.Needs {
			if !names[n] {
				l.errorf([]string{"stages", s.Name, "needs", strconv.Itoa(i)}, "no stage is named %q (stages: %s)", n, strings.Join(sortedNames(names), ", "))
			}
		}
	}
}

func sortedNames(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (l *loader) settings(o *format.Object, s Settings, at []string) Settings {
	if v, ok := get(o, "parallel").(format.Number); ok {
		s.Parallel = l.int(v, at, "parallel")
	}
	if v, ok := get(o, "on_error").(string); ok {
		s.OnError = OnError(v)
	}
	if v, ok := get(o, "timeout").(string); ok {
		s.Timeout = l.duration(v, at, "timeout")
	}
	if r, ok := get(o, "retry").(*format.Object); ok {
		rat := append(at, "retry")
		if v, ok := get(r, "max").(format.Number); ok {
			s.Retry.Max = l.int(v, rat, "max")
		}
		if v, ok := get(r, "delay").(string); ok {
			s.Retry.Delay = l.duration(v, rat, "delay")
		}
		if v, ok := get(r, "backoff").(format.Number); ok {
			s.Retry.Backoff, _ = strconv.ParseFloat(string(v), 64)
		}
		if v, ok := get(r, "max_delay").(string); ok {
			s.Retry.MaxDelay = l.duration(v, rat, "max_delay")
		}
	}
	return s
}

func (l *loader) limits(o *format.Object) {
	at := []string{"limits"}
	lim := &l.m.Limits
	if v, ok := get(o, "max_concurrent_stages").(format.Number); ok {
		lim.MaxConcurrentStages = l.int(v, at, "max_concurrent_stages")
	}
	switch v := get(o, "max_memory").(type) {
	case format.Number:
		lim.MaxMemory = int64(l.int(v, at, "max_memory"))
	case string:
		n, err := ParseSize(v)
		if err != nil {
			l.errorf(append(at, "max_memory"), "%v", err)
		}
		lim.MaxMemory = n
	}
	if v, ok := get(o, "throttle").(string); ok {
		lim.Throttle = l.duration(v, at, "throttle")
	}
	if v, ok := get(o, "rate").(string); ok {
		num, unit, _ := strings.Cut(v, "/")
		n, _ := strconv.ParseFloat(num, 64)
		per := map[string]float64{"s": 1, "m": 60, "h": 3600}[unit]
		lim.Rate = n / per
	}
}

func (l *loader) int(n format.Number, at []string, key string) int {
	i, ok := n.Int64()
	if !ok || i > 1<<31 {
		l.errorf(append(at, key), "%s is too large", n)
	}
	return int(i)
}

func (l *loader) duration(s string, at []string, key string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		l.errorf(append(at, key), "%q is not a duration such as 200ms or 1m30s", s)
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

func (l *loader) stage(name string, o *format.Object, defaults Settings, named map[string]string) {
	at := []string{"stages", name}
	s := &Stage{Name: name, Settings: l.settings(o, defaults, at), Priority: PriorityNormal}
	line, col := l.rec.Locate(at)
	s.pos = fmt.Sprintf("%s:%d:%d", l.name, line, col)
	switch p := get(o, "priority").(type) {
	case string:
		s.Priority = Priorities[p]
	case format.Number:
		s.Priority = l.int(p, at, "priority")
	}
	if needs, ok := get(o, "needs").([]any); ok {
		for _, n := range needs {
			s.Needs = append(s.Needs, n.(string))
		}
	}
	src := get(o, "source").(*format.Object)
	for _, p := range get(src, "paths").([]any) {
		s.Source.Paths = append(s.Source.Paths, p.(string))
	}
	if ex, ok := get(src, "exclude").([]any); ok {
		for _, p := range ex {
			s.Source.Exclude = append(s.Source.Exclude, p.(string))
		}
	}
	s.Source.FollowSymlinks, _ = get(src, "follow_symlinks").(bool)
	if f, ok := get(src, "format").(string); ok && f != "auto" {
		s.Source.Format = format.Format(f)
	}
	for i, p := range s.Source.Paths {
		if _, err := filepath.Match(strings.ReplaceAll(p, "**", "*"), ""); err != nil {
			l.errorf(append(at, "source", "paths", strconv.Itoa(i)), "bad glob %q: %v", p, err)
		}
	}
	var ok bool
	if s.Schema, ok = l.schemaRef(get(o, "schema").(string), named, append(at, "schema")); !ok {
		return
	}
	if t, isSet := get(o, "transform").(string); isSet {
		spec, ok := l.schemaRef(t, named, append(at, "transform"))
		if !ok {
			return
		}
		s.Transform = &spec
	}
	if outs, ok := get(o, "outputs").([]any); ok {
		for i, x := range outs {
			out := x.(*format.Object)
			o := Output{Format: format.Format(get(out, "format").(string)), Path: get(out, "path").(string)}
			opath := append(at, "outputs", strconv.Itoa(i), "path")
			if l.outputPath(o.Path, opath) {
				s.Outputs = append(s.Outputs, o)
			}
		}
	}
	if r, ok := get(o, "rejects").(string); ok {
		if l.outputPath(r, append(at, "rejects")) {
			s.Rejects = filepath.Join(l.m.Dir, r)
		}
	}
	l.m.Stages = append(l.m.Stages, s)
}

// schemaRef resolves a schema name from the manifest's schemas, or a
// file.cue#Definition reference, to a spec with an absolute file.
func (l *loader) schemaRef(ref string, named map[string]string, at []string) (schema.Spec, bool) {
	if spec, ok := named[ref]; ok {
		ref = spec
	} else if !strings.Contains(ref, ".cue") {
		names := make(map[string]bool)
		for k := range named {
			names[k] = true
		}
		l.errorf(at, "%q is neither a name under schemas (%s) nor a .cue file", ref, strings.Join(sortedNames(names), ", "))
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
