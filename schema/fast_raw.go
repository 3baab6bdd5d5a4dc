package schema

import (
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/zpipe/zpipe/format"
)

// The pass-through check reads a record's JSON text against the fast
// path's tree without building the record, for a caller that writes valid
// records as ndjson: when the text is valid, needs no default, and is
// already written as the ndjson encoder would write it (compact, no
// escapes), the text itself is the output. It only ever says "surely so";
// anything else, an invalid record included, goes the usual way, so it
// needs no messages and cannot change a verdict.

// rawMaxDepth is the deepest nesting read here; deeper records go the
// usual way.
const rawMaxDepth = 64

// PassesLines reports whether Passes can say yes at all: the fast path
// checks records, no transform rewrites them and no native JSON Schema
// check has to see them.
func (v *Validator) PassesLines() bool { return v.fast != nil && !v.hasXform && v.s.native == nil }

// Passes reports whether line, one JSON value and blanks around it, is a
// record the schema accepts as it stands, written exactly as the ndjson
// encoder writes the decoded record; it then returns that value's text.
// maxDepth is how deep the decoder lets the value nest (see
// format.LineDecoder). False means "not known": decode the line and check
// the record.
func (v *Validator) Passes(line []byte, maxDepth int) ([]byte, bool) {
	if !v.PassesLines() {
		return nil, false
	}
	c := v.fast
	c.rawDepth = min(maxDepth, rawMaxDepth)
	// JSON Schema reads 1.0 as 1, so a fraction could be rewritten.
	c.rawInts = v.integral
	start := skipBlanks(line, 0)
	end, ok := c.raw(c.root, line, start, 0)
	if !ok || skipBlanks(line, end) != len(line) {
		return nil, false
	}
	return line[start:end], true
}

func skipBlanks(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// raw reads the value at b[i] against n (nil: anything, as under _) and
// returns where it ends, or false when it cannot vouch for it.
func (c *fastChecker) raw(n *fastNode, b []byte, i, depth int) (int, bool) {
	if i >= len(b) || n != nil && (n.cue != nil || len(n.disjs) > 0) {
		return 0, false
	}
	if (b[i] == '{' || b[i] == '[') && depth >= c.rawDepth {
		return 0, false // deeper than the decoder reads, or than is read here
	}
	switch ch := b[i]; {
	case ch == '{':
		if n == nil {
			return c.rawObject(nil, b, i, depth)
		}
		if n.kinds&kObject == 0 || len(n.atoms) > 0 {
			return 0, false
		}
		return c.rawObject(n.obj, b, i, depth)
	case ch == '[':
		if n != nil && (n.kinds&kList == 0 || len(n.atoms) > 0) {
			return 0, false
		}
		var l *fastList
		if n != nil {
			l = n.list
		}
		return c.rawList(l, b, i, depth)
	case ch == '"':
		end, ok := rawString(b, i)
		if !ok || n == nil {
			return end, ok
		}
		return end, n.kinds&kString != 0 && c.rawAtoms(n, kString, unsafeString(b[i+1:end-1]))
	case ch == 't', ch == 'f', ch == 'n':
		word, k := "null", kNull
		if ch == 't' {
			word, k = "true", kBool
		} else if ch == 'f' {
			word, k = "false", kBool
		}
		end := i + len(word)
		if end > len(b) || string(b[i:end]) != word {
			return 0, false
		}
		return end, n == nil || n.kinds&k != 0 && c.rawAtoms(n, k, word)
	}
	end := i
	for end < len(b) && (b[end] >= '0' && b[end] <= '9' || b[end] == '-' || b[end] == '+' || b[end] == '.' || b[end] == 'e' || b[end] == 'E') {
		end++
	}
	s := unsafeString(b[i:end])
	k := numberKind(s)
	if k == 0 || k == kFloat && c.rawInts {
		return 0, false
	}
	return end, n == nil || n.kinds&k != 0 && c.rawAtoms(n, k, s)
}

// rawAtoms reports whether the scalar s, of kind k, surely satisfies n's
// atoms: s is a string's content, a number's text, or a literal's word.
func (c *fastChecker) rawAtoms(n *fastNode, k valueKinds, s string) bool {
	for _, a := range n.atoms {
		var ok bool
		switch a := a.(type) {
		case *numAtom:
			ok = a.holdsText(c, s, k)
		case *strAtom:
			ok = (s == a.s) == (a.op == opEq)
		case *reAtom:
			ok = a.matches(s)
		case *predAtom:
			ok = a.test(s)
		case *lenAtom:
			r := utf8.RuneCountInString(s)
			ok = r >= a.min && (a.max < 0 || r <= a.max)
		default:
			// The rest take the value as the decoder gives it. The
			// string is copied: the line it points into is reused.
			var v any
			switch k {
			case kNull:
			case kBool:
				v = s == "true"
			case kString:
				v = string([]byte(s))
			default:
				v = format.Number(string([]byte(s)))
			}
			c.unsure = false
			ok = a.holds(c, v, k)
		}
		if !ok {
			return false
		}
	}
	return true
}

// rawObject reads the object at b[i] against o (nil: any object).
func (c *fastChecker) rawObject(o *fastObject, b []byte, i, depth int) (int, bool) {
	var seen fieldSet
	if o != nil {
		seen = newFieldSet(len(o.fields))
	}
	// Keys not declared, to find one repeated (the decoder drops or
	// refuses it); rawField finds a declared one.
	var others [16]string
	nothers := 0
	i++
	if i < len(b) && b[i] == '}' {
		return i + 1, c.rawComplete(o, &seen)
	}
	for idx := 0; ; idx++ {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		kend, ok := rawString(b, i)
		if !ok || kend >= len(b) || b[kend] != ':' {
			return 0, false
		}
		key := unsafeString(b[i+1 : kend-1])
		if o == nil || o.lookup(key, idx) < 0 {
			if nothers == len(others) || slices.Contains(others[:nothers], key) {
				return 0, false
			}
			others[nothers] = key
			nothers++
		}
		if o == nil {
			i, ok = c.raw(nil, b, kend+1, depth+1)
		} else {
			i, ok = c.rawField(o, &seen, key, idx, b, kend+1, depth+1)
		}
		if !ok || i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i + 1, c.rawComplete(o, &seen)
		default:
			return 0, false
		}
	}
}

// rawField reads the value of field key, the idx-th of its object, as
// checkObj checks it.
func (c *fastChecker) rawField(o *fastObject, seen *fieldSet, key string, idx int, b []byte, i, depth int) (int, bool) {
	j := o.lookup(key, idx)
	end, matched := 0, false
	for p := range o.patterns {
		pat := &o.patterns[p]
		if !pat.matches(key) {
			continue
		}
		matched = true
		var ok bool
		if end, ok = c.raw(pat.n, b, i, depth); !ok {
			return 0, false
		}
	}
	switch {
	case j < 0 && matched:
		return end, true
	case j < 0 && o.open:
		return c.raw(nil, b, i, depth)
	case j < 0 || seen.has(j):
		return 0, false // a field not allowed, or a repeated key
	}
	seen.add(j)
	return c.raw(o.fields[j].n, b, i, depth)
}

// rawComplete reports whether the object needs nothing more: every
// declared field absent from it is optional, and no field present
// requires one that is absent. A missing regular field would be filled
// in, and a missing required one is an error.
func (c *fastChecker) rawComplete(o *fastObject, seen *fieldSet) bool {
	if o == nil {
		return true
	}
	for j := range o.fields {
		if !seen.has(j) && o.fields[j].typ != fieldOptional {
			return false
		}
	}
	return o.depsHold(seen)
}

// rawList reads the list at b[i] against l (nil: any list).
func (c *fastChecker) rawList(l *fastList, b []byte, i, depth int) (int, bool) {
	i++
	k := 0
	if i < len(b) && b[i] == ']' {
		i++
	} else {
		for {
			var n *fastNode
			if l != nil {
				if n = l.rest; k < len(l.prefix) {
					n = l.prefix[k]
				}
				if n == nil {
					return 0, false // more items than a closed list holds
				}
			}
			var ok bool
			if i, ok = c.raw(n, b, i, depth+1); !ok || i >= len(b) {
				return 0, false
			}
			k++
			if b[i] == ']' {
				i++
				break
			}
			if b[i] != ',' {
				return 0, false
			}
			i++
		}
	}
	return i, l == nil || k >= len(l.prefix)
}

// rawString returns the end of the string at b[i], when it is one the
// encoder writes as it stands: no escape, no control character, valid
// UTF-8.
func rawString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); {
		ch := b[j]
		switch {
		case ch == '"':
			return j + 1, true
		case ch == '\\' || ch < 0x20:
			return 0, false
		case ch < utf8.RuneSelf:
			j++
		default:
			r, n := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && n == 1 {
				return 0, false
			}
			j += n
		}
	}
	return 0, false
}

// unsafeString views b as a string without copying; it is only read
// while b is.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
