package schema

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"

	"github.com/zpipe/zpipe/format"
)

// A rejected record costs CUE's evaluation of the whole record, for the
// message: some 40 times the fast path's check. When the fast path finds
// that one scalar, reached through struct fields and list elements, is
// all that is wrong, CUE evaluates that scalar against its constraint
// instead, and its message is the record's. Only a bound's message ("invalid value 5
// (out of bound <3)") is taken so: it reads the same in any context,
// while the order of a conflict's two values depends on how CUE reached
// them. Anything else, and any doubt, goes to CUE whole.
// TestFastPathAgreesWithCUE holds the two to the same violations.

// blame returns the path and value of the one scalar of rec that fails
// the fast path, when everything else in rec passes and only struct
// fields and list elements lead to it; ok is false otherwise.
func (c *fastChecker) blame(rec any) (path []string, val any, ok bool) {
	n, v := c.root, rec
	for {
		// Each level checks what is under it again: past a few, a
		// deep record costs more so than CUE's one look.
		if n.cue != nil || len(n.disjs) > 0 || len(path) == blameDepth {
			return nil, nil, false
		}
		k := valueKindOf(v)
		if k == 0 {
			return nil, nil, false
		}
		if k != kObject && k != kList {
			c.unsure = false
			if ok, _ := c.checkBase(n, v); ok || c.unsure {
				return nil, nil, false
			}
			return path, v, true
		}
		if k&n.kinds == 0 {
			return nil, nil, false
		}
		for _, a := range n.atoms {
			if !a.holds(c, v, k) {
				return nil, nil, false
			}
		}
		switch x := v.(type) {
		case *format.Object:
			if n.obj == nil {
				return nil, nil, false
			}
			field, ok := c.blameField(n.obj, x)
			if !ok {
				return nil, nil, false
			}
			path = append(path, field.Key)
			n, v = n.obj.fields[n.obj.lookup(field.Key, 0)].n, field.Value
		case []any:
			i, ok := c.blameElem(n.list, x)
			if !ok {
				return nil, nil, false
			}
			path = append(path, strconv.Itoa(i))
			n, v = n.list.elem(i), x[i]
		}
	}
}

// blameElem returns the index of the one element of x that fails its
// constraint, when every other passes and x has a length l allows.
func (c *fastChecker) blameElem(l *fastList, x []any) (bad int, ok bool) {
	if l == nil || len(x) < len(l.prefix) || l.rest == nil && len(x) > len(l.prefix) {
		return 0, false
	}
	bad = -1
	for i, e := range x {
		c.unsure = false
		if ok, _ := c.check(l.elem(i), e); !ok {
			if c.unsure || bad >= 0 {
				return 0, false
			}
			bad = i
		}
	}
	return bad, bad >= 0
}

// elem is the constraint on element i.
func (l *fastList) elem(i int) *fastNode {
	if i < len(l.prefix) {
		return l.prefix[i]
	}
	return l.rest
}

// blameField returns the one field of x whose value fails its declared
// constraint, when every other field passes and none is missing, extra or
// matched by a pattern.
func (c *fastChecker) blameField(o *fastObject, x *format.Object) (bad *format.Field, ok bool) {
	seen := newFieldSet(len(o.fields))
	for i := range x.Fields {
		f := &x.Fields[i]
		if !utf8.ValidString(f.Key) {
			return nil, false
		}
		for p := range o.patterns {
			if o.patterns[p].matches(f.Key) {
				return nil, false
			}
		}
		j := o.lookup(f.Key, i)
		if j < 0 {
			if !o.open || !c.anyOK(f.Value) {
				return nil, false
			}
			continue
		}
		if seen.has(j) {
			return nil, false
		}
		seen.add(j)
		c.unsure = false
		if ok, _ := c.check(o.fields[j].n, f.Value); !ok {
			if c.unsure || bad != nil {
				return nil, false
			}
			bad = f
		}
	}
	for j := range o.fields {
		if !seen.has(j) && o.fields[j].typ != fieldOptional && (o.fields[j].typ == fieldRequired || !o.fields[j].has) {
			return nil, false
		}
	}
	if !o.depsHold(&seen) {
		return nil, false
	}
	return bad, bad != nil
}

// blameCache bounds the constraints a Validator keeps by path.
const blameCache = 1024

// blameDepth is how deep blame looks for the value at fault.
const blameDepth = 32

// blamed is the violation of a record that fails only at one scalar, as
// CUE words it, from CUE's look at that scalar alone; ok is false when the
// record needs CUE's look at all of it. The look is in this process even
// for an isolated schema: the constraint is one the fast path compiled,
// made only of constructs whose cost the data cannot blow up.
func (v *Validator) blamed(rec any) (vs []Violation, ok bool) {
	if v.fast == nil {
		return nil, false
	}
	v.fast.asks = v.fast.asks[:0]
	path, val, ok := v.fast.blame(rec)
	if !ok || len(v.fast.asks) > 0 {
		// Blame took a value the evaluator's process checks as holding.
		return nil, false
	}
	// Each element quoted, so that no two paths share a key: ["a\x00b"]
	// is not ["a", "b"].
	key := fmt.Sprintf("%q", path)
	at, found := v.blameAt[key]
	if !found {
		if at, found = v.schemaAt(path); !found {
			return nil, false
		}
		if v.blameAt == nil || len(v.blameAt) == blameCache {
			// Each list index is a path of its own: the cache is
			// bounded, and starts again when full.
			v.blameAt = map[string]cue.Value{}
		}
		v.blameAt[key] = at
	}
	errs := cueerrors.Errors(v.recordAndSchema(val, at, len(path) == 0).Err())
	if len(errs) != 1 {
		return nil, false
	}
	msg := oneLine(errs[0])
	if !strings.HasPrefix(msg, "invalid value ") {
		return nil, false
	}
	return []Violation{{Path: recordPathString(rec, path, nil, nil), Elems: path, Msg: msg, Schema: v.schemaPos(errs[0])}}, true
}
