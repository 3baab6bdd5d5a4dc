package schema

import (
	"fmt"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
)

// explain rewrites CUE's message for the two mistakes people make most,
// a value outside an enumeration and a misspelt field, into one sentence
// that says what is allowed. Other messages stay CUE's own.
// It also returns where the rewritten constraint is, when it moved.
func (v *Validator) explain(elems []string, msg string, rec any) (string, string) {
	switch {
	case msg == "field not allowed" && len(elems) > 0:
		parent, ok := v.schemaAt(elems[:len(elems)-1])
		if !ok {
			return msg, ""
		}
		if near := closest(elems[len(elems)-1], fieldNames(parent)); near != "" {
			return fmt.Sprintf("field not allowed (did you mean %q?)", near), ""
		}
	case strings.Contains(msg, "empty disjunction") || strings.HasPrefix(msg, "conflicting values"):
		at, ok := v.schemaAt(elems)
		if !ok {
			return msg, ""
		}
		if alts := literals(at); alts != nil {
			got, _ := lookup(rec, elems)
			return fmt.Sprintf("%s is not one of %s", show(got), strings.Join(alts, ", ")), v.position(cue.Dereference(at).Pos())
		}
	}
	return msg, ""
}

// schemaAt finds the constraint that applies at a data path, following
// pattern constraints ([string]: T) and list element types.
func (v *Validator) schemaAt(elems []string) (cue.Value, bool) {
	cur := v.schema
	for _, e := range elems {
		var next cue.Value
		if _, err := strconv.Atoi(e); err == nil && cur.IncompleteKind() == cue.ListKind {
			next = cur.LookupPath(cue.MakePath(cue.Index(mustAtoi(e))))
			if !next.Exists() {
				next = cur.LookupPath(cue.MakePath(cue.AnyIndex))
			}
		} else {
			next, _ = v.field(cur, e)
			if !next.Exists() {
				next = cur.LookupPath(cue.MakePath(cue.AnyString))
			}
		}
		if !next.Exists() {
			return cue.Value{}, false
		}
		cur = next
	}
	return cur, true
}

func mustAtoi(s string) int { i, _ := strconv.Atoi(s); return i }

// literals returns the alternatives of a disjunction of concrete scalars,
// or nil when the value is anything else.
func literals(v cue.Value) []string {
	op, args := cue.Dereference(v).Expr()
	if op != cue.OrOp {
		return nil
	}
	var out []string
	for _, a := range args {
		if !a.IsConcrete() {
			// A disjunction may nest: #Format | "auto".
			nested := literals(a)
			if nested == nil {
				return nil
			}
			out = append(out, nested...)
			continue
		}
		switch a.Kind() {
		case cue.StringKind:
			s, _ := a.String()
			out = append(out, s)
		case cue.IntKind, cue.FloatKind, cue.BoolKind, cue.NullKind:
			b, _ := a.MarshalJSON()
			out = append(out, string(b))
		default:
			return nil
		}
	}
	return out
}

func fieldNames(v cue.Value) []string {
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	var names []string
	for it.Next() {
		names = append(names, it.Selector().Unquoted())
	}
	return names
}

// closest returns the name nearest to s, when it is near enough to be a
// typo of it.
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
