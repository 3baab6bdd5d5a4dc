package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sketch is the manifest from DESIGN.md, exactly as written there: it must
// load.
const sketch = `version: 1
name: users
defaults:
  parallel: 4              # items in flight per stage; default: number of CPUs
  on_error: continue       # continue | stop
  retry: {max: 2, delay: 200ms, backoff: 2, max_delay: 5s}
  timeout: 30s             # per item
limits:
  max_concurrent_stages: 2
  max_memory: 512MiB       # enforced, not advisory
  throttle: 10ms           # minimum gap between item starts (or rate: 100/s)
schemas:
  user: schemas/user.cue#User
stages:
  users:
    priority: high         # critical | high | normal | low | integer
    source:
      paths: ["data/users/*.json", "data/users/*.yaml"]
      exclude: ["**/*.tmp"]
      format: auto         # auto = by extension, then by content
    schema: user
    transform: schemas/user.cue#Public   # optional: CUE that maps ` + "`in`" + ` to the output record
    outputs:
      - {format: yaml,   path: "out/users/{stem}.yaml"}   # one file per source item
      - {format: ndjson, path: "out/users.ndjson"}        # every record, merged, in input order
    rejects: out/users.rejects.ndjson                     # invalid records with their errors
  report:
    needs: [users]         # also implied when a source glob matches another stage's output
    source: {paths: ["out/users.ndjson"]}
    schema: schemas/user.cue#User
    outputs: [{format: csv, path: out/users.csv}]
`

func writeManifest(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSketch(t *testing.T) {
	p := writeManifest(t, sketch)
	m, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Stages) != 2 || m.Stages[0].Name != "users" || m.Stages[1].Name != "report" {
		t.Fatalf("stages = %+v", m.Stages)
	}
	u := m.Stages[0]
	if u.Parallel != 4 || u.OnError != Continue || u.Timeout != 30*time.Second || u.Priority != 10 {
		t.Errorf("settings = %+v, priority %d", u.Settings, u.Priority)
	}
	if u.Retry != (Retry{Max: 2, Delay: 200 * time.Millisecond, Backoff: 2, MaxDelay: 5 * time.Second}) {
		t.Errorf("retry = %+v", u.Retry)
	}
	if m.Limits != (Limits{MaxConcurrentStages: 2, MaxMemory: 512 << 20, Throttle: 10 * time.Millisecond}) {
		t.Errorf("limits = %+v", m.Limits)
	}
	if u.Schema.File != filepath.Join(m.Dir, "schemas/user.cue") || u.Schema.Def != "User" || u.Transform.Def != "Public" {
		t.Errorf("schema = %+v, transform %+v", u.Schema, u.Transform)
	}
	if u.Source.Format != "" || len(u.Outputs) != 2 || !u.Outputs[0].PerSource() || u.Outputs[1].PerSource() {
		t.Errorf("source %+v outputs %+v", u.Source, u.Outputs)
	}
	plan, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Deps["report"]; len(got) != 1 || got[0] != (Dep{"users", "needs"}) {
		t.Errorf("deps = %+v", got)
	}
}

func TestLoadErrors(t *testing.T) {
	base := "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: s.cue#User\n"
	tests := []struct {
		name, src, want string
	}{
		{"an unknown format lists the formats", base + "    outputs:\n      - {format: xml, path: out/x.xml}\n",
			`pipeline.yaml:7:18: stages.users.outputs[0].format: "xml" is not one of json, ndjson, yaml, toml, csv, tsv`},
		{"a misspelt key suggests the right one", strings.Replace(base, "source:", "sorce:", 1),
			`pipeline.yaml:4:5: stages.users.sorce: field not allowed (did you mean "source"?)`},
		{"a number too large for its setting is out of bound", strings.Replace(base, "version: 1", "version: 1\ndefaults: {parallel: 99999999999999999999}", 1),
			`pipeline.yaml:2:22: defaults.parallel: invalid value 99999999999999999999 (out of bound <=2147483647)`},
		{"a duration too long to hold is said to be one", strings.Replace(base, "version: 1", "version: 1\ndefaults: {timeout: 99999999999h}", 1),
			`pipeline.yaml:2:21: defaults.timeout: "99999999999h" is not a duration such as 200ms or 1m30s`},
		{"a wrong type says what was expected", strings.Replace(base, "version: 1", "version: 1\ndefaults: {parallel: many}", 1),
			`pipeline.yaml:2:22: defaults.parallel: conflicting values "many" and int (mismatched types string and int)`},
		{"a setting with a default is checked as written, not against its default", strings.Replace(base, "version: 1", "version: 1\ndefaults: {retry: {backoff: 0.5}}", 1),
			`pipeline.yaml:2:29: defaults.retry.backoff: invalid value 0.5 (out of bound >=1)`},
		{"a source format with a default lists the formats", strings.Replace(base, "paths:", "format: xml, paths:", 1),
			`pipeline.yaml:4:22: stages.users.source.format: "xml" is not one of json, ndjson, yaml, toml, csv, tsv, auto`},
		{"an output option its format ignores is an error", base + "    outputs: [{format: csv, path: out/x.csv, indent: 4}]\n",
			`pipeline.yaml:6:54: stages.users.outputs[0].indent: indent does not apply to a csv output; it shapes json and yaml`},
		{"pretty is for json", base + "    outputs: [{format: yaml, path: out/x.yaml, pretty: false}]\n",
			`pipeline.yaml:6:56: stages.users.outputs[0].pretty: pretty does not apply to a yaml output; it shapes json only`},
		{"an output may not leave the folder", base + "    outputs: [{format: json, path: ../x.json}]\n",
			`pipeline.yaml:6:36: stages.users.outputs[0].path: output path "../x.json" escapes the manifest's folder`},
		{"an output may not be absolute", base + "    outputs: [{format: json, path: /tmp/x.json}]\n",
			`pipeline.yaml:6:36: stages.users.outputs[0].path: output path "/tmp/x.json" is absolute; write it relative to the manifest`},
		{"a placeholder must be known", base + "    outputs: [{format: json, path: \"out/{base}.json\"}]\n",
			`pipeline.yaml:6:36: stages.users.outputs[0].path: unknown placeholder {base}; use {stem}, {name}, {ext} or {dir}`},
		{"a schema name must exist", strings.Replace(base, "s.cue#User", "usr", 1),
			`pipeline.yaml:5:13: stages.users.schema: "usr" is neither a name under schemas () nor a .cue or JSON Schema (.json) file`},
		{"needs must name a stage", base + "    needs: [nope]\n",
			`pipeline.yaml:6:13: stages.users.needs[0]: no stage is named "nope" (stages: users)`},
		{"an empty manifest", "", "pipeline.yaml: manifest is empty"},
		{"a YAML syntax error has its position", "version: 1\nstages: [\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeManifest(t, tt.src)
			wd, _ := os.Getwd()
			os.Chdir(filepath.Dir(p))
			defer os.Chdir(wd)
			_, err := Load("pipeline.yaml")
			var merr *Error
			if !errors.As(err, &merr) {
				t.Fatalf("err = %v, want a manifest error", err)
			}
			if merr.ExitCode() != 2 {
				t.Errorf("exit code %d", merr.ExitCode())
			}
			if tt.want == "" {
				if !strings.HasPrefix(err.Error(), "pipeline.yaml:") || strings.Contains(err.Error(), "\n") {
					t.Errorf("want one positioned line, got %q", err)
				}
				return
			}
			if err.Error() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", err, tt.want)
			}
		})
	}
}

func TestCompileCycle(t *testing.T) {
	src := `version: 1
stages:
  a:
    needs: [c]
    source: {paths: [in/*.json]}
    schema: s.cue
  b:
    needs: [a]
    source: {paths: [in/*.json]}
    schema: s.cue
  c:
    source: {paths: [out/b.json]}
    schema: s.cue
    outputs: [{format: json, path: out/c.json}]
`
	src = strings.Replace(src, "  b:\n    needs: [a]\n    source: {paths: [in/*.json]}\n    schema: s.cue\n",
		"  b:\n    needs: [a]\n    source: {paths: [in/*.json]}\n    schema: s.cue\n    outputs: [{format: json, path: out/b.json}]\n", 1)
	m, err := Load(writeManifest(t, src))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(m)
	if err == nil || !strings.HasSuffix(err.Error(), "stages depend on each other in a cycle: a -> b -> c -> a") {
		t.Errorf("err = %v", err)
	}
}

func TestCompileOrder(t *testing.T) {
	src := `version: 1
stages:
  report:
    source: {paths: ["out/*.ndjson"]}
    schema: s.cue
  low:
    priority: low
    source: {paths: [a.json]}
    schema: s.cue
  users:
    priority: 7
    source: {paths: [a.json]}
    schema: s.cue
    outputs: [{format: ndjson, path: out/users.ndjson}]
`
	m, err := Load(writeManifest(t, src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range p.Stages {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "users report low" {
		t.Errorf("order = %s", got)
	}
	if d := p.Deps["report"]; len(d) != 1 || d[0] != (Dep{"users", "out/users.ndjson"}) {
		t.Errorf("implied deps = %+v", d)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(sketch))
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "fuzz", "FuzzLoad", "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "m.yaml")
		os.WriteFile(p, data, 0o644)
		m, err := Load(p)
		if err != nil {
			var merr *Error
			if !errors.As(err, &merr) {
				t.Fatalf("not a manifest error: %v", err)
			}
			for _, d := range merr.Diags {
				if strings.Contains(d.Msg, "\n") {
					t.Fatalf("a diagnostic spans lines: %q", d.Msg)
				}
			}
			return
		}
		Compile(m)
	})
}

func TestCompileImpliesEdgeFromRejects(t *testing.T) {
	src := `version: 1
stages:
  triage:
    source: {paths: [out/users.rejects.ndjson]}
    schema: s.cue
  users:
    source: {paths: [a.json]}
    schema: s.cue
    rejects: out/users.rejects.ndjson
`
	m, err := Load(writeManifest(t, src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Deps["triage"]; len(d) != 1 || d[0] != (Dep{"users", "out/users.rejects.ndjson"}) {
		t.Errorf("deps = %+v, want triage after users", d)
	}
	if p.Stages[0].Name != "users" {
		t.Errorf("users does not run first")
	}
}

func TestCompileImpliesEdgeThroughDir(t *testing.T) {
	src := `version: 1
stages:
  report:
    source: {paths: ["data/*.out.json"]}
    schema: s.cue
  users:
    source: {paths: ["data/*.in.json"]}
    schema: s.cue
    outputs: [{format: json, path: "{dir}/{stem}.out.json"}]
`
	m, err := Load(writeManifest(t, src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Deps["report"]; len(d) != 1 || d[0].Stage != "users" {
		t.Errorf("deps = %+v, want report after users", d)
	}
}
