package schema

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// placeTypes gives the types that CUE's translation of a JSON Schema
// writes without a position (string, bool, number, null, {...}, [...])
// the position of the "type" keyword they come from, so that a record of
// the wrong type is told where the schema says so, as for a CUE schema.
// It follows properties, items, close() and the root's definitions; a
// value reached otherwise (allOf or oneOf) keeps no position, as before. src is the JSON Schema as cuejson.Extract reads it.
func placeTypes(f *ast.File, src ast.Expr) {
	placeDecls(f.Decls, src)
}

func placeDecls(decls []ast.Decl, node ast.Expr) {
	props := member(node, "properties")
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.Field:
			if p := schemaOf(d.Label, node, props); p != nil {
				placeIn(d.Value, p)
			}
		case *ast.EmbedDecl:
			placeIn(d.Expr, node)
		}
	}
}

// placeIn places the types in x, the translation of the schema node.
func placeIn(x ast.Expr, node ast.Expr) {
	switch x := x.(type) {
	case *ast.Ident:
		if x.Node == nil && !x.NamePos.HasAbsPos() && jsonTypeNames[x.Name] != nil {
			x.NamePos = place(x.NamePos, typePos(node, x.Name))
		}
	case *ast.BasicLit:
		if x.Kind == token.NULL && !x.ValuePos.HasAbsPos() {
			x.ValuePos = place(x.ValuePos, typePos(node, "null"))
		}
	case *ast.BinaryExpr:
		placeIn(x.X, node)
		placeIn(x.Y, node)
	case *ast.UnaryExpr:
		placeIn(x.X, node)
	case *ast.ParenExpr:
		placeIn(x.X, node)
	case *ast.CallExpr:
		if fn, ok := x.Fun.(*ast.Ident); ok && fn.Name == "close" && len(x.Args) == 1 {
			placeIn(x.Args[0], node)
		}
	case *ast.StructLit:
		if !x.Lbrace.HasAbsPos() {
			x.Lbrace = place(x.Lbrace, typePos(node, "struct"))
		}
		placeDecls(x.Elts, node)
	case *ast.ListLit:
		if !x.Lbrack.HasAbsPos() {
			x.Lbrack = place(x.Lbrack, typePos(node, "list"))
		}
		if n := len(x.Elts); n > 0 {
			if e, ok := x.Elts[n-1].(*ast.Ellipsis); ok && e.Type != nil {
				if items := member(node, "items"); items != nil {
					placeIn(e.Type, items)
				}
			}
		}
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
// or the name in a list of types; the node itself when it has none.
func typePos(node ast.Expr, cueType string) token.Pos {
	switch t := member(node, "type").(type) {
	case *ast.BasicLit:
		return t.Pos()
	case *ast.ListLit:
		for _, e := range t.Elts {
			if lit, ok := e.(*ast.BasicLit); ok {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					for _, name := range jsonTypeNames[cueType] {
						if s == name {
							return lit.Pos()
						}
					}
				}
			}
		}
		return t.Pos()
	}
	return node.Pos()
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
