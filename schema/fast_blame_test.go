package schema

import (
	"reflect"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/format"
)

// A record blamed on one value has the violations CUE gives for the
// whole record, whatever came before it (TestFastPathAgreesWithCUE holds
// generated records to the same).
func TestBlamedViolationsAreCUEs(t *testing.T) {
	tests := []struct {
		name, src string
		recs      []string // checked in turn, with one Validator
	}{
		{
			// Two paths must not share a cached constraint: ["a\x00b"]
			// once took ["a", "b"]'s.
			name: "a label holding a NUL", src: "#T: {\"a\\u0000b\": <3, a: {b: <10}}\n",
			recs: []string{`{"a":{"b":1},"a\u0000b":5}`, `{"a":{"b":20},"a\u0000b":1}`},
		},
		{name: "the record is the scalar", src: "#T: <3\n", recs: []string{`5`}},
		{name: "a list element", src: "#T: {l: [...int & <10]}\n", recs: []string{`{"l":[1,12,3]}`}},
		{name: "a field of a referenced definition", src: "#T: {a: #A}\n#A: {z: int & <3}\n", recs: []string{`{"a":{"z":5}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sch, err := Compile("t.cue", []byte(tt.src), "T")
			if err != nil {
				t.Fatal(err)
			}
			v := sch.Validator()
			defer sch.Put(v)
			for _, js := range tt.recs {
				rec, err := format.ParseJSON([]byte(js))
				if err != nil {
					t.Fatal(err)
				}
				_, want := cueOnly(v, rec, false)
				blamed, ok := v.blamed(rec)
				if want == nil || !ok {
					t.Fatalf("%s: CUE says %v, blamed %v: each record here fails at one bound", js, want, ok)
				}
				if !reflect.DeepEqual(blamed, want) {
					t.Errorf("%s:\n blamed %#v\n CUE's  %#v", js, blamed, want)
				}
			}
		})
	}
}

// Only short values are kept with CUE's verdict: a pooled Validator must
// not hold every long one it met.
func TestLongValuesAreNotKept(t *testing.T) {
	sch, err := Compile("t.cue", []byte("#T: {id: int, name: int32 | string}\n"), "T")
	if err != nil {
		t.Fatal(err)
	}
	v := sch.Validator()
	defer sch.Put(v)
	for _, name := range []string{"short", strings.Repeat("x", memoText+1)} {
		rec := &format.Object{Fields: []format.Field{{Key: "id", Value: format.Number("1")}, {Key: "name", Value: name}}}
		if _, vs := v.Check(rec, false); vs != nil {
			t.Fatal(vs)
		}
	}
	kept := 0
	for _, f := range v.fast.root.obj.fields {
		if f.n.cue != nil {
			kept += len(f.n.cue.seen)
		}
	}
	if kept != 1 {
		t.Errorf("%d values kept, want the short one alone", kept)
	}
}
