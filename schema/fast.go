package schema

import (
	"regexp"
	"slices"
	"unicode/utf8"

	"cuelang.org/go/cue/literal"
	"github.com/cockroachdb/apd/v3"

	"github.com/zpipe/zpipe/format"
)

// The fast path checks records with native Go code built once from the
// schema (see fast_analyse.go), so that a valid record never meets CUE's
// evaluator, which costs 35–50 µs a record. It only accepts what CUE
// accepts; whatever it rejects goes through CUE, so messages never depend
// on the path taken.

// FastPath reports whether records are checked natively instead of by
// CUE's evaluator and, when they are not, why: the first schema construct
// the native checker does not handle, with its position. A schema checked
// natively may still leave some of its values to CUE: see Fallbacks.
func (s *Schema) FastPath() (bool, string) {
	v := s.Validator()
	defer s.Put(v)
	return v.fast != nil, v.fastWhy
}

// Fallbacks lists the values of a record that CUE's evaluator checks
// while the fast path checks the rest, each with the construct that keeps
// it off the fast path. It is empty when the fast path covers the schema
// whole, or does not run at all.
func (s *Schema) Fallbacks() []Fallback {
	v := s.Validator()
	defer s.Put(v)
	if v.fast == nil {
		return nil
	}
	return slices.Clone(v.fast.fallbacks)
}

// valueKinds is a set of the value kinds of the record model, as CUE sees them.
type valueKinds uint8

const (
	kNull valueKinds = 1 << iota
	kBool
	kInt   // a number without fraction or exponent
	kFloat // a number with a fraction or exponent: 1.0 is not an int
	kString
	kList
	kObject

	kNumber = kInt | kFloat
	kAll    = kNull | kBool | kNumber | kString | kList | kObject
)

// fastNode is the conjunction of everything a schema says about one value.
type fastNode struct {
	kinds valueKinds
	atoms []fastAtom  // scalar and length constraints, all of which must hold
	obj   *fastObject // nil: any object of an allowed kind passes, as under _
	list  *fastList
	cue   *cueNode // CUE checks the value: the rest of the node is empty
	// disjs are disjunctions with structs or lists that the value must
	// satisfy too, each telling its branch from the value.
	disjs []*structDisj
}

// fastAtom is one constraint; holds is only called on a value of an
// allowed kind, k.
type fastAtom interface {
	holds(c *fastChecker, v any, k valueKinds) bool
}

// fieldKind is how a field is declared: a: (regular), a?: or a!:.
type fieldKind uint8

const (
	fieldRegular fieldKind = iota
	fieldOptional
	fieldRequired
)

type fastField struct {
	name string
	typ  fieldKind
	n    *fastNode
	fill any  // the value CUE gives a missing regular field
	has  bool // whether fill is set; a missing field without one is an error
}

type fastObject struct {
	fields []fastField
	index  map[string]int // name → field; lookup uses it for large structs
	open   bool           // extra fields allowed (...)
	// patterns are the pattern constraints ([=~"^x-"]: T): every field
	// whose label matches must satisfy T, declared or not, and an
	// undeclared one that matches is allowed even in a closed struct.
	patterns []fastPattern
	// chains are the labels each struct literal of the value declares,
	// in source order, definitions too, for fillOrder: the value's own,
	// then each embedded or unified one's.
	chains [][]string
	orders map[string][]int // fillOrder by the fields present, in order; the tree is per Validator
	deps   []fastDependency
}

// fastDependency is JSON Schema's dependentRequired, which CUE's
// translation writes as if a != _|_ {"b"!: _}: when the field on is in
// the record, so must the fields it requires be.
type fastDependency struct {
	on       int
	requires []int
}

// depsHold reports whether the fields present, s, meet every dependency.
func (o *fastObject) depsHold(s *fieldSet) bool {
	for _, d := range o.deps {
		if !s.has(d.on) {
			continue
		}
		for _, r := range d.requires {
			if !s.has(r) {
				return false
			}
		}
	}
	return true
}

// fastPattern is one pattern constraint: labels that every one of conds
// accepts (every label when there are none).
type fastPattern struct {
	conds []labelCond
	n     *fastNode
}

// labelCond is one conjunct of a pattern's label: =~re, or !~re when neg.
type labelCond struct {
	re  *regexp.Regexp
	neg bool
}

func (p *fastPattern) matches(label string) bool {
	for _, c := range p.conds {
		if c.re.MatchString(label) == c.neg {
			return false
		}
	}
	return true
}

type fastList struct {
	prefix []*fastNode
	rest   *fastNode // element type after the prefix; nil for a closed list
}

// fastChecker holds a validator's tree and scratch space; like the Validator
// it is used by one goroutine at a time.
type fastChecker struct {
	root *fastNode
	// unsure is set when a check says false without knowing that CUE
	// would: a repeated key, say. Alternatives (matchN, |) must not count
	// such a false as "does not match"; see maybe.
	unsure bool
	// fallbacks are the values CUE checks; none when the fast path
	// covers the schema whole.
	fallbacks []Fallback
	// rawInts makes Passes leave numbers with a fraction or exponent to
	// the usual path, which reads 1.0 as 1 for JSON Schema.
	rawInts bool
	// rawDepth is how deep Passes reads containers.
	rawDepth int
	ni       literal.NumInfo
	d        apd.Decimal
	// cyclic lists the nodes that have CUE check a recursive value, by
	// id. In an isolated schema they are remote: check takes the value
	// as holding and adds it to asks, and run says "ask CUE" with asked
	// set; the evaluator's process then checks the asks (settle).
	cyclic []*cueNode
	asks   []ask
	asked  bool
	adds   bool // with asked: whether the record's fill adds anything
	// filled holds the evaluator's fill of the values asked, which
	// settle's fill takes; missed is set when one is not there.
	filled map[askKey]any
	missed bool
}

// ask is a value that a remote node leaves to the evaluator's process.
type ask struct {
	k *cueNode
	v any
}

// run checks a record. It returns the record with its defaults, and
// whether CUE would accept it; false means "ask CUE", not "invalid".
func (c *fastChecker) run(rec any) (any, bool) {
	c.unsure, c.asked = false, false
	c.asks = c.asks[:0]
	ok, adds := c.check(c.root, rec)
	if !ok {
		return nil, false
	}
	if len(c.asks) > 0 {
		c.asked, c.adds = true, adds
		return nil, false
	}
	if adds {
		rec, _ = c.fill(c.root, rec)
	}
	return rec, true
}

func valueKindOf(v any) valueKinds {
	switch x := v.(type) {
	case nil:
		return kNull
	case bool:
		return kBool
	case string:
		return kString
	case format.Number:
		return numberKind(string(x))
	case []any:
		return kList
	case *format.Object:
		return kObject
	}
	return 0
}

// numberKind tells an int from a float in one pass over JSON number text,
// as toCUE does; 0 for text that is not JSON, which CUE must judge.
func numberKind(s string) valueKinds {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return 0
	}
	if i == len(s) {
		return kInt
	}
	if format.ValidNumber(s) {
		return kFloat
	}
	return 0
}

// check reports whether v satisfies n, and whether filling in defaults
// would change it.
func (c *fastChecker) check(n *fastNode, v any) (ok, adds bool) {
	if n.cue != nil {
		return c.cueCheck(n.cue, v)
	}
	if len(n.atoms) > 0 && composite(v) && seesFilled(n.atoms) {
		return c.checkFilledFirst(n, v)
	}
	ok, adds = c.checkBase(n, v)
	if !ok || len(n.disjs) == 0 {
		return ok, adds
	}
	for _, d := range n.disjs {
		dok, dadds := c.checkDisj(d, v)
		if !dok {
			return false, false
		}
		if dadds && adds {
			return c.maybe() // two parts filling in: CUE merges them
		}
		adds = adds || dadds
	}
	return true, adds
}

// composite reports whether v is an object or a list: what defaults can
// fill in. A type switch, where valueKindOf would scan a number's text.
func composite(v any) bool {
	switch v.(type) {
	case *format.Object, []any:
		return true
	}
	return false
}

// seesFilled reports whether an atom checks a struct's or list's content:
// matchN, matchIf, the fields required present, or a disjunction that may
// take one. CUE checks those
// against the value with its defaults filled in.
func seesFilled(atoms []fastAtom) bool {
	for _, a := range atoms {
		switch a := a.(type) {
		case *matchAtom, *ifAtom, *presentAtom:
			return true
		case *disjAtom:
			for _, alt := range a.alts {
				if alt.kinds&(kObject|kList) != 0 {
					return true
				}
			}
		}
	}
	return false
}

// checkFilledFirst is check for a node whose atoms look into the value:
// the rest of the node first, and the atoms only when it fills nothing
// in, so that they see the value CUE checks them against.
func (c *fastChecker) checkFilledFirst(n *fastNode, v any) (ok, adds bool) {
	rest := *n
	rest.atoms = nil
	if ok, adds = c.check(&rest, v); !ok {
		return false, false
	}
	if adds {
		return c.maybe()
	}
	// Only the atoms: the rest is checked, and checking it again would
	// double the work at every such level of a nested value.
	k := valueKindOf(v)
	for _, a := range n.atoms {
		if !a.holds(c, v, k) {
			return false, false
		}
	}
	return true, false
}

// kindSurelyFails reports whether a value of a kind n does not take
// surely fails it, as it does but for a struct that holds an if field:
// CUE v0.17 takes a scalar or a list for one (null & close({a?: _, if
// a != _|_ {...}}) is no error), so such a value is left to CUE.
func (n *fastNode) kindSurelyFails() bool {
	return n.obj == nil || len(n.obj.deps) == 0
}

// maybe is the false of a check that does not know CUE's verdict.
func (c *fastChecker) maybe() (ok, adds bool) {
	c.unsure = true
	return false, false
}

// checkBase is check without the node's disjunctions.
func (c *fastChecker) checkBase(n *fastNode, v any) (ok, adds bool) {
	k := valueKindOf(v)
	if k == 0 {
		return c.maybe()
	}
	if k&n.kinds == 0 {
		if !n.kindSurelyFails() {
			return c.maybe()
		}
		return false, false
	}
	if len(n.atoms) > 0 {
		// CUE replaces invalid UTF-8, which could change what a
		// constraint sees; such strings are left to it.
		if s, ok := v.(string); ok && !utf8.ValidString(s) {
			return c.maybe()
		}
		for _, a := range n.atoms {
			if !a.holds(c, v, k) {
				return false, false
			}
		}
	}
	switch x := v.(type) {
	case []any:
		if n.list != nil {
			return c.checkList(n.list, x)
		}
		if !c.anyOK(x) {
			return c.maybe()
		}
	case *format.Object:
		if n.obj != nil {
			return c.checkObj(n.obj, x)
		}
		if !c.anyOK(x) {
			return c.maybe()
		}
	}
	return true, false
}

// lookup finds a declared field; hint is where records usually have it.
func (o *fastObject) lookup(key string, hint int) int {
	if hint < len(o.fields) && o.fields[hint].name == key {
		return hint
	}
	if len(o.fields) > 16 {
		if j, ok := o.index[key]; ok {
			return j
		}
		return -1
	}
	for j := range o.fields {
		if o.fields[j].name == key {
			return j
		}
	}
	return -1
}

// fieldSet is a set of field indexes that needs no allocation up to 64 fields.
type fieldSet struct {
	small uint64
	big   []bool
}

func newFieldSet(n int) fieldSet {
	if n > 64 {
		return fieldSet{big: make([]bool, n)}
	}
	return fieldSet{}
}

func (s *fieldSet) has(i int) bool {
	if s.big != nil {
		return s.big[i]
	}
	return s.small&(1<<uint(i)) != 0
}

func (s *fieldSet) add(i int) {
	if s.big != nil {
		s.big[i] = true
	} else {
		s.small |= 1 << uint(i)
	}
}

func (c *fastChecker) checkObj(o *fastObject, x *format.Object) (ok, adds bool) {
	s := newFieldSet(len(o.fields))
	for i := range x.Fields {
		f := &x.Fields[i]
		j := o.lookup(f.Key, i)
		matched := false
		for p := range o.patterns {
			pat := &o.patterns[p]
			if !pat.matches(f.Key) {
				continue
			}
			matched = true
			// A pattern's defaults are not filled in here: CUE
			// decides such a record.
			if !utf8.ValidString(f.Key) {
				return c.maybe()
			}
			if ok, a := c.check(pat.n, f.Value); !ok {
				return false, false
			} else if a {
				return c.maybe()
			}
		}
		if j < 0 {
			if matched {
				continue
			}
			if !utf8.ValidString(f.Key) || !c.anyOK(f.Value) {
				return c.maybe()
			}
			if !o.open {
				return false, false // field not allowed
			}
			continue
		}
		if s.has(j) {
			return c.maybe() // a repeated key: CUE would keep the last
		}
		s.add(j)
		ok, a := c.check(o.fields[j].n, f.Value)
		if !ok {
			return false, false
		}
		adds = adds || a
	}
	if !o.depsHold(&s) {
		return false, false
	}
	for j := range o.fields {
		if s.has(j) {
			continue
		}
		switch fd := &o.fields[j]; {
		case fd.typ == fieldOptional:
		case fd.typ == fieldRequired:
			return false, false
		case !fd.has:
			return c.maybe() // incomplete, which CUE's matchN counts as matching
		default:
			adds = true
		}
	}
	return true, adds
}

func (c *fastChecker) checkList(l *fastList, x []any) (ok, adds bool) {
	if len(x) < len(l.prefix) || l.rest == nil && len(x) > len(l.prefix) {
		return false, false
	}
	for i, e := range x {
		n := l.rest
		if i < len(l.prefix) {
			n = l.prefix[i]
		}
		ok, a := c.check(n, e)
		if !ok {
			return false, false
		}
		adds = adds || a
	}
	return true, adds
}

// anyOK reports whether CUE takes v as it is, where the schema says
// nothing about it (under _ or an open struct's extra fields).
func (c *fastChecker) anyOK(v any) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if !c.anyOK(e) {
				return false
			}
		}
		return true
	case *format.Object:
		for _, f := range x.Fields {
			if !utf8.ValidString(f.Key) || !c.anyOK(f.Value) {
				return false
			}
		}
		return true
	}
	return valueKindOf(v) != 0
}

// fill returns v with the missing regular fields appended, in CUE's order,
// after the input's own fields, as merge does. It copies only what changes.
func (c *fastChecker) fill(n *fastNode, v any) (any, bool) {
	if n.cue != nil {
		return c.cueFill(n.cue, v)
	}
	for _, d := range n.disjs {
		// check let at most one part fill in.
		if _, adds := c.checkDisj(d, v); adds {
			return c.fillDisj(d, v)
		}
	}
	switch x := v.(type) {
	case *format.Object:
		o := n.obj
		if o == nil {
			return v, false
		}
		var out *format.Object
		s := newFieldSet(len(o.fields))
		extras := false
		var seq [64]byte // the fields' indexes, for cachedFillOrder
		for i, f := range x.Fields {
			j := o.lookup(f.Key, i)
			if j < 0 {
				extras = true
				continue
			}
			s.add(j)
			if i < len(seq) {
				seq[i] = byte(j)
			}
			if nv, changed := c.fill(o.fields[j].n, f.Value); changed {
				if out == nil {
					out = copyObjectFields(x, len(o.fields))
				}
				out.Fields[i].Value = nv
			}
		}
		missing := false
		for j := range o.fields {
			missing = missing || !s.has(j) && o.fields[j].typ == fieldRegular
		}
		if missing {
			if out == nil {
				out = copyObjectFields(x, len(o.fields))
			}
			for _, j := range o.cachedFillOrder(x, &s, extras, seq[:min(len(x.Fields), len(seq))]) {
				out.Fields = append(out.Fields, format.Field{Key: o.fields[j].name, Value: cloneValue(o.fields[j].fill)})
			}
		}
		if out == nil {
			return v, false
		}
		return out, true
	case []any:
		l := n.list
		if l == nil {
			return v, false
		}
		var out []any
		for i, e := range x {
			en := l.rest
			if i < len(l.prefix) {
				en = l.prefix[i]
			}
			if nv, changed := c.fill(en, e); changed {
				if out == nil {
					out = append([]any(nil), x...)
				}
				out[i] = nv
			}
		}
		if out == nil {
			return v, false
		}
		return out, true
	}
	return v, false
}

func copyObjectFields(x *format.Object, extra int) *format.Object {
	out := &format.Object{Fields: make([]format.Field, len(x.Fields), len(x.Fields)+extra)}
	copy(out.Fields, x.Fields)
	return out
}

// cloneValue copies a default, so that no two records share one.
func cloneValue(v any) any {
	switch x := v.(type) {
	case *format.Object:
		out := &format.Object{Fields: make([]format.Field, len(x.Fields))}
		for i, f := range x.Fields {
			out.Fields[i] = format.Field{Key: f.Key, Value: cloneValue(f.Value)}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}
