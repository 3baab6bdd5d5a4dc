package schema

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// CUE's translation of JSON Schema (v0.17) gets a few keywords wrong; the
// JSON-Schema-Test-Suite shows which. fixTranslation rewrites a document,
// before CUE reads it, into JSON Schema that says the same and that CUE
// translates right, so that zpipe's verdicts are JSON Schema's:
//
//   - A boolean subschema in allOf, anyOf, oneOf, not, if, then, else or
//     contains: CUE drops false from allOf and reads it as an error
//     elsewhere. true becomes {} and false {"not": {}}, which mean the same.
//   - A tuple (items as a list before 2020-12, prefixItems from it): CUE
//     requires every position, where JSON Schema allows fewer items. It
//     becomes a choice of one tuple per length, each closed but the
//     longest: {"anyOf": [{"maxItems": 0}, {"maxItems": 1, "items": [A]},
//     ..., {"items": [A, B, ...], "additionalItems": X}]}.
//
// Subschemas are found by keyword, so that data under const, enum or
// default, and property names that happen to be keywords, stay as they are.

// maxTupleFix bounds the tuples rewritten: the rewrite repeats the
// positions' schemas once per length.
const maxTupleFix = 16

func fixTranslation(x ast.Expr, draft2020 bool) {
	f := &translationFix{draft2020: draft2020, keepTuples: refersIntoItems(x)}
	f.schema(x, 0)
}

// keepTuples is set when a $ref points into a tuple ("#/items/0"), which
// the rewrite would move.
type translationFix struct{ draft2020, keepTuples bool }

// refersIntoItems reports whether a $ref in the document points through
// items, prefixItems or additionalItems.
func refersIntoItems(x ast.Expr) bool {
	found := false
	ast.Walk(x, func(n ast.Node) bool {
		fd, ok := n.(*ast.Field)
		if !ok || found {
			return !found
		}
		if name, _, err := ast.LabelName(fd.Label); err == nil && name == "$ref" {
			lit, ok := fd.Value.(*ast.BasicLit)
			found = ok && (strings.Contains(lit.Value, "/items") || strings.Contains(lit.Value, "Items"))
		}
		return true
	}, nil)
	return found
}

// Keywords whose value is a subschema, a list of them, or a map of them.
var (
	oneSubschema = map[string]bool{"additionalItems": true, "additionalProperties": true, "contains": true, "if": true, "then": true,
		"else": true, "not": true, "propertyNames": true, "items": true, "unevaluatedItems": true, "unevaluatedProperties": true, "contentSchema": true}
	listOfSubschemas = map[string]bool{"allOf": true, "anyOf": true, "oneOf": true, "prefixItems": true, "items": true}
	mapOfSubschemas  = map[string]bool{"properties": true, "patternProperties": true, "definitions": true, "$defs": true, "dependentSchemas": true, "dependencies": true}
	// boolFixed are the keywords whose boolean subschemas CUE misreads.
	boolFixed = map[string]bool{"allOf": true, "anyOf": true, "oneOf": true, "not": true, "if": true, "then": true, "else": true, "contains": true}
)

func (f *translationFix) schema(x ast.Expr, depth int) {
	s, ok := x.(*ast.StructLit)
	if !ok || depth > 200 {
		return
	}
	for _, d := range s.Elts {
		fd, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		key, _, err := ast.LabelName(fd.Label)
		if err != nil {
			continue
		}
		switch v := fd.Value.(type) {
		case *ast.StructLit:
			if mapOfSubschemas[key] {
				for _, e := range v.Elts {
					if pf, ok := e.(*ast.Field); ok {
						f.schema(pf.Value, depth+1)
					}
				}
			} else if oneSubschema[key] {
				f.schema(v, depth+1)
			}
		case *ast.ListLit:
			if listOfSubschemas[key] {
				for i, e := range v.Elts {
					if boolFixed[key] {
						v.Elts[i] = schemaForBool(e)
					}
					f.schema(v.Elts[i], depth+1)
				}
			}
		default:
			if boolFixed[key] {
				fd.Value = schemaForBool(fd.Value)
			}
		}
	}
	f.tuple(s)
}

// schemaForBool is {} for true and {"not": {}} for false; other values
// stay as they are.
func schemaForBool(x ast.Expr) ast.Expr {
	b, ok := x.(*ast.BasicLit)
	if !ok || b.Kind != token.TRUE && b.Kind != token.FALSE {
		return x
	}
	s := &ast.StructLit{Lbrace: b.ValuePos, Rbrace: b.ValuePos}
	if b.Kind == token.FALSE {
		s.Elts = []ast.Decl{&ast.Field{Label: ast.NewString("not"), Value: &ast.StructLit{Lbrace: b.ValuePos, Rbrace: b.ValuePos}}}
	}
	return s
}

// tuple rewrites s's tuple as one tuple per length it may have.
func (f *translationFix) tuple(s *ast.StructLit) {
	key, restKey := "items", "additionalItems"
	if f.draft2020 {
		key, restKey = "prefixItems", "items"
	}
	tf := field(s, key)
	if tf == nil || f.keepTuples || field(s, "unevaluatedItems") != nil {
		return
	}
	list, ok := tf.Value.(*ast.ListLit)
	if !ok || len(list.Elts) == 0 || len(list.Elts) > maxTupleFix {
		return
	}
	rest := field(s, restKey)
	var ladder []ast.Expr
	for n := 0; n < len(list.Elts); n++ {
		branch := &ast.StructLit{Elts: []ast.Decl{&ast.Field{Label: ast.NewString("maxItems"), Value: ast.NewLit(token.INT, strconv.Itoa(n))}}}
		if n > 0 {
			branch.Elts = append(branch.Elts, &ast.Field{Label: ast.NewString(key), Value: copyJSON(&ast.ListLit{Elts: list.Elts[:n]})})
		}
		ladder = append(ladder, branch)
	}
	whole := &ast.StructLit{Elts: []ast.Decl{tf}}
	if rest != nil {
		whole.Elts = append(whole.Elts, rest)
	}
	ladder = append(ladder, whole)
	s.Elts = deleteFields(s.Elts, tf, rest)
	choice := &ast.StructLit{Elts: []ast.Decl{&ast.Field{Label: ast.NewString("anyOf"), Value: &ast.ListLit{Elts: ladder}}}}
	if all := field(s, "allOf"); all != nil {
		if l, ok := all.Value.(*ast.ListLit); ok {
			l.Elts = append(l.Elts, choice)
			return
		}
	}
	s.Elts = append(s.Elts, &ast.Field{Label: ast.NewString("allOf"), Value: &ast.ListLit{Elts: []ast.Expr{choice}}})
}

func deleteFields(decls []ast.Decl, fields ...*ast.Field) []ast.Decl {
	out := decls[:0:0]
	for _, d := range decls {
		keep := true
		for _, f := range fields {
			keep = keep && d != ast.Decl(f)
		}
		if keep {
			out = append(out, d)
		}
	}
	return out
}

// copyJSON copies the CUE form of a JSON value, positions included, so
// that no node appears twice in a tree.
func copyJSON(x ast.Expr) ast.Expr {
	switch x := x.(type) {
	case *ast.StructLit:
		c := *x
		c.Elts = make([]ast.Decl, len(x.Elts))
		for i, d := range x.Elts {
			if fd, ok := d.(*ast.Field); ok {
				cf := *fd
				cf.Value = copyJSON(fd.Value)
				c.Elts[i] = &cf
			} else {
				c.Elts[i] = d
			}
		}
		return &c
	case *ast.ListLit:
		c := *x
		c.Elts = make([]ast.Expr, len(x.Elts))
		for i, e := range x.Elts {
			c.Elts[i] = copyJSON(e)
		}
		return &c
	case *ast.BasicLit:
		c := *x
		return &c
	case *ast.UnaryExpr:
		c := *x
		c.X = copyJSON(x.X)
		return &c
	}
	return x
}
