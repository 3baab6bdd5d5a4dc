package schema

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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
		parent, ok := v.schemaFor(elems[:len(elems)-1], rec)
		if !ok {
			return msg, ""
		}
		// A name the record has is no typo of another.
		names := slices.DeleteFunc(fieldNames(parent), func(n string) bool { return has(rec, append(slices.Clip(elems[:len(elems)-1]), n)) })
		if near := closest(elems[len(elems)-1], names); near != "" {
			return fmt.Sprintf("field not allowed (did you mean %q?)", near), ""
		}
	case strings.Contains(msg, "empty disjunction") || strings.HasPrefix(msg, "conflicting values"):
		at, ok := v.schemaFor(elems, rec)
		if !ok {
			return msg, ""
		}
		got, _ := lookup(rec, elems)
		// A value of the enumeration conflicts with something else,
		// such as another branch's const: that message is CUE's.
		if alts := literals(at); alts != nil && !v.oneOf(at, got) {
			return fmt.Sprintf("%s is not one of %s", show(got), strings.Join(alts, ", ")), v.position(cue.Dereference(at).Pos())
		}
	}
	return msg, ""
}

// narrowed is an error of one alternative of a disjunction, with its
// path in the record, or one that zpipe words, with the position of the
// constraint it is about.
type narrowed struct {
	cueError
	elems []string
	pos   token.Pos
	// from is the value at fromAt that the error is of: where a
	// disjunction under it is narrowed in its turn.
	from   cue.Value
	fromAt []string
}

func (n narrowed) InputPositions() []token.Pos {
	return append(n.cueError.InputPositions(), n.pos)
}

// cueError names CUE's error type for embedding, where the name Error
// would hide its method.
type cueError = cueerrors.Error

// disjunctionFailed matches what CUE says of a value that fails a
// disjunction: the head of the alternatives' errors, or, when they share
// one position, just one of them.
var disjunctionFailed = regexp.MustCompile(`^\d+ errors in empty disjunction:$|^conflicting values .* \(mismatched types \w+ and \w+\)$`)

// narrowDisjunctions replaces the errors of a failed disjunction with
// those of its one alternative that the value can be meant for. A value
// that fails a disjunction fails every alternative, and CUE shows a few of
// their errors only, often not the one that says why: a record checked
// against JSON Schema's untyped `null | bool | … | close({…})` got
// "conflicting values {…} and bool", and not its misspelt field. The
// verdict stays CUE's; only the reasons shown change. u is the schema
// unified with rec: its values carry the record's context, such as the
// value of a field that a bound names.
func (v *Validator) narrowDisjunctions(u cue.Value, errs []cueerrors.Error, rec any) []cueerrors.Error {
	type located struct {
		err  cueerrors.Error
		path []string
	}
	list := make([]located, len(errs))
	for i, e := range errs {
		list[i] = located{e, recordPath(e)}
	}
	done := map[string]bool{}
	budget := narrowBudget * nodes(rec)
	narrowedAny := false
	for i := 0; i < len(list) && budget > 0; i++ {
		if !disjunctionFailed.MatchString(oneLine(list[i].err)) {
			continue
		}
		at := list[i].path
		if key := fmt.Sprintf("%q", at); done[key] {
			continue
		} else {
			done[key] = true
		}
		base, baseAt := u, []string(nil)
		if n, ok := list[i].err.(narrowed); ok && n.from.Exists() {
			base, baseAt = n.from, n.fromAt
		}
		sub, _ := lookup(rec, baseAt)
		val, _ := lookup(rec, at)
		budget -= nodes(val)
		disj, rest, ok := disjunctionAt(base, at[len(baseAt):], sub)
		if !ok {
			continue
		}
		reasons := v.alternativeErrors(disj, rest, at, rec)
		if reasons == nil {
			reasons = v.discriminatorError(disj, at, rec)
		}
		if reasons == nil {
			continue
		}
		narrowedAny = true
		var out []located
		next := 0
		for j, l := range list {
			switch {
			case j == i:
				// The reasons are looked at next: one may be a failed
				// disjunction further down.
				next = len(out)
				for _, r := range reasons {
					out = append(out, located{r, recordPath(r)})
				}
			case !hasPrefix(l.path, at):
				out = append(out, l)
			}
		}
		list, i = out, next-1
	}
	if !narrowedAny {
		return errs
	}
	errs = make([]cueerrors.Error, len(list))
	for i, l := range list {
		errs[i] = l.err
	}
	return errs
}

// narrowBudget bounds the work of narrowing a record's disjunctions, in
// evaluations of the whole record: each costs one of the value under it,
// and a recursive schema nests them as deep as the record goes.
const narrowBudget = 4

// nodes counts the values in v.
func nodes(v any) int {
	n := 1
	switch v := v.(type) {
	case *format.Object:
		for _, f := range v.Fields {
			n += nodes(f.Value)
		}
	case []any:
		for _, e := range v {
			n += nodes(e)
		}
	}
	return n
}

// disjunctionAt splits the value at a path of u, the schema unified with
// rec, into its one disjunction and the rest of its conjuncts (the
// record's value among them).
func disjunctionAt(u cue.Value, at []string, rec any) (disj cue.Value, rest []cue.Value, ok bool) {
	path, ok := cuePath(at, rec)
	if !ok {
		return cue.Value{}, nil, false
	}
	here := u.LookupPath(path)
	if !here.Exists() {
		return cue.Value{}, nil, false
	}
	found := 0
	for _, c := range conjuncts(here) {
		if op, _ := c.Expr(); op == cue.OrOp {
			disj = c
			found++
		} else {
			rest = append(rest, c)
		}
	}
	return disj, rest, found == 1
}

func conjuncts(v cue.Value) []cue.Value {
	op, args := v.Expr()
	if op != cue.AndOp {
		return []cue.Value{v}
	}
	var out []cue.Value
	for _, a := range args {
		out = append(out, conjuncts(a)...)
	}
	return out
}

// cuePath is a record's path as a CUE path: an element of a list is an
// index, of an object a field.
func cuePath(elems []string, rec any) (cue.Path, bool) {
	sels := make([]cue.Selector, 0, len(elems))
	cur := rec
	for _, e := range elems {
		switch c := cur.(type) {
		case *format.Object:
			x, ok := c.Get(e)
			if !ok {
				return cue.Path{}, false
			}
			sels, cur = append(sels, cue.Str(e)), x
		case []any:
			i, err := strconv.Atoi(e)
			if err != nil || i < 0 || i >= len(c) {
				return cue.Path{}, false
			}
			sels, cur = append(sels, cue.Index(i)), c[i]
		default:
			return cue.Path{}, false
		}
	}
	return cue.MakePath(sels...), true
}

// alternativeErrors unifies the one alternative of disj that the value at
// a path of rec can be meant for with the rest of the schema's conjuncts
// there and the value, and returns its errors; nil when there is no such
// one alternative, or when it allows the value. The conjuncts come from
// the record's evaluation, so that their references have the record's
// values, but the value is the record's own: as a conjunct there it is
// closed by what it met.
func (v *Validator) alternativeErrors(disj cue.Value, rest []cue.Value, at []string, rec any) []cueerrors.Error {
	val, _ := lookup(rec, at)
	alt, ok := v.alternative(disj, val)
	if !ok {
		return nil
	}
	for _, c := range rest {
		// The record's value, which toCUE built; at the root it has no
		// source, as the schema's there has not, but it is concrete.
		if !isRecords(c) && (c.Source() != nil || !c.IsConcrete()) {
			alt = alt.Unify(c)
		}
	}
	if alt.Err() != nil {
		return nil // the schema rules the alternative out here: CUE says why
	}
	checked := v.recordAndSchema(val, alt, len(at) == 0)
	errs := cueerrors.Errors(checked.Validate(cue.Concrete(true)))
	// The paths of errors start at the value's own, or, where the
	// alternative came first, at the schema's root.
	relative := checked.Path().String() == ""
	if len(errs) == 0 {
		// The alternative allows the value. So it is for {a: int} of
		// {a: int} | string, taken out of a definition, and the record's
		// {"a": 1, "c": 1} (CUE v0.17): cue vet's own message stays.
		return nil
	}
	// CUE gives an error of the alternative no position in the schema
	// when the alternative closes the struct the record is, or is of
	// another kind: the alternative's own position says where.
	var altPos token.Pos
	if sch, ok := v.walkSchema(at, rec); ok {
		if a, ok := v.alternative(sch, val); ok {
			altPos = a.Pos()
		}
	}
	out := make([]cueerrors.Error, 0, len(errs))
	for _, e := range errs {
		elems := recordPath(e)
		if relative {
			elems = append(slices.Clip(at), plainPath(e.Path())...)
		} else if !hasPrefix(elems, at) {
			return nil
		}
		n := narrowed{cueError: e, elems: elems, from: checked, fromAt: at}
		if len(elems) == len(at) || len(elems) == len(at)+1 && oneLine(e) == "field not allowed" {
			n.pos = altPos
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// discriminatorError is the one error of an object that no struct of disj
// allows, when it has a field that every struct fixes to a scalar it does
// not have: kind: "tri" is not one of circle, square.
func (v *Validator) discriminatorError(disj cue.Value, at []string, rec any) []cueerrors.Error {
	val, _ := lookup(rec, at)
	obj, ok := val.(*format.Object)
	if !ok {
		return nil
	}
	alts := slices.DeleteFunc(disjuncts(disj), func(a cue.Value) bool { return a.IncompleteKind()&cue.StructKind == 0 })
	if len(alts) < 2 {
		return nil
	}
	for _, f := range obj.Fields {
		if allowed := v.fixedOtherwise(alts, f); allowed != nil {
			e := cueerrors.Newf(token.NoPos, "%s is not one of %s", show(f.Value), strings.Join(allowed, ", "))
			var pos token.Pos
			if sch, ok := v.walkSchema(at, rec); ok {
				pos = sch.Pos()
			}
			return []cueerrors.Error{narrowed{cueError: e, elems: append(slices.Clip(at), f.Key), pos: pos}}
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
	// A literal alone is no reason: an enumeration's message lists them.
	if len(alts) != 1 || alts[0].IsConcrete() && k&(cue.StructKind|cue.ListKind) == 0 {
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

// schemaFor is schemaAt, or where that meets a disjunction, schemaIn:
// most schemas have none, and schemaIn costs a look at the record at
// every step.
func (v *Validator) schemaFor(elems []string, rec any) (cue.Value, bool) {
	if at, ok := v.schemaAt(elems); ok && len(disjuncts(at)) < 2 {
		return at, true
	}
	return v.schemaIn(elems, rec)
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

// oneOf reports whether the record's value x is one of the literals of
// the disjunction at: the same kind and value, so that "1" is not 1.
func (v *Validator) oneOf(at cue.Value, x any) bool {
	if composite(x) {
		return false
	}
	val := v.ctx.Encode(toCUE(x))
	var in func(d cue.Value) bool
	in = func(d cue.Value) bool {
		op, args := cue.Dereference(d).Expr()
		if op != cue.OrOp {
			return d.IsConcrete() && d.Kind() == val.Kind() && d.Equals(val)
		}
		return slices.ContainsFunc(args, in)
	}
	return in(at)
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

// abbreviate shortens each struct or list that CUE writes out whole in a
// message, when it is long: a failed matchN shows the value it was given,
// which may be the whole record, and the record has it anyway.
func abbreviate(msg string) string {
	const long, keep = 80, 60
	if len(msg) <= long {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		switch msg[i] {
		case '"':
			j := endOfString(msg, i)
			b.WriteString(msg[i:j])
			i = j
			continue
		case '{', '[':
			if j := endOfValue(msg, i); j-i > long {
				cut := i + keep
				for !utf8.RuneStart(msg[cut]) {
					cut--
				}
				b.WriteString(msg[i:cut])
				b.WriteString("…")
				b.WriteByte(msg[j-1])
				i = j
				continue
			}
		}
		b.WriteByte(msg[i])
		i++
	}
	return b.String()
}

// endOfString is the index after the quoted string that starts at i.
func endOfString(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(s)
}

// endOfValue is the index after the struct or list that starts at i, or
// i when it does not end.
func endOfValue(s string, i int) int {
	depth := 0
	for j := i; j < len(s); {
		switch s[j] {
		case '"':
			j = endOfString(s, j)
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
		j++
	}
	return i
}
