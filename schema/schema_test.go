package schema

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/format"
)

const userCUE = `package users

import "strings"

#User: {
	id:    int & >=1
	name:  string & !=""
	email: string & =~"^[^@ ]+@[^@ ]+$"
	age?:  int & >=0 & <=150
	role:  *"member" | "admin"
	score?: number
	address?: {
		city: string
		country: *"NL" | string
	}
}

#Public: {
	in: #User
	id: in.id
	name: strings.ToUpper(in.name)
}
`

func writeSchema(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "user.cue")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, opts ...Option) *Schema {
	t.Helper()
	p := writeSchema(t, userCUE)
	s, err := Load(Spec{File: p, Def: "User"}, append(opts, WithDisplayPath(DisplayRel(filepath.Dir(p))))...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func check(t *testing.T, s *Schema, f format.Format, in string) (string, []string) {
	t.Helper()
	recs, err := format.ReadAll(f, strings.NewReader(in))
	if err != nil || len(recs) != 1 {
		t.Fatalf("decoding %q: %v", in, err)
	}
	v := s.Validator()
	defer s.Put(v)
	out, vs := v.Check(recs[0].Value, recs[0].Untyped)
	var msgs []string
	for _, vi := range vs {
		line, col := recs[0].Locate(vi.Elems)
		msgs = append(msgs, strings.Join([]string{itoa(line), itoa(col), vi.String()}, ":"))
	}
	if out == nil {
		return "", msgs
	}
	b, err := format.AppendJSON(nil, out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), msgs
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestCheck(t *testing.T) {
	for _, isolated := range []bool{false, true} {
		t.Run(map[bool]string{false: "in process", true: "isolated"}[isolated], func(t *testing.T) {
			var opts []Option
			if isolated {
				opts = append(opts, Isolated())
			}
			s := load(t, opts...)
			defer s.Close()
			testCheck(t, s)
		})
	}
}

// TestRecordComesFirst pins what cue vet's order, record & schema, gives:
// the record's value first in a conflict, its fields in its own order,
// and cue vet's verdict where CUE v0.17's two orders disagree.
func TestRecordComesFirst(t *testing.T) {
	tests := []struct {
		name, schema, in string
		errs             []string
	}{
		{"a struct in a conflict keeps the record's field order", "#T: {a: string}", `{"a":{"y":"s","x":1}}`,
			[]string{`1:6:a: conflicting values {y:"s",x:1} and string (mismatched types struct and string) (t.cue:1:9)`}},
		{"a list that two alternatives both allow is not decided", "#T: [...{}] | matchN(0, [null])", `[{}]`,
			[]string{`1:1:incomplete value [{}] | [{}]`}},
		{"a record is a literal to CUE, as in cue vet", "#T: matchN(0, [null]) | [...]", `[[{}]]`,
			[]string{`1:1:incomplete value [[{}]] | [[{}]]`}},
		{"a negative number is - applied to a literal, after the schema", "#T: {a: string, b: [...string], c: 1}", `{"a":-5,"b":[-1],"c":-5}`,
			[]string{
				`1:6:a: conflicting values string and -5 (mismatched types string and int) (t.cue:1:9)`,
				`1:14:b[0]: conflicting values string and -1 (mismatched types string and int) (t.cue:1:24)`,
				`1:22:c: conflicting values -5 and 1 (t.cue:1:36)`,
			}},
		{"negative zero reads as zero", "#T: {a: string, b: string}", `{"a":-0,"b":-0.0}`,
			[]string{
				`1:6:a: conflicting values string and 0 (mismatched types string and int) (t.cue:1:9)`,
				`1:13:b: conflicting values string and 0.0 (mismatched types string and float) (t.cue:1:20)`,
			}},
		{"a scalar record is embedded in a data file, as cue vet builds one", "#T: string", `5`,
			[]string{`1:1:conflicting values string and 5 (mismatched types string and int) (t.cue:1:5)`}},
		{"a scalar record of the wrong kind", "#T: int", `"x"`,
			[]string{`1:1:conflicting values int and "x" (mismatched types int and string) (t.cue:1:5)`}},
		{"a scalar record against a struct", "#T: {a: int}", `null`,
			[]string{`1:1:conflicting values null and {a:int} (mismatched types null and struct) (t.cue:1:5)`}},
		{"a scalar record against another", "#T: 3", `5`,
			[]string{`1:1:conflicting values 3 and 5 (t.cue:1:5)`}},
		{"a list record against a scalar", "#T: string", `[1]`,
			[]string{`1:1:conflicting values string and [1] (mismatched types string and list) (t.cue:1:5)`}},
		{"-0e5 is zero, not below it", "#T: {a: >=0, b: <0}", `{"a":-0e5,"b":-0e5}`,
			[]string{`1:15:b: invalid value 0E+5 (out of bound <0) (t.cue:1:17)`}},
		{"-0e5 as the record", "#T: <0", `-0e5`,
			[]string{`1:1:invalid value 0E+5 (out of bound <0) (t.cue:1:5)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile("t.cue", []byte(tt.schema), "T")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, errs := check(t, s, format.NDJSON, tt.in)
			if strings.Join(errs, "\n") != strings.Join(tt.errs, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(tt.errs, "\n"))
			}
		})
	}
}

func testCheck(t *testing.T, s *Schema) {
	tests := []struct {
		name string
		f    format.Format
		in   string
		out  string
		errs []string
	}{
		{"defaults are filled in after the input's own fields", format.JSON,
			`{"name":"Ada","id":1,"email":"a@b","address":{"city":"Delft"}}`,
			`{"name":"Ada","id":1,"email":"a@b","address":{"city":"Delft","country":"NL"},"role":"member"}`, nil},
		{"numbers keep their exact text", format.JSON,
			`{"id":123456789012345678901234567890,"name":"A","email":"a@b","score":0.1000000000000000055511151231257827}`,
			`{"id":123456789012345678901234567890,"name":"A","email":"a@b","score":0.1000000000000000055511151231257827,"role":"member"}`, nil},
		{"each violation has its path, position and constraint", format.JSON,
			`{"id":0,"name":"Ada","email":"nope","age":151}`, "", []string{
				`1:7:id: invalid value 0 (out of bound >=1) (user.cue:6:15)`,
				`1:30:email: invalid value "nope" (out of bound =~"^[^@ ]+@[^@ ]+$") (user.cue:8:18)`,
				`1:43:age: invalid value 151 (out of bound <=150) (user.cue:9:21)`,
			}},
		{"a missing field is named", format.JSON, `{"id":1,"email":"a@b"}`, "",
			[]string{`1:1:name: field is required but not present (user.cue:7:18)`}},
		{"an unknown field suggests the one meant", format.JSON, `{"id":1,"name":"A","email":"a@b","rolee":"admin"}`, "",
			[]string{`1:42:rolee: field not allowed (did you mean "role"?)`}},
		{"a value outside an enumeration lists the allowed ones", format.JSON, `{"id":1,"name":"A","email":"a@b","role":"root"}`, "",
			[]string{`1:41:role: "root" is not one of member, admin (user.cue:10:2)`}},
		{"a float is not an int, as in CUE", format.JSON, `{"id":1.0,"name":"A","email":"a@b"}`, "",
			[]string{`1:7:id: conflicting values 1.0 and int (mismatched types float and int) (user.cue:6:9)`}},
		{"csv cells are typed by the schema, and empty cells are absent", format.CSV,
			"id,name,email,age,role,score\n7,007,b@c,,admin,2.5\n",
			`{"id":7,"name":"007","email":"b@c","role":"admin","score":2.5}`, nil},
		{"a csv cell that is not a number is reported as CUE sees it", format.CSV,
			"id,name,email\nseven,A,b@c\n", "",
			[]string{`2:1:id: conflicting values "seven" and int (mismatched types string and int) (user.cue:6:9)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs := check(t, s, tt.f, tt.in)
			if out != tt.out {
				t.Errorf("out:\n%s\nwant:\n%s", out, tt.out)
			}
			if strings.Join(errs, "\n") != strings.Join(tt.errs, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(tt.errs, "\n"))
			}
		})
	}
}

func TestTransform(t *testing.T) {
	p := writeSchema(t, userCUE)
	s, err := Load(Spec{File: p, Def: "User"}, WithTransform(Spec{File: p, Def: "Public"}))
	if err != nil {
		t.Fatal(err)
	}
	out, errs := check(t, s, format.JSON, `{"id":1,"name":"Ada","email":"a@b"}`)
	if want := `{"id":1,"name":"ADA"}`; out != want || errs != nil {
		t.Errorf("got %s %v, want %s", out, errs, want)
	}
	if got := strings.Join(s.Columns(), ","); got != "id,name" {
		t.Errorf("columns = %s", got)
	}
}

// A transform whose result is bottom only for some records, through a
// definition it declares, says where and why, as cue vet does: Validate
// alone (CUE v0.17) skips definitions, and export then said only "cannot
// write a _|_ value".
func TestTransformBottomHasItsPath(t *testing.T) {
	p := writeSchema(t, `#In: {a: int, z?: int}
#X: {
	in: #In
	out: {n: in.a, b?: {#x: {q!: bool, [string]: number}}}
	if in.z != _|_ {out: b: {}}
}
`)
	s, err := Load(Spec{File: p, Def: "In"}, WithTransform(Spec{File: p, Def: "X"}), WithDisplayPath(DisplayRel(filepath.Dir(p))))
	if err != nil {
		t.Fatal(err)
	}
	if out, errs := check(t, s, format.JSON, `{"a":1}`); out != `{"out":{"n":1}}` || errs != nil {
		t.Errorf("got %s %v", out, errs)
	}
	_, errs := check(t, s, format.JSON, `{"a":2,"z":1}`)
	want := `1:1:out.b.#x.q: transform: conflicting values bool and number (mismatched types bool and number) (user.cue:4:31)`
	if len(errs) != 1 || errs[0] != want {
		t.Errorf("errors = %q\nwant %q", errs, want)
	}
}

func TestLoadErrors(t *testing.T) {
	p := writeSchema(t, userCUE)
	dir := filepath.Dir(p)
	bad := filepath.Join(dir, "bad.cue")
	os.WriteFile(bad, []byte("#A: {\n\tx: int &\n}\n"), 0o644)
	conflict := filepath.Join(dir, "conflict.cue")
	os.WriteFile(conflict, []byte("#A: {\n\tx: int & \"s\"\n}\n"), 0o644)
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"a missing file", Spec{File: filepath.Join(dir, "nope.cue")}, "schema file nope.cue does not exist"},
		{"a missing definition lists the ones there are", Spec{File: p, Def: "Usr"}, "user.cue: definition #Usr does not exist (defined: #User, #Public)"},
		{"a syntax error has its position", Spec{File: bad, Def: "A"}, "bad.cue:3:1: expected operand, found '}'"},
		{"a conflict has the position where it starts and its path", Spec{File: conflict, Def: "A"}, `conflict.cue:2:5: #A.x: conflicting values int and "s" (mismatched types int and string)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.spec, WithDisplayPath(DisplayRel(dir)))
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestParseSpec(t *testing.T) {
	s, err := ParseSpec("a/b.cue#User")
	if err != nil || s.File != "a/b.cue" || s.Def != "User" || s.String() != "a/b.cue#User" {
		t.Errorf("got %+v %v", s, err)
	}
	if _, err := ParseSpec("#User"); err == nil {
		t.Errorf("a spec without a file was accepted")
	}
}
