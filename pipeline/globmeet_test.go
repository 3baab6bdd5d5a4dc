package pipeline

import (
	"math/rand/v2"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bmatcuk/doublestar/v4"
)

func TestGlobMeets(t *testing.T) {
	for _, tt := range []struct {
		glob, template string
		want           bool
	}{
		{"mid/users-*.ndjson", "mid/{stem}.ndjson", true},
		{"mid/*.ndjson", "mid/{name}", true},
		{"mid/*.ndjson", "mid/{stem}.{ext}", true},
		{"mid/*.ndjson", "mid/{stem}.json", false},
		{"mid/*.ndjson", "mid/sub/{stem}.ndjson", false},
		{"mid/**/*.ndjson", "mid/sub/{stem}.ndjson", true},
		{"mid/**", "mid/{stem}.ndjson", true},
		{"**/*.ndjson", "{stem}.ndjson", true},
		{"mid/x?.ndjson", "mid/{stem}.ndjson", true},
		{"mid/x?.ndjson", "mid/{stem}-long.ndjson", false},
		{"mid/[ab]*.json", "mid/c{stem}.json", false},
		{"mid/[!ab]*.json", "mid/c{stem}.json", true},
		{"mid/[a-c]*.json", "mid/c{stem}.json", true},
		{"mid/{a,b}-*.json", "mid/b-{stem}.json", true},
		{"mid/{a,b}-*.json", "mid/c-{stem}.json", false},
		{"mid/*/x.json", "mid/{stem}/x.json", true},
		{"mid/*.json", "mid/{stem}/x.json", false},
		{"data/*.json", "{dir}/{stem}.json", true},
		{"*.json", "{dir}/{stem}.json", true}, // {dir} of a source beside the manifest
		{"out/a.json", "out/a.json", true},
		{"out/*.json", "out/b.yaml", false},
		{`mid/\*.json`, "mid/{stem}.json", true},
		{`mid/\*.json`, "mid/x{stem}.json", false},
	} {
		if got := globMeets(tt.glob, tt.template); got != tt.want {
			t.Errorf("globMeets(%q, %q) = %v, want %v", tt.glob, tt.template, got, tt.want)
		}
	}
}

// Whenever a file the template names matches the glob, globMeets says
// they meet: on random globs, templates and placeholder values.
func TestGlobMeetsWhenAFileMatches(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	for range 20000 {
		glob := pick("mid", "out", "**", "*") + "/" + pick("*", "a*", "*b", "a?", "[ab]*", "[!a]*", "{a,bb}*", "**/*", "ab") + pick(".json", ".ndjson", "", ".*", "*")
		tpl := pick("mid", "out", "{dir}", "{stem}") + "/" + pick("{stem}", "a{stem}", "{stem}b", "{name}", "ab", "a") + pick(".json", ".{ext}", "", ".ndjson")
		val := func() string { return pick("a", "b", "ab", "bb", "x", "ba", "a.b") }
		path := tpl
		for strings.Contains(path, "{") {
			i := strings.IndexByte(path, '{')
			j := strings.IndexByte(path[i:], '}') + i
			v := val()
			if path[i:j+1] == "{dir}" {
				v = pick("mid", "out", "mid/sub")
			}
			path = path[:i] + v + path[j+1:]
		}
		if ok, _ := doublestar.Match(glob, path); ok && !globMeets(glob, tpl) {
			t.Fatalf("%q matches %s, a file of %q, and globMeets says they do not meet", glob, path, tpl)
		}
	}
}

// {ext} is the extension the writer's sources have where their glob fixes
// it: b writes work/{stem}.ndjson from mid/*.ndjson, which a's work/*.json
// does not read, so there is no cycle. And {ext} of a glob that does not
// fix one is any extension.
func TestExtOfTheSourcesMakesNoFalseCycle(t *testing.T) {
	m := &Manifest{File: "/p/p.yaml", Dir: "/p"}
	a := &Stage{Name: "a", Outputs: []Output{{Path: "mid/{stem}.ndjson"}}}
	a.Source.Paths = []string{"work/*.json"}
	b := &Stage{Name: "b", Outputs: []Output{{Path: "work/{stem}.{ext}"}}}
	b.Source.Paths = []string{"mid/*.ndjson"}
	m.Stages = []*Stage{a, b}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Deps["b"]; len(got) != 1 || got[0].Stage != "a" || len(p.Deps["a"]) != 0 {
		t.Errorf("deps = %v, want b after a alone", p.Deps)
	}
	b.Source.Paths = []string{"mid/*"}
	if _, err := Compile(m); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("with mid/*, b may write work/x.json: err = %v, want a cycle", err)
	}
}

// A witness matches both the glob and the template it is made of.
func TestGlobWitnessMatchesBoth(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	found := 0
	for range 5000 {
		glob := pick("mid", "out", "**", "*") + "/" + pick("*", "a*", "*b", "a?", "[ab]*", "[!a]*", "{a,bb}*", "**/*", "ab", "x-*") + pick(".json", ".ndjson", "", ".*", "*")
		tpl := pick("mid", "out", "{dir}") + "/" + pick("{stem}", "a{stem}", "{stem}b", "{name}", "ab", "a") + pick(".json", ".{ext}", "", ".ndjson")
		globs, ok := globPaths(glob)
		tpls, _ := templatePaths(tpl)
		if !ok {
			continue
		}
		for _, g := range globs {
			for _, tp := range tpls {
				w, ok := witness(g, tp)
				if !ok {
					continue
				}
				found++
				if m, _ := doublestar.Match(glob, w); !m || !templateRE(tpl).MatchString(w) {
					t.Fatalf("witness %q of %q and %q matches the glob: %v, the template: %v", w, glob, tpl, m, templateRE(tpl).MatchString(w))
				}
			}
		}
	}
	if found < 1000 {
		t.Errorf("only %d witnesses", found)
	}
}

// templateRE is what templatePaths makes of a template, as a regexp:
// {stem} and {ext} may be empty.
func templateRE(tpl string) *regexp.Regexp {
	re := "^" + regexp.QuoteMeta(tpl) + "$"
	for _, r := range [][2]string{{"{dir}/", "(.+/)?"}, {"{dir}", ".+"}, {"{name}", "[^/]+"}, {"{stem}", "[^/]*"}, {"{ext}", "[^/]*"}} {
		re = strings.ReplaceAll(re, regexp.QuoteMeta(r[0]), r[1])
	}
	return regexp.MustCompile(re)
}

// A stage's excludes are tried on a path its glob and the template both
// match, not on a name made up for the placeholder: zpipe-any has a dash,
// which mid/*-*.ndjson excludes.
func TestReadsTriesExcludesOnAWitness(t *testing.T) {
	s := &Stage{Name: "b"}
	s.Source.Paths = []string{"mid/*.ndjson"}
	s.Source.Exclude = []string{"mid/*-*.ndjson"}
	if !s.reads("/p", "mid/{stem}.ndjson") {
		t.Error("mid/{stem}.ndjson is not read past an exclude of names with a dash")
	}
	if s.reads("/p", "mid/{stem}-x.ndjson") {
		t.Error("mid/{stem}-x.ndjson is read, though every such name has a dash")
	}
	s.Source.Exclude = []string{"mid/*.ndjson"}
	if s.reads("/p", "mid/{stem}.ndjson") {
		t.Error("mid/{stem}.ndjson is read, though the exclude takes all of them")
	}
}

// A stage that reads a file another stage's per-source output writes runs
// after it, whatever folders {dir} is and however many .. follow it: on
// random source globs, templates and source files. {dir} was once the
// glob's static folder (data for data/**/*.json), and {dir}/.. cleaned
// away, so a reader of data/x/clean/ or data/clean/ ran first.
func TestAStageRunsAfterTheFilesItReads(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	tried := 0
	for range 5000 {
		wglob := pick("data/*.json", "data/**/*.json", "*.json", "**/*.json", "data/*/in/*.json", "data/{a,b/c}/*.json", "data/**", "data/**/in/*.json",
			"data/*/*.json", "/p/data/**/*.json", "/p/data/*.json")
		tpl := pick("{dir}", "{dir}/..", "{dir}/../..", "data/{dir}", "{dir}/x/..", "out", "x{dir}/..", "{dir}_out", "{dir}.out/..", "out/{dir}") + "/" +
			pick("clean/", "", "../clean/", "./") + "{stem}.ndjson"
		src := pick("data/a.json", "data/b/c/a.json", "a.json", "data/x/in/a.json", "data/a/q.json", "data/b/c/q.json", "data/x/y/z/q.json")
		if ok, _ := doublestar.Match(strings.TrimPrefix(wglob, "/p/"), src); !ok {
			continue
		}
		m := &Manifest{File: "/p/p.yaml", Dir: "/p"}
		rel, err := filepath.Rel(m.Dir, m.expand(tpl, "/p/"+src))
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if ok, _ := doublestar.Match(strings.TrimPrefix(wglob, "/p/"), filepath.ToSlash(rel)); ok {
			continue // the writer reads it too: an error of its own
		}
		rglob := path.Join(path.Dir(filepath.ToSlash(rel)), "*.ndjson")
		w := &Stage{Name: "w", Outputs: []Output{{Path: tpl}}}
		w.Source.Paths = []string{wglob}
		rd := &Stage{Name: "r", Outputs: []Output{{Path: "res/r.csv"}}}
		rd.Source.Paths = []string{rglob}
		m.Stages = []*Stage{rd, w}
		p, err := Compile(m)
		if err != nil {
			t.Fatalf("%s writing %s, %s reading: %v", wglob, tpl, rglob, err)
		}
		if d := p.Deps["r"]; len(d) != 1 || d[0].Stage != "w" {
			t.Fatalf("%s writes %s (%s from %s); %s reads it, yet deps = %v", wglob, tpl, rel, src, rglob, p.Deps)
		}
		tried++
	}
	if tried < 500 {
		t.Fatalf("only %d cases tried", tried)
	}
}

func TestTemplateOf(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"out/./{stem}.json", "out/{stem}.json"},
		{"out/a/../{stem}.json", "out/{stem}.json"},
		{"{dir}/../clean/{stem}.json", "{dir}/clean/{stem}.json"},
		{"data/{dir}/../c/{stem}", "data/{dir}/c/{stem}"},
		{"data/{dir}/../../c/{stem}", "{dir}/c/{stem}"},
		{"a/b/{dir}/../../c/{stem}", "a/{dir}/c/{stem}"},
		{"x{dir}/../c/{stem}", "{dir}/c/{stem}"},
		{"{dir}/a/../b/{stem}", "{dir}/b/{stem}"},
		{"{dir}/../../c/{stem}", "{dir}/c/{stem}"},
		{"../{dir}/../{stem}", "../{dir}/{stem}"},
		{"./{dir}/{stem}", "{dir}/{stem}"},
		{"{stem}/../x.json", "x.json"},
	} {
		if got := templateOf(c.in); got != c.want {
			t.Errorf("templateOf(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// {dir} of data/*/*.json is never data itself: with it, {dir}_merged.ndjson
// was data_merged.ndjson, which *.ndjson reads, a cycle that is not there.
func TestDirBelowTheStaticFolderMakesNoFalseCycle(t *testing.T) {
	m := &Manifest{File: "/p/p.yaml", Dir: "/p"}
	per := &Stage{Name: "perfolder", Outputs: []Output{{Path: "{dir}_merged.ndjson"}}}
	per.Source.Paths = []string{"data/*/*.json"}
	sum := &Stage{Name: "summary", Outputs: []Output{{Path: "data/summary/all.json"}}}
	sum.Source.Paths = []string{"*.ndjson"}
	m.Stages = []*Stage{per, sum}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Deps["perfolder"]; len(d) != 1 || d[0].Stage != "summary" || len(p.Deps["summary"]) != 0 {
		t.Errorf("deps = %v, want perfolder after summary alone", p.Deps)
	}
}
