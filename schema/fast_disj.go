package schema

import (
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"

	"github.com/zpipe/zpipe/format"
)

// A disjunction of structs or lists, such as *null | {city: string} or
// {kind: "a", ...} | {kind: "b", ...}, is checked natively when the value
// itself tells the branch: every other alternative surely fails on it, by
// kind or by a field whose literal value differs (a discriminator). CUE
// then has only that alternative left, so its verdict and result are that
// alternative's. A value that fits more than one is checked by CUE alone,
// or, where that cannot be, is left to CUE with the whole record.

type structDisj struct {
	alts []*fastNode
	fb   *cueNode // for values the alternatives do not tell apart; nil: ask CUE
}

// pick returns the one alternative v may satisfy, none when it surely
// satisfies none, or ambiguous.
func (d *structDisj) pick(c *fastChecker, v any) int {
	k := valueKindOf(v)
	if k == 0 {
		return ambiguous
	}
	found := none
	for i, alt := range d.alts {
		if surelyFails(c, alt, v, k) {
			continue
		}
		if found >= 0 {
			return ambiguous
		}
		found = i
	}
	return found
}

const (
	none      = -1
	ambiguous = -2
)

// surelyFails reports whether unifying v with n is an error whatever
// else holds: a kind n does not take, or a field of n fixed to a literal
// that v holds another value in.
func surelyFails(c *fastChecker, n *fastNode, v any, k valueKinds) bool {
	if k&n.kinds == 0 {
		return n.kindSurelyFails()
	}
	// A list longer than a closed list's positions ([] among them).
	if l, isList := v.([]any); isList && n.list != nil && n.list.rest == nil && len(l) > len(n.list.prefix) {
		return true
	}
	x, ok := v.(*format.Object)
	if !ok || n.obj == nil {
		return false
	}
	for i := range n.obj.fields {
		f := &n.obj.fields[i]
		if len(f.n.atoms) != 1 || f.n.cue != nil || len(f.n.disjs) > 0 {
			continue
		}
		switch f.n.atoms[0].(type) {
		case *strAtom, *boolAtom, *numAtom:
		default:
			continue
		}
		if a, ok := f.n.atoms[0].(*strAtom); ok && a.op != opEq {
			continue
		}
		if a, ok := f.n.atoms[0].(*numAtom); ok && a.op != opEq {
			continue
		}
		fv, present := x.Get(f.name)
		if !present {
			continue
		}
		if s, isStr := fv.(string); isStr && !utf8.ValidString(s) {
			continue // CUE reads it otherwise
		}
		fk := valueKindOf(fv)
		if fk == 0 {
			continue
		}
		if fk&f.n.kinds == 0 || !f.n.atoms[0].holds(c, fv, fk) {
			return true
		}
	}
	return false
}

func (c *fastChecker) checkDisj(d *structDisj, v any) (ok, adds bool) {
	switch i := d.pick(c, v); {
	case i >= 0:
		return c.check(d.alts[i], v)
	case i == none:
		return false, false
	}
	if d.fb != nil {
		return c.cueCheck(d.fb, v)
	}
	return c.maybe()
}

func (c *fastChecker) fillDisj(d *structDisj, v any) (any, bool) {
	if i := d.pick(c, v); i >= 0 {
		return c.fill(d.alts[i], v)
	}
	return c.cueFill(d.fb, v) // check chose CUE's way
}

// structDisjunction compiles a disjunction with a struct or list among its
// alternatives; ev is the disjunction's value in the schema.
func (a *fastAnalyser) structDisjunction(at ast.Expr, alts []ast.Expr, ev cue.Value, inDef bool) (*fastNode, error) {
	label := "alt"
	if inDef {
		label = "#alt"
	}
	d := &structDisj{}
	recursive := false
	merges := a.defMerges
	// recursedTo is found anew for the alternatives, and the lowest of
	// it and the outer one's is the outer one's again on every return:
	// an alternative that fails returns early, and the reference back
	// that another made before it must still count.
	base, outer := len(a.stack), a.recursedTo
	a.recursedTo = base
	defer func() { a.recursedTo = min(outer, a.recursedTo) }()
	for _, e := range alts {
		if u, ok := stripParens(e).(*ast.UnaryExpr); ok && u.Op == token.MUL {
			e = u.X // the default only fills a missing field: CUE did that
		}
		aev, partial, err := a.evalAlone(e, label)
		if err != nil {
			return nil, err
		}
		if aev.Err() != nil {
			return nil, unsupportedAt(e, "disjunction with a struct or list whose alternative CUE cannot evaluate alone")
		}
		if partial {
			a.noAlone++ // as in pattern: nothing in it is CUE's to check
		}
		beside := a.beside
		a.beside = 0 // aev is the alternative's own value
		a.aloneEv++
		n, err := a.expr(e, aev, inDef)
		a.beside = beside
		a.aloneEv--
		if partial {
			a.noAlone--
		}
		if err != nil {
			return nil, err
		}
		if n.cue != nil {
			return nil, unsupportedAt(e, "disjunction with a struct or list")
		}
		// An alternative may be the definition being expanded (it is
		// built by the time a record meets it); CUE's value of the
		// disjunction then shows its inner levels as bottom, so a value
		// no branch is told for goes to CUE with the whole record.
		recursive = recursive || a.pending[n]
		d.alts = append(d.alts, n)
	}
	// So where an alternative refers back, at any depth, to a definition
	// that holds the disjunction: {q!: string, c?: #A} | {b: *"x" |
	// string, ...} in #A. CUE's value of the disjunction shows c as a
	// structural cycle, so that {"q": "s", "c": {}} failed the first
	// alternative there and was the second's, where the record's own
	// evaluation finds both alternatives, different, and the value
	// incomplete (generated schemas 45000055, 43001329). Not one that
	// recurses within itself only (#R | {...}, #R: {sub?: [...#R]}).
	enclosing := a.recursedTo < base
	// In a matchN alternative, where CUE counts an incomplete value as
	// matching, a value no branch is told for is unsure instead.
	// Nor where a definition meets literals outside definitions, in an
	// alternative or around the disjunction: CUE evaluates the value
	// alone with other closedness (see aloneUnsound).
	// Nor inside a literal CUE leaves open that ev shows closed (see
	// unclosed).
	viaDefMerge := a.defMerges != merges || a.noAlone > 0
	ok, cyclic := a.alone(alts)
	apart := ok && !recursive && !viaDefMerge && a.inMatch == 0 && !a.unclosed && ev.Exists() && ev.Err() == nil
	if apart && cyclic && enclosing && a.s.isolated {
		// The record goes to CUE whole, then: to the evaluator's
		// process, as the check of the value apart did, since its cost
		// grows with the data.
		a.fallbacks = append(a.fallbacks, Fallback{Path: a.pathString(), Why: a.why(&unsupportedError{pos: at.Pos(), what: "recursive disjunction whose alternatives the value does not tell apart"}), Apart: true})
	}
	if apart && !enclosing {
		d.fb = a.cueNode(ev, cyclic, "disjunction")
		d.fb.alts = nil
		a.siteBound++
		if d.fb.remote {
			// Its values go to the evaluator's process: a fallback, which
			// check -v shows and which keeps CUE's whole look at a record
			// there too.
			a.fallbacks = append(a.fallbacks, Fallback{Path: a.pathString(), Why: a.why(&unsupportedError{pos: at.Pos(), what: "recursive disjunction whose alternatives the value does not tell apart"}), Apart: true})
		}
	}
	return &fastNode{kinds: kAll, disjs: []*structDisj{d}}, nil
}
