package schema

import (
	"cmp"
	"context"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/ast/astutil"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"

	"github.com/zpipe/zpipe/format"
)

// Validator checks records for one goroutine at a time.
type Validator struct {
	s         *Schema
	ctx       *cue.Context
	schema    cue.Value
	transform cue.Value
	hasXform  bool
	// integral reads 1.0 as the integer 1, as JSON Schema (draft 6 on) does.
	integral bool
	kinds    map[string]cue.Kind // column → kind, for typing csv cells
	shape    *shape              // nil when unknown: merge always walks
	// comprehends: the schema has a comprehension, so no value has a shape.
	comprehends bool
	fast        *fastChecker // native checks; nil when CUE must decide
	fastWhy     string       // why fast is nil
	// blameAt caches the constraint at each path blamed (fast_blame.go).
	blameAt map[string]cue.Value
	// child is the evaluator process of an isolated schema; the memory
	// watchdog reads it from another goroutine.
	child atomic.Pointer[child]
	// wholeInChild counts the records sent to the evaluator's process
	// whole.
	wholeInChild int
}

func (s *Schema) newValidator() (*Validator, error) {
	ctx := cuecontext.New()
	v := &Validator{s: s, ctx: ctx, kinds: map[string]cue.Kind{}}
	var err error
	var f *ast.File
	if v.schema, f, err = s.compile(ctx, s.spec); err != nil {
		return nil, err
	}
	// A comprehension adds fields that Fields does not show: {a?: int,
	// if a != _|_ {b: 2}} fills in b. Where the schema has one, what
	// unification adds is not known from its value.
	v.comprehends = holds[*ast.Comprehension](f)
	if s.transform != nil {
		if v.transform, _, err = s.compile(ctx, *s.transform); err != nil {
			return nil, err
		}
		if !v.transform.LookupPath(cue.MakePath(cue.Str("in"))).Exists() {
			return nil, fmt.Errorf("%s: transform #%s declares no field \"in\" to take the record", s.display(s.transform.File), s.transform.Def)
		}
		v.hasXform = true
	}
	v.shape = v.shapeOf(v.schema)
	v.integral = IsJSONSchema(s.spec.File) && integralDraft(s.sources[s.spec.File])
	v.fast, v.fastWhy = v.buildFast()
	return v, nil
}

// Violation is one way a record breaks the schema.
type Violation struct {
	// Path is the CUE path of the offending value, such as address.zip or
	// tags[2]; empty for the record as a whole.
	Path string
	// Elems is Path split into object keys and list indexes, for locating
	// the value in the input.
	Elems []string
	// Msg is CUE's description of the violated constraint.
	Msg string
	// Schema is the position of the constraint in the schema, file:line:col.
	Schema string
	// Transform is set for the transform's result, whose Path is in the
	// output; Elems then locates the input's value of that name, if any.
	Transform bool
}

func (v Violation) String() string {
	s := v.Msg
	if v.Path != "" {
		s = v.Path + ": " + s
	}
	if v.Schema != "" {
		s += " (" + v.Schema + ")"
	}
	return s
}

// Check validates one record. It returns the record to write (the input
// with the schema's defaults filled in, or the transform's result), or
// every violation. Untyped input, as from csv, is first typed by the schema.
// For an isolated schema, a failure of the evaluator's process comes back
// as a violation; use CheckContext to tell it apart and to bound the check.
func (v *Validator) Check(rec any, untyped bool) (any, []Violation) {
	out, violations, err := v.CheckContext(context.Background(), rec, untyped)
	if err != nil {
		return nil, []Violation{{Msg: err.Error()}}
	}
	return out, violations
}

// CheckContext is Check, bounded by ctx: when ctx ends before CUE has
// decided, an isolated schema's evaluator is killed and the error is
// ctx's. Without isolation, the evaluation cannot be stopped (CUE takes no
// context), and ctx is only looked at before it starts.
func (v *Validator) CheckContext(ctx context.Context, rec any, untyped bool) (any, []Violation, error) {
	if untyped {
		rec = v.typeCells(rec)
	}
	if v.fast != nil {
		checked, rewritten := rec, false
		if v.integral {
			checked, rewritten = integralValue(rec)
		}
		if out, ok := v.fast.run(checked); ok {
			if vs := v.s.nativeCheck(checked); vs != nil {
				return nil, vs, nil
			}
			if rewritten {
				out = v.ownDigits(out, rec)
			}
			return out, nil, nil
		}
	}
	res, err := v.CheckBatch(ctx, []any{rec}, false)
	if err != nil {
		return nil, nil, err
	}
	return res[0].Out, res[0].Violations, nil
}

// ownDigits gives a valid record's output the numbers the record was
// written with, where a JSON Schema's integral numbers were checked in
// another form; a transform's output is its own.
func (v *Validator) ownDigits(out, rec any) any {
	if !v.integral || v.hasXform || out == nil {
		return out
	}
	out, _ = withDigitsOf(out, rec)
	return out
}

// Result is the verdict on one record of a batch: the record to write, or
// its violations.
type Result struct {
	Out        any
	Violations []Violation
}

// CheckBatch checks records as CheckContext does, with one round trip to an
// isolated schema's evaluator for all of them that the fast path cannot
// decide. The error, such as ctx's, is for the batch as a whole.
func (v *Validator) CheckBatch(ctx context.Context, recs []any, untyped bool) ([]Result, error) {
	res, err := v.checkBatch(ctx, recs, untyped)
	if err != nil || v.s.native == nil {
		return res, err
	}
	// What CUE accepts, the whole JSON Schema must accept too.
	for i := range res {
		if res[i].Violations == nil {
			if vs := v.s.nativeCheck(recs[i]); vs != nil {
				res[i] = Result{Violations: vs}
			}
		}
	}
	return res, nil
}

func (v *Validator) checkBatch(ctx context.Context, recs []any, untyped bool) (res []Result, err error) {
	res = make([]Result, len(recs))
	var own []any // the records as written, where integral numbers are checked in another form
	if v.integral {
		own = make([]any, len(recs))
		defer func() {
			for i := range res {
				if own[i] != nil {
					res[i].Out = v.ownDigits(res[i].Out, own[i])
				}
			}
		}()
	}
	var slow []int
	var ws []waiting
	var asks []ask
	for i, rec := range recs {
		if untyped {
			rec = v.typeCells(rec)
			recs[i] = rec
		}
		if v.integral {
			if checked, rewritten := integralValue(rec); rewritten {
				own[i], rec = rec, checked
				recs[i] = rec
			}
		}
		// What the fast path accepts CUE accepts; the rest CUE decides.
		if v.fast != nil {
			if out, ok := v.fast.run(rec); ok {
				res[i].Out = out
				continue
			}
			if v.fast.asked {
				ws = append(ws, waiting{i: i, from: len(asks), to: len(asks) + len(v.fast.asks), adds: v.fast.adds, rec: rec})
				asks = append(asks, v.fast.asks...)
				continue
			}
			if vs, ok := v.blamed(rec); ok {
				res[i].Violations = vs
				continue
			}
		}
		slow = append(slow, i)
	}
	if len(ws) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		more, err := v.settle(ctx, ws, asks, res)
		if err != nil {
			return nil, err
		}
		slow = append(slow, more...)
	}
	if len(slow) == 0 {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// A schema the fast path covers whole is made only of constructs
	// whose cost the data cannot blow up, so CUE's second look at a
	// rejected record, for its message, stays in this process: a child's
	// round trips would cost more than the look.
	if !v.s.isolated || v.fast != nil && len(v.fast.fallbacks) == 0 && len(v.fast.cyclic) == 0 {
		for _, i := range slow {
			res[i].Out, res[i].Violations = v.cueCheck(recs[i])
		}
		return res, nil
	}
	batch := make([]any, len(slow))
	for k, i := range slow {
		batch[k] = recs[i]
	}
	v.wholeInChild += len(batch)
	decided, err := v.checkInChild(ctx, batch)
	if err != nil {
		return nil, err
	}
	for k, i := range slow {
		res[i] = decided[k]
	}
	return res, nil
}

// cueCheck is the part of Check that CUE's evaluator does.
func (v *Validator) cueCheck(rec any) (out any, vs []Violation) {
	// A panic of CUE's evaluator is CUE's fault, not the record's; the
	// record cannot be shown valid, so it goes to the rejects with the
	// reason, and the next records are checked.
	defer func() {
		if r := recover(); r != nil {
			out, vs = nil, []Violation{{Msg: fmt.Sprintf("CUE's evaluator failed on this record (%v); this is a bug in CUE", r)}}
		}
	}()
	u := v.recordAndSchema(rec, v.schema, true)
	if err := validated(u); err != nil {
		return nil, v.violations(err, rec, "", u)
	}
	if v.hasXform {
		t := v.transform.FillPath(cue.MakePath(cue.Str("in")), u)
		if err := validated(t); err != nil {
			return nil, v.violations(err, rec, "transform: ", t)
		}
		out, err := export(t)
		if err != nil {
			return nil, []Violation{{Msg: "transform: " + err.Error(), Transform: true}}
		}
		if obj, ok := out.(*format.Object); ok {
			fields := obj.Fields[:0]
			for _, f := range obj.Fields {
				if f.Key != "in" {
					fields = append(fields, f)
				}
			}
			obj.Fields = fields
		}
		return out, nil
	}
	if v.shape != nil && !v.shape.adds(rec) {
		return rec, nil
	}
	out, err := merge(rec, u)
	if err != nil {
		return nil, []Violation{{Msg: err.Error()}}
	}
	return out, nil
}

// validated is CUE's verdict on a record unified with its schema, as cue
// vet gives it: Validate, and the value's own error, which Validate (v0.17)
// does not report when it comes from a definition the record's structs
// declare, as in {a?: {#x: {q!: bool, [string]: number}}} with {"a": {}}:
// #x is in conflict in a, so a is bottom, and so is the record.
func validated(u cue.Value) error {
	if err := u.Validate(cue.Concrete(true)); err != nil {
		return err
	}
	return u.Err()
}

// toCUE converts a record to what cue.Context.Encode turns into the same
// CUE value the JSON would give: integers stay int, numbers with a
// fraction or exponent stay float, and nothing passes through float64.
// A struct or list is a CUE literal, as cue vet makes of a JSON file:
// its fields keep the record's order, so that a message shows them as
// cue vet's does (a Go map would give them sorted), and CUE's verdict is
// cue vet's, where the value Go's lists and maps make is not: under
// matchN(0, [null]) | [...], CUE v0.17 finds [[{}]] as a literal two
// values, so incomplete, as cue vet does, and as Go values one, valid.
func toCUE(v any) any {
	switch v.(type) {
	case *format.Object, []any:
		if x, ok := cueExpr(v); ok {
			return x
		}
	}
	return plainValue(v, cueNumber)
}

// cueExpr is a record as a CUE literal, or false if it holds a value that
// a record decoded by package format does not. Its nodes are at
// recordPos, which tells the record's conjuncts from the schema's.
func cueExpr(v any) (ast.Expr, bool) {
	switch v := v.(type) {
	case *format.Object:
		s := &ast.StructLit{Lbrace: recordPos, Elts: make([]ast.Decl, len(v.Fields))}
		for i, f := range v.Fields {
			x, ok := cueExpr(f.Value)
			if !ok {
				return nil, false
			}
			label := ast.NewString(f.Key)
			label.ValuePos = recordPos
			s.Elts[i] = &ast.Field{Label: label, Value: x}
		}
		return s, true
	case []any:
		l := &ast.ListLit{Lbrack: recordPos, Elts: make([]ast.Expr, len(v))}
		for i, e := range v {
			x, ok := cueExpr(e)
			if !ok {
				return nil, false
			}
			l.Elts[i] = x
		}
		return l, true
	case format.Number:
		// A negative number is - applied to a literal, as cue vet reads
		// JSON: CUE evaluates it after the schema, which shows in the
		// order of a conflict's values (string and -5), and its literal
		// -0 would be -NaN.
		text, neg := strings.CutPrefix(string(v), "-")
		lit := &ast.BasicLit{Kind: token.FLOAT, ValuePos: recordPos, Value: text}
		if format.Number(text).IsInt() {
			b, ok := new(big.Int).SetString(text, 10)
			if !ok {
				return nil, false
			}
			lit.Kind, lit.Value = token.INT, b.String()
		}
		if neg {
			return &ast.UnaryExpr{OpPos: recordPos, Op: token.SUB, X: lit}, true
		}
		return lit, true
	case string:
		x := ast.NewString(v)
		x.ValuePos = recordPos
		return x, true
	case bool:
		x := ast.NewBool(v)
		x.ValuePos = recordPos
		return x, true
	case nil:
		x := ast.NewNull()
		x.ValuePos = recordPos
		return x, true
	}
	return nil, false
}

// recordPos is where toCUE's literals are: in a file of no schema, so
// that no message shows it.
var recordPos = token.NewFile("<record>", -1, 1).Pos(0, token.NoRelPos)

// isRecords reports whether a conjunct is the record's own value, which
// toCUE built.
func isRecords(c cue.Value) bool {
	src := c.Source()
	return src != nil && src.Pos() == recordPos
}

// recordAndSchema unifies a record's value val with sch as cue vet would:
// a whole record (atRoot) as a file, as cue vet builds a data file (a
// value that is not a struct is embedded in it), unified first. The
// order shows in a conflict's message: "x" and int, but string and -5.
// A scalar inside the record comes first too, unless it is negative:
// cue vet reads it as - applied to a literal, which CUE evaluates after
// the schema.
func (v *Validator) recordAndSchema(val any, sch cue.Value, atRoot bool) cue.Value {
	// A struct is the file's own fields: the literal alone is the same
	// value, and BuildFile costs twice what Encode does. Only where the
	// schema cannot be a struct does the file's order show, in the
	// message: string and {a:1}.
	if _, isStruct := val.(*format.Object); atRoot && (!isStruct || sch.IncompleteKind()&cue.StructKind == 0) {
		if x, ok := cueExpr(val); ok {
			if f, err := astutil.ToFile(x); err == nil {
				return v.ctx.BuildFile(f).Unify(sch)
			}
		}
	}
	x := v.ctx.Encode(toCUE(val))
	if n, ok := val.(format.Number); ok && !atRoot && strings.HasPrefix(string(n), "-") {
		return sch.Unify(x)
	}
	return x.Unify(sch)
}

func cueNumber(v format.Number) any {
	if i, ok := v.Int64(); ok {
		return i
	}
	if b, ok := v.BigInt(); ok {
		return b
	}
	x, _ := cueExpr(v) // - applied to a literal: -0e5 is 0, not -NaN
	return x
}

// plainValue is a record as maps and slices, for a library that reads
// those, with each number as number gives it.
func plainValue(v any, number func(format.Number) any) any {
	switch v := v.(type) {
	case *format.Object:
		m := make(map[string]any, len(v.Fields))
		for _, f := range v.Fields {
			m[f.Key] = plainValue(f.Value, number)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = plainValue(e, number)
		}
		return l
	case format.Number:
		return number(v)
	}
	return v
}

// merge returns in with what unification added (defaults and fields the
// schema fixes) appended after the input's own fields, which keep their
// order and exact values.
func merge(in any, u cue.Value) (any, error) {
	switch in := in.(type) {
	case *format.Object:
		it, err := u.Fields()
		if err != nil {
			return nil, err
		}
		out := &format.Object{Fields: make([]format.Field, len(in.Fields), len(in.Fields)+2)}
		copy(out.Fields, in.Fields)
		for it.Next() {
			key := it.Selector().Unquoted()
			i := fieldIndex(in, key)
			if i < 0 {
				x, err := export(it.Value())
				if err != nil {
					return nil, err
				}
				out.Fields = append(out.Fields, format.Field{Key: key, Value: x})
				continue
			}
			switch in.Fields[i].Value.(type) {
			case *format.Object, []any:
				x, err := merge(in.Fields[i].Value, it.Value())
				if err != nil {
					return nil, err
				}
				out.Fields[i].Value = x
			}
		}
		return out, nil
	case []any:
		it, err := u.List()
		if err != nil {
			return nil, err
		}
		out := make([]any, len(in))
		copy(out, in)
		for i := 0; it.Next() && i < len(in); i++ {
			switch in[i].(type) {
			case *format.Object, []any:
				x, err := merge(in[i], it.Value())
				if err != nil {
					return nil, err
				}
				out[i] = x
			}
		}
		return out, nil
	}
	return in, nil
}

func fieldIndex(o *format.Object, key string) int {
	for i := range o.Fields {
		if o.Fields[i].Key == key {
			return i
		}
	}
	return -1
}

// export converts a concrete CUE value to the record model, in CUE's field
// order.
func export(v cue.Value) (any, error) {
	v, _ = v.Default()
	switch v.Kind() {
	case cue.StructKind:
		it, err := v.Fields()
		if err != nil {
			return nil, err
		}
		obj := &format.Object{}
		for it.Next() {
			x, err := export(it.Value())
			if err != nil {
				return nil, err
			}
			obj.Fields = append(obj.Fields, format.Field{Key: it.Selector().Unquoted(), Value: x})
		}
		return obj, nil
	case cue.ListKind:
		it, err := v.List()
		if err != nil {
			return nil, err
		}
		list := []any{}
		for it.Next() {
			x, err := export(it.Value())
			if err != nil {
				return nil, err
			}
			list = append(list, x)
		}
		return list, nil
	case cue.NullKind:
		return nil, nil
	case cue.BoolKind:
		return v.Bool()
	case cue.StringKind:
		return v.String()
	case cue.IntKind:
		i, err := v.Int(new(big.Int))
		if err != nil {
			return nil, err
		}
		return format.Number(i.String()), nil
	case cue.FloatKind:
		b, err := v.MarshalJSON()
		if err != nil {
			return nil, err
		}
		return format.Number(b), nil
	}
	return nil, fmt.Errorf("%s: cannot write a %s value", v.Path(), v.Kind())
}

// typeCells gives csv cells the type the schema expects at their column.
// An empty cell (nil) is an absent field, so that defaults apply and
// required fields are reported missing. A quoted empty cell is "" where
// the schema allows a string, and absent elsewhere: writers that quote
// every cell write a missing number as "". A cell stays a string where
// the schema allows one; otherwise its text is read as a number, bool or
// null. Text that fits none stays a string, for CUE to reject with its
// own message.
func (v *Validator) typeCells(rec any) any {
	obj, ok := rec.(*format.Object)
	if !ok {
		return rec
	}
	out := &format.Object{Fields: make([]format.Field, 0, len(obj.Fields))}
	for _, f := range obj.Fields {
		if f.Value == nil {
			continue
		}
		cell, ok := f.Value.(string)
		if !ok {
			out.Fields = append(out.Fields, f)
			continue
		}
		kind, ok := v.kinds[f.Key]
		if !ok {
			kind = cue.StringKind
			if fv, ok := v.field(v.schema, f.Key); ok {
				kind = fv.IncompleteKind()
			}
			v.kinds[f.Key] = kind
		}
		var val any = cell
		switch {
		case kind&cue.StringKind != 0:
		case cell == "":
			continue
		case kind&cue.NumberKind != 0 && format.ValidNumber(cell):
			val = format.Number(cell)
		case kind&cue.BoolKind != 0 && (cell == "true" || cell == "false"):
			val = cell == "true"
		case kind&cue.NullKind != 0 && cell == "null":
			val = nil
		}
		out.Fields = append(out.Fields, format.Field{Key: f.Key, Value: val})
	}
	return out
}

// violations turns a CUE validation error into one Violation per problem,
// each with the schema position of the constraint.
func (v *Validator) violations(err error, rec any, prefix string, checked cue.Value) []Violation {
	var out []Violation
	seen := map[string]bool{}
	errs := cueerrors.Errors(err)
	if prefix == "" {
		errs = v.narrowed(checked, errs, rec)
	}
	keys := keyPlaces{}
	if prefix == "" {
		sortInRecordOrder(errs, rec, keys)
	} else {
		sortInRecordOrder(errs, nil, keys) // the transform's output is not rec
	}
	for _, e := range errs {
		elems := recordPath(e)
		msg := oneLine(e)
		if strings.HasPrefix(msg, "incomplete value ") && prefix == "" && !has(rec, elems) {
			msg = "field is required but not present"
		}
		pos := v.schemaPos(e)
		if prefix == "" {
			var moved string
			if msg, moved = v.explain(elems, msg, rec); moved != "" {
				pos = moved
			}
		}
		vi := Violation{Elems: elems, Msg: prefix + abbreviate(msg), Schema: pos, Transform: prefix != ""}
		if vi.Transform { // a transform's path is its output's
			vi.Path = pathString(elems)
		} else {
			vi.Path = recordPathString(rec, elems, errorPath(e), keys)
		}
		// A disjunction fails once per alternative; say it once.
		if key := vi.Path + "\x00" + vi.Msg; !seen[key] {
			seen[key] = true
			out = append(out, vi)
		}
	}
	if len(out) == 0 {
		out = append(out, Violation{Msg: prefix + err.Error(), Transform: prefix != ""})
	}
	return out
}

// sortInRecordOrder orders a record's errors as its values are written,
// so that they read down the file. Errors of one value come in cue vet's
// order (cue/errors' Sanitize): by position, one with none first, then by
// message. CUE's own order is that of its evaluation, which puts a failed
// matchN before the failures of its alternatives.
func sortInRecordOrder(errs []cueerrors.Error, rec any, keys keyPlaces) {
	type keyed struct {
		err  cueerrors.Error
		at   []int
		path []string
	}
	ks := make([]keyed, len(errs))
	for i, e := range errs {
		path := recordPath(e)
		ks[i] = keyed{e, recordOrder(rec, path, keys), path}
	}
	slices.SortStableFunc(ks, func(x, y keyed) int {
		if c := slices.Compare(x.at, y.at); c != 0 {
			return c
		}
		if c := slices.Compare(x.path, y.path); c != 0 {
			return c
		}
		if c := comparePos(x.err.Position(), y.err.Position()); c != 0 {
			return c
		}
		return cmp.Compare(x.err.Error(), y.err.Error())
	})
	for i := range ks {
		errs[i] = ks[i].err
	}
}

// recordOrder is where path is in rec: the index of each element among
// its siblings, as written. A value the record does not have, such as a
// missing required field, ends the path as -1, before its siblings: its
// message shows the position of the value that would hold it.
func recordOrder(rec any, path []string, keys keyPlaces) []int {
	at := make([]int, 0, len(path))
	cur := rec
	for _, p := range path {
		i := -1
		switch c := cur.(type) {
		case *format.Object:
			if i = keys.of(c, p); i >= 0 {
				cur = c.Fields[i].Value
			}
		case []any:
			if n, err := strconv.Atoi(p); err == nil && n >= 0 && n < len(c) {
				i, cur = n, c[n]
			}
		}
		at = append(at, i)
		if i < 0 {
			break
		}
	}
	return at
}

// keyPlaces finds a key's place among an object's fields: by a map,
// made the first time it is asked, for an object of many fields. A
// record's errors each ask, and a record of 40,000 wrong fields spent 3 s
// in looking along them. A nil keyPlaces looks along.
type keyPlaces map[*format.Object]map[string]int

func (fi keyPlaces) of(o *format.Object, key string) int {
	if fi == nil || len(o.Fields) < 32 {
		return fieldIndex(o, key)
	}
	at, ok := fi[o]
	if !ok {
		at = make(map[string]int, len(o.Fields))
		for i := len(o.Fields) - 1; i >= 0; i-- { // the first of a key wins
			at[o.Fields[i].Key] = i
		}
		fi[o] = at
	}
	if i, ok := at[key]; ok {
		return i
	}
	return -1
}

// comparePos is cue/errors' order of positions: none first.
func comparePos(a, b token.Pos) int {
	switch {
	case a == b:
		return 0
	case !a.IsValid():
		return -1
	case !b.IsValid():
		return +1
	}
	return a.Compare(b)
}

// narrowed is narrowDisjunctions, or errs as CUE gave them when CUE's
// evaluator panics while they are narrowed: v0.17 does, with an index out
// of range in its closedness check, on some schemas. The record is
// invalid either way, and CUE's own message says why.
func (v *Validator) narrowed(u cue.Value, errs []cueerrors.Error, rec any) (out []cueerrors.Error) {
	defer func() {
		if recover() != nil {
			out = errs
		}
	}()
	return v.narrowDisjunctions(u, errs, rec)
}

// recordPath is the path in the record that a CUE error is about.
func recordPath(e cueerrors.Error) []string {
	if n, ok := e.(narrowed); ok {
		return n.elems
	}
	return plainPath(errorPath(e))
}

// errorPath is the path that recordPath names, as CUE writes it: a field
// that is not an identifier quoted, a list's index bare; nil for a
// narrowed error, whose path is the record's alone.
func errorPath(e cueerrors.Error) []string {
	if _, ok := e.(narrowed); ok {
		return nil
	}
	// A copy: plainPath unquotes in place, and CUE may hand out its own.
	elems := slices.Clone(e.Path())
	// Errors on a definition carry its name first; the record has none.
	if len(elems) > 0 && strings.HasPrefix(elems[0], "#") {
		elems = elems[1:]
	}
	return elems
}

// plainPath is a path as CUE shows it, with the record's keys as they are:
// CUE quotes a label that is not an identifier ("on-error").
func plainPath(elems []string) []string {
	if len(elems) == 0 {
		return nil // the record itself, however CUE got there
	}
	for i, el := range elems {
		if u, err := strconv.Unquote(el); err == nil && strings.HasPrefix(el, `"`) {
			elems[i] = u
		}
	}
	return elems
}

func (v *Validator) schemaPos(e cueerrors.Error) string {
	for _, p := range append([]token.Pos{e.Position()}, e.InputPositions()...) {
		if s := v.position(p); s != "" {
			return s
		}
	}
	return ""
}

// position shows a position in one of the schema's files as file:line:col.
func (v *Validator) position(p token.Pos) string {
	if !p.IsValid() {
		return ""
	}
	if _, ok := v.s.sources[p.Filename()]; !ok {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", v.s.display(p.Filename()), p.Line(), p.Column())
}

func has(rec any, path []string) bool {
	_, ok := lookup(rec, path)
	return ok
}

// lookup returns the record's value at path.
func lookup(rec any, path []string) (any, bool) {
	cur := rec
	for _, p := range path {
		switch c := cur.(type) {
		case *format.Object:
			x, ok := c.Get(p)
			if !ok {
				return nil, false
			}
			cur = x
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// show writes a record value for a message, as JSON.
func show(v any) string {
	b, err := format.AppendJSON(nil, v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// PathString writes a path the way CUE does, as Violation.Path holds it:
// a.b, list indexes in brackets, labels that are not identifiers quoted.
func PathString(elems []string) string { return pathString(elems) }

// recordPathString names a path in rec as rec has it: an element is a
// list's index only where rec holds a list, so that the key "0" of an
// object reads "0", not [0]. Past what rec holds (a missing field, a
// definition), it is pathString's.
func recordPathString(rec any, elems, cue []string, keys keyPlaces) string {
	var b strings.Builder
	elem := func(text string, index bool) {
		if index {
			b.WriteString("[" + text + "]")
			return
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(text)
	}
	cur := rec
	for k, e := range elems {
		switch c := cur.(type) {
		case []any:
			if i, err := strconv.Atoi(e); err == nil && i >= 0 && i < len(c) {
				elem(e, true)
				cur = c[i]
				continue
			}
		case *format.Object:
			if i := keys.of(c, e); i >= 0 {
				elem(quoteKey(e), false)
				cur = c.Fields[i].Value
				continue
			}
		}
		// Past what rec holds: as CUE names it, where its path is known
		// (a quoted "_id" is a field, #y a definition, 0 an index); else
		// as the value that would hold it says.
		for j := k; j < len(elems); j++ {
			switch {
			case len(cue) == len(elems):
				elem(cue[j], isIndex(cue[j]))
			case j == k:
				_, inList := cur.([]any)
				if inList {
					elem(elems[j], true)
				} else {
					elem(quoteKey(elems[j]), false)
				}
			case isIndex(elems[j]):
				elem(elems[j], true)
			default:
				elem(quoteKey(elems[j]), false)
			}
		}
		break
	}
	return b.String()
}

// quoteKey is a record's key as a path shows it: as it is when it is an
// identifier, else quoted as CUE quotes it.
func quoteKey(k string) string {
	if ast.IsValidIdent(k) && !strings.HasPrefix(k, "#") && !strings.HasPrefix(k, "_") {
		return k
	}
	return literal.String.Quote(k)
}

func pathString(elems []string) string {
	var b strings.Builder
	for _, e := range elems {
		if isIndex(e) {
			b.WriteString("[" + e + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if ast.IsValidIdent(e) && (strings.HasPrefix(e, "#") || strings.HasPrefix(e, "_")) {
			b.WriteString(e) // a definition or hidden field, as CUE names it
		} else {
			b.WriteString(quoteKey(e))
		}
	}
	return b.String()
}

// isIndex reports whether e reads as a list's index: digits, with no sign
// and no leading zero.
func isIndex(e string) bool {
	if e == "" || len(e) > 1 && e[0] == '0' {
		return false
	}
	for _, c := range []byte(e) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Columns lists the top-level fields of the records this schema writes, in
// schema order, optional ones included: the header of a csv output. It is
// nil when the schema does not fix the record's fields.
func (s *Schema) Columns() []string {
	var cols []string
	for _, f := range s.Fields() {
		cols = append(cols, f.Name)
	}
	return cols
}

// field looks up a regular, required or optional field of a struct.
func (v *Validator) field(st cue.Value, name string) (cue.Value, bool) {
	for _, sel := range []cue.Selector{cue.Str(name), cue.Str(name).Optional(), cue.Str(name).Required()} {
		if fv := st.LookupPath(cue.MakePath(sel)); fv.Exists() {
			return fv, true
		}
	}
	return cue.Value{}, false
}
