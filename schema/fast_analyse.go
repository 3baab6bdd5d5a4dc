package schema

import (
	cueformat "cuelang.org/go/cue/format"
	"cuelang.org/go/cue/literal"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// The analysis reads the schema's syntax, which says exactly which
// constructs are used and where, and takes from the evaluated schema only
// what CUE computes once for every record: the values of missing fields
// and the field order. Anything outside the supported subset makes the
// whole schema fall back to CUE; a wrong guess would accept a bad record.

// The analysis gives up on schemas nested deeper than fastMaxDepth or
// whose references expand to more than fastMaxNodes expressions.
const (
	fastMaxDepth = 64
	fastMaxNodes = 20000
)

// unsupported is why a schema falls back to CUE.
type unsupportedError struct {
	pos  token.Pos
	what string
}

func (u *unsupportedError) Error() string { return u.what }

func unsupportedAt(n ast.Node, format string, args ...any) error {
	var pos token.Pos
	if n != nil {
		pos = n.Pos()
	}
	return &unsupportedError{pos: pos, what: fmt.Sprintf(format, args...)}
}

type fastAnalyser struct {
	s *Schema
	v *Validator // whose shapes a value left to CUE takes
	// file is the schema file's value (pruned, as compile builds it),
	// in whose scope matchN's alternatives and pattern values are
	// evaluated; made when first needed.
	file cue.Value
	// top is the file's syntax, as the analysis reads it.
	top *ast.File
	// labelCounts counts the file's declarations by name (see
	// declaredOnlyIn); made when first needed.
	labelCounts map[string]int
	ctx         *cue.Context
	// stack holds the definitions being expanded, each with the node it
	// will be: a reference back to one is that node (a recursive schema
	// is a cyclic tree), and pending until the expansion ends.
	stack   []expansion
	pending map[*fastNode]bool
	// expanded holds each definition's node once built, shared by every
	// reference to it: a definition means the same wherever it is used
	// (a use site can add only validators, never fields: oneStruct), but
	// inside a matchN alternative no value may be left to CUE.
	expanded map[expandKey]*fastNode
	// siteBound counts the nodes built from the use site's evaluated
	// value (CUE's checks of one value): an expansion that built one is
	// not shared, since another site's value may differ, except between
	// bare sites, whose value is the reference's own (bareExpanded).
	siteBound    int
	bareExpanded map[bareKey]bareExpansion
	// beside counts the unifications being compiled whose parts share
	// one evaluated value, and the fields a pattern constraint applies
	// to: under one, a reference's value may hold more than its own.
	beside int
	depth  int
	nodes  int
	// path is where in the record the analysis is, for fallbacks.
	path      []string
	fallbacks []Fallback
	inMatch   int // inside a matchN alternative
	// unclosed is set inside a list literal unified with a validator,
	// whose structs CUE leaves open though its schema value shows them
	// closed (see conj).
	unclosed bool
	// mergedClosed tells structObj that it compiles a unification of
	// structs that one part closes (see mergeStructs).
	mergedClosed bool
	// noAlone counts the unifications being compiled inside which no
	// value may be left to CUE alone (see aloneUnsound); defMerges counts
	// every such unification compiled, and mergingDefs marks the shared
	// expansions that hold one, so that a disjunction can tell whether
	// its alternatives do.
	noAlone     int
	defMerges   int
	mergingDefs map[*fastNode]bool
	// aloneEv counts the values being compiled against CUE's evaluation
	// of them alone (evalAlone) rather than at their site, where what
	// the site unifies them with is missing (see takenIn).
	aloneEv int
	// taken counts the references takenIn let CUE check with the value
	// at a site: a node holding such a check is the site's alone, and
	// expandAs shares it with no other (see takenIn).
	taken int
	// recursions counts the references expandAs found already being
	// built: a field whose value holds one refers back to its own
	// definition. recursedTo is the lowest place in stack one referred
	// to since structDisjunction last set it.
	recursions int
	recursedTo int
	// defMixed counts the unifications with a definition among their
	// parts being compiled: under one, literals of nested structs may
	// come from different definitions, each closing its own (see
	// mergeStructs). An expansion starts afresh.
	defMixed int
	// cyclic lists the nodes that have CUE check a recursive value, in
	// the order analysis made them (see cueNode).
	cyclic []*cueNode
	// owner is the struct literal that declares a declaration compiled
	// as part of another's (embedded, or unified with it): each literal
	// is a chain of CUE's field order (see fillOrder).
	owner map[ast.Decl]ast.Node
}

// own records lit as the owner of its declarations.
func (a *fastAnalyser) own(lit *ast.StructLit) {
	if a.owner == nil {
		a.owner = map[ast.Decl]ast.Node{}
	}
	for _, d := range lit.Elts {
		a.owner[d] = lit
	}
}

// buildFast returns the native checker for a validator's schema, or nil
// and a one-line reason naming the construct that prevents it.
func (v *Validator) buildFast() (*fastChecker, string) {
	if v.hasXform {
		return nil, "a transform is evaluated by CUE"
	}
	a := &fastAnalyser{s: v.s, ctx: v.ctx, v: v}
	root, err := a.root(v.schema)
	if err != nil {
		var u *unsupportedError
		if errors.As(err, &u) && u.pos.IsValid() {
			return nil, fmt.Sprintf("%s:%d:%d: %s", v.s.display(u.pos.Filename()), u.pos.Line(), u.pos.Column(), u.what)
		}
		return nil, err.Error()
	}
	countAdded(root, map[*fastNode]bool{})
	return &fastChecker{root: root, fallbacks: a.fallbacks, cyclic: a.cyclic}, ""
}

func (a *fastAnalyser) root(ev cue.Value) (*fastNode, error) {
	spec := a.s.spec
	name, src, err := a.s.cueSource(spec.File)
	if err != nil {
		return nil, err
	}
	f, err := parser.ParseFile(name, src)
	if err != nil {
		return nil, err
	}
	a.top = f
	if spec.Def == "" {
		if embed, ok := soleEmbedding(f); ok {
			// close({...}) at the top, as CUE's translation of a
			// JSON Schema writes: that value is the whole file's.
			// It may name a hidden field, _schema, that holds it.
			if id, ok := embed.Expr.(*ast.Ident); ok && isHiddenName(id.Name) {
				var vals []ast.Expr
				for _, d := range f.Decls {
					fd, ok := d.(*ast.Field)
					if !ok || selLabel(fd.Label) != id.Name {
						continue
					}
					if fd.Constraint != token.ILLEGAL {
						// CUE unifies an optional declaration too.
						return nil, unsupportedAt(fd, "optional or required declaration of %s", id.Name)
					}
					vals = append(vals, fd.Value)
				}
				if !containsNode(vals, id.Node) || a.structish(id.Node.(ast.Expr), 0) && embedDeclares(id.Node.(ast.Expr), id.Name) {
					return nil, unsupportedAt(id, "reference to %s", id.Name)
				}
				whole := slices.Clone(vals)
				for i := range vals {
					vals[i] = unwrapEmbedding(vals[i], false)
				}
				n, err := a.expandAs(vals, ev, false)
				if err != nil {
					return nil, err
				}
				for _, x := range whole {
					if err := embedsTopDefinition(x, f); err != nil {
						return nil, err
					}
				}
				return n, nil
			}
			n, err := a.expr(embed.Expr, ev, false)
			if err != nil {
				return nil, err
			}
			if err := embedsTopDefinition(embed.Expr, f); err != nil {
				return nil, err
			}
			return n, nil
		}
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.EmbedDecl:
			// It could add to any definition of the file, unless it
			// holds only pattern constraints.
			if patternsOnly(d) == nil {
				return nil, unsupportedAt(d, "%s at the top of the file", constructName(d))
			}
		case *ast.Comprehension:
			return nil, unsupportedAt(d, "%s at the top of the file", constructName(d))
		case *ast.Attribute:
			if k, _ := d.Split(); k == "jsonschema" {
				continue // where a translated JSON Schema came from
			}
			return nil, unsupportedAt(d, "file attribute %s", d.Text)
		}
	}
	if spec.Def == "" {
		return a.structLit(f.Decls, f, ev, false)
	}
	vals, err := a.declsIn(f, "#"+spec.Def, f)
	if err != nil {
		return nil, err
	}
	for i := range vals {
		vals[i] = unwrapEmbedding(vals[i], true)
	}
	rooted, err := closeRooted(vals, 0)
	if err != nil {
		return nil, err
	}
	if rooted {
		// CUE v0.17 checks a record against such a definition as if it
		// were none: #R: close({b: {x?: int}}) leaves b open, though
		// #R's value shows it closed, as a reference to #R makes it.
		a.unclosed = true
		return a.expandAs(vals, ev, false)
	}
	return a.expand(vals[0], vals, ev)
}

// embedsTopDefinition fails when x, the value the file embeds, could
// declare a definition the file declares at its top: CUE unifies the two,
// and a conflict fails x, or the alternative of x that declares it
// (string | {#x: {p: "a"}} beside #x: {p: int}), which x alone does not
// show. Asked once x compiled: a reason found in it says more.
func embedsTopDefinition(x ast.Expr, f *ast.File) error {
	for _, name := range topDefinitions(f) {
		if embedDeclares(x, name) {
			return unsupportedAt(x, "embedded value that may declare definition %s, which the file declares too", name)
		}
	}
	return nil
}

// closeRooted reports whether one of a definition's declarations is
// close() at its root: a call of close, a literal that embeds one, a
// unification with one, or a hidden field of the file declared so.
func closeRooted(vals []ast.Expr, depth int) (bool, error) {
	for _, x := range vals {
		var rooted bool
		switch x := stripParens(x).(type) {
		case *ast.CallExpr:
			rooted = predeclaredCall(x, "close") != nil
		case *ast.StructLit:
			for _, d := range x.Elts {
				if e, ok := d.(*ast.EmbedDecl); ok && !rooted {
					r, err := closeRooted([]ast.Expr{e.Expr}, depth+1)
					if err != nil {
						return false, err
					}
					rooted = r
				}
			}
		case *ast.BinaryExpr:
			if x.Op == token.AND {
				r, err := closeRooted([]ast.Expr{x.X, x.Y}, depth+1)
				if err != nil {
					return false, err
				}
				rooted = r
			}
		case *ast.Ident:
			if !isHiddenName(x.Name) {
				break
			}
			decls, err := findDefDecls(x.Scope, x.Name, x)
			if err != nil || depth > 8 {
				return false, unsupportedAt(x, "definition that is hidden field %s", x.Name)
			}
			if rooted, err = closeRooted(decls, depth+1); err != nil {
				return false, err
			}
		}
		if rooted {
			return true, nil
		}
	}
	return false, nil
}

func containsNode(vals []ast.Expr, n ast.Node) bool {
	for _, v := range vals {
		if v == n {
			return true
		}
	}
	return false
}

// soleEmbedding finds a file whose value is one embedded expression: no
// regular field or comprehension beside it, only definitions, imports and
// attributes, which add nothing to the file's value.
func soleEmbedding(f *ast.File) (*ast.EmbedDecl, bool) {
	var embed *ast.EmbedDecl
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.EmbedDecl:
			if embed != nil {
				return nil, false
			}
			embed = d
		case *ast.Field:
			// Definitions and hidden fields add nothing to the value.
			if name, isIdent, err := ast.LabelName(d.Label); err != nil || !isIdent || !strings.HasPrefix(name, "#") && !strings.HasPrefix(name, "_") {
				return nil, false
			}
		case *ast.Attribute, *ast.ImportDecl, *ast.Package, *ast.CommentGroup:
		default:
			return nil, false
		}
	}
	return embed, embed != nil
}

// embeddedStruct is the struct literal x is, or that close() wraps; nil
// for anything else.
func embeddedStruct(x ast.Expr) *ast.StructLit {
	switch x := stripParens(x).(type) {
	case *ast.StructLit:
		return x
	case *ast.CallExpr:
		if c := predeclaredCall(x, "close"); c != nil && len(c.Args) == 1 {
			return embeddedStruct(c.Args[0])
		}
	}
	return nil
}

// predeclaredCall returns x when it calls one of the predeclared
// functions names (close, matchN...), not a field of that name.
func predeclaredCall(x ast.Node, names ...string) *ast.CallExpr {
	c, ok := x.(*ast.CallExpr)
	if !ok {
		return nil
	}
	fn, ok := c.Fun.(*ast.Ident)
	if !ok || fn.Node != nil || !slices.Contains(names, fn.Name) {
		return nil
	}
	return c
}

// scopeDecls returns the declarations of a file or a struct literal, the
// scopes the resolver links a name to; ok is false for any other scope.
func scopeDecls(scope ast.Node) (decls []ast.Decl, ok bool) {
	switch s := scope.(type) {
	case *ast.File:
		return s.Decls, true
	case *ast.StructLit:
		return s.Elts, true
	}
	return nil, false
}

// embedDeclares reports whether an embedded expression could declare the
// label name: a struct literal (or close of one) that does, or anything
// but a validator beside them, matchN(...) & close({...}) say.
func embedDeclares(x ast.Expr, name string) bool { return embedDeclaresIn(x, name, 0) }

func embedDeclaresIn(x ast.Expr, name string, depth int) bool {
	if depth > 8 {
		return true
	}
	if lit := embeddedStruct(x); lit != nil {
		return declaresIn(lit, name, depth+1)
	}
	switch x := stripParens(x).(type) {
	case *ast.BinaryExpr:
		// A unification declares what either side does; a disjunction,
		// what any alternative does.
		if x.Op != token.AND && x.Op != token.OR {
			return true
		}
		return embedDeclaresIn(x.X, name, depth+1) || embedDeclaresIn(x.Y, name, depth+1)
	case *ast.CallExpr:
		if c := predeclaredCall(x, "close"); c != nil && len(c.Args) == 1 {
			return embedDeclaresIn(c.Args[0], name, depth+1)
		}
		// matchN and matchIf check the value; they add nothing to it.
		return predeclaredCall(x, "matchN", "matchIf") == nil
	case *ast.UnaryExpr:
		if x.Op == token.MUL { // a default: what it marks
			return embedDeclaresIn(x.X, name, depth+1)
		}
		return false // a bound has no fields
	case *ast.ListLit, *ast.BasicLit:
		// A list and a literal scalar have no fields.
		return false
	case *ast.Ident:
		if x.Node == nil && predeclaredType[x.Name] {
			return false
		}
		// A hidden field holding the schema, as the translation writes,
		// or a definition of the file, as it embeds the one its root $ref
		// names. CUE unifies every declaration of the name, not just the
		// one x.Node links (the last): each must declare nothing.
		_, isExpr := x.Node.(ast.Expr)
		_, atTop := x.Scope.(*ast.File)
		if isExpr && isHiddenName(x.Name) || atTop && isDefName(x.Name) {
			return declarationsDeclare(x.Scope, x.Name, name, depth)
		}
	case *ast.SelectorExpr:
		// A field of a definition of the file, _#defs."/definitions/x":
		// what each of its declarations holds.
		id, ok := x.X.(*ast.Ident)
		if !ok || !isDefName(id.Name) {
			return true
		}
		file, atTop := id.Scope.(*ast.File)
		if !atTop {
			return true
		}
		sel := selLabel(x.Sel)
		found := false
		for _, d := range file.Decls {
			f, ok := d.(*ast.Field)
			if !ok || selLabel(f.Label) != id.Name {
				continue
			}
			lit, ok := stripParens(f.Value).(*ast.StructLit)
			if !ok {
				return true
			}
			for _, e := range lit.Elts {
				if g, ok := e.(*ast.Field); ok && selLabel(g.Label) == sel {
					found = true
					if embedDeclaresIn(g.Value, name, depth+1) {
						return true
					}
				}
			}
		}
		return !found
	}
	return true
}

// declarationsDeclare reports whether a declaration of label in scope, a
// file or a struct, could declare name, or whether none is found.
func declarationsDeclare(scope ast.Node, label, name string, depth int) bool {
	decls, ok := scopeDecls(scope)
	if !ok {
		return true
	}
	found := false
	for _, d := range decls {
		if f, ok := d.(*ast.Field); ok && selLabel(f.Label) == label {
			found = true
			if embedDeclaresIn(f.Value, name, depth+1) {
				return true
			}
		}
	}
	return !found
}

// predeclaredType names the types an identifier means when no field of
// that name is in scope.
var predeclaredType = map[string]bool{"_": true, "null": true, "bool": true, "int": true, "float": true, "number": true, "string": true, "bytes": true}

// declaresIn reports whether a struct literal declares the label name at
// its own level, or could: an embedding or comprehension in it.

func declaresIn(lit *ast.StructLit, name string, depth int) bool {
	for _, d := range lit.Elts {
		switch d := d.(type) {
		case *ast.Field:
			if _, isPattern := d.Label.(*ast.ListLit); isPattern {
				continue
			}
			if l, _, err := ast.LabelName(d.Label); err != nil || l == name {
				return true
			}
		case *ast.EmbedDecl:
			if embedDeclaresIn(d.Expr, name, depth+1) {
				return true
			}
		case *ast.Comprehension:
			// What its struct declares, as the translation's if fields
			// for dependentRequired do: if a != _|_ {"b"!: _}.
			body, ok := d.Value.(*ast.StructLit)
			if !ok || declaresIn(body, name, depth+1) {
				return true
			}
		}
	}
	return false
}

// embedded returns the declarations an embedding adds to its struct:
// those of a struct of pattern constraints, or, in a definition, those of
// the definitions it names (#Stage: {#Settings, ...}), whose bodies are
// struct literals; the cross-check with CUE's evaluated struct confirms
// the fields and closedness that result. seen stops an embedding cycle.
func (a *fastAnalyser) embedded(d *ast.EmbedDecl, inDef bool, seen map[ast.Expr]bool) ([]ast.Decl, error) {
	if lit := patternsOnly(d); lit != nil {
		return lit.Elts, nil
	}
	switch x := stripParens(d.Expr).(type) {
	case *ast.Ident, *ast.SelectorExpr:
		if id, ok := x.(*ast.Ident); ok && !isDefName(id.Name) {
			return nil, unsupportedAt(d, "%s", constructName(d))
		}
		if !inDef {
			// Embedding a definition closes an open struct.
			return nil, unsupportedAt(d, "embedding of a definition outside one")
		}
		vals, err := a.resolve(x)
		if err != nil {
			return nil, err
		}
		var elts []ast.Decl
		for _, v := range vals {
			lit, ok := stripParens(v).(*ast.StructLit)
			if !ok || seen[v] {
				return nil, unsupportedAt(d, "embedding of %s", refString(x))
			}
			seen[v] = true
			a.own(lit)
			elts = append(elts, lit.Elts...)
		}
		return elts, nil
	}
	return nil, unsupportedAt(d, "%s", constructName(d))
}

// emptyEmbedding reports whether d embeds {}, which adds nothing.
func emptyEmbedding(d *ast.EmbedDecl) bool {
	lit := patternsOnly(d)
	return lit != nil && !slices.ContainsFunc(lit.Elts, func(e ast.Decl) bool { _, c := e.(*ast.CommentGroup); return !c })
}

// patternsOnly returns the struct an embedding adds when it holds only
// pattern constraints and "...", as CUE's translation of a JSON Schema
// writes for additionalProperties ({[!~"^(a|b)$"]: _}); such an embedding
// adds to its struct just what writing them there would. nil otherwise.
func patternsOnly(d *ast.EmbedDecl) *ast.StructLit {
	lit, ok := stripParens(d.Expr).(*ast.StructLit)
	if !ok {
		return nil
	}
	for _, e := range lit.Elts {
		switch e := e.(type) {
		case *ast.Field:
			if _, isPattern := e.Label.(*ast.ListLit); !isPattern {
				return nil
			}
		case *ast.Ellipsis, *ast.CommentGroup:
		default:
			return nil
		}
	}
	return lit
}

func constructName(d ast.Node) string {
	switch d := d.(type) {
	case *ast.EmbedDecl:
		return "embedding"
	case *ast.Comprehension:
		for _, c := range d.Clauses {
			if _, ok := c.(*ast.IfClause); !ok {
				return "comprehension"
			}
		}
		return "if field"
	case *ast.LetClause:
		return "let"
	case *ast.Ident:
		return "reference to " + d.Name
	case *ast.SelectorExpr:
		return "selector " + refString(d)
	case *ast.BinaryExpr:
		return "operator " + d.Op.String()
	case *ast.UnaryExpr:
		return "operator " + d.Op.String()
	case *ast.CallExpr:
		return "call of " + refString(d.Fun)
	case *ast.Interpolation:
		return "string interpolation"
	case *ast.BottomLit:
		return "_|_"
	case *ast.StructLit:
		return "struct"
	case *ast.ListLit:
		return "list"
	case *ast.IndexExpr:
		return "index expression"
	case *ast.SliceExpr:
		return "slice expression"
	case *ast.BasicLit:
		return "literal " + d.Value
	case *ast.ParenExpr:
		return constructName(d.X)
	}
	return strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%T", d), "*ast."))
}

// declsIn returns the values of every declaration of the definition name
// in a struct or file, which CUE unifies.
func (a *fastAnalyser) declsIn(scope ast.Node, name string, at ast.Node) ([]ast.Expr, error) {
	vals, err := findDefDecls(scope, name, at)
	if err == nil && len(vals) == 0 {
		err = unsupportedAt(at, "reference to %s", name)
	}
	return vals, err
}

func findDefDecls(scope ast.Node, name string, at ast.Node) ([]ast.Expr, error) {
	decls, ok := scopeDecls(scope)
	if !ok {
		return nil, unsupportedAt(at, "reference to %s", name)
	}
	var vals []ast.Expr
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.EmbedDecl:
			// An embedded struct could declare the definition too, as
			// could anything else embedded.
			if embedDeclares(d.Expr, name) {
				return nil, unsupportedAt(d, "%s next to definition %s", constructName(d), name)
			}
		case *ast.Comprehension:
			return nil, unsupportedAt(d, "%s next to definition %s", constructName(d), name)
		case *ast.Field:
			// A quoted "#x" is a regular field; x or "x" the same one.
			if l, isIdent, err := ast.LabelName(d.Label); err != nil || l != name || !isIdent && isDefName(name) {
				continue
			}
			if _, ok := d.Label.(*ast.Alias); ok || d.Alias != nil {
				return nil, unsupportedAt(d, "alias")
			}
			if d.Constraint != token.ILLEGAL {
				return nil, unsupportedAt(d, "optional or required definition %s", name)
			}
			vals = append(vals, d.Value)
		}
	}
	return vals, nil
}

// conj compiles the unification of several expressions.
func (a *fastAnalyser) conj(vals []ast.Expr, ev cue.Value, inDef bool) (n *fastNode, err error) {
	vals = withoutRepeats(vals)
	if len(vals) > 1 && (!inDef && defBesideNestedStruct(vals) || a.closedDefBesideStruct(vals)) {
		defer func() {
			if err != nil {
				err = aloneUnsound{err}
			}
		}()
	}
	if n, ok, err := a.structKindOnly(vals, ev, inDef); ok {
		return n, err
	}
	if n, ok, err := a.mergeStructs(vals, ev, inDef); ok {
		return n, err
	}
	if err := a.oneStruct(vals); err != nil {
		return nil, err
	}
	// CUE (v0.17) leaves open the structs written inside a list literal
	// that is unified with a validator, such as [...{a?: int}] &
	// list.MinItems(1), even in a definition; a definition they refer
	// to, or close(), still closes them.
	// It leaves open a struct literal unified with matchN or matchIf too.
	// So it does when matchN comes through a reference or a disjunction:
	// {a?: int} & #M, where #M: matchN(...).
	validated := slices.ContainsFunc(vals, isValidator)
	matched := slices.ContainsFunc(vals, func(x ast.Expr) bool { return a.matchesIn(x, 0) })
	if len(vals) > 1 {
		for _, x := range vals {
			// [...{a?: int}] & [...matchN(...)]: the structs of the other
			// list are open where the elements meet.
			other := func(y ast.Expr) bool {
				return y != x && !isValidator(y) && (holdsStructLit(y) || a.anyDecl(stripParens(y), holdsStructLit))
			}
			if a.elemsMatch(x, 0) && slices.ContainsFunc(vals, other) {
				return nil, unsupportedAt(x, "list elements unified with matchN")
			}
		}
	}
	if len(vals) == 1 && !validated {
		return a.expr(vals[0], ev, inDef) // as is: it may be a recursive node
	}
	n = &fastNode{kinds: kAll}
	for _, x := range vals {
		def := inDef
		switch x := stripParens(x).(type) {
		case *ast.ListLit:
			def = def && !validated
		case *ast.StructLit:
			def = def && !matched
		case *ast.CallExpr:
			// close({n?: {b?: int}}) closes its top, not n.
			def = def && !(matched && embeddedStruct(x) != nil)
		case *ast.BinaryExpr:
			def = def && !(matched && x.Op == token.OR) // its literal alternatives too
		}
		was := a.unclosed
		a.unclosed = a.unclosed || def != inDef
		a.beside++
		m, err := a.expr(x, ev, def)
		a.beside--
		a.unclosed = was
		if err != nil {
			return nil, err
		}
		if err := a.mergeNode(n, m, x); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// structKindOnly compiles a unification with {[_]: _} beside the rest,
// as the translation of "type": "object" beside a $ref to what may be a
// closed struct writes it (see closeOpenStructs): pylock.json's root,
// #."1.0" & {[_]: _}. Outside definitions, such a literal declares no
// field, allows none that the rest does not (it is open, and CUE does
// not let its pattern open a closed struct beside it), and constrains
// no field's value: it only says the value is a struct. So the
// unification is the rest's, for structs only, which have the fields
// the literal requires (kindLit). In a definition, only when the rest
// is references to definitions and validators. ok is false when vals
// hold no such literal, or nothing else.
func (a *fastAnalyser) structKindOnly(vals []ast.Expr, ev cue.Value, inDef bool) (*fastNode, bool, error) {
	var rest []ast.Expr
	var at ast.Expr
	var required []string
	for _, x := range vals {
		// In matchN CUE counts a value that lacks a required field
		// as matching: only {[_]: _} there.
		if names, ok := kindLit(x); ok && (len(names) == 0 || a.inMatch == 0) {
			at = x
			required = append(required, names...)
			continue
		}
		rest = append(rest, x)
	}
	// In a definition the literal is closed, and its pattern then
	// allows what literals beside it do not ({a?: int} & {[_]: _} takes
	// b: 1 there), though not what a definition referred to does not:
	// #a & {[_]: _} is #a there too (launchsettings.json's
	// #iisBindingContent & {[_]: _}). So it may be in matchN, which
	// evaluates its arguments closed; and in a literal CUE leaves open
	// where it shows it closed, it is left alone.
	if at == nil || len(rest) == 0 || a.unclosed || (inDef || a.inMatch > 0) && !slices.ContainsFunc(rest, isDefRef) {
		return nil, false, nil
	}
	if (inDef || a.inMatch > 0) && slices.ContainsFunc(rest, func(x ast.Expr) bool { return !isDefRef(x) && !isValidator(x) }) {
		return nil, false, nil
	}
	// CUE's Allows says the unification takes any field where its
	// validation does not (as mergeStructs notes): the rest is compiled
	// with its own value, evaluated alone, where that can be.
	rx := rest[0]
	for _, y := range rest[1:] {
		rx = &ast.BinaryExpr{X: rx, Op: token.AND, Y: y}
	}
	rev, partial, err := a.evalAlone(rx, "alt")
	if err != nil || partial || !rev.Exists() || rev.Err() != nil {
		rev = ev
		a.beside++ // ev holds the pattern too
		defer func() { a.beside-- }()
	} else {
		a.aloneEv++
		defer func() { a.aloneEv-- }()
	}
	n, err := a.conj(rest, rev, inDef)
	if err != nil {
		return nil, true, err
	}
	if a.pending[n] || n.cue != nil {
		// Not built yet, or CUE's to check: its kinds are not known to
		// restrict.
		return nil, true, unsupportedAt(at, "unification of two structs")
	}
	m := *n
	m.kinds &= kObject
	if len(required) > 0 {
		m.atoms = append(slices.Clip(m.atoms), &presentAtom{names: required})
	}
	return &m, true, nil
}

// isDefRef reports whether x refers to a definition, or to a field of
// one (#."a-b", _#defs."/definitions/x"), which its own closes.
func isDefRef(x ast.Expr) bool {
	switch x := stripParens(x).(type) {
	case *ast.Ident:
		return isDefName(x.Name)
	case *ast.SelectorExpr:
		return isDefName(selLabel(x.Sel)) || inDefinition(x)
	}
	return false
}

// kindLit reports whether x is the struct literal {[_]: _}, with the
// predeclared _ on both sides, and with it optional and required fields
// of any value, as the translation writes "required" beside a $ref to
// what may be a closed struct: {"name"!: _, [_]: _}. Such a field allows
// nothing the rest does not allow either way, so it only asks for the
// field to be there when required: required lists those.
func kindLit(x ast.Expr) (required []string, ok bool) {
	lit, ok := stripParens(x).(*ast.StructLit)
	if !ok {
		return nil, false
	}
	found := false
	for _, d := range lit.Elts {
		switch d := d.(type) {
		case *ast.CommentGroup:
		case *ast.Field:
			if d.Alias != nil || !isPredeclaredTop(d.Value) {
				return nil, false
			}
			if l, isPattern := d.Label.(*ast.ListLit); isPattern {
				if found || len(l.Elts) != 1 || d.Constraint != token.ILLEGAL || !isPredeclaredTop(l.Elts[0]) {
					return nil, false
				}
				found = true
				continue
			}
			name, isIdent, err := ast.LabelName(d.Label)
			if err != nil || isIdent && (isDefName(name) || strings.HasPrefix(name, "_")) {
				return nil, false
			}
			switch d.Constraint {
			case token.NOT:
				required = append(required, name)
			case token.OPTION:
			default:
				return nil, false // a regular field: CUE asks for a concrete value
			}
		default:
			return nil, false
		}
	}
	return required, found
}

// isPredeclaredTop reports whether x is _, which no field can shadow.
func isPredeclaredTop(x ast.Expr) bool {
	id, ok := stripParens(x).(*ast.Ident)
	return ok && id.Name == "_" && id.Node == nil
}

// withoutRepeats drops a reference that the conjunction already holds: x &
// x is x, and JSON Schema's translation writes #D & #D for an allOf that
// names a definition its branch names too.
func withoutRepeats(vals []ast.Expr) []ast.Expr {
	if len(vals) < 2 {
		return vals
	}
	var out []ast.Expr
	type ref struct {
		name string
		decl ast.Node
	}
	seen := map[ref]bool{}
	for _, x := range vals {
		// The same declaration, not just the same name: a literal
		// beside may declare its own #X.
		if id, ok := stripParens(x).(*ast.Ident); ok && id.Node != nil {
			r := ref{id.Name, id.Node}
			if seen[r] {
				continue
			}
			seen[r] = true
		}
		out = append(out, x)
	}
	return out
}

// mergeStructs compiles the unification of several structs, each a
// literal or a reference to a definition that is one, as one struct: its
// fields are all the parts' fields, each with every part's constraints.
// At most one part may be closed, and it must allow every field the open
// ones declare; it then closes the whole. ok is false when vals are not
// such structs; CUE's finer closedness rules (two closed parts allow only
// what both do) are left to it.
func (a *fastAnalyser) mergeStructs(vals []ast.Expr, ev cue.Value, inDef bool) (*fastNode, bool, error) {
	if len(vals) < 2 {
		return nil, false, nil
	}
	var decls []ast.Decl
	var openFields []string
	var closedLits []*ast.StructLit
	// A definition among the parts closes the nested structs of every
	// part, the literals' outside definitions too (CUE v0.17; the
	// differential corpus holds it): the merge compiles as in one.
	type part struct {
		v             ast.Expr
		lits          []*ast.StructLit
		closed, isDef bool
	}
	var parts []part
	anyDef, litOpen, litNested := false, false, false
	genuine := false
	for _, v := range vals {
		lits, closed, isDef, fromDisj, ok := a.structPart(v, inDef)
		if !ok {
			return nil, false, nil
		}
		genuine = genuine || !fromDisj
		anyDef = anyDef || isDef
		if !isDef {
			for _, lit := range lits {
				for _, d := range lit.Elts {
					switch d := d.(type) {
					case *ast.Ellipsis:
						litOpen = true
					case *ast.Field:
						litNested = litNested || holdsClosableStructLit(d.Value)
					}
				}
			}
		}
		parts = append(parts, part{v, lits, closed, isDef})
	}
	if anyDef {
		if err := a.matchAcrossParts(func(yield func(int, *ast.Field) bool) {
			for i, p := range parts {
				for _, lit := range p.lits {
					for _, d := range lit.Elts {
						if f, ok := d.(*ast.Field); ok && !yield(i, f) {
							return
						}
					}
				}
			}
		}); err != nil {
			return nil, true, err
		}
	}
	for _, p := range parts {
		v, lits, closed, isDef := p.v, p.lits, p.closed, p.isDef
		switch {
		case anyDef && !isDef:
			// Beside a definition, a literal does not close the
			// unification at its own level, even in a definition
			// (CUE v0.17): the definitions' closedness decides.
			closed = false
		case !anyDef && litOpen && a.defMixed == 0:
			// Literals of one definition, one of them with "...":
			// CUE v0.17 leaves their unification open, and so a
			// definition declared twice, once as {...}: #C: {...},
			// #C: {a?: int} allows any field. Not literals from two
			// definitions (#A & #B, each with a struct s): each
			// closes its own, and a field must be allowed by both.
			closed = false
		}
		if closed {
			if closedLits != nil {
				return nil, true, unsupportedAt(v, "unification of two structs, both closed")
			}
			closedLits = lits
		}
		for _, lit := range lits {
			a.own(lit)
			for _, d := range lit.Elts {
				switch d := d.(type) {
				case *ast.Ellipsis:
					if d.Type != nil {
						return nil, false, nil
					}
					continue // the part's own openness, judged above
				case *ast.EmbedDecl:
					// {}, as the translation writes beside if fields,
					// adds nothing to any part.
					if !closed && !emptyEmbedding(d) {
						return nil, false, nil
					}
				case *ast.Field:
					if _, isPattern := d.Label.(*ast.ListLit); isPattern && !closed {
						return nil, false, nil
					}
					if name, isDef, err := a.label(d); err == nil && !isDef && !closed {
						openFields = append(openFields, name)
					}
				}
				decls = append(decls, d)
			}
		}
	}
	if !genuine {
		// Every part is a disjunction that may be other than a struct
		// (null & null is null): not a unification of structs.
		return nil, false, nil
	}
	if anyDef && !inDef && litNested && (!litOpen || a.inMatch > 0) {
		// CUE closes the literals' nested structs only when a literal
		// part is open itself, and not in a matchN alternative, which
		// it evaluates alone (the review's cases): left to the caller.
		return nil, false, nil
	}
	// The closed part must declare every field of the open ones: CUE's
	// Allows says yes where validation says "field not allowed", so the
	// syntax decides.
	if closedLits != nil {
		declared := a.declaredFields(closedLits, 0)
		for _, name := range openFields {
			if !declared[name] {
				return nil, true, unsupportedAt(vals[0], "unification of structs where %s is not allowed", name)
			}
		}
	}
	// Nor is CUE's closedness probe asked about the result.
	a.mergedClosed = closedLits != nil
	defMerge := anyDef && !inDef
	if defMerge {
		a.noAlone++
		a.defMerges++
	}
	if anyDef {
		a.defMixed++
	}
	n, err := a.structObj(decls, vals[0], ev, inDef || anyDef, closedLits == nil)
	if anyDef {
		a.defMixed--
	}
	if defMerge {
		a.noAlone--
		if err != nil {
			err = aloneUnsound{err}
		}
	}
	return n, true, err
}

// matchAcrossParts fails when a field of a unification with a definition
// among its parts has a struct literal from one part and matchN or
// matchIf from another: #B & {a?: matchN(...)}, where #B: {a!: {q?:
// "a"}}. CUE v0.17 leaves open a struct literal unified with matchN in
// its own struct ({a!: {q?: "a"} & matchN(...)}, or a declared twice
// there), but here #B's literal stays closed, which conj, seeing only
// the field's values, would not tell. fields yields each part's fields.
func (a *fastAnalyser) matchAcrossParts(fields func(yield func(int, *ast.Field) bool)) error {
	type seen struct {
		lits, matches map[int]bool
		at            ast.Node
	}
	byName := map[string]*seen{}
	var names []string // in order, so that the reason is the same each run
	for i, f := range fields {
		if _, isPattern := f.Label.(*ast.ListLit); isPattern {
			continue
		}
		name, isDef, err := a.label(f)
		if err != nil || isDef {
			continue
		}
		s := byName[name]
		if s == nil {
			s = &seen{lits: map[int]bool{}, matches: map[int]bool{}, at: f}
			byName[name] = s
			names = append(names, name)
		}
		if holdsStructLit(f.Value) {
			s.lits[i] = true
		}
		// At any depth: {a?: {b?: matchN(...)}} beside #B's a: {b?:
		// {...} | 1} meets them at a.b, and a list's elements likewise.
		if a.matchesIn(f.Value, 0) || holdsMatchCall(f.Value) {
			s.matches[i] = true
		}
	}
	for _, name := range names {
		s := byName[name]
		for i := range s.lits {
			for j := range s.matches {
				if i != j {
					return unsupportedAt(s.at, "field %s whose struct literal meets matchN from another part of a unification", name)
				}
			}
		}
	}
	return nil
}

// aloneUnsound marks a failure to compile a definition unified with
// struct literals outside definitions. CUE (v0.17) closes the literals'
// nested structs in the whole record's evaluation, but not when such a
// value, or a part of it, is evaluated alone; so none of it may be left
// to CUE alone (orCUE), and the fallback moves out to the whole record.
type aloneUnsound struct{ error }

func (e aloneUnsound) Unwrap() error { return e.error }

// defBesideNestedStruct reports whether vals, a unification outside
// definitions, holds a reference to a definition and a struct literal
// with a struct literal inside it (see aloneUnsound).
func defBesideNestedStruct(vals []ast.Expr) bool {
	def, nested := false, false
	for _, x := range vals {
		switch x := stripParens(x).(type) {
		case *ast.Ident:
			def = def || isDefName(x.Name)
		case *ast.SelectorExpr:
			def = def || isDefName(selLabel(x.Sel))
		default:
			ast.Walk(x, func(n ast.Node) bool {
				if lit, ok := n.(*ast.StructLit); ok {
					for _, d := range lit.Elts {
						if f, ok := d.(*ast.Field); ok && holdsStructLit(f.Value) {
							nested = true
						}
					}
				}
				return !nested
			}, nil)
		}
	}
	return def && nested
}

// closedDefBesideStruct reports whether vals unify a definition whose
// value is close({...}) with a struct literal: CUE (v0.17) checks such a
// value alone as if the definition's nested structs were open (#E:
// close({n?: {b?: int}}) & {a?: int} takes n: {q: 1}, which the record
// as a whole does not), so it is no value to leave to CUE alone.
func (a *fastAnalyser) closedDefBesideStruct(vals []ast.Expr) bool {
	closedDef, lit := false, false
	for _, x := range vals {
		switch x := stripParens(x).(type) {
		case *ast.Ident, *ast.SelectorExpr:
			closedDef = closedDef || a.anyDecl(x, func(v ast.Expr) bool {
				_, isCall := stripParens(v).(*ast.CallExpr)
				return isCall && embeddedStruct(v) != nil
			})
		default:
			lit = lit || embeddedStruct(x) != nil
		}
	}
	return closedDef && lit
}

// holdsClosableStructLit reports whether x has a struct literal anywhere
// in it whose closedness matters: one without "..." and without a
// pattern constraint every label matches ([string]: T, [_]: T). Whether
// CUE closes the others or not, they allow every field: stylelintrc's
// #coreRule & {propertiesSyntax?: {[string]: T}, ...} in matchN.
func holdsClosableStructLit(x ast.Expr) bool {
	found := false
	// A struct of patterns embedded in one that allows every field adds
	// its patterns to it, and no closedness of its own.
	exempt := map[*ast.StructLit]bool{}
	ast.Walk(x, func(n ast.Node) bool {
		lit, ok := n.(*ast.StructLit)
		switch {
		case !ok || exempt[lit]:
		case allowsAnyField(lit):
			for _, d := range lit.Elts {
				if e, ok := d.(*ast.EmbedDecl); ok {
					if p := patternsOnly(e); p != nil {
						exempt[p] = true
					}
				}
			}
		default:
			found = true
		}
		return !found
	}, nil)
	return found
}

// allowsAnyField reports whether a struct literal allows every field,
// closed or not: it says "..." or has a pattern constraint on every
// label, [string] or [_] (the predeclared names, not fields).
func allowsAnyField(lit *ast.StructLit) bool {
	for _, d := range lit.Elts {
		switch d := d.(type) {
		case *ast.Ellipsis:
			if d.Type == nil {
				return true
			}
		case *ast.Field:
			l, ok := d.Label.(*ast.ListLit)
			if !ok || len(l.Elts) != 1 || d.Constraint != token.ILLEGAL {
				continue
			}
			if id, ok := l.Elts[0].(*ast.Ident); ok && id.Node == nil && id.Scope == nil && (id.Name == "string" || id.Name == "_") {
				return true
			}
		}
	}
	return false
}

// holdsStructLit reports whether x has a struct literal anywhere in it.
func holdsStructLit(x ast.Expr) bool { return holds[*ast.StructLit](x) }

// holdsMatchCall reports whether x calls matchN or matchIf anywhere in it.
func holdsMatchCall(x ast.Expr) bool {
	return holdsWhere(x, func(n ast.Node) bool { return predeclaredCall(n, "matchN", "matchIf") != nil })
}

// holds reports whether n has a node of type T anywhere in it.
func holds[T ast.Node](n ast.Node) bool {
	return holdsWhere(n, func(n ast.Node) bool { _, is := n.(T); return is })
}

// holdsWhere reports whether n has a node anywhere in it that is.
func holdsWhere(n ast.Node, is func(ast.Node) bool) bool {
	found := false
	ast.Walk(n, func(n ast.Node) bool {
		found = found || is(n)
		return !found
	}, nil)
	return found
}

// declaredFields lists the regular, optional and required fields that
// lits declare, those of the definitions they embed included.
func (a *fastAnalyser) declaredFields(lits []*ast.StructLit, depth int) map[string]bool {
	out := map[string]bool{}
	if depth > fastMaxDepth {
		return out
	}
	for _, lit := range lits {
		for _, d := range lit.Elts {
			switch d := d.(type) {
			case *ast.Field:
				if name, isDef, err := a.label(d); err == nil && !isDef {
					out[name] = true
				}
			case *ast.EmbedDecl:
				vals, err := a.resolve(d.Expr)
				if err != nil {
					continue
				}
				for _, v := range vals {
					if el, ok := stripParens(v).(*ast.StructLit); ok {
						maps.Copy(out, a.declaredFields([]*ast.StructLit{el}, depth+1))
					}
				}
			}
		}
	}
	return out
}

// structPart is one part of a unification of structs: its literals (a
// definition may be declared more than once), whether it is closed (a
// definition, or a literal in one, without "...") and whether it is a
// reference to a definition.
func (a *fastAnalyser) structPart(x ast.Expr, inDef bool) (lits []*ast.StructLit, closed, isDef, fromDisj, ok bool) {
	var vals []ast.Expr
	switch x := stripParens(x).(type) {
	case *ast.StructLit:
		vals, closed = []ast.Expr{x}, inDef
	case *ast.BinaryExpr:
		alt, isAlt := onlyStructAlternative(x)
		if !isAlt {
			return nil, false, false, false, false
		}
		vals, closed, fromDisj = []ast.Expr{alt}, inDef, true
	case *ast.Ident, *ast.SelectorExpr:
		if id, isIdent := x.(*ast.Ident); isIdent && !isDefName(id.Name) {
			return nil, false, false, false, false
		}
		if sel, isSel := x.(*ast.SelectorExpr); isSel && !isDefName(selLabel(sel.Sel)) && !inDefinition(sel) {
			return nil, false, false, false, false // a field of a regular struct is not closed by it alone
		}
		rs, err := a.resolve(x)
		if err != nil {
			return nil, false, false, false, false
		}
		if len(rs) == 1 {
			if alt, isAlt := onlyStructAlternative(rs[0]); isAlt {
				rs, fromDisj = []ast.Expr{alt}, true
			}
		}
		vals, closed, isDef = rs, true, true
	default:
		return nil, false, false, false, false
	}
	for _, v := range vals {
		lit, isLit := stripParens(v).(*ast.StructLit)
		if !isLit {
			return nil, false, false, false, false
		}
		if slices.ContainsFunc(lit.Elts, func(d ast.Decl) bool { _, e := d.(*ast.Ellipsis); return e }) {
			closed = false
		}
		lits = append(lits, lit)
	}
	return lits, closed, isDef, fromDisj, true
}

// inDefinition reports whether a selector starts from a definition, as
// #."a-b" or _#defs."/definitions/x" do, where JSON Schema's translation
// puts definitions whose names are not identifiers: a definition closes
// the structs in it.
func inDefinition(sel *ast.SelectorExpr) bool {
	for {
		switch x := sel.X.(type) {
		case *ast.Ident:
			return isDefName(x.Name)
		case *ast.SelectorExpr:
			sel = x
		default:
			return false
		}
	}
}

// onlyStructAlternative returns the one struct literal among the
// alternatives of a disjunction whose others can only be scalars or lists,
// such as JSON Schema's translation of an object schema without "type"
// (null | bool | number | string | [...] | {...}). Unified with a struct,
// every other alternative fails, so the unification is the struct's with
// that literal. A default anywhere, or an alternative that might be a
// struct (a reference, a call), and the answer is no.
func onlyStructAlternative(x ast.Expr) (*ast.StructLit, bool) {
	b, ok := stripParens(x).(*ast.BinaryExpr)
	if !ok || b.Op != token.OR {
		return nil, false
	}
	var found *ast.StructLit
	for _, alt := range flattenOr(b, nil) {
		switch v := stripParens(alt).(type) {
		case *ast.StructLit:
			if found != nil {
				return nil, false
			}
			found = v
		case *ast.ListLit:
		case *ast.BasicLit:
		case *ast.Ident:
			switch v.Name {
			case "null", "bool", "number", "string", "int", "float", "bytes":
			default:
				return nil, false
			}
		case *ast.UnaryExpr:
			switch v.Op {
			case token.GEQ, token.GTR, token.LSS, token.LEQ, token.MAT, token.NMAT:
			default:
				return nil, false // a default (*) among them
			}
		default:
			return nil, false
		}
	}
	return found, found != nil
}

// flattenOr lists the alternatives of a | b | ...
func flattenOr(x ast.Expr, out []ast.Expr) []ast.Expr {
	if b, ok := stripParens(x).(*ast.BinaryExpr); ok && b.Op == token.OR {
		return flattenOr(b.Y, flattenOr(b.X, out))
	}
	return append(out, x)
}

// flattenAnd lists the conjuncts of a & b & ...
func flattenAnd(x ast.Expr, out []ast.Expr) []ast.Expr {
	if b, ok := stripParens(x).(*ast.BinaryExpr); ok && b.Op == token.AND {
		return flattenAnd(b.Y, flattenAnd(b.X, out))
	}
	return append(out, x)
}

// isValidator reports whether x is a call, such as list.MinItems(1) or
// matchN(...), or a validator named from a package, such as net.IPv4.
func isValidator(x ast.Expr) bool {
	switch x := stripParens(x).(type) {
	case *ast.CallExpr:
		return true
	case *ast.SelectorExpr:
		return isImportSelector(x)
	}
	return false
}

// oneStruct rejects the unification of several structs, checked before
// they are compiled so that the reason names it: CUE's closedness rules for
// such unifications are more than the fast path models.
//
// A disjunction of structs unified with a struct is refused too: its
// branch's defaults and the struct's would have to merge.
func (a *fastAnalyser) oneStruct(vals []ast.Expr) error {
	structs, disjs := 0, 0
	for _, x := range vals {
		switch {
		case a.structish(x, 0):
			structs++
		case a.structDisjunctionIn(x, 0):
			disjs++
		}
		if structs > 1 || structs > 0 && disjs > 0 {
			return unsupportedAt(x, "unification of two structs")
		}
	}
	return nil
}

// matchesIn reports whether x is, or refers to, a matchN or matchIf call,
// alone, in a conjunction or as an alternative.
func (a *fastAnalyser) matchesIn(x ast.Expr, depth int) bool {
	if depth > fastMaxDepth {
		return false
	}
	switch x := stripParens(x).(type) {
	case *ast.CallExpr:
		return predeclaredCall(x, "matchN", "matchIf") != nil
	case *ast.BinaryExpr:
		return (x.Op == token.AND || x.Op == token.OR) && (a.matchesIn(x.X, depth+1) || a.matchesIn(x.Y, depth+1))
	case *ast.UnaryExpr:
		return x.Op == token.MUL && a.matchesIn(x.X, depth+1)
	case *ast.Ident, *ast.SelectorExpr:
		return a.anyDecl(x, func(v ast.Expr) bool { return a.matchesIn(v, depth+1) })
	}
	return false
}

// elemsMatch reports whether x is, or refers to, a list literal whose
// elements meet matchN or matchIf.
func (a *fastAnalyser) elemsMatch(x ast.Expr, depth int) bool {
	if depth > fastMaxDepth {
		return false
	}
	switch x := stripParens(x).(type) {
	case *ast.ListLit:
		for _, e := range x.Elts {
			if el, ok := e.(*ast.Ellipsis); ok {
				if el.Type != nil && a.matchesIn(el.Type, depth+1) {
					return true
				}
			} else if a.matchesIn(e, depth+1) {
				return true
			}
		}
	case *ast.BinaryExpr:
		return (x.Op == token.AND || x.Op == token.OR) && (a.elemsMatch(x.X, depth+1) || a.elemsMatch(x.Y, depth+1))
	case *ast.Ident, *ast.SelectorExpr:
		return a.anyDecl(x, func(v ast.Expr) bool { return a.elemsMatch(v, depth+1) })
	}
	return false
}

// structDisjunctionIn reports whether x is, or refers to, a disjunction
// with a struct among its alternatives.
func (a *fastAnalyser) structDisjunctionIn(x ast.Expr, depth int) bool {
	if depth > fastMaxDepth {
		return false
	}
	switch x := stripParens(x).(type) {
	case *ast.BinaryExpr:
		switch x.Op {
		case token.OR:
			return a.structish(x.X, depth+1) || a.structish(x.Y, depth+1) ||
				a.structDisjunctionIn(x.X, depth+1) || a.structDisjunctionIn(x.Y, depth+1)
		case token.AND:
			return a.structDisjunctionIn(x.X, depth+1) || a.structDisjunctionIn(x.Y, depth+1)
		}
	case *ast.UnaryExpr:
		return x.Op == token.MUL && a.structDisjunctionIn(x.X, depth+1)
	case *ast.Ident, *ast.SelectorExpr:
		return a.anyDecl(x, func(v ast.Expr) bool { return a.structDisjunctionIn(v, depth+1) })
	}
	return false
}

// structish reports whether x is, or refers to, a struct literal.
func (a *fastAnalyser) structish(x ast.Expr, depth int) bool {
	if depth > fastMaxDepth {
		return false
	}
	switch x := stripParens(x).(type) {
	case *ast.StructLit:
		return true
	case *ast.BinaryExpr:
		return x.Op == token.AND && (a.structish(x.X, depth+1) || a.structish(x.Y, depth+1))
	case *ast.Ident, *ast.SelectorExpr:
		return a.anyDecl(x, func(v ast.Expr) bool { return a.structish(v, depth+1) })
	case *ast.CallExpr:
		// close({...}), as JSON Schema's translation writes a struct
		// that allows no other fields.
		return embeddedStruct(x) != nil
	}
	return false
}

// anyDecl reports whether f holds for a declaration of the definition x
// refers to; false when x refers to none.
func (a *fastAnalyser) anyDecl(x ast.Expr, f func(ast.Expr) bool) bool {
	vals, err := a.resolve(x)
	return err == nil && slices.ContainsFunc(vals, f)
}

// isTop reports whether n takes any value, as _ or the elements of [...].
func isTop(n *fastNode) bool {
	return n.kinds == kAll && len(n.atoms) == 0 && n.obj == nil && n.list == nil && n.cue == nil && len(n.disjs) == 0
}

// mergeNode adds m's constraints to n.
func (a *fastAnalyser) mergeNode(n, m *fastNode, at ast.Node) error {
	if a.pending[m] {
		// Not built yet: its constraints are not known to copy.
		return unsupportedAt(at, "reference cycle through %s unified with more", constructName(at))
	}
	n.kinds &= m.kinds
	n.atoms = append(n.atoms, m.atoms...)
	n.disjs = append(n.disjs, m.disjs...)
	if m.obj != nil {
		if n.obj != nil {
			return unsupportedAt(at, "unification of two structs")
		}
		n.obj = m.obj
	}
	if m.list != nil {
		if n.list == nil {
			n.list = m.list
			return nil
		}
		l, err := a.mergeLists(n.list, m.list, at)
		if err != nil {
			return err
		}
		n.list = l
	}
	return nil
}

// mergeLists unifies two lists, as CUE's translation of a JSON Schema
// writes minItems with items: [_, ...] & [...string]. Each position takes
// both lists' constraints for it: the prefix element there, or the rest.
func (a *fastAnalyser) mergeLists(x, y *fastList, at ast.Node) (*fastList, error) {
	elem := func(l *fastList, i int) *fastNode {
		if i < len(l.prefix) {
			return l.prefix[i]
		}
		return l.rest
	}
	both := func(p, q *fastNode) (*fastNode, error) {
		// [...] & [...#T] is [...#T], #T recursive (not yet built) or not.
		switch {
		case isTop(p):
			return q, nil
		case isTop(q):
			return p, nil
		}
		n := &fastNode{kinds: kAll}
		for _, e := range []*fastNode{p, q} {
			if e.cue != nil {
				return nil, unsupportedAt(at, "unification of two lists, one checked by CUE")
			}
			if err := a.mergeNode(n, e, at); err != nil {
				return nil, err
			}
		}
		return n, nil
	}
	out := &fastList{}
	for i := 0; i < max(len(x.prefix), len(y.prefix)); i++ {
		p, q := elem(x, i), elem(y, i)
		if p == nil || q == nil {
			return nil, unsupportedAt(at, "unification of lists of different lengths")
		}
		n, err := both(p, q)
		if err != nil {
			return nil, err
		}
		out.prefix = append(out.prefix, n)
	}
	if x.rest != nil && y.rest != nil {
		n, err := both(x.rest, y.rest)
		if err != nil {
			return nil, err
		}
		out.rest = n
	}
	return out, nil
}

func (a *fastAnalyser) expr(x ast.Expr, ev cue.Value, inDef bool) (*fastNode, error) {
	a.depth++
	a.nodes++
	defer func() { a.depth-- }()
	if a.depth > fastMaxDepth {
		return nil, unsupportedAt(x, "nesting deeper than %d", fastMaxDepth)
	}
	if a.nodes > fastMaxNodes {
		return nil, unsupportedAt(x, "schema that expands to more than %d expressions", fastMaxNodes)
	}
	switch x := x.(type) {
	case *ast.ParenExpr:
		return a.expr(x.X, ev, inDef)
	case *ast.BasicLit, *ast.UnaryExpr:
		return a.scalar(x)
	case *ast.Ident:
		if hiddenAtTop(x) {
			return a.hidden(x, ev, inDef)
		}
		return a.ident(x, ev)
	case *ast.SelectorExpr:
		if isImportSelector(x) {
			return a.builtinCall(x, x, nil) // a validator named, net.IPv4
		}
		vals, err := a.resolve(x)
		if err != nil {
			return nil, err
		}
		return a.expand(x, vals, ev)
	case *ast.BinaryExpr:
		switch x.Op {
		case token.AND:
			return a.conj(flattenAnd(x, nil), ev, inDef)
		case token.OR:
			return a.disjunction(x, ev, inDef)
		}
		return nil, unsupportedAt(x, "operator %s", x.Op)
	case *ast.StructLit:
		return a.structLit(x.Elts, x, ev, inDef)
	case *ast.ListLit:
		return a.listLit(x, ev, inDef)
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && id.Node == nil && id.Scope == nil {
			switch id.Name {
			case "close":
				return a.closeCall(x, ev, inDef)
			case "matchN":
				return a.matchN(x)
			case "matchIf":
				return a.matchIf(x)
			case "error":
				// error("disallowed"), as the translation writes a false
				// subschema: no value is allowed (CUE gives the message).
				return &fastNode{}, nil
			}
		}
		return a.call(x)
	case *ast.BottomLit:
		return &fastNode{}, nil // as error()
	case *ast.Interpolation:
		return nil, unsupportedAt(x, "string interpolation")
	}
	return nil, unsupportedAt(x, "%s", constructName(x))
}

// closeCall compiles close({...}): the struct, closed at its own level
// only (nested structs keep their own openness), unless it has "...".
func (a *fastAnalyser) closeCall(x *ast.CallExpr, ev cue.Value, inDef bool) (*fastNode, error) {
	if len(x.Args) != 1 {
		return nil, unsupportedAt(x, "call of close with %d arguments", len(x.Args))
	}
	lit, ok := stripParens(x.Args[0]).(*ast.StructLit)
	if !ok {
		return nil, unsupportedAt(x, "call of close on %s", constructName(x.Args[0]))
	}
	return a.structObj(lit.Elts, lit, ev, inDef, false)
}

// matchN compiles matchN(n, [a, b, ...]), which CUE's translation of a
// JSON Schema writes for oneOf (1), anyOf (>=1), allOf (all) and not (0):
// the value must satisfy as many of the alternatives as n says. Each
// alternative is a validator here: it fills in no default. Its value is
// evaluated on its own, in the file's scope.
func (a *fastAnalyser) matchN(x *ast.CallExpr) (*fastNode, error) {
	if len(x.Args) != 2 {
		return nil, unsupportedAt(x, "call of matchN with %d arguments", len(x.Args))
	}
	m := &matchAtom{max: -1}
	switch n := stripParens(x.Args[0]).(type) {
	case *ast.BasicLit:
		i, err := strconv.Atoi(n.Value)
		if err != nil || n.Kind != token.INT {
			return nil, unsupportedAt(x, "call of matchN with %s", n.Value)
		}
		m.min, m.max = i, i
	case *ast.UnaryExpr:
		b, ok := n.X.(*ast.BasicLit)
		if !ok || n.Op != token.GEQ {
			return nil, unsupportedAt(x, "call of matchN with %s", constructName(n))
		}
		i, err := strconv.Atoi(b.Value)
		if err != nil {
			return nil, unsupportedAt(x, "call of matchN with %s", b.Value)
		}
		m.min = i
	default:
		return nil, unsupportedAt(x, "call of matchN with %s", constructName(n))
	}
	list, ok := stripParens(x.Args[1]).(*ast.ListLit)
	if !ok {
		return nil, unsupportedAt(x, "call of matchN on %s", constructName(x.Args[1]))
	}
	for _, e := range list.Elts {
		n, err := a.validatorArg(e, "matchN alternative")
		if err != nil {
			return nil, err
		}
		m.alts = append(m.alts, n)
	}
	return &fastNode{kinds: kAll, atoms: []fastAtom{m}}, nil
}

// matchIf compiles matchIf(if, then, else), which CUE's translation of a
// JSON Schema writes for if/then/else: a value that matches if must match
// then, any other else.
func (a *fastAnalyser) matchIf(x *ast.CallExpr) (*fastNode, error) {
	if len(x.Args) != 3 {
		return nil, unsupportedAt(x, "call of matchIf with %d arguments", len(x.Args))
	}
	var parts [3]*fastNode
	for i, e := range x.Args {
		n, err := a.validatorArg(e, "matchIf argument")
		if err != nil {
			return nil, err
		}
		parts[i] = n
	}
	return &fastNode{kinds: kAll, atoms: []fastAtom{&ifAtom{cond: parts[0], then: parts[1], els: parts[2]}}}, nil
}

// validatorArg compiles an argument of matchN or matchIf, a value the
// record's value is matched against: evaluated on its own, in the file's
// scope, as a field's value, where CUE settles its closedness. It fills in
// no default; where it says nothing about a value lacking a regular field,
// which CUE counts as matching, the check is unsure (see checkObj).
func (a *fastAnalyser) validatorArg(e ast.Expr, what string) (*fastNode, error) {
	ev, partial, err := a.evalAlone(e, "alt")
	if err != nil {
		return nil, err
	}
	// A matchIf with an argument that fails alone fails for every value
	// in CUE v0.17; a matchN alternative only does not match.
	if ev.Err() != nil || partial && what != "matchN alternative" {
		return nil, unsupportedAt(e, "%s that CUE cannot evaluate alone", what)
	}
	a.inMatch++
	a.aloneEv++
	defer func() { a.inMatch--; a.aloneEv-- }()
	return a.expr(e, ev, false)
}

// pattern compiles a pattern constraint: [string]: T, [=~"re"]: T or
// [!~"re"]: T. T's value is CUE's evaluation of it as a field's value in
// the file's scope (a definition's, inside one, which closes its structs).
func (a *fastAnalyser) pattern(d *ast.Field, l *ast.ListLit, inDef bool) (fastPattern, error) {
	var p fastPattern
	if len(l.Elts) != 1 || d.Constraint != token.ILLEGAL {
		return p, unsupportedAt(d, "pattern constraint")
	}
	// The label: string, or =~ and !~ regexps, one or several unified
	// (the translation of patternProperties beside properties writes
	// [!~"^(a|b)$" & !~"^x-"]).
	for _, c := range flattenAnd(l.Elts[0], nil) {
		switch x := stripParens(c).(type) {
		case *ast.Ident:
			if x.Name != "string" && x.Name != "_" || x.Node != nil || x.Scope != nil {
				return p, unsupportedAt(d, "pattern constraint on %s", x.Name)
			}
		case *ast.UnaryExpr:
			b, ok := x.X.(*ast.BasicLit)
			if !ok || b.Kind != token.STRING || (x.Op != token.MAT && x.Op != token.NMAT) {
				return p, unsupportedAt(d, "pattern constraint")
			}
			s, err := literal.Unquote(b.Value)
			if err != nil {
				return p, unsupportedAt(d, "pattern constraint")
			}
			re, err := regexp.Compile(s)
			if err != nil {
				return p, unsupportedAt(d, "pattern constraint with the regexp %s", b.Value)
			}
			p.conds = append(p.conds, labelCond{re: re, neg: x.Op == token.NMAT})
		default:
			return p, unsupportedAt(d, "pattern constraint")
		}
	}
	label := "alt"
	if inDef {
		label = "#alt"
	}
	ev, partial, err := a.evalAlone(d.Value, label)
	if err != nil {
		return p, err
	}
	if ev.Err() != nil {
		return p, unsupportedAt(d, "pattern constraint whose value CUE cannot evaluate alone")
	}
	a.path = append(a.path, "["+constructLabel(l.Elts[0])+"]")
	beside := a.beside
	a.beside = 0 // ev is the value's own
	a.aloneEv++  // not what a field it applies to unifies it with
	defer func() { a.path, a.beside = a.path[:len(a.path)-1], beside; a.aloneEv-- }()
	if partial {
		// Without its validators, the value may differ in closedness
		// too: nothing in it is CUE's to check with it.
		a.noAlone++
		defer func() { a.noAlone-- }()
	}
	n, err := a.expr(d.Value, ev, inDef)
	if err != nil && partial {
		return p, unsupportedAt(d, "pattern constraint whose value CUE cannot evaluate alone")
	}
	if err != nil {
		if n, err = a.orCUE([]ast.Expr{d.Value}, ev, err); err != nil {
			return p, err
		}
	}
	p.n = n
	return p, nil
}

// evalAlone evaluates x as the value of a field (label) in the file's
// scope. x is written out and parsed again: its identifiers are resolved
// to nodes of the file's syntax, which CUE's compiler does not take for an
// expression of its own; by name, they resolve through the scope.
//
// When the value fails, it is evaluated again without its own validators,
// and partial says so: such a value may be read, but CUE must not check
// a record's value against it.
func (a *fastAnalyser) evalAlone(x ast.Expr, label string) (v cue.Value, partial bool, err error) {
	file, err := a.scope()
	if err != nil {
		return cue.Value{}, false, err
	}
	// By name, a reference to anything but the file's own declarations
	// could find another of the same name. A definition or hidden field
	// declared in the struct a top-level field holds, where JSON Schema's
	// translation puts the definitions of _schema, is found in that
	// field's value: those names are the struct's alone, and no record
	// sets them.
	var local ast.Node
	var nested *ast.StructLit
	var outer []string // names found outside the struct: the file's, imports, predeclared
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		if f, ok := n.(*ast.Field); ok {
			// A plain label names no value; a pattern's or a dynamic
			// one's may.
			switch f.Label.(type) {
			case *ast.Ident, *ast.BasicLit:
			default:
				ast.Walk(f.Label, visit, nil)
			}
			ast.Walk(f.Value, visit, nil)
			return false
		}
		id, ok := n.(*ast.Ident)
		if !ok || local != nil {
			return local == nil
		}
		if id.Node == nil {
			outer = append(outer, id.Name)
			return true
		}
		if _, isImport := id.Node.(*ast.ImportSpec); isImport {
			outer = append(outer, id.Name)
			return true
		}
		if inside(id.Node, x) {
			return true
		}
		if _, atTop := id.Scope.(*ast.File); atTop {
			outer = append(outer, id.Name)
			return true
		}
		lit, ok := id.Scope.(*ast.StructLit)
		if ok && (nested == nil || nested == lit) && (isDefName(id.Name) || isHiddenName(id.Name)) {
			nested = lit
			return true
		}
		local = id
		return true
	}
	ast.Walk(x, visit, nil)
	if nested != nil && local == nil {
		if file, err = a.fieldScope(file, nested); err != nil {
			return cue.Value{}, false, err
		}
		// In the field's value, a name it has as a member would be
		// found before the one the reference means.
		if !file.Exists() || slices.ContainsFunc(outer, func(name string) bool { return hasMember(file, name) }) {
			local = nested
		}
	}
	if local != nil {
		return cue.Value{}, false, unsupportedAt(local, "%s in a value evaluated alone", constructName(local))
	}
	src, err := cueformat.Node(x)
	if err != nil {
		return cue.Value{}, false, unsupportedAt(x, "%s that cannot be written out", constructName(x))
	}
	e, err := parser.ParseExpr("alone", src)
	if err != nil {
		return cue.Value{}, false, unsupportedAt(x, "%s that cannot be written out", constructName(x))
	}
	wrap := func() *ast.StructLit {
		return &ast.StructLit{Elts: []ast.Decl{&ast.Field{Label: ast.NewIdent(label), Value: e}}}
	}
	build := func() cue.Value {
		return a.ctx.BuildExpr(wrap(), cue.Scope(file), cue.InferBuiltins(true)).LookupPath(cue.ParsePath(label))
	}
	v = build()
	if v.Err() != nil && dropValidators(e) {
		// A validator such as struct.MinFields(n) fails on a struct
		// alone, which has no field yet. What the analysis reads of the
		// value, its defaults, fields and closedness, does not depend on
		// it; the check compiles it from the syntax.
		v, partial = build(), true
	}
	if v.Err() == nil {
		// CUE v0.17 builds the expression without closing the
		// definitions it names (#B & {a: {c: 1}} holds), where the file
		// closes them, and compiled as text, so does it. The fields'
		// closedness the analysis reads from the syntax; but a definition
		// declared in the value that conflicts only closed, as #y in
		// #B & {#y: {p!: string, ...}} beside #B: {#y: {port?: null}},
		// fails every value in the file, which v does not show; under an
		// optional field, {k?: #B & {#y: ...}}, it fails the field's.
		src, err := cueformat.Node(wrap())
		if err != nil {
			return cue.Value{}, false, unsupportedAt(x, "%s that cannot be written out", constructName(x))
		}
		closed := a.ctx.CompileBytes(src, cue.Scope(file), cue.InferBuiltins(true)).LookupPath(cue.ParsePath(label))
		if closed.Err() != nil || failsWithin(closed, aloneDepth) && !failsWithin(v, aloneDepth) {
			return cue.Value{}, false, unsupportedAt(x, "%s in conflict where CUE closes the definitions it names", constructName(x))
		}
	}
	return v, partial, nil
}

// aloneDepth bounds how deep failsWithin looks into a value evaluated
// alone: a recursive definition's fields go on without end.
const aloneDepth = 6

// failsWithin reports whether v, or a value of its fields, optional,
// definition and hidden ones included, or of its lists' elements, is an
// error, down to depth levels: where CUE has that value, a record with
// the field fails.
func failsWithin(v cue.Value, depth int) bool {
	if v.Err() != nil {
		return true
	}
	if depth == 0 {
		return false
	}
	switch v.IncompleteKind() {
	case cue.StructKind:
		it, err := v.Fields(cue.Optional(true), cue.Definitions(true), cue.Hidden(true))
		if err != nil {
			return true
		}
		for it.Next() {
			if failsWithin(it.Value(), depth-1) {
				return true
			}
		}
	case cue.ListKind:
		if e := v.LookupPath(cue.MakePath(cue.AnyIndex)); e.Exists() && failsWithin(e, depth-1) {
			return true
		}
		it, err := v.List()
		if err != nil {
			return true
		}
		for it.Next() {
			if failsWithin(it.Value(), depth-1) {
				return true
			}
		}
	}
	return false
}

// dropValidators replaces each validator that x unifies with _ (a call
// of struct.MinFields, list.UniqueItems, list.MatchN or matchN), and
// reports whether there was one. Only x's own conjuncts: a field's value may be left to CUE, with
// its part of the value.
func dropValidators(x ast.Expr) bool {
	switch e := x.(type) {
	case *ast.ParenExpr:
		if failsAlone(e.X) {
			e.X = ast.NewIdent("_")
			return true
		}
		return dropValidators(e.X)
	case *ast.BinaryExpr:
		if e.Op != token.AND {
			return false
		}
		dropped := false
		for _, side := range []*ast.Expr{&e.X, &e.Y} {
			if failsAlone(*side) {
				*side = ast.NewIdent("_")
				dropped = true
			} else if dropValidators(*side) {
				dropped = true
			}
		}
		return dropped
	}
	return false
}

// failsAlone reports whether x is a call of a validator that adds no
// field, default or closedness to a value, and that fails on a struct
// evaluated alone, with no field yet.
func failsAlone(x ast.Expr) bool {
	call, ok := x.(*ast.CallExpr)
	if !ok {
		return false
	}
	// matchN checks the value with its defaults filled in, which the
	// checker then leaves to CUE (checkFilledFirst), and CUE v0.17 leaves
	// open a struct literal unified with it, which conj compiles open.
	// Not matchIf: one whose argument fails alone fails for every value.
	switch f := call.Fun.(type) {
	case *ast.Ident:
		return f.Name == "matchN"
	case *ast.SelectorExpr:
		pkg, ok := f.X.(*ast.Ident)
		if !ok {
			return false
		}
		switch pkg.Name + "." + selLabel(f.Sel) {
		case "struct.MinFields", "list.UniqueItems", "list.MatchN":
			return true
		}
	}
	return false
}

// fieldScope is the value of the top-level definition or hidden field
// whose declaration is the struct lit, in the file's value; it does not
// exist when no such field is found.
func (a *fastAnalyser) fieldScope(file cue.Value, lit *ast.StructLit) (cue.Value, error) {
	if a.top == nil {
		return cue.Value{}, nil
	}
	for _, d := range a.top.Decls {
		f, ok := d.(*ast.Field)
		if !ok || stripParens(f.Value) != ast.Expr(lit) || f.Constraint != token.ILLEGAL {
			continue
		}
		name, isIdent, err := ast.LabelName(f.Label)
		if err != nil || !isIdent {
			break
		}
		if !isDefName(name) && !isHiddenName(name) {
			return cue.Value{}, nil
		}
		v := file.LookupPath(cue.MakePath(nameSelector(name)))
		if v.Err() != nil {
			return cue.Value{}, nil
		}
		return v, nil
	}
	return cue.Value{}, nil
}

// hasMember reports whether v declares a field, definition or hidden
// field of the name, optional and required ones included. Not a lookup
// of the optional field, which "..." answers for every name, though a
// reference never resolves to what it allows.
func hasMember(v cue.Value, name string) bool {
	sel := nameSelector(name)
	if v.LookupPath(cue.MakePath(sel)).Exists() {
		return true
	}
	it, err := v.Fields(cue.Optional(true), cue.Definitions(true), cue.Hidden(true))
	if err != nil {
		return true // not known: as if it did
	}
	forms := []string{sel.String(), sel.Optional().String(), sel.Required().String()}
	for it.Next() {
		if slices.Contains(forms, it.Selector().String()) {
			return true
		}
	}
	return false
}

// nameSelector selects a field, definition or hidden field (of the
// anonymous package) by the name a reference uses.
func nameSelector(name string) cue.Selector {
	switch {
	case isDefName(name):
		return cue.Def(name)
	case isHiddenName(name):
		return cue.Hid(name, "_")
	}
	return cue.Str(name)
}

// inside reports whether n's position is within x's.
func inside(n ast.Node, x ast.Expr) bool {
	p, from, to := n.Pos(), x.Pos(), x.End()
	return p.IsValid() && from.IsValid() && to.IsValid() && p.Filename() == from.Filename() &&
		p.Offset() >= from.Offset() && p.Offset() < to.Offset()
}

// scopeFinds reports whether an expression built in the scope of the
// file's value finds the file's definitions there. A struct that a
// disjunction leaves, as #a & {[_]: _} does with #a: null | close({...})
// (pylock.json's root), finds none of them in CUE v0.17.
func (a *fastAnalyser) scopeFinds(f *ast.File) bool {
	for _, d := range f.Decls {
		fd, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		if name, isIdent, err := ast.LabelName(fd.Label); err == nil && isIdent && isDefName(name) {
			return a.ctx.BuildExpr(ast.NewIdent(name), cue.Scope(a.file), cue.InferBuiltins(true)).Err() == nil
		}
	}
	return true
}

// scope is the file's value, built once, pruned to what the schema
// uses: a costly definition that nothing refers to is never evaluated.
//
// A file that embeds something other than a struct, such as JSON
// Schema's translation of a root that may be null (null | close({...})),
// or a struct that such a disjunction leaves (scopeFinds),
// has no fields to look a reference up in: its scope is then its
// declarations alone. They are what the references mean, since a
// reference never resolves to a name its file's embedding declares.
func (a *fastAnalyser) scope() (cue.Value, error) {
	if !a.file.Exists() {
		f, err := a.s.fileSyntax(a.s.spec)
		if err != nil {
			return cue.Value{}, err
		}
		a.file = a.ctx.BuildFile(f)
		if k := a.file.IncompleteKind(); a.file.Err() == nil && (k != cue.StructKind || !a.scopeFinds(f)) {
			// Each embedding becomes a hidden field, so that the
			// imports it uses are still used.
			decls := *f
			decls.Decls = slices.Clone(f.Decls)
			for i, d := range decls.Decls {
				if e, ok := d.(*ast.EmbedDecl); ok {
					decls.Decls[i] = &ast.Field{Label: ast.NewIdent(fmt.Sprintf("_zpipe_embedded_%d", i)), Value: e.Expr}
				}
			}
			// A field of the file already so named would take the
			// embedding in: the file's value then stays the scope.
			if !slices.ContainsFunc(f.Decls, func(d ast.Decl) bool {
				fd, ok := d.(*ast.Field)
				return ok && strings.HasPrefix(selLabel(fd.Label), "_zpipe_embedded_")
			}) {
				a.file = a.ctx.BuildFile(&decls)
			}
		}
	}
	return a.file, a.file.Err()
}

// ident compiles a predeclared type or a reference to a definition.
func (a *fastAnalyser) ident(x *ast.Ident, ev cue.Value) (*fastNode, error) {
	if x.Node == nil && x.Scope == nil {
		switch x.Name {
		case "_":
			return &fastNode{kinds: kAll}, nil
		case "int":
			return &fastNode{kinds: kInt}, nil
		case "float":
			return &fastNode{kinds: kFloat}, nil
		case "number":
			return &fastNode{kinds: kNumber}, nil
		case "string":
			return &fastNode{kinds: kString}, nil
		case "bool":
			return &fastNode{kinds: kBool}, nil
		case "bytes":
			// No record value is bytes: JSON, YAML, TOML and csv give
			// strings, which CUE does not unify with bytes.
			return &fastNode{kinds: 0}, nil
		}
		return nil, unsupportedAt(x, "predeclared identifier %s", x.Name)
	}
	vals, err := a.resolve(x)
	if err != nil {
		return nil, err
	}
	return a.expand(x, vals, ev)
}

// resolve returns the declarations a reference to a definition stands for.
func (a *fastAnalyser) resolve(x ast.Expr) ([]ast.Expr, error) {
	vals, err := a.resolveRaw(x)
	if err != nil {
		return nil, err
	}
	out := make([]ast.Expr, len(vals))
	for i, v := range vals {
		out[i] = unwrapEmbedding(v, true)
	}
	return out, nil
}

// resolveRaw is resolve with the declarations' values as written, in
// which a selector finds what they declare.
func (a *fastAnalyser) resolveRaw(x ast.Expr) ([]ast.Expr, error) {
	switch x := x.(type) {
	case *ast.Ident:
		if !isDefName(x.Name) {
			return nil, unsupportedAt(x, "reference to %s", x.Name)
		}
		vals, err := a.declsIn(x.Scope, x.Name, x)
		if err != nil {
			return nil, err
		}
		// A definition declared in a struct, not the file, is that of
		// the value the struct becomes where it is used: every other
		// declaration of the field that holds the struct, and whatever
		// that field's value is unified with there (#R & #S, where #S
		// declares #R's #x too), adds to it, and the struct the name is
		// found in shows none of that. Only a definition no other
		// declaration in the file names can take nothing in; any other
		// is left to CUE, which evaluates it where it is used. A
		// selector (#R.#x) is another matter: it collects every
		// declaration of #R, whose own value it is.
		if _, atTop := x.Scope.(*ast.File); !atTop && !a.declaredOnlyIn(x.Name, len(vals)) {
			return nil, unsupportedAt(x, "reference to definition %s, which another declaration may add to", x.Name)
		}
		for _, v := range vals {
			if v == x.Node {
				return vals, nil
			}
		}
		return nil, unsupportedAt(x, "reference to %s", x.Name)
	case *ast.SelectorExpr:
		// A definition in a definition, or a field of one, as CUE's
		// translation of a JSON Schema writes: _#defs."/definitions/x".
		name, _, err := ast.LabelName(x.Sel)
		if err != nil {
			return nil, unsupportedAt(x, "selector %s", refString(x))
		}
		outer, err := a.resolveRaw(x.X)
		if err != nil {
			return nil, err
		}
		if !selectable(outer) {
			return nil, unsupportedAt(x, "selector %s into a value that embeds one", refString(x))
		}
		var vals []ast.Expr
		for _, o := range outer {
			st, ok := stripParens(o).(*ast.StructLit)
			if !ok {
				return nil, unsupportedAt(x, "selector %s", refString(x))
			}
			vs, err := findDefDecls(st, name, x)
			if err != nil {
				return nil, err
			}
			vals = append(vals, vs...)
		}
		if len(vals) == 0 {
			return nil, unsupportedAt(x, "selector %s", refString(x))
		}
		return vals, nil
	}
	return nil, unsupportedAt(x, "reference %s", refString(x))
}

// selectable reports whether CUE finds a definition in the value of
// these declarations, as it does in a struct: #R: {_, #y: int} or #R:
// {matchN(...), #y: int} is incomplete (type _) and #R.#y undefined, and
// #R: {{...} | int, #y: int} an unresolved disjunction, unless another
// declaration makes #R a struct. So every embedding in them is a struct
// literal, or some declaration is a struct literal without one and every
// embedding matchN or matchIf, which leave the value a struct.
func selectable(decls []ast.Expr) bool {
	plain, others := false, true
	for _, d := range decls {
		lit, ok := stripParens(d).(*ast.StructLit)
		if !ok {
			continue // the caller refuses it
		}
		embeds := false
		for _, e := range lit.Elts {
			em, ok := e.(*ast.EmbedDecl)
			if !ok {
				continue
			}
			if inner, isLit := stripParens(em.Expr).(*ast.StructLit); isLit {
				// {{_}, #y: int}: what the literal embeds may be _,
				// where CUE finds no definition either.
				if slices.ContainsFunc(inner.Elts, func(e ast.Decl) bool { _, ok := e.(*ast.EmbedDecl); return ok }) {
					return false
				}
				continue
			}
			embeds = true
			call, ok := stripParens(em.Expr).(*ast.CallExpr)
			if !ok {
				return false
			}
			fun, ok := call.Fun.(*ast.Ident)
			if !ok || fun.Node != nil || fun.Scope != nil || fun.Name != "matchN" && fun.Name != "matchIf" {
				return false
			}
			others = false
		}
		if !embeds {
			plain = true
		}
	}
	return others || plain
}

// declaredOnlyIn reports whether the structs of the file declare the
// definition name n times and no more, at any depth, and the file imports
// no package but CUE's own, which could declare it too. A struct's n
// declarations of the definition are then all it ever has, in any value
// the struct becomes. The file's own declarations do not count unless
// the file embeds a value: no other value takes in the file's. Nor do
// other labels than identifiers: a quoted, computed or pattern label
// never declares a definition.
func (a *fastAnalyser) declaredOnlyIn(name string, n int) bool {
	if a.top == nil {
		return false
	}
	if a.labelCounts == nil {
		a.labelCounts = map[string]int{}
		for is := range a.top.ImportSpecs() {
			if p, err := strconv.Unquote(is.Path.Value); err != nil || strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
				a.labelCounts = nil
				return false
			}
		}
		// A file that embeds a value, as _schema, unifies its own
		// declarations with that value's: then they count too.
		atTop := map[ast.Node]bool{}
		if !slices.ContainsFunc(a.top.Decls, func(d ast.Decl) bool { _, e := d.(*ast.EmbedDecl); return e }) {
			for _, d := range a.top.Decls {
				atTop[d] = true
			}
		}
		ast.Walk(a.top, func(n ast.Node) bool {
			f, ok := n.(*ast.Field)
			if !ok || atTop[n] {
				return true
			}
			l := f.Label
			if al, isAlias := l.(*ast.Alias); isAlias {
				if e, isLabel := al.Expr.(ast.Label); isLabel {
					l = e
				}
			}
			if s, isIdent, err := ast.LabelName(l); err == nil && isIdent {
				a.labelCounts[s]++
			}
			return true
		}, nil)
	}
	return a.labelCounts[name] == n
}

func selLabel(l ast.Label) string {
	name, _, _ := ast.LabelName(l)
	return name
}

func stripParens(x ast.Expr) ast.Expr {
	for {
		p, ok := x.(*ast.ParenExpr)
		if !ok {
			return x
		}
		x = p.X
	}
}

func refString(x ast.Expr) string {
	switch x := x.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return refString(x.X) + "." + selLabel(x.Sel)
	}
	return constructName(x)
}

// A hidden field's structs are as open as written, but closed where a
// definition refers to it: def tells the two expansions apart.
type expandKey struct {
	decl    ast.Expr
	inMatch bool
	def     bool
}

type bareKey struct {
	decl ast.Expr
	def  bool
}

// bareExpansion is a site-bound expansion built at a bare site, with the
// fallbacks it added, their paths relative to the site's.
type bareExpansion struct {
	n         *fastNode
	fallbacks []Fallback
}

// expansion is a definition being expanded.
type expansion struct {
	decl ast.Expr
	n    *fastNode
	def  bool // expanded as closed as a definition: see expandKey
	// elsewhere is set where a reference back to it is the node at a
	// site whose value may be other than the reference's own.
	elsewhere bool
}

// expand compiles a definition's declarations, which are closed.
// hiddenAtTop reports whether x refers to a hidden field of the file,
// as CUE's translation holds a JSON Schema whose $ref "#" points back at
// its root: _schema.
func hiddenAtTop(x *ast.Ident) bool {
	_, atTop := x.Scope.(*ast.File)
	return atTop && isHiddenName(x.Name)
}

// hidden compiles a reference to a hidden field of the file as its
// value, recursively where it refers back to itself. Such a field is no
// definition: its structs are as open as written, but a definition that
// refers to it closes them, and whatever they refer to, as its own. Not
// inside a literal CUE leaves open (see conj), where it is not known
// which of the two wins.
func (a *fastAnalyser) hidden(x *ast.Ident, ev cue.Value, inDef bool) (*fastNode, error) {
	if inDef && a.unclosed {
		return nil, unsupportedAt(x, "reference to %s in a definition", x.Name)
	}
	vals, err := findDefDecls(x.Scope, x.Name, x)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(vals, func(v ast.Expr) bool { return ast.Node(v) == x.Node }) {
		return nil, unsupportedAt(x, "reference to %s", x.Name)
	}
	for i := range vals {
		vals[i] = unwrapEmbedding(vals[i], inDef)
	}
	return a.expandAs(vals, ev, inDef)
}

func (a *fastAnalyser) expand(at ast.Expr, vals []ast.Expr, ev cue.Value) (*fastNode, error) {
	return a.expandAs(vals, ev, true)
}

// expandAs compiles the declarations a reference stands for, once, as
// inside a definition (def) or not.
func (a *fastAnalyser) expandAs(vals []ast.Expr, ev cue.Value, def bool) (*fastNode, error) {
	// At a bare site the value is the reference's own, and CUE may be
	// left values: every such site builds the same node. Not a value
	// evaluated alone (aloneEv): a pattern's value is not all of the
	// fields it applies to.
	bare := a.beside == 0 && a.noAlone == 0 && a.inMatch == 0 && a.aloneEv == 0 && !a.unclosed && len(a.path) > 0
	for i := range a.stack {
		if s := &a.stack[i]; s.decl == vals[0] && s.def == def {
			if !bare {
				s.elsewhere = true
			}
			a.recursions++
			a.recursedTo = min(a.recursedTo, i)
			return s.n, nil // recursion: checked as deep as the data goes
		}
	}
	key := expandKey{vals[0], a.inMatch > 0, def}
	n, ok := a.expanded[key]
	if b, isBare := a.bareExpanded[bareKey{vals[0], def}]; !ok && bare && isBare {
		n, ok = b.n, true
		a.siteBound++ // what holds it is bound to its site too
		path := a.pathString()
		for _, f := range b.fallbacks {
			f.Path = path + f.Path
			a.fallbacks = append(a.fallbacks, f)
		}
	}
	if ok {
		if a.mergingDefs[n] {
			a.defMerges++
		}
		return n, nil
	}
	merges := a.defMerges
	n = &fastNode{}
	if a.pending == nil {
		a.pending = map[*fastNode]bool{}
	}
	a.pending[n] = true
	a.stack = append(a.stack, expansion{decl: vals[0], n: n, def: def})
	was, mixed := a.unclosed, a.defMixed
	if def {
		a.unclosed = false // a definition closes its structs anywhere
	}
	a.defMixed = 0
	defer func() {
		a.stack = a.stack[:len(a.stack)-1]
		a.unclosed, a.defMixed = was, mixed
		delete(a.pending, n)
	}()
	bound, taken := a.siteBound, a.taken
	var before []Fallback
	if bare {
		before = a.fallbacksUnder(a.pathString())
	}
	m, err := a.conj(vals, ev, def)
	if err != nil {
		return nil, err
	}
	if a.pending[m] {
		// #A: #B, #B: #A: references and nothing else, round and
		// round. CUE reads such a value as _ alone and otherwise in the
		// whole record, so the whole record goes to CUE.
		return nil, aloneUnsound{unsupportedAt(vals[0], "reference cycle with nothing else in it")}
	}
	if a.taken != taken && a.stack[len(a.stack)-1].elsewhere {
		// A check takenIn bound to this site would be the value's at
		// a site inside it that may add to it (#W: {x?: #R, n?: #W &
		// #V}): the value goes to CUE as a whole, where it can.
		return nil, unsupportedAt(vals[0], "recursive reference to a value whose check CUE makes at its site")
	}
	*n = *m
	if a.defMerges != merges {
		if a.mergingDefs == nil {
			a.mergingDefs = map[*fastNode]bool{}
		}
		a.mergingDefs[n] = true
	}
	if a.siteBound != bound {
		if bare && a.taken == taken {
			b := bareExpansion{n: n}
			for _, f := range a.fallbacksUnder(a.pathString()) {
				if !slices.Contains(before, f) {
					b.fallbacks = append(b.fallbacks, f)
				}
			}
			if a.bareExpanded == nil {
				a.bareExpanded = map[bareKey]bareExpansion{}
			}
			a.bareExpanded[bareKey{vals[0], def}] = b
		}
		return n, nil
	}
	if a.expanded == nil {
		a.expanded = map[expandKey]*fastNode{}
	}
	a.expanded[key] = n
	return n, nil
}

// listLit compiles [a, b, ...c].
func (a *fastAnalyser) listLit(x *ast.ListLit, ev cue.Value, inDef bool) (*fastNode, error) {
	l := &fastList{}
	for i, e := range x.Elts {
		if el, ok := e.(*ast.Ellipsis); ok {
			if i != len(x.Elts)-1 {
				return nil, unsupportedAt(el, "ellipsis before the end of a list")
			}
			l.rest = &fastNode{kinds: kAll}
			if el.Type != nil {
				n, err := a.elem(el.Type, ev.LookupPath(cue.MakePath(cue.AnyIndex)), "[*]", inDef)
				if err != nil {
					return nil, err
				}
				l.rest = n
			}
			break
		}
		n, err := a.elem(e, ev.LookupPath(cue.MakePath(cue.Index(i))), fmt.Sprintf("[%d]", i), inDef)
		if err != nil {
			return nil, err
		}
		l.prefix = append(l.prefix, n)
	}
	return &fastNode{kinds: kList, list: l}, nil
}

// elem compiles a list element's type, or leaves it to CUE.
func (a *fastAnalyser) elem(x ast.Expr, ev cue.Value, at string, inDef bool) (*fastNode, error) {
	a.path = append(a.path, at)
	defer func() { a.path = a.path[:len(a.path)-1] }()
	n, err := a.expr(x, ev, inDef)
	if err != nil {
		return a.orCUE([]ast.Expr{x}, ev, err)
	}
	return n, nil
}

// structLit compiles a struct's fields. ev is the evaluated struct, which
// gives the values of missing fields and CUE's field order.
func (a *fastAnalyser) structLit(decls []ast.Decl, at ast.Node, ev cue.Value, inDef bool) (*fastNode, error) {
	return a.structObj(decls, at, ev, inDef, !inDef)
}

// structObj is structLit for a struct that is open, unless it says
// "...", as open says: closed in a definition or by close().
func (a *fastAnalyser) structObj(decls []ast.Decl, at ast.Node, ev cue.Value, inDef, open bool) (*fastNode, error) {
	merged := a.mergedClosed
	a.mergedClosed = false
	o := &fastObject{open: open}
	chains := map[ast.Node]int{}
	vals := map[string][]ast.Expr{}
	embedded := map[ast.Expr]bool{}
	var deps []dependency
	for i := 0; i < len(decls); i++ {
		switch d := decls[i].(type) {
		case *ast.Comprehension:
			dep, ok := dependencyOf(d)
			if !ok {
				return nil, unsupportedAt(d, "%s", constructName(d))
			}
			deps = append(deps, dep)
		case *ast.EmbedDecl:
			elts, err := a.embedded(d, inDef, embedded)
			if err != nil {
				return nil, err
			}
			// Its declarations are this struct's: read them next.
			decls = slices.Concat(decls[:i+1:i+1], elts, decls[i+1:])
		case *ast.Field:
			if l, ok := d.Label.(*ast.ListLit); ok {
				p, err := a.pattern(d, l, inDef)
				if err != nil {
					return nil, err
				}
				o.patterns = append(o.patterns, p)
				continue
			}
			name, isDef, err := a.label(d)
			if err != nil {
				return nil, err
			}
			owner := a.owner[d]
			if owner == nil {
				owner = at
			}
			c, ok := chains[owner]
			if !ok {
				c = len(o.chains)
				chains[owner] = c
				o.chains = append(o.chains, nil)
			}
			if !slices.Contains(o.chains[c], name) {
				o.chains[c] = append(o.chains[c], name)
			}
			if isDef {
				// A definition, not a field, compiled where used. But
				// CUE evaluates one declared in a value's struct (a list
				// element's, say) with each value, and one in conflict
				// fails them all, where the fast path would see nothing.
				// Not at the top: there CUE evaluates the file's own
				// definitions once, and the translation of a JSON Schema
				// declares some that no value can satisfy, on purpose.
				if dv := ev.LookupPath(cue.MakePath(cue.Def(name))); len(a.path) > 0 && dv.Exists() && inConflict(dv, 0) {
					return nil, unsupportedAt(d, "definition %s, which CUE finds in conflict", name)
				}
				continue
			}
			typ := map[token.Token]fieldKind{token.ILLEGAL: fieldRegular, token.OPTION: fieldOptional, token.NOT: fieldRequired}[d.Constraint]
			if _, ok := vals[name]; !ok {
				o.fields = append(o.fields, fastField{name: name, typ: typ})
			} else if fd := &o.fields[fastFieldIndex(o, name)]; fd.typ != typ {
				typ, ok := unifiedFieldKind(fd.typ, typ)
				if !ok {
					return nil, unsupportedAt(d, "field %s declared both with and without !", name)
				}
				fd.typ = typ
			}
			vals[name] = append(vals[name], d.Value)
		case *ast.Ellipsis:
			if d.Type != nil {
				return nil, unsupportedAt(d, "typed ellipsis in a struct")
			}
			o.open = true
		case *ast.Attribute, *ast.CommentGroup, *ast.Package, *ast.ImportDecl:
		default:
			return nil, unsupportedAt(d, "%s", constructName(d))
		}
	}
	for _, dep := range deps {
		d, err := dep.compile(o)
		if err != nil {
			return nil, err
		}
		o.deps = append(o.deps, d)
	}
	for j := range o.fields {
		fd := &o.fields[j]
		sel := cue.Str(fd.name)
		switch fd.typ {
		case fieldOptional:
			sel = sel.Optional()
		case fieldRequired:
			sel = sel.Required()
		}
		fev := ev.LookupPath(cue.MakePath(sel))
		if !fev.Exists() {
			return nil, unsupportedAt(vals[fd.name][0], "field %s that CUE does not show", fd.name)
		}
		a.path = append(a.path, pathLabel(fd.name))
		// A pattern's value is unified with the field's in fev.
		patterned := slices.ContainsFunc(o.patterns, func(p fastPattern) bool { return p.matches(fd.name) })
		if patterned {
			a.beside++
		}
		recursions := a.recursions
		n, err := a.conj(vals[fd.name], fev, inDef)
		if patterned {
			a.beside--
		}
		if err != nil {
			n, err = a.orCUE(vals[fd.name], fev, err)
		}
		a.path = a.path[:len(a.path)-1]
		if err != nil {
			return nil, err
		}
		fd.n = n
		// A value that refers back to its definition through a
		// disjunction, however deep (#N: {q: #N | "a"}, or s.t.q), is
		// concrete in the schema alone, where CUE drops the cycle (q is
		// "a"), but incomplete with data, where it keeps it: no fill.
		// [...#N] holds no disjunction: it fills as CUE fills it.
		cyclicDisj := a.recursions > recursions && slices.ContainsFunc(vals[fd.name], holdsDisjunction)
		if fd.typ == fieldRegular && !cyclicDisj && fev.Validate(cue.Concrete(true)) == nil {
			x, err := export(fev)
			if err != nil {
				return nil, unsupportedAt(vals[fd.name][0], "default of %s: %v", fd.name, err)
			}
			fd.fill, fd.has = x, true
		}
	}
	// Inside a definition unified with literals outside definitions,
	// CUE's Allows answers as for the value alone (see aloneUnsound).
	if err := crossCheckFields(o, ev, at, a.unclosed && open || merged || a.noAlone > 0); err != nil {
		return nil, err
	}
	o.index = make(map[string]int, len(o.fields))
	for j, f := range o.fields {
		o.index[f.name] = j
	}
	return &fastNode{kinds: kObject, obj: o}, nil
}

// unifiedFieldKind is how a field declared both ways is declared: a?: x
// and a: y make a regular field of both, a?: x and a!: y a required one.
// A regular field that is also required is left to CUE, whose message
// for it missing is not known.
func unifiedFieldKind(x, y fieldKind) (fieldKind, bool) {
	switch {
	case x == y:
		return x, true
	case x == fieldOptional:
		return y, true
	case y == fieldOptional:
		return x, true
	}
	return 0, false
}

// dependency is if on != _|_ {"a"!: _, "b"!: _}, as CUE's translation
// writes JSON Schema's dependentRequired, with on a field of the struct
// that holds it.
type dependency struct {
	at       *ast.Comprehension
	on       string
	requires []string
}

func dependencyOf(d *ast.Comprehension) (dependency, bool) {
	dep := dependency{at: d}
	if len(d.Clauses) != 1 {
		return dep, false
	}
	clause, ok := d.Clauses[0].(*ast.IfClause)
	if !ok {
		return dep, false
	}
	cond, ok := stripParens(clause.Condition).(*ast.BinaryExpr)
	if !ok || cond.Op != token.NEQ {
		return dep, false
	}
	on, isIdent := cond.X.(*ast.Ident)
	if _, bottom := cond.Y.(*ast.BottomLit); !isIdent || !bottom {
		return dep, false
	}
	if dep.on, ok = fieldBeside(on, d); !ok {
		return dep, false
	}
	body, ok := d.Value.(*ast.StructLit)
	if !ok {
		return dep, false
	}
	for _, e := range body.Elts {
		f, ok := e.(*ast.Field)
		if !ok || f.Constraint != token.NOT || f.Alias != nil {
			return dep, false
		}
		if v, top := f.Value.(*ast.Ident); !top || v.Name != "_" || v.Node != nil {
			return dep, false
		}
		name, isIdent, err := ast.LabelName(f.Label)
		if err != nil || isIdent && (isDefName(name) || strings.HasPrefix(name, "_")) {
			return dep, false
		}
		dep.requires = append(dep.requires, name)
	}
	return dep, len(dep.requires) > 0
}

// fieldBeside returns the name of the field id refers to, when it is
// declared in the struct (or file) that holds d: by its name, or by a
// label alias, as CUE's translation refers to a field whose name is no
// identifier (_t0="working-directory"?: _).
func fieldBeside(id *ast.Ident, d ast.Decl) (string, bool) {
	decls, _ := scopeDecls(id.Scope)
	if !slices.Contains(decls, d) || isDefName(id.Name) {
		return "", false
	}
	if f, ok := id.Node.(*ast.Field); ok {
		al, ok := f.Label.(*ast.Alias)
		if !ok || al.Ident.Name != id.Name || !slices.Contains(decls, ast.Decl(f)) {
			return "", false
		}
		return aliasedLabel(al)
	}
	if _, isField := id.Node.(ast.Expr); !isField || strings.HasPrefix(id.Name, "_") {
		return "", false
	}
	return id.Name, true
}

// aliasedLabel is the name of the field that X="name" labels: a plain
// name, not a pattern or an expression.
func aliasedLabel(al *ast.Alias) (string, bool) {
	l, ok := al.Expr.(ast.Label)
	if !ok {
		return "", false
	}
	switch l.(type) {
	case *ast.Ident, *ast.BasicLit:
	default:
		return "", false
	}
	name, _, err := ast.LabelName(l)
	return name, err == nil
}

// compile finds the dependency's fields in o: optional or required ones,
// present only when the record has them. A regular field may be filled
// in, which is left to CUE.
func (dep dependency) compile(o *fastObject) (fastDependency, error) {
	inRecord := func(name string) (int, bool) {
		j := fastFieldIndex(o, name)
		return j, j >= 0 && o.fields[j].typ != fieldRegular
	}
	on, ok := inRecord(dep.on)
	if !ok {
		return fastDependency{}, unsupportedAt(dep.at, "if field on %s, which is not an optional or required field", dep.on)
	}
	d := fastDependency{on: on}
	for _, name := range dep.requires {
		j, ok := inRecord(name)
		if !ok {
			return fastDependency{}, unsupportedAt(dep.at, "if field requiring %s, which is not an optional or required field", name)
		}
		d.requires = append(d.requires, j)
	}
	return d, nil
}

func fastFieldIndex(o *fastObject, name string) int {
	for j := range o.fields {
		if o.fields[j].name == name {
			return j
		}
	}
	return -1
}

// label returns a field's name, rejecting labels that are expressions.
func (a *fastAnalyser) label(d *ast.Field) (name string, isDef bool, err error) {
	if d.Alias != nil {
		return "", false, unsupportedAt(d, "alias")
	}
	switch l := d.Label.(type) {
	case *ast.Alias:
		// X="a-b": T is the field "a-b": the alias only names it, and a
		// reference to it is refused as any to a field is, but in the
		// condition of a dependency (see fieldBeside).
		name, ok := aliasedLabel(l)
		if !ok || isHiddenName(name) || isDefName(name) {
			return "", false, unsupportedAt(d, "alias")
		}
		return name, false, nil
	case *ast.ListLit:
		return "", false, unsupportedAt(d, "pattern constraint")
	case *ast.ParenExpr, *ast.Interpolation:
		return "", false, unsupportedAt(d, "dynamic field")
	case *ast.Ident:
		if strings.HasPrefix(l.Name, "_") && !isDefName(l.Name) {
			return "", false, unsupportedAt(d, "hidden field %s", l.Name)
		}
	}
	name, isIdent, err := ast.LabelName(d.Label)
	if err != nil {
		return "", false, unsupportedAt(d, "label")
	}
	return name, isIdent && isDefName(name), nil
}

// isDefName reports whether a name is a definition's, #x or hidden _#x.
func isDefName(name string) bool {
	return strings.HasPrefix(name, "#") || strings.HasPrefix(name, "_#")
}

// isHiddenName reports whether name is a hidden field's: _x, not _ (top)
// and not _#x (a hidden definition).
func isHiddenName(name string) bool {
	return strings.HasPrefix(name, "_") && name != "_" && !isDefName(name)
}

// crossCheckFields compares the fields found in the syntax with those of
// the evaluated struct. Any difference means the analysis missed
// something: fall back.
func crossCheckFields(o *fastObject, ev cue.Value, at ast.Node, unclosed bool) error {
	it, err := ev.Fields(cue.Optional(true))
	if err != nil {
		unlisted := unsupportedAt(at, "struct that CUE cannot list: %v", err)
		if strings.Contains(err.Error(), "field not allowed") {
			// A field the struct's own value does not allow: CUE
			// checked a value against it alone without the closedness
			// the whole record's evaluation gives it (generated schema
			// 89000250), so the record goes to CUE whole. Other errors,
			// such as a matchN the schema's incomplete value does not
			// yet satisfy, leave the value to CUE as before.
			return aloneUnsound{unlisted}
		}
		return unlisted
	}
	n := 0
	for it.Next() {
		sel := it.Selector()
		j := fastFieldIndex(o, sel.Unquoted())
		typ := map[cue.SelectorType]fieldKind{0: fieldRegular, cue.OptionalConstraint: fieldOptional, cue.RequiredConstraint: fieldRequired}[sel.ConstraintType()]
		if j < 0 || o.fields[j].typ != typ || !sel.IsString() {
			return unsupportedAt(at, "struct whose field %s differs in CUE", strconv.Quote(sel.Unquoted()))
		}
		n++
	}
	if n != len(o.fields) {
		return unsupportedAt(at, "struct whose fields differ in CUE")
	}
	probe := "\x00zpipe: a field no schema declares"
	allows := o.open || slices.ContainsFunc(o.patterns, func(p fastPattern) bool { return p.matches(probe) })
	if ev.Allows(cue.Str(probe)) != allows && !unclosed {
		return unsupportedAt(at, "struct whose closedness differs in CUE")
	}
	return nil
}

// unwrapEmbedding returns what a struct literal embeds when it holds that
// alone, with attributes, comments and definitions: {@jsonschema(id="x"),
// close({...})} is the close({...}), as the translation of an $id beside
// the root writes it, or beside a definition that translates a $ref to
// another file (tsbuild.json's #."zpipe-ref-0"), and {matchN(...), #a:
// {...}} is the matchN, as it writes a schema with an $id and
// definitions (jsonld.json's _schema).
//
// In a definition (inDef) the struct is closed, and CUE unifies what it
// embeds with that: _ embedded there admits no field and no element
// ({"a": 1} and [1] are not allowed), nor do struct.MinFields(1) or
// list.MinItems(1), while matchN(...) and a struct or list literal admit
// what they would anyway. There the struct is that embedding only when
// it is of those (closedInDef).
func unwrapEmbedding(x ast.Expr, inDef bool) ast.Expr {
	lit, ok := stripParens(x).(*ast.StructLit)
	if !ok {
		return x
	}
	var embed *ast.EmbedDecl
	var defs []string
	for _, d := range lit.Elts {
		switch d := d.(type) {
		case *ast.EmbedDecl:
			if embed != nil {
				return x
			}
			embed = d
		case *ast.Field:
			// A definition is no field of the value. What refers to it
			// resolves it in this literal (declsIn), and only where no
			// other declaration in the file can add to it
			// (declaredOnlyIn): another declaration of the field that
			// holds the literal, a unification at its use, or the file's
			// own where it embeds the literal's hidden field.
			name, isIdent, err := ast.LabelName(d.Label)
			if err != nil || !isIdent || !isDefName(name) || d.Constraint != token.ILLEGAL {
				return x
			}
			defs = append(defs, name)
		case *ast.Attribute, *ast.CommentGroup:
		default:
			return x
		}
	}
	if embed == nil || inDef && !closedInDef(embed.Expr, 0) {
		return x
	}
	// Nor where the embedding declares one of them too, as an
	// alternative of string | {#x: {p: "a"}} beside #x: {p: int} does:
	// CUE unifies the two, and a conflict fails the alternative, which
	// the embedding alone does not show.
	if embedDeclaresAny(embed.Expr, defs) {
		return x
	}
	return embed.Expr
}

// embedDeclaresAny reports whether x, embedded in a struct, could declare
// one of names there (see embedDeclares).
func embedDeclaresAny(x ast.Expr, names []string) bool {
	return slices.ContainsFunc(names, func(name string) bool { return embedDeclares(x, name) })
}

// topDefinitions lists the definitions the file declares at its top.
func topDefinitions(f *ast.File) []string {
	var out []string
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.Field); ok {
			if name, isIdent, err := ast.LabelName(fd.Label); err == nil && isIdent && isDefName(name) && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// inConflict reports whether CUE finds v, or a field it must have, or a
// definition it declares, in conflict: Validate looks past a required
// field whose constraints conflict, which fails every value that has v.
// Optional fields may conflict: they must then be absent. A few levels
// are looked at; a recursive definition ends there.
func inConflict(v cue.Value, depth int) bool {
	if v.Err() != nil || v.Validate() != nil {
		return true
	}
	if depth > 3 || v.IncompleteKind()&cue.StructKind == 0 {
		return false
	}
	it, err := v.Fields(cue.Optional(true), cue.Definitions(true))
	if err != nil {
		return false
	}
	for it.Next() {
		if it.Selector().ConstraintType() == cue.OptionalConstraint {
			continue
		}
		if inConflict(it.Value(), depth+1) {
			return true
		}
	}
	return false
}

// closedInDef reports whether x, embedded alone in a definition's
// struct, means there what it means by itself: it is a struct or list
// literal, which the fast path compiles as closed as a definition's own,
// matchN or matchIf, whose arguments CUE evaluates apart, close of a
// struct literal, a scalar, or a unification or disjunction of those.
// Not _, which CUE closes there for structs and lists, nor a reference,
// whose value may be _, nor another builtin (struct.MinFields(1) closes
// there too).
func closedInDef(x ast.Expr, depth int) bool {
	if depth > 16 {
		return false
	}
	switch x := stripParens(x).(type) {
	case *ast.StructLit, *ast.ListLit, *ast.BasicLit:
		return true
	case *ast.Ident:
		if x.Node != nil || x.Scope != nil {
			return false
		}
		switch x.Name {
		case "int", "float", "number", "string", "bool", "bytes", "null":
			return true
		}
		return false
	case *ast.UnaryExpr:
		if x.Op == token.MUL {
			return closedInDef(x.X, depth+1)
		}
		_, lit := stripParens(x.X).(*ast.BasicLit)
		return lit
	case *ast.BinaryExpr:
		if x.Op != token.OR && x.Op != token.AND {
			return false
		}
		return closedInDef(x.X, depth+1) && closedInDef(x.Y, depth+1)
	case *ast.CallExpr:
		fun, ok := x.Fun.(*ast.Ident)
		if !ok || fun.Node != nil || fun.Scope != nil {
			return false
		}
		switch fun.Name {
		case "matchN", "matchIf":
			return true
		case "close":
			if len(x.Args) != 1 {
				return false
			}
			_, lit := stripParens(x.Args[0]).(*ast.StructLit)
			return lit
		}
	}
	return false
}

// holdsDisjunction reports whether x has a disjunction anywhere in it.
func holdsDisjunction(x ast.Expr) bool {
	found := false
	ast.Walk(x, func(n ast.Node) bool {
		if b, ok := n.(*ast.BinaryExpr); ok && b.Op == token.OR {
			found = true
		}
		return !found
	}, nil)
	return found
}
