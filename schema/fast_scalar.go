package schema

import (
	"regexp"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
	"github.com/cockroachdb/apd/v3"

	"github.com/zpipe/zpipe/format"
)

// scalar compiles a literal, a bound, != or a regular expression.
func (a *fastAnalyser) scalar(x ast.Expr) (*fastNode, error) {
	if u, ok := x.(*ast.UnaryExpr); ok {
		switch u.Op {
		case token.GEQ, token.GTR, token.LEQ, token.LSS:
			l, err := schemaLiteral(u.X)
			if err != nil {
				return nil, err
			}
			if l.k&kNumber == 0 {
				return nil, unsupportedAt(u, "bound on a %s", literalKindName(l.k))
			}
			op := map[token.Token]fastCmp{token.GEQ: opGe, token.GTR: opGt, token.LEQ: opLe, token.LSS: opLt}[u.Op]
			return &fastNode{kinds: kNumber, atoms: []fastAtom{numAtomOf(op, l.d)}}, nil
		case token.NEQ:
			l, err := schemaLiteral(u.X)
			if err != nil {
				return nil, err
			}
			switch l.k {
			case kNull:
				return &fastNode{kinds: kAll &^ kNull}, nil
			case kString:
				return &fastNode{kinds: kString, atoms: []fastAtom{&strAtom{op: opNe, s: l.s}}}, nil
			case kInt, kFloat:
				return &fastNode{kinds: kNumber, atoms: []fastAtom{numAtomOf(opNe, l.d)}}, nil
			}
			return nil, unsupportedAt(u, "!= on a %s", literalKindName(l.k))
		case token.MAT, token.NMAT:
			l, err := schemaLiteral(u.X)
			if err != nil {
				return nil, err
			}
			if l.k != kString {
				return nil, unsupportedAt(u, "regular expression that is not a string")
			}
			re, err := regexp.Compile(l.s)
			if err != nil {
				return nil, unsupportedAt(u, "invalid regular expression")
			}
			return &fastNode{kinds: kString, atoms: []fastAtom{&reAtom{re: re, dfa: compileDFA(l.s), neg: u.Op == token.NMAT}}}, nil
		case token.MUL:
			return nil, unsupportedAt(u, "default marker outside a disjunction")
		}
	}
	l, err := schemaLiteral(x)
	if err != nil {
		return nil, err
	}
	n := &fastNode{kinds: l.k}
	switch l.k {
	case kString:
		n.atoms = []fastAtom{&strAtom{op: opEq, s: l.s}}
	case kInt, kFloat:
		n.atoms = []fastAtom{numAtomOf(opEq, l.d)}
	case kBool:
		n.atoms = []fastAtom{&boolAtom{b: l.b}}
	}
	return n, nil
}

func literalKindName(k valueKinds) string {
	switch k {
	case kNull:
		return "null"
	case kBool:
		return "bool"
	case kString:
		return "string"
	}
	return "number"
}

func numAtomOf(op fastCmp, d apd.Decimal) *numAtom {
	a := &numAtom{op: op}
	a.d.Set(&d)
	var i apd.Decimal
	if _, err := apd.BaseContext.RoundToIntegralExact(&i, &d); err == nil && i.Cmp(&d) == 0 {
		if n, err := i.Int64(); err == nil {
			a.i, a.isI = n, true
		}
	}
	return a
}

// schemaLit is a concrete scalar from the schema.
type schemaLit struct {
	k valueKinds
	s string
	b bool
	d apd.Decimal
}

// schemaLiteral reads a literal as CUE's compiler does.
func schemaLiteral(x ast.Expr) (*schemaLit, error) {
	x = stripParens(x)
	neg := false
	if u, ok := x.(*ast.UnaryExpr); ok && (u.Op == token.SUB || u.Op == token.ADD) {
		neg = u.Op == token.SUB
		x = stripParens(u.X)
		if b, ok := x.(*ast.BasicLit); !ok || b.Kind != token.INT && b.Kind != token.FLOAT {
			return nil, unsupportedAt(u, "operator %s", u.Op)
		}
	}
	b, ok := x.(*ast.BasicLit)
	if !ok {
		if id, ok := x.(*ast.Ident); ok && id.Name == "null" && id.Node == nil {
			return &schemaLit{k: kNull}, nil
		}
		return nil, unsupportedAt(x, "%s", constructName(x))
	}
	switch b.Kind {
	case token.NULL:
		return &schemaLit{k: kNull}, nil
	case token.TRUE, token.FALSE:
		return &schemaLit{k: kBool, b: b.Kind == token.TRUE}, nil
	case token.STRING:
		q, start, _, err := literal.ParseQuotes(b.Value, b.Value)
		if err != nil {
			return nil, unsupportedAt(b, "string literal")
		}
		if !q.IsDouble() {
			return nil, unsupportedAt(b, "bytes literal")
		}
		s, err := q.Unquote(b.Value[start:])
		if err != nil {
			return nil, unsupportedAt(b, "string literal")
		}
		return &schemaLit{k: kString, s: s}, nil
	case token.INT, token.FLOAT:
		var ni literal.NumInfo
		l := &schemaLit{k: kFloat}
		if literal.ParseNum(b.Value, &ni) != nil || ni.Decimal(&l.d) != nil || l.d.Form != apd.Finite {
			return nil, unsupportedAt(b, "number literal %s", b.Value)
		}
		if ni.IsInt() {
			l.k = kInt
		}
		if neg {
			l.d.Neg(&l.d)
		}
		return l, nil
	}
	return nil, unsupportedAt(b, "literal %s", b.Value)
}

// disjunction compiles a | b | ..., whose alternatives must be scalars.
func (a *fastAnalyser) disjunction(x *ast.BinaryExpr, ev cue.Value, inDef bool) (*fastNode, error) {
	var alts []ast.Expr
	var flatten func(e ast.Expr)
	flatten = func(e ast.Expr) {
		if b, ok := stripParens(e).(*ast.BinaryExpr); ok && b.Op == token.OR {
			flatten(b.X)
			flatten(b.Y)
			return
		}
		alts = append(alts, e)
	}
	flatten(x)
	if anyWithScalarDefaults(alts) {
		// *d | _ takes any value; its default only fills a missing
		// field, which CUE computes once.
		return &fastNode{kinds: kAll}, nil
	}
	if n, ok, err := a.listDefault(alts, ev, inDef); ok || err != nil {
		return n, err
	}
	for _, e := range alts {
		if u, ok := stripParens(e).(*ast.UnaryExpr); ok && u.Op == token.MUL {
			e = u.X
		}
		if compositeLit(e) || a.structish(e, 0) {
			return a.structDisjunction(x, alts, ev, inDef)
		}
	}
	d := &disjAtom{}
	var k valueKinds
	for _, e := range alts {
		// A default marks which alternative a missing field takes; CUE
		// computes that value once, so here only the alternative counts.
		if u, ok := stripParens(e).(*ast.UnaryExpr); ok && u.Op == token.MUL {
			e = u.X
		}
		switch stripParens(e).(type) {
		case *ast.StructLit, *ast.ListLit:
			return nil, unsupportedAt(e, "disjunction with a struct or list")
		}
		if a.structish(e, 0) {
			return nil, unsupportedAt(e, "disjunction with a struct or list")
		}
		n, err := a.expr(e, ev, inDef)
		if err != nil {
			return nil, err
		}
		// A list or struct the alternative only validates (list.MaxItems(0),
		// matchN(...)) is checked as a scalar is: it fills nothing in.
		if n.kinds&(kList|kObject) != 0 && !validatesOnly(n) {
			return nil, unsupportedAt(e, "disjunction with a struct or list")
		}
		d.alts = append(d.alts, n)
		k |= n.kinds
	}
	return &fastNode{kinds: k, atoms: []fastAtom{d}}, nil
}

// validatesOnly reports whether n checks a value without any shape of its
// own: no fields, elements or disjunctions, whose defaults would fill
// the value in.
func validatesOnly(n *fastNode) bool {
	return n.obj == nil && n.list == nil && n.cue == nil && len(n.disjs) == 0
}

// compositeLit reports whether x is a struct or list literal (or close of
// one), or unifies one with more: list.UniqueItems() & [...string].
func compositeLit(x ast.Expr) bool {
	if embeddedStruct(x) != nil {
		return true
	}
	switch x := stripParens(x).(type) {
	case *ast.StructLit, *ast.ListLit:
		return true
	case *ast.BinaryExpr:
		return x.Op == token.AND && (compositeLit(x.X) || compositeLit(x.Y))
	}
	return false
}

// anyWithScalarDefaults reports whether alts hold _ and every other
// alternative is a default that is a scalar literal: *"normal" | _. A
// struct default would take part in the value's unification ({} against
// *{x: int} | _ is {x: int}, incomplete), a scalar one cannot.
func anyWithScalarDefaults(alts []ast.Expr) bool {
	top := false
	for _, e := range alts {
		if id, ok := stripParens(e).(*ast.Ident); ok && id.Name == "_" {
			top = true
			continue
		}
		u, ok := stripParens(e).(*ast.UnaryExpr)
		if !ok || u.Op != token.MUL {
			return false
		}
		if _, scalar := scalarValue(u.X); !scalar {
			return false
		}
	}
	return top
}

// call compiles a call of a builtin the fast path knows.
func (a *fastAnalyser) call(x *ast.CallExpr) (*fastNode, error) {
	return a.builtinCall(x, x.Fun, x.Args)
}

// listDefault compiles T | *D, where D is a list literal of scalars that T
// accepts, such as [...string] | *[]: it accepts just what T accepts, and
// its default only fills a missing field, which CUE computes once. A data
// list unifies with D only when it equals D, so the result is the data as
// given either way. (A struct default would not be so: data {} and
// *{a: 1} unify into {a: 1}.)
func (a *fastAnalyser) listDefault(alts []ast.Expr, ev cue.Value, inDef bool) (*fastNode, bool, error) {
	if len(alts) != 2 {
		return nil, false, nil
	}
	for i, alt := range alts {
		u, ok := stripParens(alt).(*ast.UnaryExpr)
		if !ok || u.Op != token.MUL {
			continue
		}
		lit, ok := stripParens(u.X).(*ast.ListLit)
		if !ok {
			return nil, false, nil
		}
		def := make([]any, 0, len(lit.Elts))
		for _, e := range lit.Elts {
			v, ok := scalarValue(e)
			if !ok {
				return nil, false, nil
			}
			def = append(def, v)
		}
		// ev is the default's value here, so T compiles only when it
		// needs nothing from ev: a list of scalars, say.
		n, err := a.expr(alts[1-i], ev, inDef)
		if err != nil {
			return nil, false, nil
		}
		if n.kinds != kList {
			return nil, false, nil
		}
		if ok, _ := (&fastChecker{root: n}).check(n, def); !ok {
			return nil, false, nil // T does not take D: a real choice
		}
		return n, true, nil
	}
	return nil, false, nil
}

// scalarValue is the data value of a scalar literal: a string, a number,
// true, false or null.
func scalarValue(e ast.Expr) (any, bool) {
	b, ok := stripParens(e).(*ast.BasicLit)
	if !ok {
		return nil, false
	}
	switch b.Kind {
	case token.STRING:
		s, err := literal.Unquote(b.Value)
		return s, err == nil
	case token.INT, token.FLOAT:
		return format.Number(b.Value), true
	case token.TRUE:
		return true, true
	case token.FALSE:
		return false, true
	case token.NULL:
		return nil, true
	}
	return nil, false
}
