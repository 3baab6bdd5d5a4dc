package schema

import (
	"testing"

	"github.com/zpipe/zpipe/format"
)

// TestListMatchNCounts holds list.MatchN's count, at the edges of each
// kind of bound, to CUE's verdict, and checks that the fast path gives it.
func TestListMatchNCounts(t *testing.T) {
	tests := []struct {
		n     string
		items []any
		valid bool
	}{
		{"<2", []any{"x"}, true},
		{"<2", []any{"x", "x"}, false},
		{"<=2", []any{"x", "x"}, true},
		{"<=2", []any{"x", "x", "x"}, false},
		{">1", []any{"x"}, false},
		{">1", []any{"x", format.Number("1"), "x"}, true},
		{">=1", []any{}, false},
		{">=1", []any{"y", format.Number("1"), nil, "x"}, true},
		{"2", []any{"x", "x"}, true},
		{"2", []any{"x", "x", "x"}, false},
		{">=1 & <=2", []any{"x", "x", "x"}, false},
		{">=1 & <=2", []any{"y", "x"}, true},
		{"0", []any{"y"}, true},
		{"0", []any{"x"}, false},
	}
	for _, tt := range tests {
		src := "import \"list\"\n#T: {a: list.MatchN(" + tt.n + ", \"x\")}\n"
		sch, err := Compile("m.cue", []byte(src), "T")
		if err != nil {
			t.Fatal(err)
		}
		if ok, why := sch.FastPath(); !ok {
			t.Fatalf("list.MatchN(%s, ...) falls back: %s", tt.n, why)
		}
		v := sch.Validator()
		rec := &format.Object{Fields: []format.Field{{Key: "a", Value: tt.items}}}
		_, fastOK := v.fast.run(rec)
		_, vs := cueOnly(v, rec, false)
		if fastOK != tt.valid || (vs == nil) != tt.valid {
			t.Errorf("list.MatchN(%s, \"x\") on %v: fast path %v, CUE %v, want valid=%v", tt.n, tt.items, fastOK, vs, tt.valid)
		}
		sch.Put(v)
	}
}
