package schema

import (
	"errors"
	"fmt"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cueformat "cuelang.org/go/cue/format"

	"github.com/zpipe/zpipe/format"
)

// A value whose constraint the fast path does not know is checked by CUE
// alone, not the whole record: the field's value as CUE evaluated it in
// the schema, unified with the record's value there. That is only the
// same as checking the record when the constraint needs nothing else from
// the record; alone decides that from the syntax.

// cueNode checks one value with CUE's evaluator.
type cueNode struct {
	ctx *cue.Context
	v   cue.Value // the constraint, evaluated in the schema
	sh  *shape    // what unification can add; nil: it may add anything
	// seen holds CUE's verdict on scalars checked before: evaluation is
	// pure, and real data repeats its values (a status, a country), each
	// of which costs CUE some 20 µs. It is bounded by scalarMemo.
	seen map[scalarKey]bool
	// alts are v's alternatives when v is a disjunction, with their
	// kinds: a scalar is checked against those of its kind alone, since
	// it unifies with a | b exactly when it unifies with a or with b.
	// CUE's disjunction machinery costs most of a check otherwise.
	alts []cueAlt
	// remote: the evaluator's process checks the value (see
	// fastAnalyser.cueNode), id naming this node there; id is -1 for a
	// value that is not recursive, and name is the node's path and
	// construct, for telling that both processes number alike.
	remote bool
	id     int
	name   string
}

type cueAlt struct {
	v    cue.Value
	kind cue.Kind
}

// alternatives lists v's alternatives, or none when v is not a
// disjunction.
func alternatives(v cue.Value) []cueAlt {
	op, args := v.Expr()
	if op != cue.OrOp || len(args) < 2 {
		return nil
	}
	alts := make([]cueAlt, len(args))
	for i, a := range args {
		alts[i] = cueAlt{a, a.IncompleteKind()}
	}
	return alts
}

// scalarKey is a scalar by kind and text.
type scalarKey struct {
	k valueKinds
	s string
}

// scalarMemo bounds the verdicts a cueNode keeps; it starts again when
// full. Only scalars of up to memoText bytes are kept, so that a pooled
// Validator holds at most some 4096 * 128 bytes a node: values that long
// rarely repeat.
const (
	scalarMemo = 4096
	memoText   = 128
)

// memoKey is v's key in seen; false for a value that is not a scalar, or
// whose text is too long to keep.
func memoKey(v any, k valueKinds) (scalarKey, bool) {
	switch x := v.(type) {
	case string:
		return scalarKey{k, x}, len(x) <= memoText
	case format.Number:
		return scalarKey{k, string(x)}, len(x) <= memoText
	case bool:
		if x {
			return scalarKey{k, "true"}, true
		}
		return scalarKey{k, "false"}, true
	case nil:
		return scalarKey{k: k}, true
	}
	return scalarKey{}, false
}

// Fallback is a value of the record that the fast path leaves to CUE's
// evaluator, and why.
type Fallback struct {
	Path string // CUE path in the record: address.zip, tags[*], [=~"^x-"]
	Why  string // file:line:col: construct
	// Apart: the value's constraint recurses, so that its cost grows with
	// the data, and an isolated schema has it checked in the evaluator's
	// process (see Isolated).
	Apart bool
}

func (f Fallback) String() string { return f.Path + ": " + f.Why }

func (c *fastChecker) cueCheck(k *cueNode, v any) (ok, adds bool) {
	if !c.anyOK(v) {
		return c.maybe()
	}
	if key, isScalar := memoKey(v, valueKindOf(v)); isScalar {
		if ok, seen := k.seen[key]; seen {
			return ok, false
		}
	}
	if k.remote {
		// Taken as holding until the evaluator says: a record whose
		// verdict rests on it waits for the evaluator's answer.
		c.asks = append(c.asks, ask{k, v})
		return true, composite(v) && (k.sh == nil || k.sh.adds(v))
	}
	// Where CUE's evaluator panics, the value is not shown valid: the
	// record's whole check by CUE, which runs on every record the fast
	// path rejects, gives the verdict and the reason. Registered past
	// the memo, which most values stop at, and which calls no CUE.
	defer func() {
		if recover() != nil {
			ok, adds = false, false
		}
	}()
	x := k.ctx.Encode(toCUE(v))
	switch v.(type) {
	case *format.Object, []any:
		if validated(x.Unify(k.v)) != nil {
			return false, false
		}
		return true, k.sh == nil || k.sh.adds(v)
	}
	// Nothing can be added to a concrete scalar, so fill need not
	// unify it again.
	if k.alts == nil {
		ok = scalarHolds(k.v, x)
	} else {
		kind := x.Kind()
		for _, a := range k.alts {
			if a.kind&kind != 0 && scalarHolds(a.v, x) {
				ok = true
				break
			}
		}
		if !ok {
			// Expr can leave an alternative out: a default it judges
			// another to subsume, as !="bad" is wrongly judged to hold
			// true. What each alternative accepts the disjunction does;
			// a refusal is the whole disjunction's to give.
			ok = scalarHolds(k.v, x)
		}
	}
	if key, isScalar := memoKey(v, valueKindOf(v)); isScalar {
		k.remember(key, ok)
	}
	return ok, false
}

// remember keeps CUE's verdict on a scalar.
func (k *cueNode) remember(key scalarKey, ok bool) {
	if k.seen == nil || len(k.seen) == scalarMemo {
		k.seen = make(map[scalarKey]bool)
	}
	// A copy: the record's strings may share a decoder's buffer.
	key.s = strings.Clone(key.s)
	k.seen[key] = ok
}

// scalarHolds reports whether the concrete scalar x satisfies v. It
// unifies to itself or to an error, which Err reports without Validate's
// walk; or, in CUE v0.17, to an unresolved disjunction when v has an
// alternative that holds an if field: null & (null | close({a?: _, if
// a != _|_ {...}})) is null | null, which validation calls incomplete.
func scalarHolds(v, x cue.Value) bool {
	u := x.Unify(v)
	return u.Err() == nil && u.IsConcrete()
}

// cueFill is fill for a value checked by CUE: the input with what
// unification adds, as the whole-record path writes it.
func (c *fastChecker) cueFill(k *cueNode, v any) (any, bool) {
	if k.sh != nil && !k.sh.adds(v) {
		return v, false
	}
	if k.remote {
		if !composite(v) {
			return v, false // nothing can be added to a concrete scalar
		}
		out, ok := c.filled[keyOf(k, v)]
		if !ok {
			c.missed = true
			return v, false
		}
		return out, true
	}
	u := k.ctx.Encode(toCUE(v)).Unify(k.v)
	out, err := merge(v, u)
	if err != nil {
		return v, false // cueCheck accepted it, so merge cannot fail
	}
	return out, true
}

// orCUE returns a node that has CUE check the value of exprs, whose
// native compilation failed with cause, when that is sound: they can be
// checked alone, not inside a matchN alternative (where CUE counts an
// incomplete value as matching), nor inside a literal CUE leaves open.
// ev is their value as CUE evaluated it in the schema.
func (a *fastAnalyser) orCUE(exprs []ast.Expr, ev cue.Value, cause error) (*fastNode, error) {
	var u *unsupportedError
	var unsound aloneUnsound
	if !errors.As(cause, &u) || errors.As(cause, &unsound) || a.noAlone > 0 || a.inMatch > 0 || !ev.Exists() || ev.Err() != nil {
		return nil, cause
	}
	// Where CUE leaves a literal open that its schema value shows closed
	// (see conj), ev would refuse the fields the record may add.
	if a.unclosed {
		return nil, cause
	}
	ok, cyclic := a.alone(exprs)
	if !ok {
		return nil, cause
	}
	// What failed inside this value is now CUE's too.
	path := a.pathString()
	kept := a.fallbacks[:0]
	for _, f := range a.fallbacks {
		if _, inside := pathUnder(f.Path, path); !inside {
			kept = append(kept, f)
		}
	}
	why := a.why(u)
	k := a.cueNode(ev, cyclic, fmt.Sprintf("%d:%d: %s", u.pos.Line(), u.pos.Column(), u.what))
	a.fallbacks = append(kept, Fallback{Path: path, Why: why, Apart: k.remote})
	a.siteBound++
	return &fastNode{kinds: kAll, cue: k}, nil
}

// cueNode makes the node that has CUE check a value whose constraint ev
// is. A recursive constraint's cost grows with the data, so an isolated
// schema has its evaluator's process check it (remote); the evaluator's
// own analysis of the schema, the same but not isolated, makes the same
// nodes in the same order, so a node is named across the two by its
// place in cyclic; the child's list is compared with the parent's when it
// starts. what says what the node checks, without a file name, which the
// two processes display otherwise.
func (a *fastAnalyser) cueNode(ev cue.Value, cyclic bool, what string) *cueNode {
	k := &cueNode{ctx: a.ctx, v: ev, sh: a.v.shapeOf(ev), alts: alternatives(ev), id: -1}
	if cyclic {
		k.id, k.remote = len(a.cyclic), a.s.isolated
		k.name = a.pathString() + ": " + what
		a.cyclic = append(a.cyclic, k)
	}
	return k
}

// pathUnder returns the rest of p after prefix, when p is prefix or a
// path inside it.
func pathUnder(p, prefix string) (string, bool) {
	rest, inside := strings.CutPrefix(p, prefix)
	return rest, inside && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// fallbacksUnder lists the fallbacks at path or inside it, their paths
// relative to it.
func (a *fastAnalyser) fallbacksUnder(path string) []Fallback {
	var out []Fallback
	for _, f := range a.fallbacks {
		if rest, inside := pathUnder(f.Path, path); inside {
			f.Path = rest
			out = append(out, f)
		}
	}
	return out
}

// why is an unsupported construct with its position, file:line:col: what.
func (a *fastAnalyser) why(u *unsupportedError) string {
	if !u.pos.IsValid() {
		return u.what
	}
	return fmt.Sprintf("%s:%d:%d: %s", a.s.display(u.pos.Filename()), u.pos.Line(), u.pos.Column(), u.what)
}

func (a *fastAnalyser) pathString() string {
	if len(a.path) == 0 {
		return "(record)"
	}
	var b strings.Builder
	for _, p := range a.path {
		if !strings.HasPrefix(p, "[") && b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// pathLabel is a field name as a path element, quoted when CUE would.
func pathLabel(name string) string {
	return pathString([]string{name})
}

// constructLabel is a pattern constraint's label as the schema writes it.
func constructLabel(x ast.Expr) string {
	b, err := cueformat.Node(x)
	if err != nil {
		return constructName(x)
	}
	return string(b)
}

// takenIn returns every declaration in the file of the definition id
// names, when resolve leaves it to CUE only because another declaration
// may add to it (declaredOnlyIn), and the value CUE checks takes in all
// of them: the struct that declares it is within what the check covers
// (covered: the values checked, or a definition they name, walked by
// alone), the value checked is CUE's own at its site, not one
// evaluated alone (aloneEv), and the file embeds no value, whose own
// declarations would add to a hidden root that a list in it repeats
// without them. Whatever adds to the definition is then among the
// declarations returned, for alone to walk, and in the site's value
// that CUE checks. nil otherwise.
func (a *fastAnalyser) takenIn(id *ast.Ident, covered func(ast.Node) bool) []ast.Expr {
	lit, ok := id.Scope.(*ast.StructLit)
	if !ok || !isDefName(id.Name) || a.aloneEv > 0 || a.top == nil || !covered(lit) {
		return nil
	}
	for _, d := range a.top.Decls {
		if _, embeds := d.(*ast.EmbedDecl); embeds {
			return nil
		}
	}
	if vals, err := a.declsIn(lit, id.Name, id); err != nil || !containsNode(vals, id.Node) {
		return nil
	}
	var out []ast.Expr
	ast.Walk(a.top, func(n ast.Node) bool {
		if f, ok := n.(*ast.Field); ok {
			l := f.Label
			if al, isAlias := l.(*ast.Alias); isAlias {
				if e, isLabel := al.Expr.(ast.Label); isLabel {
					l = e
				}
			}
			if name, isIdent, err := ast.LabelName(l); err == nil && isIdent && name == id.Name {
				out = append(out, f.Value)
			}
		}
		return true
	}, nil)
	if out != nil {
		a.taken++
	}
	return out
}

// alone reports whether exprs can be checked apart from the rest of the
// record: every reference in them, and in the definitions they use, stays
// inside them or those definitions, or is to an import or a predeclared
// name. A reference to a sibling field, say, makes the value depend on
// data outside it. cyclic is whether the definitions used refer back to
// themselves.
func (a *fastAnalyser) alone(exprs []ast.Expr) (ok, cyclic bool) {
	type span struct {
		file     string
		from, to int
	}
	var spans []span
	within := func(n ast.Node) bool {
		p := n.Pos()
		if !p.IsValid() {
			return false
		}
		for _, s := range spans {
			if p.Filename() == s.file && p.Offset() >= s.from && p.Offset() < s.to {
				return true
			}
		}
		return false
	}
	add := func(e ast.Expr) {
		if p, q := e.Pos(), e.End(); p.IsValid() && q.IsValid() {
			spans = append(spans, span{p.Filename(), p.Offset(), q.Offset()})
		}
	}
	for _, e := range exprs {
		add(e)
	}
	// Definitions first, so that a reference into one counts as inside.
	state := map[ast.Expr]int{} // 1: being walked, 2: done
	var refs []*ast.Ident
	var walk func(e ast.Expr) bool
	walk = func(e ast.Expr) bool {
		state[e] = 1
		good := true
		ast.Walk(e, func(n ast.Node) bool {
			id, isIdent := n.(*ast.Ident)
			if !good || !isIdent || id.Node == nil && id.Scope == nil {
				return good
			}
			if _, isImport := id.Node.(*ast.ImportSpec); isImport {
				return true
			}
			if !isDefName(id.Name) {
				refs = append(refs, id)
				return true
			}
			vals, err := a.resolveRaw(id)
			if err != nil {
				if vals = a.takenIn(id, within); vals == nil {
					good = false
					return false
				}
			}
			for _, v := range vals {
				switch state[v] {
				case 1:
					cyclic = true
				case 0:
					add(v)
					if !walk(v) {
						good = false
						return false
					}
				}
			}
			return true
		}, nil)
		state[e] = 2
		return good
	}
	for _, e := range exprs {
		if !walk(e) {
			return false, cyclic
		}
	}
	for _, id := range refs {
		if id.Node == nil || !within(id.Node) {
			return false, cyclic
		}
	}
	return true, cyclic
}
