package schema

import (
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// placeTypes gives the types that CUE's translation of a JSON Schema
// writes without a position (string, bool, number, null, {...}, [...])
// the position of the "type" keyword they come from, so that a record of
// the wrong type is told where the schema says so, as for a CUE schema.
// It follows properties, items, close(), the alternatives of anyOf,
// oneOf, allOf, not and if, and the root's definitions. src is the JSON Schema as cuejson.Extract reads it.
func placeTypes(f *ast.File, src ast.Expr) {
	placeDecls(f.Decls, src)
}

func placeDecls(decls []ast.Decl, node ast.Expr) {
	props := member(node, "properties")
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.Field:
			if id, ok := d.Label.(*ast.Ident); ok && id.Name == "#" {
				// #: "name": {...}: the definitions whose names are
				// no identifiers, an embedded $ref's document among them.
				placeDefs(d.Value, node)
				continue
			}
			if p := schemaOf(d.Label, node, props); p != nil {
				placeIn(d.Value, p, true)
			}
		case *ast.EmbedDecl:
			placeIn(d.Expr, node, false)
		}
	}
}

// placeDefs places the types in x, a struct of node's definitions by
// their names.
func placeDefs(x ast.Expr, node ast.Expr) {
	defs, ok := x.(*ast.StructLit)
	if !ok {
		return
	}
	for _, d := range defs.Elts {
		f, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		name, _, err := ast.LabelName(f.Label)
		if err != nil {
			continue
		}
		def := member(member(node, "$defs"), name)
		if def == nil {
			def = member(member(node, "definitions"), name)
		}
		if def != nil {
			placeIn(f.Value, def, true)
		}
	}
}

// placeIn places the types in x, the translation of the schema node. own
// is set when x is all of node's value, not a part that allOf or an
// embedding may have brought from another schema: only then is a struct
// the object that node's "type" says.
func placeIn(x ast.Expr, node ast.Expr, own bool) {
	switch x := x.(type) {
	case *ast.Ident, *ast.BasicLit:
		placeScalars(x, node)
	case *ast.BinaryExpr:
		placeIn(x.X, node, false)
		placeIn(x.Y, node, false)
	case *ast.UnaryExpr:
		placeIn(x.X, node, false)
	case *ast.ParenExpr:
		placeIn(x.X, node, own)
	case *ast.CallExpr:
		fn, _ := x.Fun.(*ast.Ident)
		switch {
		case fn == nil:
		case fn.Name == "close" && len(x.Args) == 1:
			placeIn(x.Args[0], node, own)
		case fn.Name == "matchN" && len(x.Args) == 2:
			if l, ok := x.Args[1].(*ast.ListLit); ok {
				for _, e := range l.Elts {
					placeScalars(e, node)
				}
			}
		case fn.Name == "matchIf":
			for _, a := range x.Args {
				placeScalars(a, node)
			}
		}
	case *ast.StructLit:
		// A struct of pattern constraints (additionalProperties,
		// patternProperties) is not the object's type.
		if at, ok := typePos(node, "struct"); ok && own && !x.Lbrace.HasAbsPos() && !hasPattern(x) {
			x.Lbrace = place(x.Lbrace, at)
		}
		placeDecls(x.Elts, node)
	case *ast.ListLit:
		if at, ok := typePos(node, "list"); ok && !x.Lbrack.HasAbsPos() {
			x.Lbrack = place(x.Lbrack, at)
		}
		if n := len(x.Elts); n > 0 {
			if e, ok := x.Elts[n-1].(*ast.Ellipsis); ok && e.Type != nil {
				rest := member(node, "items")
				if _, tuple := rest.(*ast.ListLit); tuple {
					rest = member(node, "additionalItems") // drafts 4-7
				}
				if rest != nil {
					placeIn(e.Type, rest, true)
				}
			}
		}
	}
}

// placeScalars places the scalar types in x, a value of node or of one
// of its alternatives (anyOf, oneOf, not, if): a struct or list there is
// an alternative's own, which is not told from the others by position.
func placeScalars(x ast.Expr, node ast.Expr) {
	switch x := x.(type) {
	case *ast.Ident:
		if x.Node == nil && !x.NamePos.HasAbsPos() && jsonTypeNames[x.Name] != nil {
			if at, ok := typePos(node, x.Name); ok {
				x.NamePos = place(x.NamePos, at)
			}
		}
	case *ast.BasicLit:
		if x.Kind == token.NULL && !x.ValuePos.HasAbsPos() {
			if at, ok := typePos(node, "null"); ok {
				x.ValuePos = place(x.ValuePos, at)
			}
		}
	case *ast.BinaryExpr:
		placeScalars(x.X, node)
		placeScalars(x.Y, node)
	case *ast.UnaryExpr:
		placeScalars(x.X, node)
	case *ast.ParenExpr:
		placeScalars(x.X, node)
	}
}

// place is at, with the spacing that p, a position without a file,
// asks for when the value is printed.
func place(p, at token.Pos) token.Pos { return at.WithRel(p.RelPos()) }

// jsonTypeNames are the values of "type" that each CUE type comes from.
var jsonTypeNames = map[string][]string{
	"string": {"string"},
	"bool":   {"boolean"},
	"number": {"number", "integer"},
	"int":    {"integer"},
	"null":   {"null"},
	"struct": {"object"},
	"list":   {"array"},
}

// typePos is where node says the type named cueType: its "type" keyword,
// or the name in a list of types; else the one alternative (anyOf,
// oneOf, allOf, not, if, then, else) that says it. ok is false when no
// one place says it: a type CUE's translation writes for a schema with no
// "type" at all, or one that comes from a schema elsewhere (a property
// written again under allOf), keeps no position.
func typePos(node ast.Expr, cueType string) (token.Pos, bool) {
	if t := member(node, "type"); t != nil {
		return namesType(t, cueType)
	}
	var found []token.Pos
	for _, alt := range subschemas(node) {
		if p, ok := namesType(member(alt, "type"), cueType); ok {
			found = append(found, p)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return token.NoPos, false
}

// namesType reports where t, the value of a "type" keyword, names
// cueType.
func namesType(t ast.Expr, cueType string) (token.Pos, bool) {
	is := func(e ast.Expr) bool {
		lit, ok := e.(*ast.BasicLit)
		if !ok {
			return false
		}
		s, err := strconv.Unquote(lit.Value)
		return err == nil && slices.Contains(jsonTypeNames[cueType], s)
	}
	switch t := t.(type) {
	case *ast.BasicLit:
		return t.Pos(), is(t)
	case *ast.ListLit:
		for _, e := range t.Elts {
			if is(e) {
				return e.Pos(), true
			}
		}
	}
	return token.NoPos, false
}

// subschemas are those of node that CUE's translation may
// turn into alternatives or conjuncts of its value.
func subschemas(node ast.Expr) []ast.Expr {
	var out []ast.Expr
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if l, ok := member(node, k).(*ast.ListLit); ok {
			out = append(out, l.Elts...)
		}
	}
	for _, k := range []string{"not", "if", "then", "else"} {
		if s := member(node, k); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// hasPattern reports whether a struct constrains fields by a pattern.
func hasPattern(x *ast.StructLit) bool {
	return slices.ContainsFunc(x.Elts, func(d ast.Decl) bool {
		f, ok := d.(*ast.Field)
		if !ok {
			return false
		}
		_, pattern := f.Label.(*ast.ListLit)
		return pattern
	})
}

// member is the value of key in a JSON object as cuejson.Extract reads
// it, or nil.
func member(obj ast.Expr, key string) ast.Expr {
	s, ok := obj.(*ast.StructLit)
	if !ok {
		return nil
	}
	for _, d := range s.Elts {
		f, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		if name, _, err := ast.LabelName(f.Label); err == nil && name == key {
			return f.Value
		}
	}
	return nil
}

// schemaOf is the schema that a translated field comes from: a property
// of node, or, for a definition #x, node's $defs or definitions entry x;
// nil for any other field.
func schemaOf(l ast.Label, node, props ast.Expr) ast.Expr {
	if id, ok := l.(*ast.Ident); ok && strings.HasPrefix(id.Name, "#") {
		name := id.Name[1:]
		if d := member(member(node, "$defs"), name); d != nil {
			return d
		}
		return member(member(node, "definitions"), name)
	}
	if id, ok := l.(*ast.Ident); ok && strings.HasPrefix(id.Name, "_") {
		return nil // hidden: no property translates to one
	}
	name, _, err := ast.LabelName(l)
	if err != nil {
		return nil
	}
	return member(props, name)
}
