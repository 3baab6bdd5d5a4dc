package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"

	"github.com/zpipe/zpipe/cueschemas"
	"github.com/zpipe/zpipe/format"
)

const lintSchema = `#User: {
	id:       int
	nick:     string | null
	address?: {city: string}
	tags?:    [...string]
	extra?:   _
}
#Flat: {
	in:   #User
	id:   in.id
	city: *in.address.city | ""
}
#Where: {
	in:    #User
	where: in.address
}
#NoIn: {id: int}
`

// loadLint writes files into a fresh folder, loads its pipeline.yaml and
// lints it.
func loadLint(t *testing.T, files map[string]string) []Diagnostic {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return Lint(context.Background(), m)
}

func TestLint(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string // line:col severity path: msg
	}{{
		name: "clean",
		manifest: `version: 1
stages:
  users:
    source: {paths: [data/*.json]}
    schema: user.cue#User
    outputs: [{format: json, path: out/users.json}, {format: yaml, path: out/users.yaml}]
  flat:
    source: {paths: [out/users.json]}
    schema: user.cue#User
    transform: user.cue#Flat
    outputs: [{format: csv, path: out/flat.csv}, {format: toml, path: out/flat.toml}]
`,
	}, {
		name: "glob matches nothing",
		manifest: `version: 1
stages:
  users:
    source: {paths: [data/*.json, none/*.json, data/*.tmp], exclude: ["*.tmp"]}
    schema: user.cue#User
`,
		want: []string{
			`4:35 warning stages.users.source.paths[1]: source "none/*.json" matches no file`,
			`4:48 warning stages.users.source.paths[2]: source "data/*.tmp" matches no file`,
		},
	}, {
		name: "glob matches another stage's per-source output",
		manifest: `version: 1
stages:
  report: {source: {paths: ["out/*.ndjson"]}, schema: user.cue#User}
  users:
    source: {paths: [data/*.json]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: "out/{stem}.ndjson"}]
`,
	}, {
		name: "cycle",
		manifest: `version: 1
stages:
  a: {needs: [b], source: {paths: [data/*.json]}, schema: user.cue#User}
  b: {needs: [a], source: {paths: [data/*.json]}, schema: user.cue#User}
`,
		want: []string{`3:6 error stages.a: stages depend on each other in a cycle: a -> b -> a`},
	}, {
		name: "reads its own output",
		manifest: `version: 1
stages:
  a:
    source: {paths: [data/*.json, out/a.json]}
    schema: user.cue#User
    outputs: [{format: json, path: out/a.json}]
`,
		want: []string{`4:21 error stages.a.source.paths: the stage reads its own output out/a.json; exclude it or write elsewhere`},
	}, {
		name: "schema and transform errors",
		manifest: `version: 1
stages:
  a: {source: {paths: [data/*.json]}, schema: missing.cue#User}
  b: {source: {paths: [data/*.json]}, schema: user.cue#Nope}
  c: {source: {paths: [data/*.json]}, schema: user.cue#User, transform: user.cue#NoIn}
`,
		want: []string{
			`3:47 error stages.a.schema: schema file missing.cue does not exist`,
			`4:47 error stages.b.schema: user.cue: definition #Nope does not exist (defined: #User, #Flat, #Where, #NoIn)`,
			`5:73 error stages.c.transform: user.cue: transform #NoIn declares no field "in" to take the record`,
		},
	}, {
		name: "formats",
		manifest: `version: 1
stages:
  users:
    source: {paths: [data/*.json]}
    schema: user.cue#User
    outputs:
      - {format: csv, path: out/users.csv}
      - {format: toml, path: out/users.toml}
  where:
    source: {paths: [data/*.json]}
    schema: user.cue#User
    transform: user.cue#Where
    outputs: [{format: tsv, path: out/where.tsv}]
`,
		want: []string{
			`7:9 warning stages.users.outputs[0]: csv cannot hold null, which the field "nick" allows (user.cue#User)`,
			`7:9 error stages.users.outputs[0]: csv cannot hold the nested object field "address" (user.cue#User)`,
			`7:9 error stages.users.outputs[0]: csv cannot hold the list field "tags" (user.cue#User)`,
			`8:9 warning stages.users.outputs[1]: toml cannot hold null, which the field "nick" allows (user.cue#User)`,
			`13:15 error stages.where.outputs[0]: tsv cannot hold the nested object field "where" (user.cue#Where)`,
		},
	}, {
		name: "formats that hold objects, lists and null",
		manifest: `version: 1
stages:
  users:
    source: {paths: [data/*.json]}
    schema: user.cue#User
    outputs:
      - {format: json, path: out/users.json}
      - {format: ndjson, path: out/users.ndjson}
      - {format: yaml, path: out/users.yaml}
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diags := loadLint(t, map[string]string{
				"pipeline.yaml": tt.manifest,
				"user.cue":      lintSchema,
				"data/a.json":   `{"id": 1, "nick": null}`,
				"data/b.tmp":    `{"id": 2, "nick": null}`,
			})
			var got []string
			for _, d := range diags {
				if d.File != "" && !strings.HasSuffix(d.File, "pipeline.yaml") {
					t.Errorf("file = %q, want the manifest", d.File)
				}
				got = append(got, fmt.Sprintf("%d:%d %s %s: %s", d.Line, d.Col, d.Severity, d.Path, d.Msg))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Lint =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestPos(t *testing.T) {
	m, err := Load(writeManifest(t, sketch))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path      []string
		line, col int
	}{
		{[]string{"stages", "users", "outputs", "1"}, 25, 9},
		{[]string{"stages", "report", "schema"}, 30, 13},
		{[]string{"stages", "report", "nothing"}, 28, 5}, // nearest present parent
	} {
		if line, col := m.Pos(tt.path...); line != tt.line || col != tt.col {
			t.Errorf("Pos(%v) = %d:%d, want %d:%d", tt.path, line, col, tt.line, tt.col)
		}
	}
	if line, col := (&Manifest{}).Pos("stages"); line != 0 || col != 0 {
		t.Errorf("Pos on a Manifest Load did not return = %d:%d, want 0:0", line, col)
	}
}

// A format registers itself in format/, and manifest.cue's #Format must
// name it too; this catches one without the other.
func TestManifestNamesEveryFormat(t *testing.T) {
	v := cuecontext.New().CompileBytes(cueschemas.Manifest).LookupPath(cue.ParsePath("#Format"))
	if err := v.Err(); err != nil {
		t.Fatal(err)
	}
	op, args := v.Expr()
	if op != cue.OrOp {
		t.Fatalf("#Format is %v, want a disjunction of names", op)
	}
	var names []string
	for _, a := range args {
		s, err := a.String()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, s)
	}
	if got, want := strings.Join(names, ", "), format.Names(); got != want {
		t.Errorf("#Format names %s; the registered formats are %s", got, want)
	}
}
