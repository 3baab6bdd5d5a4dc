package pipelines

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/rogpeppe/go-internal/txtar"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/zpipe/zpipe/pipeline"
)

// manifestSchema compiles the committed zpipe.schema.json with an
// independent JSON Schema validator, as an editor would use it.
func manifestSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("../../zpipe.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("zpipe.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("zpipe.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func yamlDoc(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Every manifest the loader accepts, in the examples and in the CLI
// scripts, is valid against the JSON Schema that editors are given.
func TestLoadedManifestsMatchTheJSONSchema(t *testing.T) {
	sch := manifestSchema(t)
	manifests := map[string][]byte{}
	files, _ := filepath.Glob("*/pipeline.yaml")
	for _, f := range files {
		manifests[f], _ = os.ReadFile(f)
	}
	scripts, _ := filepath.Glob("../../testdata/script/*.txtar")
	for _, script := range scripts {
		ar, err := txtar.ParseFile(script)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ar.Files {
			if strings.HasSuffix(f.Name, ".yaml") && strings.Contains(string(f.Data), "stages:") {
				manifests[filepath.Base(script)+":"+f.Name] = f.Data
			}
		}
	}
	loaded := 0
	for name, b := range manifests {
		p := filepath.Join(t.TempDir(), "pipeline.yaml")
		os.WriteFile(p, b, 0o644)
		if _, err := pipeline.Load(p); err != nil {
			continue // refused by the loader; the schema may be laxer
		}
		loaded++
		if err := sch.Validate(yamlDoc(t, b)); err != nil {
			t.Errorf("%s: the loader accepts it, the JSON Schema does not: %v", name, err)
		}
	}
	if loaded < 20 {
		t.Fatalf("only %d manifests loaded", loaded)
	}
	t.Logf("%d manifests loaded, all valid against zpipe.schema.json", loaded)
}

// The schema is closed as the loader is: a misspelt key is an error in
// the editor too.
func TestTheJSONSchemaRejectsWhatTheLoaderRejects(t *testing.T) {
	sch := manifestSchema(t)
	for _, bad := range []string{
		"version: 1\nstages: {a: {source: {paths: [x]}, schema: s.cue#S, outputs: [{format: json, path: o}]}}\nlimtis: {}\n",
		"version: 1\nstages: {a: {source: {paths: [x]}, schema: s.cue#S, outputs: [{format: json, path: o}], paralel: 2}}\n",
		"version: 1\nstages: {a: {source: {paths: [x]}, schema: s.cue#S, outputs: [{format: xml, path: o}]}}\n",
		"version: 2\nstages: {a: {source: {paths: [x]}, schema: s.cue#S, outputs: [{format: json, path: o}]}}\n",
		"stages: {a: {source: {paths: [x]}, schema: s.cue#S, outputs: [{format: json, path: o}]}}\n",
	} {
		p := filepath.Join(t.TempDir(), "pipeline.yaml")
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := pipeline.Load(p); err == nil {
			t.Errorf("the loader accepts\n%s", bad)
		}
		if err := sch.Validate(yamlDoc(t, []byte(bad))); err == nil {
			t.Errorf("the JSON Schema accepts\n%s", bad)
		}
	}
}
