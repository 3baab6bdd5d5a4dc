package schema

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/internal/benchdata"
)

// What CUE's translation cannot check, the native check does: each
// keyword CUE has no form for, with its message and the keyword's place in
// the schema, and the schemas that CUE refuses or that must be checked
// natively whole. In process and with CUE in a child process alike.
func TestNativeJSONSchemaChecks(t *testing.T) {
	for _, tc := range []struct {
		name, schema string
		whole        bool
		recs         map[string]string // record → its violations, "" when valid
	}{
		{"propertyNames", `{"properties": {"m": {"propertyNames": {"maxLength": 2}}}}`, false, map[string]string{
			`{"m": {"ab": 1}}`:  "",
			`{"m": {"abc": 1}}`: `m: property name "abc": maxLength: got 3, want 2 (schema.json:1:42)`,
			`{"m": 5}`:          "",
		}},
		{"unevaluatedProperties", `{"properties": {"a": {}}, "anyOf": [{"properties": {"b": {}}}], "unevaluatedProperties": false}`, false, map[string]string{
			`{"a": 1, "b": 2}`: "",
			`{"a": 1, "c": 2}`: "c: not allowed by unevaluatedProperties (schema.json:1:66)",
		}},
		// In the record's order, as CUE's errors are, and the key "10" is
		// a key.
		{"in the record's order", `{"properties": {"a": {}}, "unevaluatedProperties": false}`, false, map[string]string{
			`{"z": 1, "a": 1, "b": 2, "10": 3}`: "z: not allowed by unevaluatedProperties (schema.json:1:28)\n" +
				"b: not allowed by unevaluatedProperties (schema.json:1:28)\n" +
				`"10": not allowed by unevaluatedProperties (schema.json:1:28)`,
		}},
		{"unevaluatedItems", `{"prefixItems": [{"type": "string"}], "unevaluatedItems": false}`, false, map[string]string{
			`["a"]`:    "",
			`["a", 1]`: "[1]: not allowed by unevaluatedItems (schema.json:1:40)",
		}},
		{"dependentSchemas", `{"dependentSchemas": {"a": {"required": ["b"]}}}`, false, map[string]string{
			`{"a": 1, "b": 2}`: "",
			`{"a": 1}`:         "required: missing property 'b' (schema.json:1:30)",
		}},
		// CUE checks the rest, with its own message.
		{"CUE first", `{"type": "object", "properties": {"n": {"type": "integer"}}, "propertyNames": {"pattern": "^[a-z]$"}}`, false, map[string]string{
			`{"n": "x"}`: `n: conflicting values "x" and int (mismatched types string and int) (schema.json:1:42)`,
			`{"N": 1}`:   `property name "N": pattern: 'N' does not match pattern '^[a-z]$' (schema.json:1:81)`,
		}},
		{"dynamicRef", `{"$dynamicAnchor": "node", "type": "object", "properties": {"kids": {"type": "array", "items": {"$dynamicRef": "#node"}}}}`, false, map[string]string{
			`{"kids": [{"kids": []}]}`: "",
			`{"kids": [5]}`:            "kids[0]: type: got number, want object (schema.json:1:29)",
		}},
		{"under not", `{"not": {"properties": {"x": {}}, "unevaluatedProperties": false}}`, true, map[string]string{
			`{"x": 1}`:         "not: matches the schema it must not match (schema.json:1:3)",
			`{"x": 1, "y": 2}`: "",
		}},
		{"anchor", `{"$defs": {"p": {"$anchor": "pos", "minimum": 1}}, "items": {"$ref": "#pos"}}`, true, map[string]string{
			`[1, 2]`: "",
			`[1, 0]`: "[1]: minimum: got 0, want 1 (schema.json:1:37)",
		}},
		// A $ref under not may reach a keyword CUE did not see: CUE's not
		// would act on the looser schema, so the native check decides.
		{"$ref under not", `{"$defs": {"x": {"propertyNames": {"maxLength": 1}}}, "not": {"$ref": "#/$defs/x"}}`, true, map[string]string{
			`{"abc": 1}`: "",
			`{"a": 1}`:   "not: matches the schema it must not match (schema.json:1:56)",
		}},
		// A $ref under oneOf that leads only where nothing was taken out
		// leaves CUE's verdict sound: CUE checks the rest.
		{"$ref under oneOf, elsewhere", `{"$defs": {"a": {"type": "object", "properties": {"k": {"$ref": "#/$defs/b"}}}, "b": {"type": "string"}}, "oneOf": [{"$ref": "#/$defs/a"}, {"type": "array"}], "propertyNames": {"maxLength": 2}}`, false, map[string]string{
			`{"k": "x"}`:   "",
			`{"kkk": "x"}`: `property name "kkk": maxLength: got 3, want 2 (schema.json:1:179)`,
		}},
		// The property name's object, found from the schema's path.
		{"propertyNames positions", `{"properties": {"a": {"allOf": [{"properties": {"b": {"propertyNames": {"maxLength": 1}}}}]}, "c": {"$ref": "#/$defs/n"}}, "$defs": {"n": {"propertyNames": {"maxLength": 1}}}}`, false, map[string]string{
			`{"a": {"a": {"b": {"xx": 1}}, "b": {"xx": 1}}}`: `a.b: property name "xx": maxLength: got 2, want 1 (schema.json:1:74)`,
			`{"c": {"xx": 1}, "d": {"xx": 1}}`:               `c: property name "xx": maxLength: got 2, want 1 (schema.json:1:159)`,
		}},
		// Where CUE checks the rest, a pattern Go's regexp cannot read is
		// read as CUE reads it (no match), not a reason to refuse the
		// schema; before 2019-09, formats are asserted as CUE asserts them.
		{"lookahead and formats", `{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "patternProperties": {"^(?!x)": {"type": "integer"}}, "properties": {"ip": {"format": "ipv4"}, "t": {"type": "string", "format": "date-time"}}, "propertyNames": {"maxLength": 5}}`, false, map[string]string{
			`{"xa": "s", "ip": "nope"}`: "",
			`{"t": "nope"}`:             `t: invalid value "nope" (does not satisfy time.Time): invalid time "nope" (schema.json:1:194)`,
		}},
		{"formats, alone", `{"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"ip": {"format": "ipv4"}, "t": {"format": "date-time"}}, "not": {"dependencies": {"x": {"required": ["y"]}}}}`, true, map[string]string{
			`{"x": 1, "ip": "nope", "t": "2026-12-02T01:00:00Z"}`: "",
			`{"x": 1, "t": "nope"}`:                               "t: format: 'nope' is not valid date-time: less than 20 characters long (schema.json:1:104)",
		}},
		{"draft 7 metaschema", `{"$schema": "http://json-schema.org/draft-07/schema#", "allOf": [{"$ref": "http://json-schema.org/draft-07/schema#"}]}`, true, map[string]string{
			`{"type": "object"}`: "",
			`{"type": 5}`: "type: enum: value must be one of 'array', 'boolean', 'integer', 'null', 'number', 'object', 'string' (http://json-schema.org/draft-07/schema#/definitions/simpleTypes/enum)\n" +
				"type: type: got number, want array (http://json-schema.org/draft-07/schema#/properties/type/anyOf/1/type)",
		}},
	} {
		for _, isolated := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				file := filepath.Join(t.TempDir(), "schema.json")
				if err := os.WriteFile(file, []byte(tc.schema), 0o644); err != nil {
					t.Fatal(err)
				}
				opts := []Option{WithDisplayPath(func(string) string { return "schema.json" })}
				if isolated {
					opts = append(opts, Isolated())
				}
				s, err := Load(Spec{File: file}, opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				checks := s.NativeChecks()
				if len(checks) == 0 || checks[0].Whole != tc.whole {
					t.Fatalf("native checks %+v, want whole %v", checks, tc.whole)
				}
				v := s.Validator()
				defer s.Put(v)
				if v.PassesLines() {
					t.Error("lines pass through untouched, unseen by the native check")
				}
				for rec, want := range tc.recs {
					val, err := format.ParseJSON([]byte(rec))
					if err != nil {
						t.Fatal(err)
					}
					_, vs, err := v.CheckContext(context.Background(), val, false)
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					for _, x := range vs {
						got = append(got, x.String())
					}
					if g := strings.Join(got, "\n"); g != want {
						t.Errorf("%s (isolated %v):\n got %s\nwant %s", rec, isolated, g, want)
					}
				}
			})
		}
	}
}

// A document a $ref leads to that has nothing CUE sees (here, after
// propertyNames is taken out) still accepts every value.
func TestNativeCheckOfAnEmptiedDocument(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "schema.json"), []byte(`{"properties": {"a": {"$ref": "other.json"}}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "other.json"), []byte(`{"propertyNames": {"maxLength": 3}}`), 0o644)
	s, err := Load(Spec{File: filepath.Join(dir, "schema.json")})
	if err != nil {
		t.Fatal(err)
	}
	v := s.Validator()
	defer s.Put(v)
	for rec, want := range map[string]int{`{"a": {"b": 1}}`: 0, `{"a": 5}`: 0, `{"a": {"long": 1}}`: 1} {
		val, _ := format.ParseJSON([]byte(rec))
		if _, vs := v.Check(val, false); len(vs) != want {
			t.Errorf("%s: %v, want %d violations", rec, vs, want)
		}
	}
}

// A schema that CUE's translation checks whole needs no native check.
func TestNoNativeCheckWhereCUESuffices(t *testing.T) {
	file := filepath.Join(t.TempDir(), "schema.json")
	os.WriteFile(file, []byte(`{"properties": {"propertyNames": {"type": "string"}, "format": {"format": "date"}}}`), 0o644)
	s, err := Load(Spec{File: file})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.NativeChecks(); n != nil {
		t.Errorf("native checks %+v for a property named propertyNames", n)
	}
}

// BenchmarkCheckJSONSchema measures a valid #User record checked by the
// CUE form of the schema, by its JSON Schema form (CUE's translation, on
// the fast path), and by that form closed with unevaluatedProperties,
// which CUE's translation cannot express: the fast path checks the rest
// and the native check the whole.
func BenchmarkCheckJSONSchema(b *testing.B) {
	unevaluated := strings.ReplaceAll(benchdata.JSONSchema, `"additionalProperties"`, `"unevaluatedProperties"`)
	for _, bc := range []struct{ name, file, src, def string }{
		{"CUE #User", "user.cue", benchSchema, "User"},
		{"JSON Schema", "user.schema.json", benchdata.JSONSchema, ""},
		{"JSON Schema, unevaluatedProperties", "user.schema.json", unevaluated, ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sch, err := Compile(bc.file, []byte(bc.src), bc.def)
			if err != nil {
				b.Fatal(err)
			}
			if ok, why := sch.FastPath(); !ok {
				b.Fatal(why)
			}
			recs, err := format.ReadAll(format.JSON, strings.NewReader(benchRecord))
			if err != nil {
				b.Fatal(err)
			}
			benchCheck(b, sch.Validator(), recs[0].Value)
		})
	}
}

// integralValue rewrites exactly the numbers whose fraction is all zeros,
// wherever they are, and leaves a record without one as it is.
func TestIntegralValue(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"a":1,"b":[2,"3.0",true,null],"c":{"d":-4}}`, ""},
		{`{"a":1.5,"b":1e0,"c":1.0e2,"d":"1.0"}`, ""},
		{`1.00`, `1`},
		{`-0.0`, `0`},
		{`{"a":1,"b":[2,{"c":3.0}]}`, `{"a":1,"b":[2,{"c":3}]}`},
		{`[1.5,[10.000]]`, `[1.5,[10]]`},
	} {
		in, err := format.ParseJSON([]byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		out, changed := integralValue(in)
		if changed != (tt.want != "") {
			t.Errorf("%s: changed = %v", tt.in, changed)
			continue
		}
		if !changed {
			continue
		}
		var b bytes.Buffer
		enc, _ := format.NewEncoder(format.NDJSON, &b, format.EncodeOptions{})
		enc.Encode(out)
		enc.Close()
		if got := strings.TrimSpace(b.String()); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, got, tt.want)
		}
	}
}
