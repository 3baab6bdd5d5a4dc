package schema

import (
	"cuelang.org/go/cue/cuecontext"
	cueformat "cuelang.org/go/cue/format"
	"cuelang.org/go/cue/token"
	"encoding/json"
	"fmt"
	"github.com/zpipe/zpipe/format"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cuejson "cuelang.org/go/encoding/json"
	"cuelang.org/go/encoding/jsonschema"
)

// IsJSONSchema says whether a schema file is a JSON Schema rather than
// CUE: a .json file, such as user.schema.json.
func IsJSONSchema(file string) bool {
	return strings.EqualFold(filepath.Ext(file), ".json")
}

// fromJSONSchema translates the JSON Schema document in file into CUE
// with CUE's own encoding/jsonschema, so that a JSON Schema is checked by
// the same engine, with the same messages, as a CUE schema. The draft is
// the one $schema names (2020-12 when it names none). The documents its
// $refs lead to (refs: URL → file, all in sources) are embedded under
// their URLs. Positions stay those of the JSON files, so that a message
// cites the keyword that failed. It also returns the keywords it took out
// for the native check (see fixTranslation).
func fromJSONSchema(ctx *cue.Context, file string, sources map[string][]byte, refs map[string]string) (*ast.File, leftOut, error) {
	src := sources[file]
	expr, err := cuejson.Extract(file, src)
	if err != nil {
		return nil, leftOut{}, err
	}
	if integralDraft(src) {
		ast.Walk(expr, nil, integralLiteral)
	}
	removed := fixTranslation(expr, src)
	if len(refs) > 0 {
		var more leftOut
		if expr, more, err = embedRefs(expr, file, src, sources, refs); err != nil {
			return nil, removed, err
		}
		removed.add(more)
	}
	removed.settle()
	doc := ctx.BuildExpr(expr, cue.Filename(file))
	if err := doc.Err(); err != nil {
		return nil, removed, err
	}
	f, err := jsonschema.Extract(doc, &jsonschema.Config{})
	if err != nil {
		return nil, removed, err
	}
	closeOpenStructs(f)
	placeTypes(f, expr)
	// A $ref that still leaves the document becomes a CUE import of the
	// schema it names (a path with a host, not a standard package such
	// as strings), which zpipe does not fetch.
	for imp := range f.ImportSpecs() {
		path := strings.Trim(imp.Path.Value, `"`)
		if first, _, _ := strings.Cut(path, "/"); strings.ContainsAny(first, ".:") {
			refs := strings.Join(outsideRefs(src), ", ")
			return nil, removed, fmt.Errorf("$ref %s leads to a document that CUE's translation cannot import", refs)
		}
	}
	return f, removed, nil
}

// embedRefs adds each document that refs names to the root document, as
// an embedded resource whose id is its URL: under definitions (drafts 4
// to 7) or $defs, with id (draft 4) or $id. The root gets its file's URL
// as its id when it has none, so that its relative $refs resolve as they
// did when the documents were found.
func embedRefs(expr ast.Expr, file string, src []byte, sources map[string][]byte, refs map[string]string) (ast.Expr, leftOut, error) {
	var removed leftOut
	root, ok := expr.(*ast.StructLit)
	if !ok {
		return expr, removed, nil
	}
	var head struct {
		Schema string `json:"$schema"`
	}
	json.Unmarshal(src, &head)
	idKey, defsKey := "$id", "$defs"
	switch {
	case strings.Contains(head.Schema, "draft-04"):
		idKey, defsKey = "id", "definitions"
	case strings.Contains(head.Schema, "draft-06"), strings.Contains(head.Schema, "draft-07"):
		defsKey = "definitions"
	}
	if field(root, idKey) == nil {
		root.Elts = append(root.Elts, &ast.Field{Label: ast.NewString(idKey), Value: ast.NewString(fileURL(file).String())})
	}
	defs, _ := fieldValue(root, defsKey).(*ast.StructLit)
	if defs == nil {
		defs = &ast.StructLit{}
		root.Elts = append(root.Elts, &ast.Field{Label: ast.NewString(defsKey), Value: defs})
	}
	for i, u := range slices.Sorted(maps.Keys(refs)) {
		e, err := cuejson.Extract(refs[u], sources[refs[u]])
		if err != nil {
			return nil, removed, err
		}
		if integralDraft(src) {
			ast.Walk(e, nil, integralLiteral)
		}
		removed.add(fixTranslation(e, src))
		if s, ok := e.(*ast.StructLit); ok {
			// Before 2019-09 only the root may name its draft; an
			// embedded document is read as the root's.
			s.Elts = slices.DeleteFunc(s.Elts, func(d ast.Decl) bool {
				f, ok := d.(*ast.Field)
				if !ok {
					return false
				}
				l, _, err := ast.LabelName(f.Label)
				return err == nil && l == "$schema"
			})
			if f := field(s, idKey); f != nil {
				f.Value = ast.NewString(u)
			} else {
				s.Elts = append(s.Elts, &ast.Field{Label: ast.NewString(idKey), Value: ast.NewString(u)})
			}
			if !constrains(s) {
				// CUE's translation makes an embedded document that says
				// nothing about the value a closed empty struct;
				// "additionalProperties": true says nothing too, and CUE
				// translates it as open.
				s.Elts = append(s.Elts, &ast.Field{Label: ast.NewString("additionalProperties"), Value: ast.NewBool(true)})
			}
		}
		defs.Elts = append(defs.Elts, &ast.Field{Label: ast.NewString(fmt.Sprintf("zpipe-ref-%d", i)), Value: e})
	}
	return root, removed, nil
}

// annotations are the keywords that say nothing about the value.
var annotations = map[string]bool{"$id": true, "id": true, "$schema": true, "$comment": true, "title": true, "description": true,
	"$defs": true, "definitions": true, "examples": true, "default": true, "$anchor": true, "deprecated": true, "readOnly": true, "writeOnly": true}

// constrains reports whether a schema object has a keyword that may
// constrain the value.
func constrains(s *ast.StructLit) bool {
	for _, d := range s.Elts {
		if f, ok := d.(*ast.Field); ok {
			if l, _, err := ast.LabelName(f.Label); err == nil && !annotations[l] {
				return true
			}
		}
	}
	return false
}

// field finds a struct's field by its (string) label.
func field(s *ast.StructLit, name string) *ast.Field {
	for _, el := range s.Elts {
		if f, ok := el.(*ast.Field); ok {
			if l, _, err := ast.LabelName(f.Label); err == nil && l == name {
				return f
			}
		}
	}
	return nil
}

func fieldValue(s *ast.StructLit, name string) ast.Expr {
	if f := field(s, name); f != nil {
		return f.Value
	}
	return nil
}

// outsideRefs lists the $ref values of a JSON Schema that do not start
// with #, for a message that names the one that leads away.
func outsideRefs(src []byte) []string {
	var doc any
	json.Unmarshal(src, &doc)
	var refs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok && !strings.HasPrefix(r, "#") {
				refs = append(refs, strconv.Quote(r))
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	sort.Strings(refs)
	return refs
}

// cueSource is the CUE source of a schema file, as the fast path's
// analysis reads it: the file itself, or for a JSON Schema its translation
// printed as CUE, named "file (as CUE)" so that a position in it is not
// taken for one in the JSON.
func (s *Schema) cueSource(file string) (string, []byte, error) {
	if !IsJSONSchema(file) {
		return file, s.sources[file], nil
	}
	f, err := s.translation(cuecontext.New(), file)
	if err != nil {
		return "", nil, err
	}
	b, err := cueformat.Node(f)
	return file + " (as CUE)", b, err
}

// integralDraft says whether a JSON Schema's draft takes 1.0 for the
// integer 1: every draft since 6 does; draft 4 does not.
func integralDraft(src []byte) bool {
	var head struct {
		Schema string `json:"$schema"`
	}
	json.Unmarshal(src, &head)
	return !strings.Contains(head.Schema, "draft-04") && !strings.Contains(head.Schema, "draft-03")
}

// hasConditionals reports whether a document's draft reads if, then and
// else: draft 7 and later, and a document that names no draft.
func hasConditionals(src []byte) bool {
	var head struct {
		Schema string `json:"$schema"`
	}
	json.Unmarshal(src, &head)
	for _, old := range []string{"draft-03", "draft-04", "draft-06"} {
		if strings.Contains(head.Schema, old) {
			return false
		}
	}
	return true
}

// isDraft2020 reports whether a document is read as draft 2020-12: it
// names it, or no draft at all.
func isDraft2020(src []byte) bool {
	var head struct {
		Schema string `json:"$schema"`
	}
	json.Unmarshal(src, &head)
	return head.Schema == "" || strings.Contains(head.Schema, "2020-12")
}

// formatIsAnnotation reports whether format asserts nothing in the draft a
// document is read as: 2019-09 and 2020-12 (unless a metaschema asks for
// the format-assertion vocabulary, which zpipe does not read).
func formatIsAnnotation(src []byte) bool {
	var head struct {
		Schema string `json:"$schema"`
	}
	json.Unmarshal(src, &head)
	return isDraft2020(src) || strings.Contains(head.Schema, "2019-09")
}

// integralLiteral writes a number literal of the schema whose fraction is
// all zeros as an integer, as integralValue does for the data, so that
// "const": -2.0 and the data -2 are one value to CUE too.
func integralLiteral(n ast.Node) {
	if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.FLOAT {
		if s, ok := integral(lit.Value); ok {
			lit.Kind, lit.Value = token.INT, s
		}
	}
}

// integral is a decimal with an all-zero fraction as an integer.
func integral(s string) (string, bool) {
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		return s, false // most numbers: the rest costs a fifth of a check
	}
	for i := dot + 1; i < len(s); i++ {
		if s[i] != '0' {
			return s, false
		}
	}
	whole := s[:dot]
	if whole == "-0" {
		whole = "0"
	}
	return whole, true
}

// withDigitsOf gives the record out the numbers of orig wherever out has
// them as integralValue wrote them: a valid record keeps its own digits,
// 10.00 stays 10.00. Defaults out adds are left as they are.
func withDigitsOf(out, orig any) (any, bool) {
	switch o := out.(type) {
	case format.Number:
		if n, ok := orig.(format.Number); ok && n != o {
			if s, ok := integral(string(n)); ok && s == string(o) {
				return n, true
			}
		}
	case *format.Object:
		src, ok := orig.(*format.Object)
		if !ok {
			return out, false
		}
		var res *format.Object
		for i, f := range o.Fields {
			var ov any
			if i < len(src.Fields) && src.Fields[i].Key == f.Key {
				ov = src.Fields[i].Value
			} else if ov, ok = src.Get(f.Key); !ok {
				continue
			}
			if nv, changed := withDigitsOf(f.Value, ov); changed {
				if res == nil {
					res = &format.Object{Fields: slices.Clone(o.Fields)}
				}
				res.Fields[i].Value = nv
			}
		}
		if res != nil {
			return res, true
		}
	case []any:
		src, ok := orig.([]any)
		if !ok || len(src) != len(o) {
			return out, false
		}
		var res []any
		for i, e := range o {
			if ne, changed := withDigitsOf(e, src[i]); changed {
				if res == nil {
					res = slices.Clone(o)
				}
				res[i] = ne
			}
		}
		if res != nil {
			return res, true
		}
	}
	return out, false
}

// integralValue returns v with each number whose fraction is all zeros
// (1.0, -2.00) written as the integer it is, and whether there was one:
// to JSON Schema they are one value, and "type": "integer" takes 1.0,
// where CUE's int would not. Exponent forms are left as written. v itself
// is not changed (its record still goes to the rejects as read); what
// changes is copied.
func integralValue(v any) (any, bool) {
	if !hasIntegralDecimal(v) {
		return v, false
	}
	return rewriteIntegral(v)
}

// hasIntegralDecimal says whether v holds a number integralValue rewrites:
// looking costs a valid record a fraction of what rewriting does.
func hasIntegralDecimal(v any) bool {
	switch x := v.(type) {
	case format.Number:
		_, ok := integral(string(x))
		return ok
	case *format.Object:
		for i := range x.Fields {
			if holdsIntegral(x.Fields[i].Value) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if holdsIntegral(e) {
				return true
			}
		}
	}
	return false
}

// holdsIntegral is hasIntegralDecimal for a member, with the scalars,
// most of a record, decided without a call.
func holdsIntegral(v any) bool {
	switch y := v.(type) {
	case string, bool, nil:
		return false
	case format.Number:
		_, ok := integral(string(y))
		return ok
	}
	return hasIntegralDecimal(v)
}

func rewriteIntegral(v any) (any, bool) {
	switch x := v.(type) {
	case format.Number:
		if s, ok := integral(string(x)); ok {
			return format.Number(s), true
		}
	case *format.Object:
		var out *format.Object
		for i, f := range x.Fields {
			if nv, changed := rewriteIntegral(f.Value); changed {
				if out == nil {
					out = &format.Object{Fields: slices.Clone(x.Fields)}
				}
				out.Fields[i].Value = nv
			}
		}
		if out != nil {
			return out, true
		}
	case []any:
		var out []any
		for i, e := range x {
			if ne, changed := rewriteIntegral(e); changed {
				if out == nil {
					out = slices.Clone(x)
				}
				out[i] = ne
			}
		}
		if out != nil {
			return out, true
		}
	}
	return v, false
}
