package schema

import (
	"context"
	"crypto/sha256"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
)

// Spec names a CUE file and, optionally, a definition in it:
// "schemas/user.cue#User". Without a definition the whole file is the schema.
type Spec struct {
	File string
	Def  string // without the leading '#'; empty for the whole file
}

// ParseSpec splits "file.cue#Def" into its parts.
func ParseSpec(s string) (Spec, error) {
	file, def, _ := strings.Cut(s, "#")
	if file == "" {
		return Spec{}, fmt.Errorf("schema %q names no file; write it as file.cue or file.cue#Definition", s)
	}
	return Spec{File: file, Def: def}, nil
}

func (s Spec) String() string {
	if s.Def == "" {
		return s.File
	}
	return s.File + "#" + s.Def
}

// Schema is a compiled CUE schema, with an optional transform that maps the
// checked record, as the field `in`, to the record to write.
type Schema struct {
	spec      Spec
	transform *Spec
	sources   map[string][]byte // file → source, for fingerprints
	// mapping maps URL prefixes to local files or folders, for a JSON
	// Schema's $refs; refs holds the documents they lead to, URL → file.
	mapping map[string]string
	refs    map[string]string
	display func(string) string
	// free holds validators not in use. Not a sync.Pool: a validator of an
	// isolated schema owns an evaluator process, which must not be left
	// running when the pool drops it.
	freeMu sync.Mutex
	free   []*Validator
	// isolated schemas check with CUE in child processes; children are
	// the live ones.
	isolated  bool
	sumOnce   sync.Once
	sum, tsum string
	// native checks a JSON Schema where CUE's translation falls short;
	// nil when CUE's does it all.
	native   *nativeCheck
	childMu  sync.Mutex
	children map[*child]bool
	// loading bounds Load's trial; see WithContext.
	loading context.Context
}

// Option configures Load.
type Option func(*Schema)

// WithTransform adds a transform: a CUE definition that declares a field
// `in`; the checked record is filled into `in` and every other field of
// the result is the record written.
func WithTransform(t Spec) Option { return func(s *Schema) { s.transform = &t } }

// WithRefs maps the URLs a JSON Schema's $refs name (by prefix) to local
// files or folders: zpipe never fetches a schema.
func WithRefs(mapping map[string]string) Option { return func(s *Schema) { s.mapping = mapping } }

// WithDisplayPath sets how file names appear in messages, such as relative
// to the manifest.
func WithDisplayPath(f func(string) string) Option { return func(s *Schema) { s.display = f } }

// WithContext bounds Load: the evaluator that compiles an isolated schema
// first, in its own process, is killed when ctx ends, and Load returns
// ctx's error. CUE compiling in this process cannot be stopped.
func WithContext(ctx context.Context) Option { return func(s *Schema) { s.loading = ctx } }

// Load reads and compiles the schema, reporting syntax errors, missing
// files and missing definitions with their positions.
func Load(spec Spec, opts ...Option) (*Schema, error) {
	s := &Schema{spec: spec, sources: map[string][]byte{}, display: func(p string) string { return p }}
	for _, o := range opts {
		o(s)
	}
	files := []string{spec.File}
	if s.transform != nil && s.transform.File != spec.File {
		files = append(files, s.transform.File)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("schema file %s does not exist", s.display(f))
			}
			return nil, fmt.Errorf("schema file %s: %w", s.display(f), err)
		}
		s.sources[f] = b
	}
	if IsJSONSchema(spec.File) {
		refs, err := refDocuments(spec.File, s.sources[spec.File], s.mapping, func(path string) ([]byte, error) {
			b, err := os.ReadFile(path)
			if err == nil {
				s.sources[path] = b
			}
			return b, err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.display(spec.File), err)
		}
		s.refs = refs
	}
	return s.init()
}

// JSONSchemaFiles lists the files a JSON Schema is made of: its own and
// those its $refs lead to, for a worker that must be sent them all.
func JSONSchemaFiles(file string, mapping map[string]string) ([]string, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	refs, err := refDocuments(file, src, mapping, os.ReadFile)
	if err != nil {
		return nil, err
	}
	files := []string{file}
	for _, f := range refs {
		files = append(files, f)
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// Compile builds a schema from CUE source held in memory; name is the file
// name that positions in messages use.
func Compile(name string, src []byte, def string, opts ...Option) (*Schema, error) {
	s := &Schema{spec: Spec{File: name, Def: def}, sources: map[string][]byte{name: src}, display: func(p string) string { return p }}
	for _, o := range opts {
		o(s)
	}
	return s.init()
}

func (s *Schema) init() (*Schema, error) {
	if IsJSONSchema(s.spec.File) && s.spec.Def == "" {
		if err := s.prepareNative(); err != nil {
			return nil, err
		}
	}
	var tried *child
	if s.isolated {
		var err error
		if tried, err = s.trial(); err != nil {
			return nil, err
		}
	}
	v, err := s.newValidator()
	if err != nil {
		if tried != nil {
			tried.kill()
		}
		return nil, err
	}
	if tried != nil {
		if v.fast != nil && len(v.fast.fallbacks) == 0 {
			tried.kill() // the fast path decides every record
		} else {
			v.adopt(tried)
		}
	}
	s.Put(v)
	return s, nil
}

// Spec returns what the schema was loaded from.
func (s *Schema) Spec() Spec { return s.spec }

// SchemaSum returns the sha256 of the schema's definition name and file,
// as hex: two definitions of one file are two schemas, with two sums.
func (s *Schema) SchemaSum() string {
	// Every item's fingerprint asks; the sources do not change after Load.
	s.sumOnce.Do(s.sums)
	return s.sum
}

func (s *Schema) sums() {
	s.sum = s.schemaSum()
	if s.transform != nil {
		s.tsum = specSum(*s.transform, s.sources[s.transform.File])
	}
}

func (s *Schema) schemaSum() string {
	src := s.sources[s.spec.File]
	if len(s.refs) > 0 {
		// The documents a JSON Schema's $refs lead to are part of it.
		var b []byte
		b = append(b, src...)
		// A file's URL counts relative to the schema's folder, so that a
		// moved project, or a worker's copy, has the same sum.
		dir := filepath.Dir(s.spec.File)
		keys := map[string]string{}
		for u, file := range s.refs {
			key := u
			if strings.HasPrefix(u, "file:") {
				if rel, err := filepath.Rel(dir, file); err == nil {
					key = "file:" + filepath.ToSlash(rel)
				}
			}
			keys[key] = file
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			b = append(append(append(append(b, 0), k...), 0), s.sources[keys[k]]...)
		}
		src = b
	}
	return specSum(s.spec, src)
}

// TransformSum is SchemaSum for the transform, or "" without one.
func (s *Schema) TransformSum() string {
	s.sumOnce.Do(s.sums)
	return s.tsum
}

func specSum(spec Spec, src []byte) string {
	h := sha256.New()
	h.Write([]byte(spec.Def))
	h.Write([]byte{0})
	h.Write(src)
	return hex.EncodeToString(h.Sum(nil))
}

// Validator returns a validator for one goroutine. Give it back with Put.
func (s *Schema) Validator() *Validator {
	s.freeMu.Lock()
	if n := len(s.free); n > 0 {
		v := s.free[n-1]
		s.free = s.free[:n-1]
		s.freeMu.Unlock()
		return v
	}
	s.freeMu.Unlock()
	v, err := s.newValidator()
	if err != nil {
		// Load compiled the same sources once already.
		panic(fmt.Sprintf("schema: recompiling %s failed: %v", s.spec, err))
	}
	return v
}

// Put returns a validator to the schema for reuse.
func (s *Schema) Put(v *Validator) {
	s.freeMu.Lock()
	defer s.freeMu.Unlock()
	s.free = append(s.free, v)
}

func (s *Schema) compile(ctx *cue.Context, spec Spec) (cue.Value, *ast.File, error) {
	if IsJSONSchema(spec.File) {
		if spec.Def != "" {
			return cue.Value{}, nil, fmt.Errorf("%s is a JSON Schema, which is checked whole: drop #%s", s.display(spec.File), spec.Def)
		}
		f, err := s.translation(ctx, spec.File)
		var ce cueerrors.Error
		switch {
		case errors.As(err, &ce):
			return cue.Value{}, nil, s.cueError(err)
		case err != nil:
			return cue.Value{}, nil, fmt.Errorf("%s: %w", s.display(spec.File), err)
		}
		v := ctx.BuildFile(f)
		if err := v.Err(); err != nil {
			return cue.Value{}, nil, s.cueError(err)
		}
		return v, f, nil
	}
	f, defs, err := prune(spec.File, s.sources[spec.File], spec.Def)
	if err != nil {
		return cue.Value{}, nil, s.cueError(err)
	}
	if spec.Def != "" && !slices.Contains(defs, "#"+spec.Def) {
		return cue.Value{}, nil, fmt.Errorf("%s: definition #%s does not exist%s", s.display(spec.File), spec.Def, definedList(defs))
	}
	if imp := moduleImport(f); imp != nil {
		pos := imp.Path.Pos()
		return cue.Value{}, nil, fmt.Errorf("%s:%d:%d: import %s is a package of a CUE module, which zpipe does not load: it compiles the schema file alone; copy the definitions it needs into %s",
			s.display(spec.File), pos.Line(), pos.Column(), imp.Path.Value, s.display(spec.File))
	}
	file := ctx.BuildFile(f)
	if err := file.Err(); err != nil {
		return cue.Value{}, nil, s.cueError(err)
	}
	if spec.Def == "" {
		return file, f, nil
	}
	def := file.LookupPath(cue.MakePath(cue.Def(spec.Def)))
	if err := def.Err(); err != nil {
		return cue.Value{}, nil, s.cueError(err)
	}
	return def, f, nil
}

// moduleImport is the first import of f that names a package of a CUE
// module rather than one of CUE's standard library: a path whose first
// element is a domain (example.com/x/lib), as a module's must be. CUE's
// own message for it ends in the middle of its sentence.
func moduleImport(f *ast.File) *ast.ImportSpec {
	for imp := range f.ImportSpecs() {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
			return imp
		}
	}
	return nil
}

// translation is a JSON Schema's CUE form: CUE's translation, or _ when
// the native check decides alone.
func (s *Schema) translation(ctx *cue.Context, file string) (*ast.File, error) {
	if s.native != nil && s.native.whole {
		return &ast.File{Decls: []ast.Decl{&ast.EmbedDecl{Expr: ast.NewIdent("_")}}}, nil
	}
	f, _, err := fromJSONSchema(ctx, file, s.sources, s.refs)
	return f, err
}

// fileSyntax is the file of spec as compile builds it: a JSON Schema's
// translation, or the CUE file pruned to spec's definition.
func (s *Schema) fileSyntax(spec Spec) (*ast.File, error) {
	if IsJSONSchema(spec.File) {
		return s.translation(cuecontext.New(), spec.File)
	}
	f, _, err := prune(spec.File, s.sources[spec.File], spec.Def)
	return f, err
}

func definedList(defs []string) string {
	if len(defs) == 0 {
		return " (the file defines none)"
	}
	return " (defined: " + strings.Join(defs, ", ") + ")"
}

// cueError turns a CUE compile error into one line per error, each with
// its position and, when it has one, its CUE path.
func (s *Schema) cueError(err error) error {
	var lines []string
	for _, e := range cueerrors.Errors(err) {
		msg := oneLine(e)
		if path := strings.Join(e.Path(), "."); path != "" {
			msg = path + ": " + msg
		}
		// A conflict within the schema has no position of its own, only
		// those of the values in conflict: the first is where it starts.
		if ps := cueerrors.Positions(e); len(ps) > 0 {
			p := ps[0]
			msg = fmt.Sprintf("%s:%d:%d: %s", s.display(p.Filename()), p.Line(), p.Column(), msg)
		}
		lines = append(lines, msg)
	}
	if len(lines) == 0 {
		return err
	}
	return errors.New(strings.Join(lines, "\n"))
}

func oneLine(e cueerrors.Error) string {
	if n, ok := e.(narrowed); ok {
		e = n.cueError
	}
	// The errors it wraps, as cue vet prints them: "(does not satisfy
	// matchN): 0 matched, expected 1".
	var b strings.Builder
	for {
		format, args := e.Msg()
		n, _ := fmt.Fprintf(&b, format, args...)
		u := errors.Unwrap(e)
		if u == nil {
			break
		}
		if n > 0 {
			b.WriteString(": ")
		}
		var ok bool
		if e, ok = u.(cueerrors.Error); !ok {
			b.WriteString(u.Error())
			break
		}
	}
	return strings.ReplaceAll(b.String(), "\n", " ")
}

// DisplayRel returns a display function that shows paths relative to dir
// when they lie inside it.
func DisplayRel(dir string) func(string) string {
	return func(p string) string {
		if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
		return p
	}
}
