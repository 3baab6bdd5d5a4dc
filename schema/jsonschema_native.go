package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	cuejson "cuelang.org/go/encoding/json"
	santhosh "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/zpipe/zpipe/format"
)

// CUE's translation of JSON Schema cannot express a few keywords
// (nativeKeywords: property names, unevaluated and dynamic scopes), and
// refuses some schemas outright ($ref by anchor or by a location-free $id,
// URN bases, a draft's own metaschema). zpipe checks such a schema
// natively as well, with santhosh-tekuri/jsonschema, which passes every
// required test of the JSON-Schema-Test-Suite:
//
//   - keywords taken out: CUE checks the rest of the schema, looser than
//     the whole, so what it rejects the whole rejects too, with CUE's
//     message; a record CUE accepts is then checked against the whole
//     schema natively;
//   - a schema CUE refuses but the native check compiles: the native check
//     decides alone, and CUE sees the schema as _.
//
// format stays an annotation, as CUE's translation reads it, so that a
// schema's verdicts do not depend on which engine checks it.

// nativeCheck is a JSON Schema compiled for the native check. It is safe
// for concurrent use.
type nativeCheck struct {
	sch *santhosh.Schema
	// whole: CUE's translation refused the schema; the native check decides.
	whole bool
	// why says what the native check decides, for check -v.
	why []NativeCheck
	// files maps each document's URL to its file; syntax holds the files
	// read for positions, built on first use.
	files    map[string]string
	sources  map[string][]byte
	display  func(string) string
	syntaxMu sync.Mutex
	syntax   map[string]ast.Expr
}

// prepareNative decides, once per schema, whether a JSON Schema needs the
// native check, and compiles it when it does. CUE's refusal of a schema
// the native check cannot compile either is left for compile to report,
// as before.
func (s *Schema) prepareNative() error {
	ctx := cuecontext.New()
	f, removed, err := fromJSONSchema(ctx, s.spec.File, s.sources, s.refs)
	if err == nil {
		err = ctx.BuildFile(f).Err()
	}
	if u := customMetaschema(s.sources[s.spec.File]); u != "" && removed.whole == "" {
		removed.whole = "a metaschema of its own, " + u + ", which CUE's translation does not read"
	}
	if err == nil && len(removed.fields) == 0 && removed.whole == "" {
		return nil
	}
	n := &nativeCheck{files: map[string]string{fileURL(s.spec.File).String(): s.spec.File}, sources: s.sources, display: s.display, syntax: map[string]ast.Expr{}}
	for u, file := range s.refs {
		n.files[u] = file
	}
	// CUE reads a pattern RE2 cannot (a lookahead) as an error when a
	// record meets it; where CUE checks the rest, the native check lets
	// such a pattern match rather than refuse the schema.
	lenient := err == nil && removed.whole == ""
	sch, nerr := n.compile(s.spec.File, lenient)
	switch {
	case nerr != nil && err != nil:
		return nil
	case nerr != nil:
		var names []string
		for _, f := range removed.fields {
			name, _, _ := ast.LabelName(f.Label)
			names = append(names, name)
		}
		slices.Sort(names)
		what := strings.Join(slices.Compact(names), ", ")
		if removed.whole != "" {
			what = "the schema, for " + removed.whole + ","
		}
		return fmt.Errorf("%s: zpipe checks %s natively, and its check cannot read the schema: %v", s.display(s.spec.File), what, oneLineErr(nerr))
	}
	n.sch = sch
	switch {
	case err != nil:
		n.whole = true
		var ce cueerrors.Error
		if errors.As(err, &ce) {
			err = s.cueError(err)
		}
		n.why = []NativeCheck{{Whole: true, Why: "CUE's translation refuses the schema: " + oneLineErr(err)}}
	case removed.whole != "":
		n.whole = true
		why := removed.whole
		if p := removed.wholeAt; p.IsValid() {
			why = fmt.Sprintf("%s (%s:%d:%d)", why, s.display(p.Filename()), p.Line(), p.Column())
		}
		n.why = []NativeCheck{{Whole: true, Why: "the schema has " + why}}
	}
	if !n.whole {
		for _, f := range removed.fields {
			name, _, _ := ast.LabelName(f.Label)
			p := f.Pos()
			n.why = append(n.why, NativeCheck{Why: fmt.Sprintf("%s at %s:%d:%d, which CUE's translation has no form for", name, s.display(p.Filename()), p.Line(), p.Column())})
		}
	}
	s.native = n
	return nil
}

func oneLineErr(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// compile compiles the root document and those its $refs lead to, from
// the sources read at Load. Nothing else is loaded: a
// draft's metaschema is built in, and any other URL is refused.
func (n *nativeCheck) compile(root string, lenient bool) (*santhosh.Schema, error) {
	c := santhosh.NewCompiler()
	c.UseLoader(sourceLoader{n})
	if lenient {
		c.UseRegexpEngine(func(pattern string) (santhosh.Regexp, error) {
			if re, err := regexp.Compile(pattern); err == nil {
				return re, nil
			}
			return matchesAll(pattern), nil
		})
	}
	// A document that names no draft is read as the root's, as CUE's
	// translation reads the documents embedded in it.
	c.DefaultDraft(draftOf(n.sources[root]))
	rootURL := fileURL(root).String()
	for u, file := range n.files {
		doc, err := santhosh.UnmarshalJSON(bytes.NewReader(n.sources[file]))
		if err != nil {
			return nil, err
		}
		if err := c.AddResource(u, formatsAsAnnotations(doc)); err != nil {
			return nil, err
		}
	}
	return c.Compile(rootURL)
}

// draftOf is the draft a document names, 2020-12 when it names none.
func draftOf(src []byte) *santhosh.Draft {
	var head struct {
		Schema string `json:"$schema"`
	}
	json.Unmarshal(src, &head)
	for _, d := range []struct {
		name  string
		draft *santhosh.Draft
	}{{"draft-04", santhosh.Draft4}, {"draft-06", santhosh.Draft6}, {"draft-07", santhosh.Draft7}, {"2019-09", santhosh.Draft2019}} {
		if strings.Contains(head.Schema, d.name) {
			return d.draft
		}
	}
	return santhosh.Draft2020
}

// matchesAll is a pattern that Go's regexp cannot read, left to CUE.
type matchesAll string

func (m matchesAll) String() string          { return string(m) }
func (m matchesAll) MatchString(string) bool { return true }

// sourceLoader serves a document the native check finds by a URL it was
// not added under: a file: URL of a file read at Load, as a relative $ref
// resolves where the document's $id does not count. Nothing else is read.
type sourceLoader struct{ n *nativeCheck }

func (l sourceLoader) Load(s string) (any, error) {
	u, err := url.Parse(s)
	if err == nil && u.Scheme == "file" {
		path := filepath.FromSlash(u.Path)
		if src, ok := l.n.sources[path]; ok {
			doc, err := santhosh.UnmarshalJSON(bytes.NewReader(src))
			if err != nil {
				return nil, err
			}
			l.n.files[s] = path
			return formatsAsAnnotations(doc), nil
		}
	}
	return nil, fmt.Errorf("zpipe never fetches a schema over the network: map %s to a local file with schema_refs", s)
}

// formatsAsAnnotations removes format from every subschema of doc: CUE's
// translation does not assert it, and neither does zpipe.
func formatsAsAnnotations(doc any) any {
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		m, ok := v.(map[string]any)
		if !ok || depth > 200 {
			return
		}
		if _, ok := m["format"].(string); ok {
			delete(m, "format")
		}
		for key, sub := range m {
			switch x := sub.(type) {
			case map[string]any:
				if mapOfSubschemas[key] {
					for _, e := range x {
						walk(e, depth+1)
					}
				} else if oneSubschema[key] {
					walk(x, depth+1)
				}
			case []any:
				if listOfSubschemas[key] {
					for _, e := range x {
						walk(e, depth+1)
					}
				}
			}
		}
	}
	walk(doc, 0)
	return doc
}

// metaschemaURL matches the drafts' metaschemas and vocabularies, which the
// native check has built in.
var metaschemaURL = regexp.MustCompile(`^https?://json-schema\.org/(draft-0[3-7]/schema|draft/(2019-09|2020-12)/(schema|meta/[a-z-]+))#?$`)

// NativeCheck is a part of a JSON Schema that zpipe checks natively
// rather than with CUE's translation, and why.
type NativeCheck struct {
	Whole bool // the native check decides alone
	Why   string
}

// NativeChecks lists what of a JSON Schema zpipe checks natively; it is
// empty when CUE's translation checks it all.
func (s *Schema) NativeChecks() []NativeCheck {
	if s.native == nil {
		return nil
	}
	return slices.Clone(s.native.why)
}

// nativeCheck is the native check's violations of rec; nil when rec
// passes or the schema has no native check.
func (s *Schema) nativeCheck(rec any) []Violation {
	if s.native == nil || s.native.sch == nil {
		return nil
	}
	return s.native.check(rec)
}

// customMetaschema is the $schema of a JSON Schema document when it is
// not one of the drafts' own.
func customMetaschema(src []byte) string {
	var head struct {
		Schema string `json:"$schema"`
	}
	json.Unmarshal(src, &head)
	if head.Schema == "" || metaschemaURL.MatchString(head.Schema) {
		return ""
	}
	return head.Schema
}

// check validates rec against the whole schema, and returns its
// violations, sorted, or nil.
func (n *nativeCheck) check(rec any) []Violation {
	err := n.sch.Validate(nativeValue(rec))
	if err == nil {
		return nil
	}
	var ve *santhosh.ValidationError
	if !errors.As(err, &ve) {
		return []Violation{{Msg: err.Error()}}
	}
	var out []Violation
	p := message.NewPrinter(language.English)
	// A property name is checked as a value of its own, at no location:
	// its errors are placed at the object that holds it, which is where
	// their parent is.
	var leaves func(e *santhosh.ValidationError, parent []string, name string, at []string)
	leaves = func(e *santhosh.ValidationError, parent []string, name string, at []string) {
		if pn, ok := e.ErrorKind.(*kind.PropertyNames); ok {
			name, at = pn.Property, parent
		}
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				leaves(c, e.InstanceLocation, name, at)
			}
			return
		}
		loc := e.InstanceLocation
		if name != "" {
			loc = propertyNameAt(rec, at, e.SchemaURL, name)
		}
		out = append(out, n.violation(e, loc, name, p))
	}
	leaves(ve, nil, "", nil)
	slices.SortFunc(out, func(a, b Violation) int {
		return strings.Compare(a.Path+"\x00"+a.Msg, b.Path+"\x00"+b.Msg)
	})
	return slices.CompactFunc(out, func(a, b Violation) bool { return a.Path == b.Path && a.Msg == b.Msg })
}

// propertyNameAt is the object that holds the property name a
// propertyNames subschema refused. The native check places it at the
// location of the error's parent, which is the record itself whenever the
// subschema is not the root's (a quirk of santhosh-tekuri/jsonschema v6),
// so the schema location is read too: properties/k and prefixItems/n (or
// draft 2019's items/n) step into the record, allOf/anyOf/oneOf/n stay.
// When that leads nowhere, the one object in the record that holds the
// name is taken; else the parent's location stands.
func propertyNameAt(rec any, parent []string, schemaURL, name string) []string {
	holds := func(path []string) bool {
		v, ok := lookup(rec, path)
		o, isObj := v.(*format.Object)
		if !ok || !isObj {
			return false
		}
		_, ok = o.Get(name)
		return ok
	}
	_, frag, _ := strings.Cut(schemaURL, "#")
	toks := strings.Split(strings.TrimPrefix(frag, "/"), "/")
	path := slices.Clone(parent)
	mapped := len(toks) > 0 && toks[len(toks)-1] == "propertyNames"
	for i := 0; mapped && i+1 < len(toks); i += 2 {
		key := strings.ReplaceAll(strings.ReplaceAll(toks[i+1], "~1", "/"), "~0", "~")
		switch toks[i] {
		case "properties", "prefixItems", "items":
			path = append(path, key)
		case "allOf", "anyOf", "oneOf":
		default:
			mapped = false
		}
	}
	if mapped && holds(path) {
		return path
	}
	var found [][]string
	var walk func(v any, at []string)
	walk = func(v any, at []string) {
		switch x := v.(type) {
		case *format.Object:
			if _, ok := x.Get(name); ok {
				found = append(found, slices.Clone(at))
			}
			for _, f := range x.Fields {
				walk(f.Value, append(at, f.Key))
			}
		case []any:
			for i, e := range x {
				walk(e, append(at, strconv.Itoa(i)))
			}
		}
	}
	walk(rec, nil)
	if len(found) == 1 {
		return found[0]
	}
	return parent
}

// violation is one failed keyword: its value's path, what failed (of the
// property name, when a propertyNames subschema failed) and where the
// keyword is in the schema.
func (n *nativeCheck) violation(e *santhosh.ValidationError, loc []string, name string, p *message.Printer) Violation {
	ptr := e.SchemaURL
	kw := e.ErrorKind.KeywordPath()
	if _, ok := e.ErrorKind.(*kind.Not); ok {
		kw = []string{"not"}
	}
	if len(kw) > 0 {
		ptr = strings.TrimSuffix(ptr, "/") + "/" + strings.Join(kw, "/")
	}
	keyword := ptr[strings.LastIndexAny(ptr, "/#")+1:]
	msg := e.ErrorKind.LocalizedString(p)
	switch {
	case keyword == "not":
		msg = "not: matches the schema it must not match"
	case msg == "false schema":
		msg = "not allowed by " + keyword
	case keyword != "" && !strings.HasPrefix(msg, keyword):
		msg = keyword + ": " + msg
	}
	if name != "" {
		msg = "property name " + strconv.Quote(name) + ": " + msg
	}
	elems := slices.Clone(loc)
	return Violation{Path: pathString(elems), Elems: elems, Msg: msg, Schema: n.position(ptr)}
}

// position finds the keyword a schema URL points to in its file, as
// file:line:col; the URL itself when the file does not hold it.
func (n *nativeCheck) position(schemaURL string) string {
	doc, frag, _ := strings.Cut(schemaURL, "#")
	file, ok := n.files[doc]
	if !ok {
		return schemaURL
	}
	n.syntaxMu.Lock()
	x, ok := n.syntax[file]
	if !ok {
		x, _ = cuejson.Extract(file, n.sources[file])
		n.syntax[file] = x
	}
	n.syntaxMu.Unlock()
	at := ast.Node(x)
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		if t, err := url.PathUnescape(tok); err == nil {
			tok = t
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		if f, ok := at.(*ast.Field); ok {
			at = f.Value
		}
		next := ast.Node(nil)
		switch v := at.(type) {
		case *ast.StructLit:
			if f := field(v, tok); f != nil {
				next = f
			}
		case *ast.ListLit:
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(v.Elts) {
				next = v.Elts[i]
			}
		}
		if at = next; at == nil {
			break
		}
	}
	if at == nil {
		return n.display(file) + "#" + frag
	}
	pos := at.Pos()
	return fmt.Sprintf("%s:%d:%d", n.display(file), pos.Line(), pos.Column())
}

// nativeValue is a record as the native check reads it: objects as maps
// (a repeated key, which the decoders refuse, would keep its last value),
// numbers as json.Number.
func nativeValue(v any) any {
	switch x := v.(type) {
	case *format.Object:
		m := make(map[string]any, len(x.Fields))
		for _, f := range x.Fields {
			m[f.Key] = nativeValue(f.Value)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = nativeValue(e)
		}
		return out
	case format.Number:
		return json.Number(x)
	}
	return v
}
