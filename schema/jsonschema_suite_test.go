package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cuejson "cuelang.org/go/encoding/json"
	"cuelang.org/go/encoding/jsonschema"
	santhosh "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/zpipe/zpipe/format"
)

// suiteDrafts are the JSON-Schema-Test-Suite's folders and the $schema
// each one's schemas are read as when they do not say.
var suiteDrafts = []struct{ dir, uri string }{
	{"draft4", "http://json-schema.org/draft-04/schema#"},
	{"draft6", "http://json-schema.org/draft-06/schema#"},
	{"draft7", "http://json-schema.org/draft-07/schema#"},
	{"draft2019-09", "https://json-schema.org/draft/2019-09/schema"},
	{"draft2020-12", "https://json-schema.org/draft/2020-12/schema"},
}

type suiteGroup struct {
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Tests       []suiteTest     `json:"tests"`
}

type suiteTest struct {
	Description string          `json:"description"`
	Data        json.RawMessage `json:"data"`
	Valid       bool            `json:"valid"`
}

// tally counts the tests one validator got right.
type tally struct{ pass, total int }

func (t tally) String() string {
	if t.total == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d (%.0f%%)", t.pass, t.total, 100*float64(t.pass)/float64(t.total))
}

// TestJSONSchemaSuite runs every test of the JSON-Schema-Test-Suite
// through zpipe's JSON Schema input, through CUE's decoder used directly,
// and through santhosh-tekuri/jsonschema (the reference), and prints the
// three side by side, required and optional apart. It asserts that zpipe
// never does worse than CUE's decoder alone, never panics or hangs, and
// passes every required test of drafts 4, 6, 7 and 2020-12. Where CUE's
// translation falls short, zpipe checks natively (jsonschema_native.go).
func TestJSONSchemaSuite(t *testing.T) {
	root := filepath.Join("..", "..", "shared", "testsuites", "jsonschema")
	if _, err := os.Stat(root); err != nil {
		t.Skip("the JSON-Schema-Test-Suite is not at ../shared/testsuites/jsonschema")
	}
	if testing.Short() {
		t.Skip("runs the whole JSON-Schema-Test-Suite")
	}
	type row struct{ zpipe, cue, ref tally }
	rows := map[string]*row{}
	var zpipeBehind []string
	for _, d := range suiteDrafts {
		files, _ := filepath.Glob(filepath.Join(root, "tests", d.dir, "*.json"))
		opt, _ := filepath.Glob(filepath.Join(root, "tests", d.dir, "optional", "*.json"))
		opt2, _ := filepath.Glob(filepath.Join(root, "tests", d.dir, "optional", "*", "*.json"))
		for _, set := range []struct {
			kind  string
			files []string
		}{{"required", files}, {"optional", append(opt, opt2...)}} {
			r := &row{}
			rows[d.dir+" "+set.kind] = r
			for _, file := range set.files {
				var groups []suiteGroup
				b, _ := os.ReadFile(file)
				if err := json.Unmarshal(b, &groups); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				for gi, g := range groups {
					src := withDraft(g.Schema, d.uri)
					zp := zpipeVerdicts(t, root, src, g)
					cv, cueCompiled := cueVerdicts(src, g)
					rf := refVerdicts(root, src, g)
					for i, tc := range g.Tests {
						r.zpipe.total++
						r.cue.total++
						r.ref.total++
						if zp[i] == tc.Valid {
							r.zpipe.pass++
						} else if os.Getenv("ZPIPE_SUITE_FAILS") != "" && set.kind == "required" {
							t.Logf("wrong: %s %s#%d %q: %q (valid %v)", d.dir, filepath.Base(file), gi, g.Description, tc.Description, tc.Valid)
						}
						if cv[i] == tc.Valid {
							r.cue.pass++
						}
						if rf[i] == tc.Valid {
							r.ref.pass++
						}
						// Where CUE alone refused the schema it is "right"
						// only on the tests that expect invalid data. From
						// 2019-09 on format is an annotation, as the
						// required format.json says, so zpipe no longer
						// checks the formats CUE does; optional/format
						// assumes the format-assertion vocabulary.
						annotation := strings.Contains(d.dir, "20") && strings.Contains(file, filepath.FromSlash("/optional/format/"))
						if cueCompiled && cv[i] == tc.Valid && zp[i] != tc.Valid && !annotation {
							zpipeBehind = append(zpipeBehind, fmt.Sprintf("%s %s#%d %q: %q", d.dir, filepath.Base(file), gi, g.Description, tc.Description))
						}
					}
				}
			}
		}
	}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var table strings.Builder
	table.WriteString("| tests | zpipe | CUE's decoder | santhosh-tekuri/jsonschema v6 |\n|---|---|---|---|\n")
	for _, k := range keys {
		r := rows[k]
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", k, r.zpipe, r.cue, r.ref)
	}
	t.Log("\n" + table.String())
	if out := os.Getenv("ZPIPE_SUITE_TABLE"); out != "" {
		os.WriteFile(out, []byte(table.String()), 0o644)
	}
	for _, s := range zpipeBehind {
		t.Errorf("zpipe gets wrong what CUE's decoder gets right: %s", s)
	}
	// Every required test of these drafts passes (issue 11's goal).
	for _, dir := range []string{"draft4", "draft6", "draft7", "draft2020-12"} {
		if r := rows[dir+" required"]; r.zpipe.pass != r.zpipe.total {
			t.Errorf("%s: zpipe passes %s of the required tests, not all", dir, r.zpipe)
		}
	}
}

// withDraft adds the folder's $schema to a schema that names none.
func withDraft(schema json.RawMessage, uri string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(schema, &m) != nil {
		return schema // true or false
	}
	if _, ok := m["$schema"]; !ok {
		m["$schema"], _ = json.Marshal(uri)
	}
	b, _ := json.Marshal(m)
	return b
}

// zpipeVerdicts checks each test's data as zpipe check would: the schema
// loaded from its JSON file, with the suite's remotes mapped as a
// manifest's schema_refs would map them, and the data read by zpipe's
// json decoder as one record. A schema zpipe refuses fails every test
// that expects valid data, and passes those that expect invalid.
func zpipeVerdicts(t *testing.T, root string, src []byte, g suiteGroup) []bool {
	out := make([]bool, len(g.Tests))
	file := filepath.Join(t.TempDir(), "schema.json")
	os.WriteFile(file, src, 0o644)
	remotes, _ := filepath.Abs(filepath.Join(root, "remotes"))
	sch, err := Load(Spec{File: file}, WithRefs(map[string]string{"http://localhost:1234/": remotes + "/"}))
	if err != nil {
		return out
	}
	v := sch.Validator()
	defer sch.Put(v)
	for i, tc := range g.Tests {
		dec, err := format.NewDecoder(format.JSON, bytes.NewReader(tc.Data), format.Limits{MaxDepth: 1000, MaxLine: 1 << 20, MaxNodes: 1 << 20, Whole: true})
		if err != nil {
			continue
		}
		rec, err := dec.Next()
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := v.CheckBatch(ctx, []any{rec.Value}, false)
		cancel()
		if err != nil {
			t.Errorf("%s: %s: %v", g.Description, tc.Description, err)
			continue
		}
		out[i] = len(res[0].Violations) == 0
	}
	return out
}

// cueVerdicts checks each test's data with CUE's jsonschema decoder used
// directly: the data unified with the schema, then validated concrete. It
// says whether the schema compiled at all.
func cueVerdicts(src []byte, g suiteGroup) ([]bool, bool) {
	out := make([]bool, len(g.Tests))
	ctx := cuecontext.New()
	expr, err := cuejson.Extract("schema.json", src)
	if err != nil {
		return out, false
	}
	f, err := jsonschema.Extract(ctx.BuildExpr(expr), &jsonschema.Config{})
	if err != nil {
		return out, false
	}
	sv := ctx.BuildFile(f)
	if sv.Err() != nil {
		return out, false
	}
	for i, tc := range g.Tests {
		dv := ctx.CompileBytes(tc.Data)
		out[i] = sv.Unify(dv).Validate(cue.Concrete(true)) == nil
	}
	return out, true
}

// refVerdicts checks each test's data with santhosh-tekuri/jsonschema,
// with the suite's remotes served from its folder, never the network.
func refVerdicts(root string, src []byte, g suiteGroup) []bool {
	out := make([]bool, len(g.Tests))
	c := santhosh.NewCompiler()
	c.UseLoader(remoteLoader{filepath.Join(root, "remotes")})
	doc, err := santhosh.UnmarshalJSON(bytes.NewReader(src))
	if err != nil {
		return out
	}
	if err := c.AddResource("schema.json", doc); err != nil {
		return out
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		return out
	}
	for i, tc := range g.Tests {
		v, err := santhosh.UnmarshalJSON(bytes.NewReader(tc.Data))
		out[i] = err == nil && sch.Validate(v) == nil
	}
	return out
}

type remoteLoader struct{ dir string }

func (l remoteLoader) Load(url string) (any, error) {
	rest, ok := strings.CutPrefix(url, "http://localhost:1234/")
	if !ok {
		return nil, fmt.Errorf("%s is not one of the suite's remotes", url)
	}
	f, err := os.Open(filepath.Join(l.dir, filepath.FromSlash(rest)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return santhosh.UnmarshalJSON(f)
}
