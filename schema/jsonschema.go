package schema

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cuejson "cuelang.org/go/encoding/json"
	"cuelang.org/go/encoding/jsonschema"
)

// IsJSONSchema says whether a schema file is a JSON Schema rather than
// CUE: a .json file, such as user.schema.json.
func IsJSONSchema(file string) bool {
	return strings.EqualFold(filepath.Ext(file), ".json")
}

// fromJSONSchema translates a JSON Schema document into CUE with CUE's
// own encoding/jsonschema, so that a JSON Schema is checked by the same
// engine, with the same messages, as a CUE schema. The draft is the one
// $schema names (2020-12 when it names none). Positions stay those of
// the JSON file, so that a message cites the keyword that failed.
func fromJSONSchema(ctx *cue.Context, file string, src []byte) (*ast.File, error) {
	expr, err := cuejson.Extract(file, src)
	if err != nil {
		return nil, err
	}
	doc := ctx.BuildExpr(expr, cue.Filename(file))
	if err := doc.Err(); err != nil {
		return nil, err
	}
	f, err := jsonschema.Extract(doc, &jsonschema.Config{})
	if err != nil {
		return nil, err
	}
	// A $ref that leaves the document becomes a CUE import of the schema
	// it names (a path with a host, not a standard package such as
	// strings), which zpipe does not fetch.
	for imp := range f.ImportSpecs() {
		path := strings.Trim(imp.Path.Value, `"`)
		if first, _, _ := strings.Cut(path, "/"); strings.ContainsAny(first, ".:") {
			refs := strings.Join(outsideRefs(src), ", ")
			return nil, fmt.Errorf("$ref %s leads outside the file; zpipe follows $ref only within a JSON Schema's own file, and never over the network", refs)
		}
	}
	return f, nil
}

// outsideRefs lists the $ref values of a JSON Schema that do not start
// with #, for a message that names the one that leads away.
func outsideRefs(src []byte) []string {
	var doc any
	json.Unmarshal(src, &doc)
	var refs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok && !strings.HasPrefix(r, "#") {
				refs = append(refs, strconv.Quote(r))
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	sort.Strings(refs)
	return refs
}
