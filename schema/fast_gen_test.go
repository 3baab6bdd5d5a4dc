package schema

import (
	"math/rand/v2"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/zpipe/zpipe/format"
)

// recordGen makes records for the differential test: values built from a
// fast path's own tree, most of them valid, and mutations of them that
// break one thing at a time. Whether a record is valid is for CUE to say;
// the generator only makes the interesting cases likely.
type recordGen struct {
	r *rand.Rand
	c fastChecker // to prefer candidates the tree accepts
	// lits are the schema's literals and their neighbours, candidates
	// for a value that CUE checks, whose constraint the tree cannot show.
	lits []any
	// nodes counts the values of the record being made: past a budget
	// the generator acts as if deep, so that a recursive schema's lists
	// and optional fields end instead of growing exponentially.
	nodes int
}

// recordBudget is how many values a record may hold before it winds down.
const recordBudget = 2000

// interesting are values near what CUE's validators look for.
var interesting = []any{
	"x.json", "xa.json", "x", "192.168.0.1", "::1", "::", "::ffff:1.2.3.4", "1.2.3", "2024-01-02", "2024-13-02",
	"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123+01:00", "2024-01-02 03:04:05", "https://a.b/c?d#e", "/rel/path",
	"http://[::1", "a.b.c", "a..b", "-a.com", "xn--bcher-kva.de", "bücher.de", "a_b.com", "ÿ",
	format.Number("3"), format.Number("6"), format.Number("3.0"), format.Number("1.5"), format.Number("0"),
	format.Number("-9"), format.Number("7"), format.Number("1e400"), format.Number("0.25"), format.Number("4.5e1"),
}

// schemaLiterals lists the scalar literals of a schema's source, and each
// string with a suffix.
func schemaLiterals(src []byte) []any {
	f, err := parser.ParseFile("lits.cue", src)
	if err != nil {
		return nil
	}
	var out []any
	ast.Walk(f, func(n ast.Node) bool {
		if b, ok := n.(*ast.BasicLit); ok {
			if v, ok := scalarValue(b); ok {
				out = append(out, v)
				if s, ok := v.(string); ok {
					out = append(out, s+"x")
				}
			}
		}
		return true
	}, nil)
	return out
}

func (g *recordGen) pick(n int) int { return g.r.IntN(n) }

func (g *recordGen) chance(p float64) bool { return g.r.Float64() < p }

// value returns a value for n, valid when the generator manages.
func (g *recordGen) value(n *fastNode, depth int) any {
	if g.nodes++; g.nodes > recordBudget {
		depth = max(depth, 9)
	}
	var v any
	for try := 0; try < 20; try++ {
		switch {
		case len(n.disjs) > 0 && n.obj == nil && n.list == nil && len(n.atoms) == 0:
			d := n.disjs[g.pick(len(n.disjs))]
			v = g.value(d.alts[g.pick(len(d.alts))], depth)
		case n.cue != nil:
			// Each try is a CUE evaluation: try less.
			if try == 5 {
				return v
			}
			v = g.anyValue(depth + 1)
			if len(g.lits) > 0 && g.chance(0.7) {
				v = g.lits[g.pick(len(g.lits))]
			}
		case n.obj != nil && n.kinds&kObject != 0 && (n.kinds == kObject || g.chance(0.7)):
			v = g.object(n.obj, depth)
		case n.list != nil && n.kinds&kList != 0 && (n.kinds == kList || g.chance(0.7)):
			v = g.list(n.list, depth)
		default:
			c := g.candidates(n, depth)
			v = c[g.pick(len(c))]
		}
		if ok, _ := g.c.check(n, v); ok {
			return v
		}
	}
	return v
}

func (g *recordGen) object(o *fastObject, depth int) *format.Object {
	obj := &format.Object{}
	for _, f := range o.fields {
		switch {
		case f.typ == fieldOptional && (g.chance(0.5) || depth > 8): // a recursive schema ends
			continue
		case f.typ == fieldRegular && f.has && g.chance(0.3):
			continue // let the default fill it in
		}
		obj.Fields = append(obj.Fields, format.Field{Key: f.name, Value: g.value(f.n, depth+1)})
	}
	if o.open && g.chance(0.3) {
		obj.Fields = append(obj.Fields, format.Field{Key: []string{"extra", "0", "Z", "b", "zz", "aa", "n", "é"}[g.pick(8)], Value: g.anyValue(depth + 1)})
	}
	if g.chance(0.2) {
		g.r.Shuffle(len(obj.Fields), func(i, j int) { obj.Fields[i], obj.Fields[j] = obj.Fields[j], obj.Fields[i] })
	}
	return obj
}

func (g *recordGen) list(l *fastList, depth int) []any {
	out := []any{}
	for _, p := range l.prefix {
		out = append(out, g.value(p, depth+1))
	}
	if l.rest != nil && depth <= 8 {
		for n := g.pick(4); n > 0; n-- {
			out = append(out, g.value(l.rest, depth+1))
		}
		if len(out) > 0 && g.chance(0.25) {
			out = append(out, out[g.pick(len(out))]) // for list.UniqueItems
		}
	}
	return out
}

// candidates lists values near everything the node constrains.
func (g *recordGen) candidates(n *fastNode, depth int) []any {
	var c []any
	var walk func(n *fastNode)
	walk = func(n *fastNode) {
		for _, a := range n.atoms {
			switch a := a.(type) {
			case *numAtom:
				c = append(c, numbersNear(a)...)
			case *strAtom:
				c = append(c, a.s, a.s+"x", "")
			case *boolAtom:
				c = append(c, a.b, !a.b)
			case *reAtom:
				re, err := syntax.Parse(a.re.String(), syntax.Perl)
				if err == nil {
					for i := 0; i < 4; i++ {
						c = append(c, g.regexString(re.Simplify()))
					}
				}
			case *lenAtom:
				for _, k := range []int{a.min - 1, a.min, a.max, a.max + 1} {
					if k >= 0 {
						c = append(c, strings.Repeat("é", k), strings.Repeat("Ab", k)[:k])
						l := []any{}
						for i := 0; i < k; i++ {
							l = append(l, "s")
						}
						c = append(c, l)
					}
				}
			case *predAtom, *multipleAtom:
				c = append(c, g.lits...)
				c = append(c, interesting...)
			case *disjAtom:
				for _, alt := range a.alts {
					walk(alt)
					c = append(c, g.value(alt, depth+1))
				}
			}
		}
	}
	walk(n)
	if n.kinds&kNull != 0 {
		c = append(c, nil)
	}
	if n.kinds&kBool != 0 {
		c = append(c, true, false)
	}
	if n.kinds&kInt != 0 {
		c = append(c, format.Number("0"), format.Number("1"), format.Number("-1"), format.Number("42"),
			format.Number("9223372036854775808"), format.Number("-9223372036854775809"))
	}
	if n.kinds&kFloat != 0 {
		c = append(c, format.Number("0.5"), format.Number("1.0"), format.Number("-2.5e3"), format.Number("1E+2"), format.Number("1e-7"),
			format.Number(bigNumbers[g.pick(len(bigNumbers))]))
	}
	if n.kinds&kString != 0 {
		c = append(c, "", "a", "hello world", "é☃", "b")
	}
	if n.kinds&(kList|kObject) != 0 {
		c = append(c, g.anyValue(depth+1))
	}
	if len(c) == 0 {
		c = append(c, nil)
	}
	return c
}

// numbersNear returns numbers on, just inside and just outside a bound.
func numbersNear(a *numAtom) []any {
	var out []any
	if a.isI {
		for _, d := range []int64{-1, 0, 1} {
			if i := a.i + d; (d < 0) == (i < a.i) {
				out = append(out, format.Number(strconv.FormatInt(i, 10)))
			}
		}
		out = append(out, format.Number(strconv.FormatInt(a.i, 10)+".0"), format.Number(strconv.FormatInt(a.i, 10)+"e0"))
	}
	s := a.d.String()
	if format.ValidNumber(s) {
		out = append(out, format.Number(s))
		if !strings.ContainsAny(s, ".eE") {
			out = append(out, format.Number(s+"0"), format.Number("-"+s))
		}
	}
	if s := a.d.Text('f'); len(s) < 100 && format.ValidNumber(s) {
		out = append(out, format.Number(s))
		if strings.Contains(s, ".") {
			out = append(out, format.Number(s+"1"), format.Number(strings.TrimRight(s, "0")+"00"))
		}
	}
	return out
}

// anyValue is a random JSON value, nested a little.
func (g *recordGen) anyValue(depth int) any {
	k := g.pick(8)
	if depth > 6 {
		k %= 6
	}
	switch k {
	case 0:
		return nil
	case 1:
		return g.chance(0.5)
	case 2:
		return format.Number(strconv.Itoa(g.pick(200) - 100))
	case 3:
		return format.Number([]string{"1.5", "-0.0", "1e300", "2.50", "-0e5", "-1.5E-3"}[g.pick(6)])
	case 4:
		return []string{"", "x", "hello", "ü"}[g.pick(4)]
	case 5:
		return []any{}
	case 6:
		l := []any{}
		for n := g.pick(3); n > 0; n-- {
			l = append(l, g.anyValue(depth+1))
		}
		return l
	}
	o := &format.Object{}
	for n := g.pick(3); n > 0; n-- {
		o.Set("k"+strconv.Itoa(g.pick(5)), g.anyValue(depth+1))
	}
	return o
}

// regexString returns a string the expression probably matches.
func (g *recordGen) regexString(re *syntax.Regexp) string {
	var b strings.Builder
	var walk func(re *syntax.Regexp)
	walk = func(re *syntax.Regexp) {
		switch re.Op {
		case syntax.OpLiteral:
			b.WriteString(string(re.Rune))
		case syntax.OpCharClass:
			if len(re.Rune) >= 2 {
				i := 2 * g.pick(len(re.Rune)/2)
				lo, hi := re.Rune[i], re.Rune[i+1]
				if hi-lo > 200 {
					hi = lo + 200
				}
				b.WriteRune(lo + rune(g.pick(int(hi-lo)+1)))
			}
		case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
			b.WriteRune([]rune("aZ0 é")[g.pick(5)])
		case syntax.OpCapture:
			walk(re.Sub[0])
		case syntax.OpConcat:
			for _, s := range re.Sub {
				walk(s)
			}
		case syntax.OpAlternate:
			walk(re.Sub[g.pick(len(re.Sub))])
		case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
			lo, hi := 0, 3
			switch re.Op {
			case syntax.OpPlus:
				lo = 1
			case syntax.OpQuest:
				hi = 1
			case syntax.OpRepeat:
				lo, hi = re.Min, re.Max
				if hi < 0 {
					hi = lo + 3
				}
			}
			for n := lo + g.pick(hi-lo+1); n > 0; n-- {
				walk(re.Sub[0])
			}
		}
	}
	walk(re)
	return b.String()
}

// mutate breaks a record in one place: it drops or adds a field, changes
// a type, crosses a bound, breaks a string, swaps int and float or nests
// deeply.
func (g *recordGen) mutate(v any) any {
	type slot struct {
		get func() any
		set func(any)
		obj *format.Object // the parent, when an object
		key int
		lst *[]any // the value itself, when a list
	}
	var slots []slot
	var collect func(get func() any, set func(any), parent *format.Object, key int)
	collect = func(get func() any, set func(any), parent *format.Object, key int) {
		s := slot{get: get, set: set, obj: parent, key: key}
		switch x := get().(type) {
		case *format.Object:
			for i := range x.Fields {
				collect(func() any { return x.Fields[i].Value }, func(v any) { x.Fields[i].Value = v }, x, i)
			}
		case []any:
			s.lst = &x
			for i := range x {
				collect(func() any { return x[i] }, func(v any) { x[i] = v }, nil, 0)
			}
		}
		slots = append(slots, s)
	}
	root := v
	collect(func() any { return root }, func(v any) { root = v }, nil, 0)
	s := slots[g.pick(len(slots))]
	cur := s.get()
	switch g.pick(9) {
	case 0: // drop this field
		if s.obj != nil {
			s.obj.Fields = append(s.obj.Fields[:s.key:s.key], s.obj.Fields[s.key+1:]...)
		} else if s.lst != nil && len(*s.lst) > 0 {
			s.set((*s.lst)[:len(*s.lst)-1])
		}
	case 1: // an unknown field next to it, or an extra list item
		if s.obj != nil {
			key := s.obj.Fields[s.key].Key + []string{"x", "_", ""}[g.pick(3)]
			if _, dup := s.obj.Get(key); !dup {
				s.obj.Fields = append(s.obj.Fields, format.Field{Key: key, Value: g.anyValue(3)})
			}
		} else if s.lst != nil {
			l := append(*s.lst, g.anyValue(3))
			if len(l) > 1 && g.chance(0.5) {
				l[len(l)-1] = l[0]
			}
			s.set(l)
		}
	case 2: // another type
		s.set(g.anyValue(5))
	case 3: // cross a bound
		if n, ok := cur.(format.Number); ok {
			s.set(shiftNumber(n, g.pick(4)))
		}
	case 4: // break a string
		if str, ok := cur.(string); ok {
			s.set([]string{"", str + "!", " " + str, str + str + str, strings.ToUpper(str), str + "é"}[g.pick(6)])
		}
	case 5: // int ↔ float
		if n, ok := cur.(format.Number); ok {
			if strings.ContainsAny(string(n), ".eE") {
				if i := strings.IndexAny(string(n), ".eE"); i > 0 {
					s.set(format.Number(string(n)[:i]))
				}
			} else {
				s.set(format.Number(string(n) + []string{".0", "e0", ".5", "E1"}[g.pick(4)]))
			}
		}
	case 6: // beyond int64 and float64
		s.set(format.Number(bigNumbers[g.pick(len(bigNumbers))]))
	case 7: // deep nesting
		var d any = cur
		for n := 10 + g.pick(40); n > 0; n-- {
			if g.chance(0.5) {
				d = []any{d}
			} else {
				d = &format.Object{Fields: []format.Field{{Key: "a", Value: d}}}
			}
		}
		s.set(d)
	case 8: // null, the usual stand-in for nothing
		s.set(nil)
	}
	return root
}

// bigNumbers are beyond int64, float64 or even apd's exponent range, where
// CUE reads 1e999999999 as 1 and 1e99999999999999999999 as NaN.
var bigNumbers = []string{"9223372036854775808", "-9223372036854775809", "18446744073709551616",
	"123456789012345678901234567890", "1e400", "-1e400", "1e-400", "0.1000000000000000055511151231257827",
	"1e999999999", "-1e999999999", "1e-999999999", "1e99999999999999999999", "-1e99999999999999999999",
	"1e-99999999999999999999", "0e99999999999999999999", "1.5e2147483648", "1e2147483647"}

func shiftNumber(n format.Number, how int) format.Number {
	if s := shiftText(string(n), how); format.ValidNumber(s) {
		return format.Number(s)
	}
	return format.Number("0")
}

func shiftText(s string, how int) string {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return strconv.FormatInt(i+[]int64{1, -1, 1000, -1000}[how], 10)
	}
	switch how {
	case 0:
		return s + "1"
	case 1:
		if strings.HasPrefix(s, "-") {
			return s[1:]
		}
		return "-" + s
	case 2:
		return s + "e3"
	}
	return "0"
}
