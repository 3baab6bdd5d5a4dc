package schema

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/zpipe/zpipe/format"
)

// explain rewrites CUE's message for the two mistakes people make most,
// a value outside an enumeration and a misspelt field, into one sentence
// that says what is allowed. Other messages stay CUE's own.
// It also returns where the rewritten constraint is, when it moved.
func (v *Validator) explain(elems []string, msg string, rec any) (string, string) {
	switch {
	case msg == "field not allowed" && len(elems) > 0:
		parent, ok := v.schemaIn(elems[:len(elems)-1], rec)
		if !ok {
			return msg, ""
		}
		if near := closest(elems[len(elems)-1], fieldNames(parent)); near != "" {
			return fmt.Sprintf("field not allowed (did you mean %q?)", near), ""
		}
	case strings.Contains(msg, "empty disjunction") || strings.HasPrefix(msg, "conflicting values"):
		at, ok := v.schemaIn(elems, rec)
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

// narrowed is an error of one alternative of a disjunction, evaluated
// alone, with its path in the record.
type narrowed struct {
	cueError
	elems []string
	// alt is where the alternative is, for an error about it or one of
	// its fields: CUE gives those no position in the schema when the
	// alternative is evaluated alone.
	alt token.Pos
}

func (n narrowed) InputPositions() []token.Pos {
	return append(n.cueError.InputPositions(), n.alt)
}

// cueError names CUE's error type for embedding, where the name Error
// would hide its method.
type cueError = cueerrors.Error

// disjunctionFailed matches what CUE says of a value that fails a
// disjunction: the head of the alternatives' errors, or, when they share
// one position, just one of them.
var disjunctionFailed = regexp.MustCompile(`^\d+ errors in empty disjunction:$|^conflicting values .* \(mismatched types \w+ and \w+\)$`)

// narrowDisjunctions replaces the errors of a failed disjunction with
// those of its one alternative that allows the value's kind. A value that
// fails a disjunction fails every alternative, and CUE shows a few of
// their errors only, often not the one that says why: a record checked
// against JSON Schema's untyped `null | bool | … | close({…})` got
// "conflicting values {…} and bool", and not its misspelt field. The
// verdict stays CUE's; only the reasons shown change.
func (v *Validator) narrowDisjunctions(errs []cueerrors.Error, rec any) []cueerrors.Error {
	done := map[string]bool{}
	for i := 0; i < len(errs); i++ {
		if !disjunctionFailed.MatchString(oneLine(errs[i])) {
			continue
		}
		at := recordPath(errs[i])
		if key := fmt.Sprintf("%q", at); done[key] {
			continue
		} else {
			done[key] = true
		}
		reasons := v.alternativeErrors(at, rec)
		if reasons == nil {
			reasons = v.discriminatorError(at, rec)
		}
		if reasons == nil {
			continue
		}
		var out []cueerrors.Error
		for j, e := range errs {
			switch {
			case j == i:
				out = append(out, reasons...)
			case !hasPrefix(recordPath(e), at):
				out = append(out, e)
			}
		}
		// The reasons may hold a failed disjunction further down.
		errs, i = out, -1
	}
	return errs
}

// alternativeErrors evaluates the value at a path of rec against the one
// alternative of the disjunction there that allows its kind, and returns
// its errors; nil when there is no such one alternative, or when it alone
// allows the value.
func (v *Validator) alternativeErrors(at []string, rec any) []cueerrors.Error {
	val, ok := lookup(rec, at)
	if !ok {
		return nil
	}
	sch, ok := v.walkSchema(at, rec)
	if !ok {
		return nil
	}
	alt, ok := v.alternative(sch, val)
	if !ok {
		return nil
	}
	errs := cueerrors.Errors(alt.Unify(v.ctx.Encode(toCUE(val))).Validate(cue.Concrete(true)))
	base := len(alt.Path().Selectors())
	out := make([]cueerrors.Error, 0, len(errs))
	for _, e := range errs {
		rel := e.Path()
		if len(rel) < base {
			return nil
		}
		elems := append(slices.Clip(at), plainPath(rel[base:])...)
		n := narrowed{cueError: e, elems: elems}
		if len(elems) <= len(at)+1 {
			n.alt = alt.Pos()
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// discriminatorError is the one error of an object that no struct of the
// disjunction at path allows, when it has a field that every struct fixes
// to a scalar it does not have: kind: "tri" is not one of circle, square.
func (v *Validator) discriminatorError(at []string, rec any) []cueerrors.Error {
	val, _ := lookup(rec, at)
	obj, ok := val.(*format.Object)
	if !ok {
		return nil
	}
	sch, ok := v.walkSchema(at, rec)
	if !ok {
		return nil
	}
	alts := slices.DeleteFunc(disjuncts(sch), func(a cue.Value) bool { return a.IncompleteKind()&cue.StructKind == 0 })
	if len(alts) < 2 {
		return nil
	}
	for _, f := range obj.Fields {
		if allowed := v.fixedOtherwise(alts, f); allowed != nil {
			e := cueerrors.Newf(token.NoPos, "%s is not one of %s", show(f.Value), strings.Join(allowed, ", "))
			return []cueerrors.Error{narrowed{cueError: e, elems: append(slices.Clip(at), f.Key), alt: sch.Pos()}}
		}
	}
	return nil
}

// fixedOtherwise lists the scalars that the structs alts fix field f to,
// when each fixes it to one that f's value is not.
func (v *Validator) fixedOtherwise(alts []cue.Value, f format.Field) []string {
	var allowed []string
	for _, a := range alts {
		fv, ok := v.field(a, f.Key)
		if !ok || !fv.IsConcrete() {
			return nil
		}
		text, ok := literalText(fv)
		if !ok || fv.Unify(v.ctx.Encode(toCUE(f.Value))).Err() == nil {
			return nil
		}
		if !slices.Contains(allowed, text) {
			allowed = append(allowed, text)
		}
	}
	return allowed
}

// alternative returns the one alternative of the disjunction d that val
// can be meant for: the only one of its kind or, among structs, the only
// one whose fixed fields val does not contradict (kind: "circle").
func (v *Validator) alternative(d cue.Value, val any) (cue.Value, bool) {
	alts := disjuncts(d)
	if len(alts) < 2 {
		return cue.Value{}, false
	}
	k := cueKind(val)
	alts = slices.DeleteFunc(alts, func(a cue.Value) bool { return a.IncompleteKind()&k == 0 })
	if obj, ok := val.(*format.Object); ok && len(alts) > 1 {
		alts = slices.DeleteFunc(alts, func(a cue.Value) bool { return v.contradicts(a, obj) })
	}
	if len(alts) != 1 {
		return cue.Value{}, false
	}
	return alts[0], true
}

// disjuncts are the alternatives of d, those of nested disjunctions
// included; d alone when it is no disjunction.
func disjuncts(d cue.Value) []cue.Value {
	op, args := cue.Dereference(d).Expr()
	if op != cue.OrOp {
		return []cue.Value{d}
	}
	var out []cue.Value
	for _, a := range args {
		out = append(out, disjuncts(a)...)
	}
	return out
}

// contradicts reports whether obj has a field that the struct a fixes
// to another scalar.
func (v *Validator) contradicts(a cue.Value, obj *format.Object) bool {
	for _, f := range obj.Fields {
		fv, ok := v.field(a, f.Key)
		if !ok || !fv.IsConcrete() || fv.Kind()&(cue.StructKind|cue.ListKind) != 0 {
			continue
		}
		if fv.Unify(v.ctx.Encode(toCUE(f.Value))).Err() != nil {
			return true
		}
	}
	return false
}

// cueKind is the kind of a record's value as CUE sees it, or bottom for
// one that no alternative should be picked for.
func cueKind(val any) cue.Kind {
	switch valueKindOf(val) {
	case kNull:
		return cue.NullKind
	case kBool:
		return cue.BoolKind
	case kInt:
		return cue.IntKind
	case kFloat:
		return cue.FloatKind
	case kString:
		return cue.StringKind
	case kList:
		return cue.ListKind
	case kObject:
		return cue.StructKind
	}
	return cue.BottomKind
}

func hasPrefix(path, prefix []string) bool {
	return len(path) >= len(prefix) && slices.Equal(path[:len(prefix)], prefix)
}

// schemaIn is schemaAt for the values of rec: where the constraint is a
// disjunction, it follows the one alternative that allows the kind of
// rec's value there.
func (v *Validator) schemaIn(elems []string, rec any) (cue.Value, bool) {
	at, ok := v.walkSchema(elems, rec)
	if ok {
		at = v.alternativeFor(at, rec, elems)
	}
	return at, ok
}

// schemaAt finds the constraint that applies at a data path, following
// pattern constraints ([string]: T) and list element types.
func (v *Validator) schemaAt(elems []string) (cue.Value, bool) {
	return v.walkSchema(elems, nil)
}

// walkSchema is schemaAt, and schemaIn but for the last step.
func (v *Validator) walkSchema(elems []string, rec any) (cue.Value, bool) {
	cur := v.schema
	for i, e := range elems {
		if rec != nil {
			cur = v.alternativeFor(cur, rec, elems[:i])
		}
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

// alternativeFor is the alternative of the constraint at that allows the
// kind of rec's value at path, or at itself.
func (v *Validator) alternativeFor(at cue.Value, rec any, path []string) cue.Value {
	if val, ok := lookup(rec, path); ok {
		if alt, ok := v.alternative(at, val); ok {
			return alt
		}
	}
	return at
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
		text, ok := literalText(a)
		if !ok {
			return nil
		}
		out = append(out, text)
	}
	return out
}

// literalText shows a concrete scalar as an enumeration's message lists
// it: a string bare, anything else as JSON.
func literalText(a cue.Value) (string, bool) {
	switch a.Kind() {
	case cue.StringKind:
		s, _ := a.String()
		return s, true
	case cue.IntKind, cue.FloatKind, cue.BoolKind, cue.NullKind:
		b, _ := a.MarshalJSON()
		return string(b), true
	}
	return "", false
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
