package schema

import (
	"strings"
	"testing"

	"github.com/zpipe/zpipe/format"
)

// A hidden root that refers back to itself in a list's elements, as CUE's
// translation of a JSON Schema with $ref "#" writes: CUE leaves that
// element unevaluated in the schema, so the shape must not take it as
// adding nothing, or the CUE path drops the elements' defaults.
func TestShapeOfRecursiveListElement(t *testing.T) {
	src := `_schema
_schema: {
	kind:  *"leaf" | "branch"
	kids?: [..._schema]
	...
}
`
	s, err := Compile("tree.cue", []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := format.ReadAll(format.JSON, strings.NewReader(`{"kind":"branch","kids":[{}]}`))
	if err != nil {
		t.Fatal(err)
	}
	v := s.Validator()
	defer s.Put(v)
	out, vs := cueOnly(v, recs[0].Value, false)
	b, _ := format.AppendJSON(nil, out)
	if want := `{"kind":"branch","kids":[{"kind":"leaf"}]}`; vs != nil || string(b) != want {
		t.Errorf("CUE path writes %s (%v), want %s", b, vs, want)
	}
}
