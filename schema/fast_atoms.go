package schema

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue/literal"
	"github.com/cockroachdb/apd/v3"

	"github.com/zpipe/zpipe/format"
)

// fastCmp is a comparison a number or string must pass.
type fastCmp uint8

const (
	opEq fastCmp = iota // a literal: unification with it
	opNe
	opLt
	opLe
	opGt
	opGe
)

func (op fastCmp) test(cmp int) bool {
	switch op {
	case opEq:
		return cmp == 0
	case opNe:
		return cmp != 0
	case opLt:
		return cmp < 0
	case opLe:
		return cmp <= 0
	case opGt:
		return cmp > 0
	}
	return cmp >= 0
}

// numAtom compares a number with a literal, exactly, as CUE does with
// apd decimals; an int64 shortcut serves the common integer case.
type numAtom struct {
	op  fastCmp
	d   apd.Decimal
	i   int64
	isI bool // d is an integer that fits in an int64
}

func (a *numAtom) holds(c *fastChecker, v any, k valueKinds) bool {
	return a.holdsText(c, string(v.(format.Number)), k)
}

// holdsText is holds for a number's text s.
func (a *numAtom) holdsText(c *fastChecker, s string, k valueKinds) bool {
	if a.isI && k == kInt {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return a.op.test(cmpInt64(i, a.i))
		}
	}
	// The record's text is read and compared with the very code CUE uses
	// (literal.ParseNum, apd's Cmp), so that even exponents beyond apd's
	// range, which it reads as 1 or NaN, come out the same.
	if readDecimal(s, k, &c.ni, &c.d) != nil {
		c.unsure = true
		return false
	}
	return a.op.test(c.d.Cmp(&a.d))
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type strAtom struct {
	op fastCmp // opEq or opNe
	s  string
}

func (a *strAtom) holds(_ *fastChecker, v any, _ valueKinds) bool {
	return (v.(string) == a.s) == (a.op == opEq)
}

type boolAtom struct{ b bool }

func (a *boolAtom) holds(_ *fastChecker, v any, _ valueKinds) bool { return v.(bool) == a.b }

// reAtom is =~ or !~, with Go's RE2 semantics as in CUE.
type reAtom struct {
	re  *regexp.Regexp
	dfa *reDFA // the same test, faster; nil when the pattern is not simple
	neg bool
}

func (a *reAtom) holds(_ *fastChecker, v any, _ valueKinds) bool { return a.matches(v.(string)) }

func (a *reAtom) matches(s string) bool {
	if a.dfa != nil {
		return a.dfa.match(s) != a.neg
	}
	return a.re.MatchString(s) != a.neg
}

// lenAtom bounds the runes of a string or the items of a list;
// max < 0 means no upper bound.
type lenAtom struct{ min, max int }

func (a *lenAtom) holds(_ *fastChecker, v any, _ valueKinds) bool {
	var n int
	switch x := v.(type) {
	case string:
		n = utf8.RuneCountInString(x)
	case []any:
		n = len(x)
	default:
		return false
	}
	return n >= a.min && (a.max < 0 || n <= a.max)
}

// disjAtom is a disjunction of scalar alternatives; defaults do not matter
// for a concrete value.
type disjAtom struct{ alts []*fastNode }

func (a *disjAtom) holds(c *fastChecker, v any, k valueKinds) bool {
	was, unsure := c.unsure, false
	for _, n := range a.alts {
		c.unsure = false
		if ok, _ := c.check(n, v); ok {
			c.unsure = was
			return true
		}
		unsure = unsure || c.unsure
	}
	c.unsure = was || unsure
	return false
}

// presentAtom holds when the struct has every field of names, as the
// required fields of a literal that adds nothing else ask (kindLit).
type presentAtom struct{ names []string }

func (p *presentAtom) holds(c *fastChecker, v any, k valueKinds) bool {
	x, ok := v.(*format.Object)
	if !ok {
		return true
	}
	for _, name := range p.names {
		if _, present := x.Get(name); !present {
			return false
		}
	}
	return true
}

// matchAtom holds when the value satisfies between min and max (-1: no
// bound) of the alternatives, as matchN says.
type matchAtom struct {
	alts     []*fastNode
	min, max int
}

// An alternative the fast check is unsure of cannot be counted either
// way: the value is then left to CUE, unsure.
func (m *matchAtom) holds(c *fastChecker, v any, k valueKinds) bool {
	if !plain(v) {
		c.unsure = true
		return false
	}
	was := c.unsure
	n := 0
	for _, alt := range m.alts {
		c.unsure = false
		ok, _ := c.check(alt, v)
		if !ok && c.unsure {
			return false
		}
		if ok {
			n++
			if m.max >= 0 && n > m.max {
				c.unsure = was
				return false
			}
		}
	}
	c.unsure = was
	return n >= m.min
}

// plain reports whether CUE reads v as the fast check does: no repeated
// key (CUE keeps the last, the check looks at the first), no invalid
// UTF-8 (CUE replaces it), every number JSON.
func plain(v any) bool {
	switch x := v.(type) {
	case string:
		return utf8.ValidString(x)
	case format.Number:
		return numberKind(string(x)) != 0
	case []any:
		for _, e := range x {
			if !plain(e) {
				return false
			}
		}
	case *format.Object:
		var seen map[string]bool
		if len(x.Fields) > 16 {
			seen = make(map[string]bool, len(x.Fields))
		}
		for i, f := range x.Fields {
			if !utf8.ValidString(f.Key) || !plain(f.Value) {
				return false
			}
			if seen != nil {
				if seen[f.Key] {
					return false
				}
				seen[f.Key] = true
				continue
			}
			for _, g := range x.Fields[:i] {
				if g.Key == f.Key {
					return false
				}
			}
		}
	}
	return true
}

// ifAtom is matchIf: a value that matches cond must match then, any other
// els; a value the check is unsure of is left to CUE.
type ifAtom struct{ cond, then, els *fastNode }

func (m *ifAtom) holds(c *fastChecker, v any, k valueKinds) bool {
	if !plain(v) {
		c.unsure = true
		return false
	}
	was := c.unsure
	c.unsure = false
	branch := m.els
	if ok, _ := c.check(m.cond, v); ok {
		branch = m.then
	} else if c.unsure {
		return false
	}
	ok, _ := c.check(branch, v)
	if ok || !c.unsure {
		c.unsure = was
	}
	return ok
}

// readDecimal reads a record's number as CUE gets it: an integer as
// toCUE encodes it (exact, -0 is 0), another number with the code CUE's
// compiler uses for a literal, negated when it is negative, as cue vet
// reads JSON: - applied to the literal (literal.ParseNum reads -0 and
// -0e5 as NaN).
func readDecimal(s string, k valueKinds, ni *literal.NumInfo, d *apd.Decimal) error {
	if k == kInt {
		if _, _, err := d.SetString(s); err != nil {
			return err
		}
		d.Negative = d.Negative && !d.IsZero()
		return nil
	}
	text, neg := strings.CutPrefix(s, "-")
	if err := literal.ParseNum(text, ni); err != nil {
		return err
	}
	if err := ni.Decimal(d); err != nil {
		return err
	}
	d.Negative = neg && !d.IsZero()
	return nil
}
