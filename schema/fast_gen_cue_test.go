package schema

import (
	"cuelang.org/go/cue"

	"github.com/zpipe/zpipe/format"
)

// cueShape is what CUE's own value of a schema says a record looks like:
// its fields, with every declaration and unification merged as CUE merges
// them, the elements of its lists, the alternatives of its disjunctions
// and the kinds of its leaves. Records made from the fast path's tree aim
// only at what that tree knows; a constraint it misses, such as a second
// declaration of a definition that CUE merges in, is hit only by chance.
// Records made from this shape aim at CUE's view instead.
type cueShape struct {
	kind    cue.Kind
	fields  []cueField
	pattern *cueShape // [string]: T, when there is one
	elems   []*cueShape
	rest    *cueShape // ...T, when there is one
	alts    []*cueShape
	lit     any // the value, when it is concrete
}

type cueField struct {
	name     string
	optional bool
	s        *cueShape
}

// cueShapeOf reads v's shape down to a few levels: a recursive schema ends.
func cueShapeOf(v cue.Value, depth int) *cueShape {
	s := &cueShape{kind: v.IncompleteKind()}
	if depth > 6 {
		return s
	}
	if op, args := v.Expr(); op == cue.OrOp {
		for _, a := range args {
			s.alts = append(s.alts, cueShapeOf(a, depth+1))
		}
	}
	if v.IsConcrete() && s.kind&(cue.StructKind|cue.ListKind) == 0 {
		if b, err := v.MarshalJSON(); err == nil {
			if vals := decodeAll(append(b, '\n')); len(vals) == 1 {
				s.lit = vals[0]
			}
		}
	}
	if s.kind&cue.StructKind != 0 {
		if it, err := v.Fields(cue.Optional(true)); err == nil {
			for it.Next() {
				sel := it.Selector()
				if !sel.IsString() {
					continue
				}
				s.fields = append(s.fields, cueField{name: sel.Unquoted(), optional: sel.ConstraintType() == cue.OptionalConstraint, s: cueShapeOf(it.Value(), depth+1)})
			}
		}
		if p := v.LookupPath(cue.MakePath(cue.AnyString)); p.Exists() {
			s.pattern = cueShapeOf(p, depth+1)
		}
	}
	if s.kind&cue.ListKind != 0 {
		if it, err := v.List(); err == nil {
			for it.Next() {
				s.elems = append(s.elems, cueShapeOf(it.Value(), depth+1))
			}
		}
		if r := v.LookupPath(cue.MakePath(cue.AnyIndex)); r.Exists() {
			s.rest = cueShapeOf(r, depth+1)
		}
	}
	return s
}

// fromCUE returns a record of shape s, valid when the generator manages.
func (g *recordGen) fromCUE(s *cueShape, depth int) any {
	if g.nodes++; g.nodes > recordBudget {
		depth = max(depth, 9)
	}
	if len(s.alts) > 0 && g.chance(0.8) {
		return g.fromCUE(s.alts[g.pick(len(s.alts))], depth)
	}
	if s.lit != nil && g.chance(0.7) {
		return s.lit
	}
	switch {
	case s.kind&cue.StructKind != 0 && (s.kind == cue.StructKind || g.chance(0.7)):
		obj := &format.Object{}
		for _, f := range s.fields {
			if f.optional && (g.chance(0.5) || depth > 8) {
				continue
			}
			obj.Fields = append(obj.Fields, format.Field{Key: f.name, Value: g.fromCUE(f.s, depth+1)})
		}
		if s.pattern != nil && g.chance(0.4) {
			obj.Set(g.someString(), g.fromCUE(s.pattern, depth+1))
		}
		return obj
	case s.kind&cue.ListKind != 0 && (s.kind == cue.ListKind || g.chance(0.7)):
		out := []any{}
		for _, e := range s.elems {
			out = append(out, g.fromCUE(e, depth+1))
		}
		if s.rest != nil && depth <= 8 {
			for n := g.pick(3); n > 0; n-- {
				out = append(out, g.fromCUE(s.rest, depth+1))
			}
		}
		return out
	}
	return g.leaf(s.kind, depth)
}

// leaf picks a scalar of one of the kinds: the schema's literals and the
// interesting values first, any value when none fits or the kind is
// bottom, where every value is a candidate for a disagreement.
func (g *recordGen) leaf(k cue.Kind, depth int) any {
	var fit []any
	for _, pool := range [][]any{g.lits, interesting} {
		for _, v := range pool {
			if k == cue.BottomKind || recordKind(v)&k != 0 {
				fit = append(fit, v)
			}
		}
	}
	if len(fit) == 0 || g.chance(0.15) {
		return g.anyValue(depth + 1)
	}
	return fit[g.pick(len(fit))]
}

// someString is a field name for a pattern: one of the schema's strings,
// or a common one.
func (g *recordGen) someString() string {
	var names []string
	for _, v := range g.lits {
		if s, ok := v.(string); ok {
			names = append(names, s)
		}
	}
	names = append(names, "x-a", "extra", "a", "0", "é")
	return names[g.pick(len(names))]
}

// recordKind is the CUE kind of a scalar record value.
func recordKind(v any) cue.Kind {
	switch x := v.(type) {
	case nil:
		return cue.NullKind
	case bool:
		return cue.BoolKind
	case string:
		return cue.StringKind
	case format.Number:
		if isIntLiteral(string(x)) {
			return cue.IntKind
		}
		return cue.FloatKind
	}
	return cue.BottomKind
}

func isIntLiteral(s string) bool {
	for i, c := range s {
		if (c < '0' || c > '9') && !(i == 0 && c == '-') {
			return false
		}
	}
	return s != "" && s != "-"
}
