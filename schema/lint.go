package schema

import "cuelang.org/go/cue"

// FieldInfo describes one top-level field of the records a schema writes,
// for checks that need no record, such as whether a format can hold it.
type FieldInfo struct {
	Name string
	// Kind is every kind the field allows (CUE's incomplete kind), such as
	// cue.StructKind|cue.NullKind for `#Address | null`.
	Kind     cue.Kind
	Optional bool
	// Default says the field has a default, which fills it in when absent.
	Default bool
	// Pos is the field's position in the schema, file:line:col, or "".
	Pos string
}

// Fields lists the top-level fields of the records this schema writes (the
// transform's output when there is one), in schema order. It is nil when
// the schema does not fix the record's fields.
func (s *Schema) Fields() []FieldInfo {
	v := s.Validator()
	defer s.Put(v)
	out := v.schema
	if v.hasXform {
		out = v.transform
	}
	if out.IncompleteKind() != cue.StructKind {
		return nil
	}
	it, err := out.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	var fields []FieldInfo
	for it.Next() {
		name := it.Selector().Unquoted()
		if v.hasXform && name == "in" {
			continue
		}
		fields = append(fields, FieldInfo{
			Name:     name,
			Kind:     kindOf(it.Value()),
			Optional: it.IsOptional(),
			Default:  hasDefault(it.Value()),
			Pos:      v.position(it.Value().Pos()),
		})
	}
	return fields
}

// kindOf is the value's incomplete kind. A transform's reference to an
// optional field of `in`, such as in.address, is an incomplete error until
// a record fills it; its kind is then that of the field it refers to.
func kindOf(v cue.Value) cue.Kind {
	k := v.IncompleteKind()
	if k != cue.BottomKind {
		return k
	}
	root, ref := v.ReferencePath()
	if !root.Exists() || len(ref.Selectors()) == 0 {
		return k
	}
	var sels []cue.Selector
	for _, sel := range ref.Selectors() {
		if sel.LabelType() == cue.StringLabel {
			sel = cue.Str(sel.Unquoted()).Optional()
		}
		sels = append(sels, sel)
	}
	return root.LookupPath(cue.MakePath(sels...)).IncompleteKind()
}

func hasDefault(v cue.Value) bool {
	_, ok := v.Default()
	return ok
}
