package schema

import (
	"cuelang.org/go/cue"

	"github.com/zpipe/zpipe/format"
)

// shape is what a schema can add to a record: its regular fields, which
// unification fills from defaults or fixed values when the input lacks
// them, and the shapes of nested structs and list elements. Knowing it lets
// Check skip walking the unified value, which costs as much as a fifth of a
// check, for the common record that already has every field.
type shape struct {
	regular []string
	fields  map[string]*shape
	elem    *shape
}

// shapeOf is the shape of a value of v's schema, or nil.
func (v *Validator) shapeOf(x cue.Value) *shape {
	if v.comprehends {
		return nil
	}
	return shapeOf(x, 0)
}

// shapeOf returns nil when the value is something shape cannot describe,
// such as a disjunction of structs; merge then walks the unified value.
func shapeOf(v cue.Value, depth int) *shape {
	if depth > 32 {
		return nil
	}
	if op, _ := v.Expr(); op == cue.OrOp {
		return nil
	}
	// A value that may be a struct or something else, _ or a disjunction
	// under a conjunction such as the one a pattern [string]: [...] | #A
	// makes with a field's own _, is not known to add nothing.
	if k := v.IncompleteKind(); k&(cue.StructKind|cue.ListKind) != 0 && k != cue.StructKind && k != cue.ListKind {
		return nil
	}
	sh := &shape{fields: map[string]*shape{}}
	switch v.IncompleteKind() {
	case cue.StructKind:
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			return nil
		}
		for it.Next() {
			name := it.Selector().Unquoted()
			if !it.IsOptional() {
				sh.regular = append(sh.regular, name)
			}
			// An alternative that CUE dropped from the schema's value,
			// as one that fails on its own, still adds to a record it
			// meets: (struct.MinFields(2) & {a: *1 | int}) | string.
			if droppedComposite(it.Value()) {
				return nil
			}
			// A kind that takes in a struct or list may add to one:
			// null | {x: *1 | int} does, and is no struct kind.
			switch k := it.Value().IncompleteKind(); {
			case unevaluated(it.Value()):
				return nil
			case k&(cue.StructKind|cue.ListKind) != 0:
				sub := shapeOf(it.Value(), depth+1)
				if sub == nil {
					return nil
				}
				sh.fields[name] = sub
			}
		}
	case cue.ListKind:
		// AnyIndex is the list's rest: its leading elements, as in
		// [{x: *1 | int}, ...], may add what the rest does not.
		if v.LookupPath(cue.MakePath(cue.Index(0))).Exists() {
			return nil
		}
		if e := v.LookupPath(cue.MakePath(cue.AnyIndex)); e.Exists() {
			switch k := e.IncompleteKind(); {
			case unevaluated(e):
				return nil
			case droppedComposite(e):
				return nil // as for a field
			case k&(cue.StructKind|cue.ListKind) != 0:
				if sh.elem = shapeOf(e, depth+1); sh.elem == nil {
					return nil
				}
			}
		}
	}
	return sh
}

// unevaluated reports whether v is a recursive schema's inner level,
// which CUE leaves unevaluated until data reaches it: its kind reads as
// _|_ in a field, and as _ in a list's element, [..._schema], where only
// the reference tells it from a real _.
func unevaluated(v cue.Value) bool {
	switch v.IncompleteKind() {
	case cue.BottomKind:
		return true
	case cue.TopKind:
		_, path := v.ReferencePath()
		return len(path.Selectors()) > 0
	}
	return false
}

// adds reports whether unifying the record with the schema can add a field
// anywhere in it.
func (sh *shape) adds(in any) bool {
	switch in := in.(type) {
	case *format.Object:
		for _, name := range sh.regular {
			if _, ok := in.Get(name); !ok {
				return true
			}
		}
		for _, f := range in.Fields {
			sub := sh.fields[f.Key]
			if sub == nil && composite(f.Value) || sub != nil && sub.adds(f.Value) {
				// A struct or list under a field the shape does not
				// declare may meet a pattern, [=~"^q"]: {a: *1 | int},
				// which Fields does not show.
				return true
			}
		}
	case []any:
		for _, e := range in {
			if sh.elem == nil && composite(e) || sh.elem != nil && sh.elem.adds(e) {
				return true
			}
		}
	}
	return false
}

// droppedComposite reports whether v is a disjunction with a struct or
// list among its alternatives that its kind does not show, as is or
// through a reference or a conjunction: x?: #U, where #U is such a
// disjunction, shows only #U's string.
func droppedComposite(v cue.Value) bool { return droppedIn(v, 0) }

func droppedIn(v cue.Value, depth int) bool {
	if depth > 32 {
		return true // not known: walk the unified value
	}
	if root, path := v.ReferencePath(); len(path.Selectors()) > 0 {
		if droppedIn(root.LookupPath(path), depth+1) {
			return true
		}
	}
	op, args := v.Expr()
	switch op {
	case cue.OrOp:
		k := v.IncompleteKind()
		for _, a := range args {
			if ak := a.IncompleteKind(); ak&(cue.StructKind|cue.ListKind) != 0 && ak&k == 0 || ak == cue.BottomKind {
				return true
			}
		}
	case cue.AndOp:
		for _, a := range args {
			if droppedIn(a, depth+1) {
				return true
			}
		}
	}
	return false
}
