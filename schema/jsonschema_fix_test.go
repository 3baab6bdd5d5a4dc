package schema

import "testing"

// The rewrites of fixTranslation give JSON Schema's verdicts, and touch
// nothing but keywords: data under const and property names that happen
// to be keywords stay as they are.
func TestJSONSchemaTranslationFixes(t *testing.T) {
	const d7 = `"$schema": "http://json-schema.org/draft-07/schema#", `
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
		// Data is not rewritten: a const that looks like a tuple schema,
		// a property named items.
		{`{` + d7 + `"const": {"items": [1, 2], "allOf": [false]}}`, []string{`{"items": [1, 2], "allOf": [false]}`}, []string{`{"items": [1], "allOf": [false]}`}},
		{`{` + d7 + `"properties": {"items": {"type": "array"}, "allOf": {"const": false}}}`, []string{`{"items": [], "allOf": false}`}, []string{`{"allOf": true}`}},
		// A $ref into the tuple keeps it as written.
		{`{` + d7 + `"items": [{"type": "integer"}, {"$ref": "#/items/0"}]}`, []string{`[1, 2]`}, []string{`[1, "a"]`}},
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
