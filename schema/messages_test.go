package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/format"
)

// A value that fails a disjunction is told why by the one alternative
// that allows its kind; CUE alone names a few alternatives it is not.
func TestDisjunctionMessages(t *testing.T) {
	const untyped = `{
  "additionalProperties": false,
  "required": ["name"],
  "properties": {
    "name": {"type": "string"},
    "t": {"properties": {"n": {"type": "string"}}, "additionalProperties": false}
  }
}`
	const shapes = `
#Shape: {kind: "circle", r: number} | {kind: "square", side: number}`
	tests := []struct {
		name   string
		file   string // schema.json or schema.cue
		src    string
		def    string
		record string
		errs   []string
	}{
		{"a JSON Schema with no type: a misspelt field", "schema.json", untyped, "",
			`{"name":"a","tt":{}}`,
			[]string{`1:18:tt: field not allowed (did you mean "t"?) (schema.json:4:4)`}},
		{"a JSON Schema with no type: a field of the wrong type", "schema.json", untyped, "",
			`{"name":1}`,
			[]string{`1:9:name: conflicting values 1 and string (mismatched types int and string) (schema.json:5:22)`}},
		{"a JSON Schema with no type, in a field with no type", "schema.json", untyped, "",
			`{"name":"a","t":{"n":"b","z":1}}`,
			[]string{`1:30:t.z: field not allowed (schema.json:6:12)`}},
		{"a JSON Schema with no type: a value of another kind is valid", "schema.json", untyped, "",
			`[1]`, nil},
		{"a struct or a string", "schema.cue", "#A: {kind: \"a\", n: int} | string", "A",
			`{"kind":"a","n":"x"}`,
			[]string{`1:17:n: conflicting values "x" and int (mismatched types string and int) (schema.cue:1:20)`}},
		{"a list or a string, under a field", "schema.cue", "#A: {xs: [...int] | string}", "A",
			`{"xs":[1,"b"]}`,
			[]string{`1:10:xs[1]: conflicting values "b" and int (mismatched types string and int) (schema.cue:1:14)`}},
		{"structs told apart by a fixed field", "schema.cue", shapes, "Shape",
			`{"kind":"square","sid":2}`,
			[]string{`1:24:sid: field not allowed (did you mean "side"?) (schema.cue:2:39)`}},
		{"structs told apart by a fixed field, deeper", "schema.cue", shapes, "Shape",
			`{"kind":"circle","r":"x"}`,
			[]string{`1:22:r: conflicting values "x" and number (mismatched types string and number) (schema.cue:2:29)`}},
		{"structs none of which a fixed field allows", "schema.cue", shapes, "Shape",
			`{"kind":"tri","r":1}`,
			[]string{`1:9:kind: "tri" is not one of circle, square (schema.cue:2:1)`}},
		{"structs that fix a field to numbers", "schema.cue", "#V: {v: 1, a: int} | {v: 2, b: int}", "V",
			`{"v":3}`,
			[]string{`1:6:v: 3 is not one of 1, 2 (schema.cue:1:1)`}},
		{"a bound that names a sibling has the record's value", "schema.cue", "#A: {lim: int, x: {n: <=lim} | string}", "A",
			`{"lim":5,"x":{"n":10}}`,
			[]string{`1:19:x.n: invalid value 10 (out of bound <=5) (schema.cue:1:23)`}},
		{"a bound through an alias has the record's value", "schema.cue", "#A: X={n?: int, x?: {a: <=X.n} | string}", "A",
			`{"n":3,"x":{"a":7}}`,
			[]string{
				`1:12:x: 2 errors in empty disjunction:`,
				`1:12:x: conflicting values {a:7} and string (mismatched types struct and string) (schema.cue:1:34)`,
				`1:17:x.a: invalid value 7 (out of bound <=3) (schema.cue:1:25)`,
			}},
		{"a constraint that the record adds counts", "schema.cue", "#A: {k?: string, x: {a: int} | string, if k != _|_ if k == \"a\" {x: string}}", "A",
			`{"k":"a","x":{"a":"s"}}`,
			[]string{`1:14:x: conflicting values {a:"s"} and string (mismatched types struct and string) (schema.cue:1:68)`}},
		{"an enumeration of several kinds", "schema.cue", "#A: {mode?: \"auto\" | 0 | 1}", "A",
			`{"mode":"manual"}`,
			[]string{`1:9:mode: "manual" is not one of auto, 0, 1 (schema.cue:1:6)`}},
		{"a field the record has is not suggested", "schema.cue", "#A: {a: int} | string", "A",
			`{"a":1,"b":2}`,
			[]string{`1:12:b: field not allowed (schema.cue:1:5)`}},
		{"a list's own disjunction keeps its own position", "schema.json", `{"additionalProperties": false, "properties": {"p": {"type": ["string", "null"], "minLength": 2}}}`, "",
			`{"p":5}`,
			[]string{
				`1:6:p: 2 errors in empty disjunction:`,
				`1:6:p: conflicting values 5 and null (mismatched types int and null) (schema.json:1:73)`,
				`1:6:p: conflicting values 5 and strings.MinRunes(2) (mismatched types int and string) (schema.json:1:83)`,
			}},
		{"two structs: CUE's message", "schema.cue", "#A: {a: int} | {b: string}", "A",
			`{"a":"x"}`,
			[]string{
				`1:1:2 errors in empty disjunction:`,
				`1:6:a: conflicting values "x" and int (mismatched types string and int) (schema.cue:1:9)`,
				`1:6:a: field not allowed`,
			}},
		{"two strings and a struct: CUE's message", "schema.cue", "#A: {r: \"x\" | \"y\" | {n: int}}", "A",
			`{"r":"z"}`,
			[]string{
				`1:6:r: 3 errors in empty disjunction:`,
				`1:6:r: conflicting values "x" and "z" (schema.cue:1:9)`,
				`1:6:r: conflicting values "y" and "z" (schema.cue:1:15)`,
				`1:6:r: conflicting values "z" and {n:int} (mismatched types string and struct) (schema.cue:1:21)`,
			}},
		{"two strings and a struct: a struct", "schema.cue", "#A: {r: \"x\" | \"y\" | {n: int}}", "A",
			`{"r":{"n":true}}`,
			[]string{`1:11:r.n: conflicting values true and int (mismatched types bool and int) (schema.cue:1:25)`}},
		{"a string that reads as one of the enumeration's numbers", "schema.cue", "#A: {t: 1 | 2}", "A",
			`{"t":"1"}`,
			[]string{`1:6:t: "1" is not one of 1, 2 (schema.cue:1:6)`}},
		{"a value of the enumeration that conflicts with another constraint: CUE's message", "schema.cue",
			"#A: {t: \"a\" | \"b\", u?: int, if u != _|_ {t: \"b\"}}", "A",
			`{"t":"a","u":1}`,
			[]string{`1:6:t: conflicting values "b" and "a" (schema.cue:1:45)`}},
		{"a pattern beside a disjunction is the schema's, not the record's", "schema.cue", "#A: {n: int, v: {[string]: <n} & ({d: n + 5, e: int} | null)}", "A",
			`{"n": 10, "v": {}}`,
			[]string{
				`1:16:v: 2 errors in empty disjunction:`,
				`1:16:v: conflicting values {} and null (mismatched types struct and null) (schema.cue:1:56)`,
				`1:16:v.d: invalid value 15 (out of bound <10) (schema.cue:1:28)`,
			}},
		{"a reference beside a disjunction is the schema's, not the record's", "schema.cue", "#A: {w: {a: int, b?: <10}, v: w & ({a: int, b: a, d: int} | string)}", "A",
			`{"w": {"a": 20}, "v": {"a": 20}}`,
			[]string{
				`1:23:v: 2 errors in empty disjunction:`,
				`1:23:v: conflicting values {a:20} and string (mismatched types struct and string) (schema.cue:1:61)`,
				`1:23:v.b: invalid value 20 (out of bound <10) (schema.cue:1:22)`,
			}},
		{"matchN says how many matched, as cue vet does", "schema.cue", "#A: {a: matchN(1, [{w: int}, {w: string}])}", "A",
			`{"a":{"w":true}}`,
			[]string{
				`1:6:a: invalid value {w:true} (does not satisfy matchN): 0 matched, expected 1 (schema.cue:1:9)`,
				`1:11:a.w: conflicting values true and int (mismatched types bool and int) (schema.cue:1:24)`,
				`1:11:a.w: conflicting values true and string (mismatched types bool and string) (schema.cue:1:34)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, tt.file)
			if err := os.WriteFile(p, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Load(Spec{File: p, Def: tt.def}, WithDisplayPath(DisplayRel(dir)))
			if err != nil {
				t.Fatal(err)
			}
			_, errs := check(t, s, format.JSON, tt.record)
			if strings.Join(errs, "\n") != strings.Join(tt.errs, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(tt.errs, "\n"))
			}
		})
	}
}

func TestAbbreviate(t *testing.T) {
	long := `{a:"` + strings.Repeat("x", 30) + `",b:[1,2,3],c:{d:"}{ ][",e:` + strings.Repeat("1", 40) + `}}`
	tests := []struct{ in, want string }{
		{`invalid value {a:1} (does not satisfy matchN)`, `invalid value {a:1} (does not satisfy matchN)`},
		{`invalid value ` + long + ` (does not satisfy matchN)`,
			`invalid value {a:"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",b:[1,2,3],c:{d:"}{ ][",e…} (does not satisfy matchN)`},
		{`conflicting values "` + strings.Repeat("{", 90) + `" and int`, `conflicting values "` + strings.Repeat("{", 90) + `" and int`},
		{`conflicting values [` + strings.Repeat("é", 50) + `] and string`, `conflicting values [` + strings.Repeat("é", 29) + `…] and string`},
	}
	for _, tt := range tests {
		if got := abbreviate(tt.in); got != tt.want {
			t.Errorf("abbreviate(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// CUE v0.17's evaluator panics on this record as its message is narrowed
// to a disjunction's branch; the record still gets CUE's own message.
func TestMessageWhereCUEPanics(t *testing.T) {
	s, err := Compile("p.cue", []byte("#T: {q?: #B & {#B\n\t#y: {q!: int}\n\t...}\n\t...}\n#B: {}\n"), "T")
	if err != nil {
		t.Fatal(err)
	}
	v := s.Validator()
	defer s.Put(v)
	_, vs := v.Check(decodeAll([]byte(`{"q":1,"^x":{}}` + "\n"))[0], false)
	want := []Violation{{Path: "q", Elems: []string{"q"}, Msg: "conflicting values 1 and {} (mismatched types int and struct)", Schema: "p.cue:5:5"}}
	if !reflect.DeepEqual(vs, want) {
		t.Errorf("got %#v\nwant %#v", vs, want)
	}
}

// A record's errors read down the file, whatever order CUE evaluated its
// fields in; those of one value come in cue vet's order.
func TestErrorsComeInRecordOrder(t *testing.T) {
	src := "#T: {\n\tb: int\n\ta: string\n\tc: matchN(1, [int, string])\n\tsub?: {x: int, y?: >0}\n\treq!: int\n}\n"
	tests := []struct {
		name, record string
		f            format.Format
		errs         []string
	}{
		{"fields in the schema's order", `{"b":"x","a":1,"c":true,"req":1}`, format.JSON, []string{
			`1:6:b: conflicting values "x" and int (mismatched types string and int) (schema.cue:2:5)`,
			`1:14:a: conflicting values 1 and string (mismatched types int and string) (schema.cue:3:5)`,
			`1:20:c: conflicting values true and int (mismatched types bool and int) (schema.cue:4:16)`,
			`1:20:c: conflicting values true and string (mismatched types bool and string) (schema.cue:4:21)`,
			`1:20:c: invalid value true (does not satisfy matchN): 0 matched, expected 1 (schema.cue:4:5)`,
		}},
		{"fields in another order", `{"c":true,"req":1,"a":1,"b":"x"}`, format.JSON, []string{
			`1:6:c: conflicting values true and int (mismatched types bool and int) (schema.cue:4:16)`,
			`1:6:c: conflicting values true and string (mismatched types bool and string) (schema.cue:4:21)`,
			`1:6:c: invalid value true (does not satisfy matchN): 0 matched, expected 1 (schema.cue:4:5)`,
			`1:23:a: conflicting values 1 and string (mismatched types int and string) (schema.cue:3:5)`,
			`1:29:b: conflicting values "x" and int (mismatched types string and int) (schema.cue:2:5)`,
		}},
		{"nested values, in the record's order", `{"a":"s","sub":{"y":-1,"x":"s"},"c":1,"b":true,"req":1}`, format.JSON, []string{
			`1:21:sub.y: invalid value -1 (out of bound >0) (schema.cue:5:21)`,
			`1:28:sub.x: conflicting values "s" and int (mismatched types string and int) (schema.cue:5:12)`,
			`1:43:b: conflicting values true and int (mismatched types bool and int) (schema.cue:2:5)`,
		}},
		{"YAML, a line each", "c: 1\nsub:\n  x: s\nb: true\na: s\nreq: 1\n", format.YAML, []string{
			`3:6:sub.x: conflicting values "s" and int (mismatched types string and int) (schema.cue:5:12)`,
			`4:4:b: conflicting values true and int (mismatched types bool and int) (schema.cue:2:5)`,
		}},
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "schema.cue")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(Spec{File: p, Def: "T"}, WithDisplayPath(DisplayRel(dir)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := check(t, s, tt.f, tt.record)
			if strings.Join(errs, "\n") != strings.Join(tt.errs, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(tt.errs, "\n"))
			}
		})
	}
}

// A type that CUE's translation of a JSON Schema writes without a
// position is placed at the "type" keyword it comes from.
func TestJSONSchemaTypesHaveTheirPosition(t *testing.T) {
	src := `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "ok": {"type": "boolean", "default": true},
    "n": {"type": "number"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "addr": {
      "type": "object",
      "properties": {"city": {"type": "string"}, "zip": {"type": ["string", "null"]}},
      "additionalProperties": false
    },
    "ref": {"$ref": "#/$defs/s"},
    "o": {"type": "object"},
    "l": {"type": "array"},
    "any": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    "one": {"oneOf": [{"type": "string"}, {"type": "boolean"}]}
  },
  "$defs": {"s": {"type": "string"}}
}`
	dir := t.TempDir()
	p := filepath.Join(dir, "schema.json")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(Spec{File: p}, WithDisplayPath(DisplayRel(dir)))
	if err != nil {
		t.Fatal(err)
	}
	_, errs := check(t, s, format.JSON, `{"ok":1,"n":"x","tags":[1],"addr":{"city":1,"zip":2},"ref":3,"o":[],"l":{},"any":true,"one":3}`)
	want := []string{
		`1:7:ok: conflicting values 1 and bool (mismatched types int and bool) (schema.json:5:20)`,
		`1:13:n: conflicting values "x" and number (mismatched types string and number) (schema.json:6:19)`,
		`1:25:tags[0]: conflicting values 1 and string (mismatched types int and string) (schema.json:7:49)`,
		`1:43:addr.city: conflicting values 1 and string (mismatched types int and string) (schema.json:10:39)`,
		`1:51:addr.zip: 2 errors in empty disjunction:`,
		`1:51:addr.zip: conflicting values 2 and null (mismatched types int and null) (schema.json:10:77)`,
		`1:51:addr.zip: conflicting values 2 and string (mismatched types int and string) (schema.json:10:67)`,
		// A definition's type, as for a CUE schema; before, the $ref.
		`1:60:ref: conflicting values 3 and string (mismatched types int and string) (schema.json:19:27)`,
		`1:66:o: conflicting values [] and {...} (mismatched types list and struct) (schema.json:14:19)`,
		`1:73:l: conflicting values {} and [...] (mismatched types struct and list) (schema.json:15:19)`,
		// An alternative's type, at the alternative that says it.
		`1:82:any: conflicting values true and int (mismatched types bool and int) (schema.json:16:45)`,
		`1:82:any: conflicting values true and string (mismatched types bool and string) (schema.json:16:32)`,
		`1:82:any: invalid value true (does not satisfy matchN): 0 matched, expected >=1 (schema.json:16:14)`,
		`1:93:one: 2 errors in empty disjunction:`,
		`1:93:one: conflicting values 3 and bool (mismatched types int and bool) (schema.json:17:52)`,
		`1:93:one: conflicting values 3 and string (mismatched types int and string) (schema.json:17:32)`,
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
}

// A document a $ref leads to, embedded under a name that is no
// identifier, has its types placed too: at its own file's "type", not at
// the $ref.
func TestJSONSchemaTypesOfARefdDocumentHaveTheirPosition(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"user.schema.json": `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "addr": {"$ref": "addr.schema.json"},
    "code": {"$ref": "#/$defs/zip-code"}
  },
  "$defs": {"zip-code": {"type": "string"}}
}`,
		"addr.schema.json": `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "zip": {"type": "string"}
  }
}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Load(Spec{File: filepath.Join(dir, "user.schema.json")}, WithDisplayPath(DisplayRel(dir)))
	if err != nil {
		t.Fatal(err)
	}
	_, errs := check(t, s, format.JSON, `{"addr":{"zip":123},"code":4}`)
	want := []string{
		`1:16:addr.zip: conflicting values 123 and string (mismatched types int and string) (addr.schema.json:5:21)`,
		`1:28:code: conflicting values 4 and string (mismatched types int and string) (user.schema.json:8:34)`,
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
}

// A path names a record's keys as the record has them: an object's key
// that reads as a number is a key, quoted as cue vet quotes it, and only
// a list's element is an index.
func TestPathsNameTheRecordsKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "schema.cue")
	src := "#T: {scores: [string]: int, l: [...int]}\n#S: string\n#Q: {\"_x\": int, \"#y\": int, \"0\": int, sub: {\"_z\": int}, l?: [...{a: int}]}\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		def, record string
		errs        []string
	}{
		{"T", `{"scores":{"2023":"x","-1":"y","\u0000z":"w","07":"v"},"l":["s"]}`, []string{
			`1:19:scores."2023": conflicting values "x" and int (mismatched types string and int) (schema.cue:1:24)`,
			`1:28:scores."-1": conflicting values "y" and int (mismatched types string and int) (schema.cue:1:24)`,
			`1:42:scores."\u0000z": conflicting values "w" and int (mismatched types string and int) (schema.cue:1:24)`,
			`1:51:scores."07": conflicting values "v" and int (mismatched types string and int) (schema.cue:1:24)`,
			`1:61:l[0]: conflicting values "s" and int (mismatched types string and int) (schema.cue:1:36)`,
		}},
		// Fields the record lacks, named as cue vet names them: quoted
		// where CUE quotes them, not as definitions or indexes.
		{"Q", `{"sub":{},"l":[{}]}`, []string{
			`1:1:"#y": field is required but not present (schema.cue:3:23)`,
			`1:1:"0": field is required but not present (schema.cue:3:33)`,
			`1:1:"_x": field is required but not present (schema.cue:3:12)`,
			`1:8:sub."_z": field is required but not present (schema.cue:3:50)`,
			`1:16:l[0].a: field is required but not present (schema.cue:3:68)`,
		}},
		// A struct record against a schema that is no struct: the record
		// comes first, as cue vet's data file does.
		{"S", `{"a":1}`, []string{
			`1:1:conflicting values string and {a:1} (mismatched types string and struct) (schema.cue:2:5)`,
		}},
	} {
		s, err := Load(Spec{File: p, Def: tt.def}, WithDisplayPath(DisplayRel(dir)))
		if err != nil {
			t.Fatal(err)
		}
		_, errs := check(t, s, format.JSON, tt.record)
		if strings.Join(errs, "\n") != strings.Join(tt.errs, "\n") {
			t.Errorf("%s:\n%s\nwant:\n%s", tt.record, strings.Join(errs, "\n"), strings.Join(tt.errs, "\n"))
		}
	}
}

// A transform's errors are about its output, not the record: their
// order does not follow the record's keys.
func TestTransformErrorsKeepTheirOrder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "schema.cue")
	src := "#T: {a: int, b: int, z: int}\n#X: {in: #T, p: in.a & >10, z: in.b & <0, a: in.z & <2}\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(Spec{File: p, Def: "T"}, WithTransform(Spec{File: p, Def: "X"}), WithDisplayPath(DisplayRel(dir)))
	if err != nil {
		t.Fatal(err)
	}
	paths := func(record string) string { return strings.Join(violationPaths(t, s, record), " ") }
	one, other := paths(`{"a":1,"b":2,"z":3}`), paths(`{"z":3,"b":2,"a":1}`)
	if one != "a p z" || other != one {
		t.Errorf("paths: %q and %q, want both %q", one, other, "a p z")
	}
}

// A type is placed only where its own schema says it: not at another
// "type" keyword that names another type, nor at the object's "type" for
// a struct of patterns; and a tuple's rest is additionalItems.
func TestJSONSchemaTypesPlacedOnlyWhereSaid(t *testing.T) {
	for _, tt := range []struct{ name, src, record, want string }{
		{"a property again under allOf", `{
  "type": "object",
  "properties": {"a": {"type": "string"}},
  "allOf": [{"properties": {"a": {"type": "number"}}}]
}`, `{"a": true}`, `1:7:a: conflicting values true and number (mismatched types bool and number) (schema.json:4:4)`},
		{"additionalProperties beside patternProperties", `{"type":"object",
 "patternProperties":{"^x":{"type":"string"}},"additionalProperties":{"type":"boolean"}}`,
			`{"y": 2}`, `1:7:y: conflicting values 2 and bool (mismatched types int and bool)`},
		{"a tuple's additionalItems", `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "tup": {"type":"array","items":[{"type":"integer"}],
      "additionalItems":
        {"type":"string"}},
    "r": {"$ref": "#/properties/tup/items/0"}
  }
}`, `{"tup":[1,2]}`, `1:11:tup[1]: conflicting values 2 and string (mismatched types int and string) (schema.json:7:17)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "schema.json")
			if err := os.WriteFile(p, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Load(Spec{File: p}, WithDisplayPath(DisplayRel(dir)))
			if err != nil {
				t.Fatal(err)
			}
			if _, errs := check(t, s, format.JSON, tt.record); strings.Join(errs, "\n") != tt.want {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), tt.want)
			}
		})
	}
}

// A wide record's errors are ordered and named through a map of its keys:
// the same order as a narrow one's.
func TestWideRecordErrorsInRecordOrder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "schema.cue")
	if err := os.WriteFile(p, []byte("#T: [string]: int\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(Spec{File: p, Def: "T"}, WithDisplayPath(DisplayRel(dir)))
	if err != nil {
		t.Fatal(err)
	}
	var rec, want []string
	for i := 39; i >= 0; i-- {
		k := fmt.Sprintf("f%02d", i)
		if i == 7 {
			k = "0" // a key that reads as a number
		}
		rec = append(rec, fmt.Sprintf("%q:%q", k, "x"))
		want = append(want, quoteKey(k))
	}
	got := violationPaths(t, s, "{"+strings.Join(rec, ",")+"}")
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("paths:\n%s\nwant:\n%s", strings.Join(got, " "), strings.Join(want, " "))
	}
}

// violationPaths checks one json record and returns its violations' paths.
func violationPaths(t *testing.T, s *Schema, record string) []string {
	t.Helper()
	v := s.Validator()
	defer s.Put(v)
	recs, err := format.ReadAll(format.JSON, strings.NewReader(record))
	if err != nil {
		t.Fatal(err)
	}
	_, vs := v.Check(recs[0].Value, false)
	var paths []string
	for _, vi := range vs {
		paths = append(paths, vi.Path)
	}
	return paths
}
