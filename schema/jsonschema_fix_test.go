package schema

import (
	"os"
	"path/filepath"
	"testing"
)

// The rewrites of fixTranslation give JSON Schema's verdicts, and touch
// nothing but keywords: data under const and property names that happen
// to be keywords stay as they are.
func TestJSONSchemaTranslationFixes(t *testing.T) {
	const d7 = `"$schema": "http://json-schema.org/draft-07/schema#", `
	const closedA = `"$defs": {"a": {"type": "object", "properties": {"n": {"type": "string"}}, "additionalProperties": false}}`
	const nullOrB = `"$defs": {"b": {"type": ["object", "null"], "properties": {"n": {"type": "string"}}, "additionalProperties": false}}`
	for _, tc := range []struct {
		schema string
		valid  []string
		bad    []string
	}{
		// A tuple allows fewer items (CUE requires them all).
		{`{` + d7 + `"items": [{"type": "integer"}, {"type": "string"}], "additionalItems": false}`,
			[]string{`[]`, `[1]`, `[1, "a"]`, `"not a list"`}, []string{`["a"]`, `[1, 2]`, `[1, "a", 3]`}},
		{`{"prefixItems": [{"type": "integer"}, {"type": "string"}], "items": false}`,
			[]string{`[]`, `[1]`, `[1, "a"]`}, []string{`["a"]`, `[1, "a", 3]`}},
		// A tuple beside an allOf of its own.
		{`{` + d7 + `"allOf": [{"minItems": 1}], "items": [{"type": "integer"}]}`,
			[]string{`[1]`, `[1, "x"]`}, []string{`[]`, `["a"]`}},
		// Boolean subschemas where CUE drops or misreads them.
		{`{` + d7 + `"allOf": [true, false]}`, nil, []string{`1`, `{}`}},
		{`{` + d7 + `"anyOf": [false, {"type": "string"}]}`, []string{`"a"`}, []string{`1`}},
		{`{` + d7 + `"if": false, "then": {"const": 1}, "else": {"const": 2}}`, []string{`2`}, []string{`1`}},
		{`{` + d7 + `"if": {"const": 1}, "then": false}`, []string{`2`}, []string{`1`}},
		{`{` + d7 + `"if": {"const": 1}, "else": false}`, []string{`1`}, []string{`2`}},
		// else: false inside oneOf, as uxp's plug-in manifests have it:
		// CUE v0.17 failed the matchIf even where its condition held.
		{`{` + d7 + `"type": "object", "properties": {"e": {"type": "array", "items": {"type": "object", "required": ["t"], "properties": {"t": {"enum": ["a", "b"]}}, ` +
			`"oneOf": [{"if": {"properties": {"t": {"const": "a"}}}, "then": {"properties": {"t": true, "n": {"type": "integer"}}, "additionalProperties": false}, "else": false}, ` +
			`{"if": {"properties": {"t": {"const": "b"}}}, "then": {"properties": {"t": true, "m": true}, "additionalProperties": false}, "else": false, "allOf": [{"required": ["t"]}]}]}}}}`,
			[]string{`{"e": [{"t": "a"}]}`, `{"e": [{"t": "a", "n": 1}, {"t": "b", "m": 1}]}`}, []string{`{"e": [{"t": "a", "m": 1}]}`, `{"e": [{"t": "a", "n": "x"}]}`, `{"e": [{"t": "c"}]}`, `{"e": [{"t": "b", "n": 1}]}`}},
		// Before draft 7, if and else are no keywords.
		{`{"$schema": "http://json-schema.org/draft-06/schema#", "if": {"const": 1}, "else": false}`, []string{`1`, `2`}, nil},
		// Data is not rewritten: a const that looks like a tuple schema,
		// a property named items.
		{`{` + d7 + `"const": {"items": [1, 2], "allOf": [false]}}`, []string{`{"items": [1, 2], "allOf": [false]}`}, []string{`{"items": [1], "allOf": [false]}`}},
		{`{` + d7 + `"properties": {"items": {"type": "array"}, "allOf": {"const": false}}}`, []string{`{"items": [], "allOf": false}`}, []string{`{"allOf": true}`}},
		// A $ref into the tuple keeps it as written.
		{`{` + d7 + `"items": [{"type": "integer"}, {"$ref": "#/items/0"}]}`, []string{`[1, 2]`}, []string{`[1, "a"]`}},
		// "type": "object" beside a $ref to a closed object, under a root
		// that is closed too or a list: CUE v0.17 let the {...} it is
		// translated to open the $ref's object (dropOpenStructs).
		{`{"additionalProperties": false, "properties": {"t": {"type": "object", "$ref": "#/$defs/a"}}, ` + closedA + `}`,
			[]string{`{"t": {"n": "a"}}`, `{}`}, []string{`{"t": {"n": "a", "extra": 1}}`, `{"t": {"n": 1}}`, `{"u": 1}`}},
		{`{"items": {"type": "object", "$ref": "#/$defs/a"}, ` + closedA + `}`,
			[]string{`[{"n": "a"}]`, `[]`}, []string{`[{"n": "a", "extra": 1}]`}},
		{`{"additionalProperties": false, "properties": {"t": {"type": "object", "$ref": "#/$defs/b"}}, ` + nullOrB + `}`,
			[]string{`{"t": {"n": "a"}}`}, []string{`{"t": null}`, `{"t": {"n": "a", "extra": 1}}`}},
		{`{"additionalProperties": false, "properties": {"t": {"type": "object", "$ref": "#/$defs/a", "properties": {"m": {"type": "string"}}}}, ` + closedA + `}`,
			[]string{`{"t": {"n": "a"}}`}, []string{`{"t": {"n": "a", "m": "x"}}`, `{"t": {"n": "a", "extra": 1}}`, `{"t": {"m": 1}}`}},
		// "properties" beside a $ref without "type": the open literal is
		// an alternative of the type disjunction (the review's cases).
		{`{"$ref": "#/$defs/a", "properties": {"m": {"type": "string"}}, ` + closedA + `}`,
			[]string{`{"n": "a"}`}, []string{`{"n": "a", "extra": 1}`, `{"m": "x"}`, `1`}},
		{`{"additionalProperties": false, "properties": {"t": {"$ref": "#/$defs/a", "properties": {"m": {"type": "string"}}}}, ` + closedA + `}`,
			[]string{`{"t": {"n": "a"}}`}, []string{`{"t": {"n": "a", "extra": 1}}`, `{"t": {"m": "x"}}`}},
		// ... and with a conjunction in that alternative.
		{`{"$ref": "#/$defs/a", "properties": {"m": {"type": "string"}}, "maxProperties": 3, ` + closedA + `}`,
			[]string{`{"n": "a"}`}, []string{`{"n": "a", "extra": 1}`, `{"m": "x"}`}},
		{`{"additionalProperties": false, "properties": {"t": {"$ref": "#/$defs/a", "properties": {"m": {"type": "string"}}, "minProperties": 1}}, ` + closedA + `}`,
			[]string{`{"t": {"n": "a"}}`}, []string{`{"t": {"n": "a", "extra": 1}}`, `{"t": {"m": "x"}}`}},
		// Two open objects unified: neither is dropped for the other.
		{`{"type": "object", "additionalProperties": true, "allOf": [{"type": "object", "additionalProperties": true}]}`,
			[]string{`{"a": 1}`, `{}`}, []string{`1`, `null`}},
		{`{"properties": {"t": {"type": "object", "additionalProperties": true, "allOf": [{"type": "object", "additionalProperties": true}]}}}`,
			[]string{`{"t": {"a": 1}}`}, []string{`{"t": 1}`}},
		{`{"additionalProperties": false, "properties": {"t": {"type": "object", "oneOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/c"}]}}, "$defs": {` +
			`"a": {"properties": {"n": {"type": "string"}}, "required": ["n"], "additionalProperties": false}, ` +
			`"c": {"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"], "additionalProperties": false}}}`,
			[]string{`{"t": {"n": "a"}}`, `{"t": {"k": 1}}`}, []string{`{"t": {"n": "a", "extra": 1}}`, `{"t": {"n": "a", "k": 1}}`, `{"t": null}`}},
	} {
		g := suiteGroup{Description: tc.schema, Schema: []byte(tc.schema)}
		for _, d := range tc.valid {
			g.Tests = append(g.Tests, suiteTest{Description: d, Data: []byte(d), Valid: true})
		}
		for _, d := range tc.bad {
			g.Tests = append(g.Tests, suiteTest{Description: d, Data: []byte(d), Valid: false})
		}
		got := zpipeVerdicts(t, t.TempDir(), g.Schema, g)
		for i, tt := range g.Tests {
			if got[i] != tt.Valid {
				t.Errorf("%s: %s: valid %v, want %v", tc.schema, tt.Description, got[i], tt.Valid)
			}
		}
	}
}

// "type": "object" beside a $ref to an object schema is translated to
// #a & {...}; the rewrite leaves #a, so that the fast path takes the
// whole schema where it refused a unification of two structs.
func TestTypeObjectBesideARefIsOneStruct(t *testing.T) {
	const defs = `"$defs": {"a": {"type": "object", "properties": {"n": {"type": "string"}}, "additionalProperties": false}, ` +
		`"c": {"type": "object", "properties": {"k": {"type": "integer"}}, "additionalProperties": false}}`
	for _, src := range []string{
		`{"additionalProperties": false, "properties": {"t": {"type": "object", "$ref": "#/$defs/a"}}, ` + defs + `}`,
		`{"items": {"type": "object", "oneOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/c"}]}, ` + defs + `}`,
		`{"type": "object", "allOf": [{"if": {"required": ["n"]}, "then": {"$ref": "#/$defs/a"}}], ` + defs + `}`,
	} {
		file := filepath.Join(t.TempDir(), "s.schema.json")
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		sch, err := Load(Spec{File: file})
		if err != nil {
			t.Fatal(err)
		}
		if ok, why := sch.FastPath(); !ok || len(sch.Fallbacks()) > 0 {
			t.Errorf("%s: FastPath() = %v, %q; Fallbacks() = %v", src, ok, why, sch.Fallbacks())
		}
	}
}
