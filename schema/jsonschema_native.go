package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
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
// format asserts what CUE's translation asserts (some formats before
// 2019-09, none from then on), so that a schema's verdicts do not depend
// on which engine checks it.

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
	// Where CUE checks the rest, a pattern RE2 cannot read (a
	// lookahead) is read as CUE reads it rather than refuse the schema.
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
// the sources read at Load. Nothing else is loaded: a draft's metaschema
// is built in, and any other URL is refused.
func (n *nativeCheck) compile(root string, lenient bool) (*santhosh.Schema, error) {
	c := santhosh.NewCompiler()
	c.UseLoader(sourceLoader{n, lenient})
	// A document that names no draft is read as the root's, as CUE's
	// translation reads the documents embedded in it.
	draft := draftOf(n.sources[root])
	c.DefaultDraft(draft)
	if draft == santhosh.Draft4 || draft == santhosh.Draft6 || draft == santhosh.Draft7 {
		// Before 2019-09 the validator asserts every format it knows;
		// zpipe asserts those CUE's translation does, whichever engine
		// checks. (From 2019-09 on it asserts none, and CUE does not
		// see format.)
		for _, name := range nativeFormats {
			if !cueFormats[name] || name == "date" && draft != santhosh.Draft7 {
				c.RegisterFormat(&santhosh.Format{Name: name, Validate: func(any) error { return nil }})
			}
		}
	}
	rootURL := fileURL(root).String()
	for u, file := range n.files {
		doc, err := n.doc(file, lenient)
		if err != nil {
			return nil, err
		}
		if err := c.AddResource(u, doc); err != nil {
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

// sourceLoader serves a document the native check finds by a URL it was
// not added under: a file: URL of a file read at Load, as a relative $ref
// resolves where the document's $id does not count. Nothing else is read.
type sourceLoader struct {
	n       *nativeCheck
	lenient bool
}

func (l sourceLoader) Load(s string) (any, error) {
	u, err := url.Parse(s)
	if err == nil && u.Scheme == "file" {
		path := filepath.FromSlash(u.Path)
		if _, ok := l.n.sources[path]; ok {
			doc, err := l.n.doc(path, l.lenient)
			if err != nil {
				return nil, err
			}
			l.n.files[s] = path
			return doc, nil
		}
	}
	return nil, fmt.Errorf("zpipe never fetches a schema over the network: map %s to a local file with schema_refs", s)
}

// doc reads a document of the schema for the native check. Where CUE
// checks the rest (lenient), a pattern that Go's regexp cannot read (a
// lookahead) is dropped, as CUE reads it: pattern then passes every
// string and patternProperties matches no name.
func (n *nativeCheck) doc(file string, lenient bool) (any, error) {
	doc, err := santhosh.UnmarshalJSON(bytes.NewReader(n.sources[file]))
	if err != nil || !lenient {
		return doc, err
	}
	walkSubschemas(doc, func(m map[string]any) {
		if p, ok := m["pattern"].(string); ok {
			if _, err := regexp.Compile(p); err != nil {
				delete(m, "pattern")
			}
		}
		if pp, ok := m["patternProperties"].(map[string]any); ok {
			for p := range pp {
				if _, err := regexp.Compile(p); err != nil {
					delete(pp, p)
				}
			}
		}
	})
	return doc, nil
}

// walkSubschemas calls f on every schema object of doc, found by keyword
// as fixTranslation finds them, so that data under const or enum, and
// property names that happen to be keywords, are left alone.
func walkSubschemas(doc any, f func(map[string]any)) {
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		m, ok := v.(map[string]any)
		if !ok || depth > 200 {
			return
		}
		f(m)
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
}

// nativeFormats are the formats the native validator knows; cueFormats
// those CUE's translation asserts before 2019-09 (date from draft 7).
var (
	nativeFormats = []string{"json-pointer", "relative-json-pointer", "uuid", "duration", "period", "ipv4", "ipv6", "hostname", "email",
		"date", "time", "date-time", "uri", "iri", "uri-reference", "iri-reference", "uri-template", "semver"}
	cueFormats = map[string]bool{"date-time": true, "uri": true, "uri-reference": true, "date": true, "iri": true, "iri-reference": true}
)

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
func (n *nativeCheck) check(rec any) (vs []Violation) {
	if path, num, ok := unreadableNumber(rec, nil); ok {
		return []Violation{{Path: recordPathString(rec, path, nil, nil), Elems: path, Msg: fmt.Sprintf("%s has too large an exponent to be checked against a JSON Schema", num)}}
	}
	defer func() {
		// The validator is a library: whatever else it cannot take is
		// this record's error, not a crash.
		if r := recover(); r != nil {
			vs = []Violation{{Msg: fmt.Sprintf("the JSON Schema validator failed on this record: %v", r)}}
		}
	}()
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
	// In the record's order, as CUE's errors are.
	at := make(map[string][]int, len(out))
	keys := keyPlaces{}
	for i := range out {
		out[i].Path = recordPathString(rec, out[i].Elems, nil, keys)
		at[out[i].Path] = recordOrder(rec, out[i].Elems, keys)
	}
	slices.SortFunc(out, func(a, b Violation) int {
		if c := slices.Compare(at[a.Path], at[b.Path]); c != 0 {
			return c
		}
		return strings.Compare(a.Path+"\x00"+a.Msg, b.Path+"\x00"+b.Msg)
	})
	return slices.CompactFunc(out, func(a, b Violation) bool { return a.Path == b.Path && a.Msg == b.Msg })
}

// propertyNameAt is the object that holds the property name a
// propertyNames subschema refused. The native check places such an error
// at the location of its parent in the error tree, which is not always
// the object (a quirk of santhosh-tekuri/jsonschema v6), so the schema
// location is read too: from the root document, properties/k and
// prefixItems/n (or draft 2019's items/n) step into the record and
// allOf/anyOf/oneOf/n stay; under $defs, the rest is read from the
// parent's location, where the $ref that led there usually is. The
// object must hold the name. Failing that, the one object in the record
// that holds the name is taken; else the parent's location stands.
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
	toks := pointerTokens(frag)
	if len(toks) == 0 || toks[len(toks)-1] != "propertyNames" {
		return parent
	}
	toks = toks[:len(toks)-1]
	from := func(base []string, toks []string) ([]string, bool) {
		path := slices.Clone(base)
		for i := 0; i+1 < len(toks); i += 2 {
			switch toks[i] {
			case "properties", "prefixItems", "items":
				path = append(path, toks[i+1])
			case "allOf", "anyOf", "oneOf":
			default:
				return nil, false
			}
		}
		return path, len(toks)%2 == 0 && holds(path)
	}
	if path, ok := from(nil, toks); ok {
		return path
	}
	for i := len(toks) - 2; i >= 0; i-- {
		if toks[i] == "$defs" || toks[i] == "definitions" {
			if path, ok := from(parent, toks[i+2:]); ok {
				return path
			}
			break
		}
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

// pointerTokens splits a URL fragment that is a JSON pointer into its
// unescaped tokens.
func pointerTokens(frag string) []string {
	if frag == "" {
		return nil
	}
	var toks []string
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if t, err := url.PathUnescape(tok); err == nil {
			tok = t
		}
		toks = append(toks, strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~"))
	}
	return toks
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
	for _, tok := range pointerTokens(frag) {
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
	return plainValue(v, func(n format.Number) any { return json.Number(n) })
}

// unreadableNumber finds a number of v that the JSON Schema validator
// cannot read, and would crash on: one whose exponent math/big refuses
// (1e2147483648), with its path.
func unreadableNumber(v any, path []string) ([]string, format.Number, bool) {
	switch x := v.(type) {
	case format.Number:
		if i := strings.IndexAny(string(x), "eE"); i >= 0 && len(strings.TrimLeft(string(x[i+1:]), "+-")) >= 5 {
			if _, ok := new(big.Rat).SetString(string(x)); !ok {
				return path, x, true
			}
		}
	case *format.Object:
		for _, f := range x.Fields {
			if p, n, ok := unreadableNumber(f.Value, append(path, f.Key)); ok {
				return p, n, true
			}
		}
	case []any:
		for i, e := range x {
			if p, n, ok := unreadableNumber(e, append(path, strconv.Itoa(i))); ok {
				return p, n, true
			}
		}
	}
	return nil, "", false
}
