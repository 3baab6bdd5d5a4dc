package schema

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
	cuemath "cuelang.org/go/pkg/math"
	cuenet "cuelang.org/go/pkg/net"
	cueregexp "cuelang.org/go/pkg/regexp"
	cuetime "cuelang.org/go/pkg/time"
	"github.com/cockroachdb/apd/v3"

	"github.com/zpipe/zpipe/format"
)

// The builtins the fast path knows are validators from CUE's standard
// library, applied to the value: strings.HasPrefix("x"), net.IPv4,
// time.Format("2006-01-02"). Each calls CUE's own Go function, or does
// what it does for the kind of value the node takes, so that the verdict
// is CUE's. A value of another kind (net.IP also takes a list of bytes)
// is left to CUE.

// builtin is one validator: the kinds it takes, its arguments besides the
// value, and the check.
type builtin struct {
	kinds valueKinds
	args  []valueKinds // kString or kInt, literals in the schema
	make  func(args []any) fastAtom
}

var builtins = map[string]builtin{
	"strings.HasPrefix":   strPred(strings.HasPrefix),
	"strings.HasSuffix":   strPred(strings.HasSuffix),
	"strings.Contains":    strPred(strings.Contains),
	"strings.ContainsAny": strPred(strings.ContainsAny),
	"strings.MinRunes":    {kinds: kString, args: []valueKinds{kInt}, make: func(a []any) fastAtom { return &lenAtom{min: a[0].(int), max: -1} }},
	"strings.MaxRunes":    {kinds: kString, args: []valueKinds{kInt}, make: func(a []any) fastAtom { return &lenAtom{max: a[0].(int)} }},
	"list.MinItems":       {kinds: kList, args: []valueKinds{kInt}, make: func(a []any) fastAtom { return &lenAtom{min: a[0].(int), max: -1} }},
	"list.MaxItems":       {kinds: kList, args: []valueKinds{kInt}, make: func(a []any) fastAtom { return &lenAtom{max: a[0].(int)} }},
	"list.UniqueItems":    {kinds: kList, make: func([]any) fastAtom { return &uniqueAtom{} }},
	"struct.MinFields":    {kinds: kObject, args: []valueKinds{kInt}, make: func(a []any) fastAtom { return &fieldsAtom{min: a[0].(int), max: -1} }},
	"struct.MaxFields":    {kinds: kObject, args: []valueKinds{kInt}, make: func(a []any) fastAtom { return &fieldsAtom{max: a[0].(int)} }},
	"math.MultipleOf":     {kinds: kNumber, args: []valueKinds{kNumber}, make: func(a []any) fastAtom { return &multipleAtom{y: a[0].(apd.Decimal)} }},
	"net.FQDN":            strTest(cuenet.FQDN),
	"net.URL":             strTest(func(s string) bool { ok, _ := cuenet.URL(s); return ok }),
	"net.AbsURL":          strTest(func(s string) bool { ok, _ := cuenet.AbsURL(s); return ok }),
	"net.IP":              strTest(func(s string) bool { ip, err := netip.ParseAddr(s); return err == nil && ip.IsValid() }),
	"net.IPv4":            strTest(func(s string) bool { ip, err := netip.ParseAddr(s); return err == nil && ip.Is4() }),
	"net.IPv6":            strTest(func(s string) bool { ip, err := netip.ParseAddr(s); return err == nil && ip.Is6() }),
	"time.Time":           strTest(func(s string) bool { ok, _ := cuetime.Time(s); return ok }),
	"regexp.Valid":        strTest(func(s string) bool { ok, _ := cueregexp.Valid(s); return ok }),
	"time.Format": {kinds: kString, args: []valueKinds{kString}, make: func(a []any) fastAtom {
		layout := a[0].(string)
		return &predAtom{test: func(s string) bool { ok, _ := cuetime.Format(s, layout); return ok }}
	}},
}

// strPred is a strings function of the value and one string argument.
func strPred(f func(s, arg string) bool) builtin {
	return builtin{kinds: kString, args: []valueKinds{kString}, make: func(a []any) fastAtom {
		arg := a[0].(string)
		return &predAtom{test: func(s string) bool { return f(s, arg) }}
	}}
}

// strTest is a test of the value alone.
func strTest(f func(s string) bool) builtin {
	return builtin{kinds: kString, make: func([]any) fastAtom { return &predAtom{test: f} }}
}

// builtinCall compiles a validator from CUE's standard library, called
// (strings.HasPrefix("x"), net.IPv4()) or named (net.IPv4); fun is the
// package selector and args its arguments.
func (a *fastAnalyser) builtinCall(at ast.Expr, fun ast.Expr, args []ast.Expr) (*fastNode, error) {
	sel, ok := fun.(*ast.SelectorExpr)
	if !ok {
		return nil, unsupportedAt(at, "call of %s", refString(fun))
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok {
		return nil, unsupportedAt(at, "call of %s", refString(fun))
	}
	imp, ok := pkg.Node.(*ast.ImportSpec)
	if !ok {
		return nil, unsupportedAt(at, "call of %s", refString(fun))
	}
	path, err := literal.Unquote(imp.Path.Value)
	if err != nil {
		return nil, unsupportedAt(at, "call of %s", refString(fun))
	}
	name := path + "." + selLabel(sel.Sel)
	if name == "list.MatchN" {
		return a.listMatchN(at, args)
	}
	b, ok := builtins[name]
	if !ok {
		return nil, unsupportedAt(at, "call of %s", name)
	}
	if len(args) != len(b.args) {
		return nil, unsupportedAt(at, "call of %s with %d arguments", name, len(args))
	}
	vals := make([]any, len(args))
	for i, x := range args {
		l, err := schemaLiteral(x)
		if err != nil || l.k&b.args[i] == 0 {
			return nil, unsupportedAt(at, "call of %s with %s", name, constructName(x))
		}
		switch b.args[i] {
		case kString:
			vals[i] = l.s
		case kInt:
			n, err := l.d.Int64()
			if err != nil || n < 0 || n > 1<<31 {
				return nil, unsupportedAt(at, "call of %s with %s", name, l.d.String())
			}
			vals[i] = int(n)
		default:
			if l.d.IsZero() {
				return nil, unsupportedAt(at, "call of %s with 0", name)
			}
			vals[i] = l.d
		}
	}
	return &fastNode{kinds: b.kinds, atoms: []fastAtom{b.make(vals)}}, nil
}

// isImportSelector reports whether x names something in an imported
// package, such as net.IPv4.
func isImportSelector(x *ast.SelectorExpr) bool {
	id, ok := x.X.(*ast.Ident)
	if !ok {
		return false
	}
	_, ok = id.Node.(*ast.ImportSpec)
	return ok
}

// predAtom holds when a test of the string holds.
type predAtom struct{ test func(string) bool }

func (a *predAtom) holds(_ *fastChecker, v any, _ valueKinds) bool { return a.test(v.(string)) }

// multipleAtom is math.MultipleOf(y), with the very function CUE calls,
// on the number read as CUE reads it.
type multipleAtom struct{ y apd.Decimal }

func (a *multipleAtom) holds(c *fastChecker, v any, k valueKinds) bool {
	if readDecimal(string(v.(format.Number)), k, &c.ni, &c.d) != nil {
		c.unsure = true
		return false
	}
	ok, err := cuemath.MultipleOf(&c.d, &a.y)
	if err != nil {
		c.unsure = true
	}
	return err == nil && ok
}

// uniqueAtom is list.UniqueItems. It holds when no two items could be
// equal: their canonical forms (keys sorted, numbers reduced) differ.
// Items that might be equal are left to CUE, and so are
// composite items when the schema may fill defaults into them (set once
// the node is built), since CUE compares them filled in.
type uniqueAtom struct{ fills bool }

func (a *uniqueAtom) holds(c *fastChecker, v any, k valueKinds) bool {
	if !a.unique(v.([]any)) {
		c.unsure = true // maybe equal: CUE decides
		return false
	}
	return true
}

func (a *uniqueAtom) unique(items []any) bool {
	if len(items) <= 1 {
		return true
	}
	if a.fills {
		for _, it := range items {
			switch it.(type) {
			case []any, *format.Object:
				return false
			}
		}
	}
	seen := make(map[string]bool, len(items))
	var b []byte
	for _, it := range items {
		var ok bool
		if b, ok = canonical(b[:0], it); !ok || seen[string(b)] {
			return false
		}
		seen[string(b)] = true
	}
	return true
}

// canonical appends a form of v that two values CUE finds equal share:
// numbers by kind and value (1.0 and 1.00 are equal, 1 and 1.0 are not).
func canonical(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, 'n'), true
	case bool:
		if x {
			return append(b, 't'), true
		}
		return append(b, 'f'), true
	case string:
		b, err := format.AppendJSON(append(b, 's'), x)
		return b, err == nil
	case format.Number:
		// Read as CUE reads it, as numAtom does.
		var ni literal.NumInfo
		var d apd.Decimal
		k := numberKind(string(x))
		if k == 0 || readDecimal(string(x), k, &ni, &d) != nil {
			return b, false
		}
		d.Reduce(&d)
		d.Negative = d.Negative && !d.IsZero() // -0 is 0
		// CUE tells an int from a float: 1 and 1.0 are not equal.
		kind := byte('f')
		if k == kInt {
			kind = 'i'
		}
		return append(append(b, kind), d.Text('e')...), true
	case []any:
		b = append(b, '[')
		for _, e := range x {
			var ok bool
			if b, ok = canonical(b, e); !ok {
				return b, false
			}
			b = append(b, ',')
		}
		return append(b, ']'), true
	case *format.Object:
		fields := append([]format.Field(nil), x.Fields...)
		sort.Slice(fields, func(i, j int) bool { return fields[i].Key < fields[j].Key })
		b = append(b, '{')
		for i, f := range fields {
			if i > 0 && fields[i-1].Key == f.Key {
				return b, false
			}
			b, _ = format.AppendJSON(b, f.Key)
			var ok bool
			if b, ok = canonical(append(b, ':'), f.Value); !ok {
				return b, false
			}
			b = append(b, ',')
		}
		return append(b, '}'), true
	}
	return b, false
}

// fieldsAtom is struct.MinFields or MaxFields, which count the regular
// fields of the value after unification: the record's own, and the
// regular fields of the node's struct (obj, set once the node is built)
// that unification fills in.
type fieldsAtom struct {
	min, max int
	obj      *fastObject
	unknown  bool // what unification fills in is not known here
}

func (a *fieldsAtom) holds(c *fastChecker, v any, _ valueKinds) bool {
	if a.unknown || !a.count(v.(*format.Object)) {
		c.unsure = true // a repeated key counts once in CUE, say
		return false
	}
	return true
}

func (a *fieldsAtom) count(x *format.Object) bool {
	for _, f := range x.Fields {
		if strings.HasPrefix(f.Key, "_") || strings.HasPrefix(f.Key, "#") {
			return false
		}
	}
	n := len(x.Fields)
	if a.obj != nil {
		for i := range a.obj.fields {
			if f := &a.obj.fields[i]; f.typ == fieldRegular {
				if _, ok := x.Get(f.name); !ok {
					n++
				}
			}
		}
	}
	return n >= a.min && (a.max < 0 || n <= a.max)
}

// countAdded sets what the atoms in the tree that count need from their node.
func countAdded(n *fastNode, seen map[*fastNode]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	for _, at := range n.atoms {
		switch x := at.(type) {
		case *uniqueAtom:
			x.fills = len(n.disjs) > 0 || n.list != nil && mayFill(&fastNode{list: n.list}, map[*fastNode]bool{})
		case *fieldsAtom:
			// A disjunction's branch may fill fields in too: CUE counts.
			x.obj, x.unknown = n.obj, len(n.disjs) > 0
		case *matchAtom:
			for _, alt := range x.alts {
				countAdded(alt, seen)
			}
		case *disjAtom:
			for _, alt := range x.alts {
				countAdded(alt, seen)
			}
		case *ifAtom:
			countAdded(x.cond, seen)
			countAdded(x.then, seen)
			countAdded(x.els, seen)
		}
	}
	for _, d := range n.disjs {
		for _, alt := range d.alts {
			countAdded(alt, seen)
		}
	}
	if n.obj != nil {
		for _, f := range n.obj.fields {
			countAdded(f.n, seen)
		}
		for _, p := range n.obj.patterns {
			countAdded(p.n, seen)
		}
	}
	if n.list != nil {
		for _, e := range n.list.prefix {
			countAdded(e, seen)
		}
		countAdded(n.list.rest, seen)
	}
}

// mayFill reports whether checking a value against n could change it:
// a regular field to fill in, or a value CUE checks.
func mayFill(n *fastNode, seen map[*fastNode]bool) bool {
	if n == nil || seen[n] {
		return false
	}
	seen[n] = true
	if n.cue != nil || len(n.disjs) > 0 {
		return true
	}
	if n.obj != nil {
		for _, f := range n.obj.fields {
			if f.typ == fieldRegular || mayFill(f.n, seen) {
				return true
			}
		}
	}
	if n.list != nil {
		for _, e := range n.list.prefix {
			if mayFill(e, seen) {
				return true
			}
		}
		return mayFill(n.list.rest, seen)
	}
	return false
}

// listMatchN compiles list.MatchN(n, x), which CUE's translation of a
// JSON Schema writes for contains, minContains and maxContains: the
// number of items that x holds must satisfy n. Only an x that holds no
// struct or list is taken: CUE validates each item unified with x as
// final, which closes the structs and lists x holds.
func (a *fastAnalyser) listMatchN(at ast.Expr, args []ast.Expr) (*fastNode, error) {
	if len(args) != 2 {
		return nil, unsupportedAt(at, "call of list.MatchN with %d arguments", len(args))
	}
	m := &countAtom{max: -1}
	if !countBounds(args[0], &m.min, &m.max) {
		return nil, unsupportedAt(at, "call of list.MatchN with %s", constructName(args[0]))
	}
	item, err := a.validatorArg(args[1], "list.MatchN value")
	if err != nil {
		return nil, err
	}
	if item.kinds&(kList|kObject) != 0 {
		return nil, unsupportedAt(args[1], "list.MatchN of a value that may be a struct or list")
	}
	m.item = item
	return &fastNode{kinds: kList, atoms: []fastAtom{m}}, nil
}

// maxCount bounds the counts countBounds takes, so that n+1 cannot
// overflow; a list has fewer items.
const maxCount = 1 << 31

// countBounds reads n of list.MatchN into lo and hi (-1: none): an int,
// a bound on one (>=1), or bounds unified (>=1 & <=3).
func countBounds(x ast.Expr, lo, hi *int) bool {
	atMost := func(n int) {
		if *hi < 0 || n < *hi {
			*hi = n
		}
	}
	switch x := stripParens(x).(type) {
	case *ast.BinaryExpr:
		return x.Op == token.AND && countBounds(x.X, lo, hi) && countBounds(x.Y, lo, hi)
	case *ast.BasicLit:
		n, err := strconv.Atoi(x.Value)
		if err != nil || x.Kind != token.INT || n < 0 || n > maxCount {
			return false
		}
		*lo = max(*lo, n)
		atMost(n)
		return true
	case *ast.UnaryExpr:
		b, ok := x.X.(*ast.BasicLit)
		if !ok || b.Kind != token.INT {
			return false
		}
		n, err := strconv.Atoi(b.Value)
		if err != nil || n < 0 || n > maxCount {
			return false
		}
		switch x.Op {
		case token.GEQ:
			*lo = max(*lo, n)
		case token.GTR:
			*lo = max(*lo, n+1)
		case token.LEQ:
			atMost(n)
		case token.LSS:
			if n == 0 {
				return false
			}
			atMost(n - 1)
		default:
			return false
		}
		return true
	}
	return false
}

// countAtom is list.MatchN: between min and max items (max -1: any
// number) hold item.
type countAtom struct {
	item     *fastNode
	min, max int
}

// An item the fast check is unsure of cannot be counted either way: the
// value is then left to CUE, unsure.
func (m *countAtom) holds(c *fastChecker, v any, _ valueKinds) bool {
	items, ok := v.([]any)
	if !ok {
		return false
	}
	if !plain(v) {
		c.unsure = true
		return false
	}
	was := c.unsure
	n := 0
	for _, it := range items {
		c.unsure = false
		ok, _ := c.check(m.item, it)
		if !ok && c.unsure {
			return false
		}
		if ok {
			n++
		}
	}
	c.unsure = was
	return n >= m.min && (m.max < 0 || n <= m.max)
}
