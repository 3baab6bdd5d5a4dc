package schema

import (
	"slices"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/ast/astutil"
	"cuelang.org/go/cue/token"
)

// closeOpenStructs rewrites the open struct literals that CUE's
// translation unifies with another struct, as it writes "type": "object"
// or "properties" beside a $ref: #a & {...}, #a & {m?: string, ...}.
//
// By CUE's rules the literal's ... opens nothing but the literal: #a stays
// closed. But CUE v0.17 lets it open #a under an embedding, and a JSON
// Schema's translation is embedded at the file's root whenever the root
// is closed or not an object: there a closed #a took any field, against
// JSON Schema, while under a field or in matchN it stayed closed. So:
//
//   - {...} beside a value that is a struct anyway says nothing, and is
//     dropped: #a & {...} becomes #a, which the fast path takes as one
//     struct where it refused a unification of two;
//   - any other ... beside what may be a closed struct, in a literal or
//     in an alternative of a disjunction (#a & (null | {m?: string,
//     ...}), as "properties" without "type" is written), becomes [_]: _,
//     which allows the same fields and which CUE does not let open #a;
//     but not in matchN or matchIf, whose arguments CUE evaluates
//     closed, and where the fast path knows ... but not the pattern.
func closeOpenStructs(f *ast.File) {
	astutil.Resolve(f, func(token.Pos, string, ...any) {})
	inMatch := 0
	astutil.Apply(f, func(c astutil.Cursor) bool {
		if predeclaredCall(c.Node(), "matchN", "matchIf") != nil {
			inMatch++
		}
		return true
	}, func(c astutil.Cursor) bool {
		if predeclaredCall(c.Node(), "matchN", "matchIf") != nil {
			inMatch--
		}
		b, ok := c.Node().(*ast.BinaryExpr)
		if !ok || b.Op != token.AND {
			return true
		}
		conjuncts := flattenAnd(b, nil)
		// {...} goes beside a struct that stays, never beside another
		// {...}: {...} & {...} is not nothing.
		structAnyway := slices.ContainsFunc(conjuncts, func(y ast.Expr) bool { return !emptyOpenStruct(y) && alwaysStruct(y, 0) })
		var kept []ast.Expr
		for i, x := range conjuncts {
			if structAnyway && emptyOpenStruct(x) {
				continue
			}
			kept = append(kept, x)
			others := slices.Concat(conjuncts[:i], conjuncts[i+1:])
			if inMatch == 0 && slices.ContainsFunc(others, func(y ast.Expr) bool { return mayBeClosed(y, 0) }) {
				for _, lit := range openLiterals(x, 0) {
					patternForEllipsis(lit)
				}
			}
		}
		if len(kept) < len(conjuncts) {
			x := kept[0]
			for _, y := range kept[1:] {
				x = &ast.BinaryExpr{X: x, OpPos: b.OpPos, Op: token.AND, Y: y}
			}
			c.Replace(x)
		}
		return true
	})
}

// openLiterals returns the struct literals with an untyped ... that x is
// or has among its alternatives and their conjuncts, as the translation
// of "properties" without "type" writes: null | bool | number | string |
// [...] | {...}.
func openLiterals(x ast.Expr, depth int) []*ast.StructLit {
	if depth > fastMaxDepth {
		return nil
	}
	switch y := stripParens(x).(type) {
	case *ast.BinaryExpr:
		// An alternative may be a conjunction itself:
		// struct.MaxFields(3) & {m?: string, ...}.
		if y.Op == token.OR || y.Op == token.AND {
			return append(openLiterals(y.X, depth+1), openLiterals(y.Y, depth+1)...)
		}
	case *ast.UnaryExpr:
		if y.Op == token.MUL {
			return openLiterals(y.X, depth+1)
		}
	}
	if lit := openLiteral(x); lit != nil {
		return []*ast.StructLit{lit}
	}
	return nil
}

// openLiteral returns x when it is a struct literal with an untyped ...
func openLiteral(x ast.Expr) *ast.StructLit {
	s, ok := stripParens(x).(*ast.StructLit)
	if !ok {
		return nil
	}
	for _, d := range s.Elts {
		if e, ok := d.(*ast.Ellipsis); ok && e.Type == nil {
			return s
		}
	}
	return nil
}

// patternForEllipsis replaces s's ... with [_]: _ (_ rather than string,
// which a field of that name could shadow).
func patternForEllipsis(s *ast.StructLit) {
	for i, d := range s.Elts {
		if e, ok := d.(*ast.Ellipsis); ok && e.Type == nil {
			top := ast.NewIdent("_")
			top.NamePos = e.Ellipsis
			s.Elts[i] = &ast.Field{Label: &ast.ListLit{Lbrack: e.Ellipsis, Elts: []ast.Expr{ast.NewIdent("_")}}, Value: top}
		}
	}
}

// mayBeClosed reports whether x could be a closed struct, which the
// literal beside it would open: a literal without ..., close of one, or
// a reference to one or to what cannot be told.
func mayBeClosed(x ast.Expr, depth int) bool {
	if depth > fastMaxDepth {
		return true
	}
	switch x := stripParens(x).(type) {
	case *ast.StructLit:
		return openLiteral(x) == nil
	case *ast.CallExpr:
		return predeclaredCall(x, "close") != nil
	case *ast.BinaryExpr:
		return (x.Op == token.AND || x.Op == token.OR) && (mayBeClosed(x.X, depth+1) || mayBeClosed(x.Y, depth+1))
	case *ast.UnaryExpr:
		return x.Op == token.MUL && mayBeClosed(x.X, depth+1)
	case *ast.Ident, *ast.SelectorExpr:
		vals, all := referredValues(x, depth)
		return !all || slices.ContainsFunc(vals, func(v ast.Expr) bool { return mayBeClosed(v, depth+1) })
	}
	return false
}

// emptyOpenStruct reports whether x is {...}: any struct.
func emptyOpenStruct(x ast.Expr) bool {
	s, ok := stripParens(x).(*ast.StructLit)
	if !ok {
		return false
	}
	n := 0
	for _, d := range s.Elts {
		switch d := d.(type) {
		case *ast.CommentGroup, *ast.Attribute:
		case *ast.Ellipsis:
			if d.Type != nil {
				return false
			}
			n++
		default:
			return false
		}
	}
	return n == 1
}

// alwaysStruct reports whether x can only be a struct (or an error): a
// struct literal that embeds only structs, close of one, a conjunction
// with one, or a reference to one.
func alwaysStruct(x ast.Expr, depth int) bool {
	if depth > fastMaxDepth {
		return false
	}
	switch x := stripParens(x).(type) {
	case *ast.StructLit:
		for _, d := range x.Elts {
			switch d := d.(type) {
			case *ast.Field, *ast.Ellipsis, *ast.CommentGroup, *ast.Attribute, *ast.Comprehension:
			case *ast.EmbedDecl:
				if !alwaysStruct(d.Expr, depth+1) {
					return false
				}
			case *ast.StructLit:
				if !alwaysStruct(d, depth+1) {
					return false
				}
			default:
				return false
			}
		}
		return true
	case *ast.CallExpr:
		c := predeclaredCall(x, "close")
		return c != nil && len(c.Args) == 1 && alwaysStruct(c.Args[0], depth+1)
	case *ast.BinaryExpr:
		return x.Op == token.AND && (alwaysStruct(x.X, depth+1) || alwaysStruct(x.Y, depth+1))
	case *ast.Ident, *ast.SelectorExpr:
		// Every declaration is unified with the others: one struct
		// makes them all one, whatever the others are.
		vals, _ := referredValues(x, depth)
		return slices.ContainsFunc(vals, func(v ast.Expr) bool { return alwaysStruct(v, depth+1) })
	}
	return false
}

// referredValues returns the values declared for what x names: the
// fields of an identifier's name in the scope the resolver found, or the
// fields of those structs that a selector names. all is false when an
// embedding or a comprehension there may declare more, or when what x
// names cannot be told.
func referredValues(x ast.Expr, depth int) (vals []ast.Expr, all bool) {
	if depth > fastMaxDepth {
		return nil, false
	}
	switch x := x.(type) {
	case *ast.Ident:
		// The resolver links the last declaration only; the
		// translation writes #: "a": ... once a definition.
		v, ok := x.Node.(ast.Expr)
		if !ok {
			return nil, false
		}
		vals, all := fieldsNamed(x.Scope, x.Name)
		if !slices.Contains(vals, v) {
			return []ast.Expr{v}, false
		}
		return vals, all
	case *ast.SelectorExpr:
		name, _, err := ast.LabelName(x.Sel)
		if err != nil {
			return nil, false
		}
		outer, all := referredValues(x.X, depth+1)
		for _, o := range outer {
			vs, found := fieldsNamed(stripParens(o), name)
			vals = append(vals, vs...)
			all = all && found
		}
		return vals, all
	}
	return nil, false
}

// fieldsNamed returns the values of the fields of a file or struct
// literal named name; all is false when one of its embeddings or
// comprehensions may declare more.
func fieldsNamed(scope ast.Node, name string) (vals []ast.Expr, all bool) {
	decls, all := scopeDecls(scope)
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.Field:
			if l, _, err := ast.LabelName(d.Label); err == nil && l == name {
				vals = append(vals, d.Value)
			}
		case *ast.EmbedDecl:
			all = all && !embedDeclares(d.Expr, name)
		case *ast.Comprehension:
			all = false
		}
	}
	return vals, all
}
