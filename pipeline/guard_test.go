package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// files writes a tree under a temp folder; a value "-> target" makes a
// symlink instead.
func files(t *testing.T, tree map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range tree {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(body, "-> "); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(body), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestGuard(t *testing.T) {
	const head = "version: 1\nstages:\n  a:\n    source: {paths: [\"data/**/*.json\"]}\n    schema: s.cue#S\n"
	tests := []struct {
		name string
		tree map[string]string
		tail string
		want string // "" for no finding
	}{
		{"a plain output is fine", nil,
			"    outputs: [{format: ndjson, path: out/a.ndjson}]\n", ""},
		{"the manifest itself", map[string]string{"data/pipeline.json": "{}"},
			"    outputs: [{format: yaml, path: \"{stem}.yaml\"}]\n",
			`6:36: stages.a.outputs[0].path: output "{stem}.yaml" for the source data/pipeline.json is pipeline.yaml, the manifest itself`},
		{"the schema", nil,
			"    outputs: [{format: ndjson, path: s.cue}]\n",
			`6:38: stages.a.outputs[0].path: output "s.cue" is s.cue, the schema of stage a`},
		{"the state folder", nil,
			"    rejects: .zpipe/journal.bin\n",
			`6:14: stages.a.rejects: rejects file ".zpipe/journal.bin" is inside the state folder .zpipe`},
		{"a folder", map[string]string{"out/x/keep": ""},
			"    outputs: [{format: ndjson, path: out/x}]\n",
			`6:38: stages.a.outputs[0].path: output "out/x" is an existing directory`},
		{"a symlinked output folder that leaves", map[string]string{"out": "-> " + os.TempDir()},
			"    outputs: [{format: ndjson, path: out/a.ndjson}]\n",
			`6:38: stages.a.outputs[0].path: output "out/a.ndjson" is `},
		{"two sources, one file", map[string]string{"data/x/a.json": "{}", "data/y/a.json": "{}"},
			"    outputs: [{format: ndjson, path: \"out/{stem}.ndjson\"}]\n",
			`6:38: stages.a.outputs[0].path: output "out/{stem}.ndjson" for the source data/x/a.json is out/a.ndjson, which it also gives for the source data/a.json`},
		{"an output and the rejects on one file", nil,
			"    outputs: [{format: ndjson, path: out/a.ndjson}]\n    rejects: out/a.ndjson\n",
			`7:14: stages.a.rejects: rejects file "out/a.ndjson" is out/a.ndjson, which stages.a.outputs[0] (pipeline.yaml:6:38) also writes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := map[string]string{"s.cue": "#S: {...}", "data/a.json": "{}", "pipeline.yaml": head + tt.tail}
			for k, v := range tt.tree {
				tree[k] = v
			}
			dir := files(t, tree)
			wd, _ := os.Getwd()
			os.Chdir(dir)
			defer os.Chdir(wd)
			m, err := Load("pipeline.yaml")
			if err != nil {
				t.Fatal(err)
			}
			err = NewGuard([]*Manifest{m}, filepath.Join(dir, ".zpipe")).Check()
			got := ""
			if err != nil {
				got = strings.TrimPrefix(err.Error(), "pipeline.yaml:")
			}
			if tt.want == "" && got != "" || !strings.HasPrefix(got, tt.want) || tt.want != "" && got == "" {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	dir := files(t, map[string]string{
		"proj/data/b.json":       "{}",
		"proj/data/a.json":       "{}",
		"proj/data/sub/c.json":   "{}",
		"proj/data/same":         "-> sub", // a second way to c.json
		"proj/data/alias.json":   "-> a.json",
		"proj/data/loop":         "-> ..", // back to proj
		"proj/data/ext":          "-> ../../ext",
		"proj/out/all.json":      "{}",
		"proj/data/prev":         "-> ../out", // the stage's own output
		"proj/.zpipe/x.json":     "{}",
		"ext/e.json":             "{}",
		"proj/pipeline.yaml":     "version: 1\nstages:\n  a:\n    source: {paths: [\"data/**/*.json\"]}\n    schema: s.cue#S\n    outputs: [{format: json, path: out/all.json}]\n",
		"proj/s.cue":             "#S: {...}",
		"proj/data/.zpipe-tmp-1": "{}",
	})
	m, err := Load(filepath.Join(dir, "proj", "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(follow bool, want []string, skipped []string) {
		t.Helper()
		s := *m.Stages[0]
		s.Source.FollowSymlinks = follow
		src, err := s.Resolve(m, filepath.Join(m.Dir, ".zpipe"))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range src.Files {
			got = append(got, m.Rel(f.Path))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("follow=%v: files %v, want %v", follow, got, want)
		}
		if strings.Join(src.Skipped, "\n") != strings.Join(skipped, "\n") {
			t.Errorf("follow=%v: skipped\n%s\nwant\n%s", follow, strings.Join(src.Skipped, "\n"), strings.Join(skipped, "\n"))
		}
	}
	check(false, []string{"data/a.json", "data/b.json", "data/same/c.json"}, []string{
		"not following data/ext: the symlink leads out of the manifest's folder to ../ext; set source.follow_symlinks: true to read it",
		"not following data/loop: the symlink loops back to .",
		"not reading data/prev/all.json: it is an output of this stage",
	})
	check(true, []string{"data/a.json", "data/b.json", "data/ext/e.json", "data/same/c.json"}, []string{
		"not following data/loop: the symlink loops back to .",
		"not reading data/prev/all.json: it is an output of this stage",
	})
}

// A file that only looks like one of the stage's outputs is a source: here
// {dir}/clean/{stem}.json would match ref/clean/r.json with {dir} = ref,
// but no source ref/r.json makes it.
func TestResolveReadsLookalikes(t *testing.T) {
	dir := files(t, map[string]string{
		"data/a.json":      "{}",
		"ref/clean/r.json": "{}",
		"s.cue":            "#S: {...}",
		"pipeline.yaml": "version: 1\nstages:\n  a:\n    source: {paths: [\"data/*.json\", \"ref/clean/*.json\"]}\n    schema: s.cue#S\n" +
			"    outputs: [{format: json, path: \"{dir}/clean/{stem}.json\"}]\n",
	})
	_, src := resolveFirst(t, dir)
	if len(src.Files) != 2 || len(src.Skipped) != 0 {
		t.Errorf("files %v, skipped %v", src.Files, src.Skipped)
	}
}

func TestGuardFollowsDanglingLinks(t *testing.T) {
	// out/link leads to out/newdir, which only stage a's output creates.
	dir := files(t, map[string]string{
		"s.cue":       "#S: {...}",
		"data/a.json": "{}",
		"out/link":    "-> newdir",
		"pipeline.yaml": "version: 1\nstages:\n" +
			"  a:\n    source: {paths: [\"data/*.json\"]}\n    schema: s.cue#S\n    outputs: [{format: ndjson, path: out/newdir/x.ndjson}]\n" +
			"  b:\n    source: {paths: [\"data/*.json\"]}\n    schema: s.cue#S\n    outputs: [{format: ndjson, path: out/link/x.ndjson}]\n",
	})
	m, err := Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	err = NewGuard([]*Manifest{m}, filepath.Join(dir, ".zpipe")).Check()
	if err == nil || !strings.Contains(err.Error(), `stages.b.outputs[0].path: output "out/link/x.ndjson" is out/link/x.ndjson (out/newdir/x.ndjson through a symlink), which stages.a.outputs[0]`) {
		t.Errorf("err = %v", err)
	}
}

// Two globs that match one file list it once, in the place of the first.
func TestResolveListsAFileOnce(t *testing.T) {
	dir := files(t, map[string]string{
		"data/a.json":   "{}",
		"data/b.json":   "{}",
		"pipeline.yaml": "version: 1\nstages:\n  a:\n    source: {paths: [\"data/b.json\", \"data/*.json\"]}\n    schema: s.cue#S\n    outputs: [{format: json, path: out/all.json}]\n",
		"s.cue":         "#S: {...}",
	})
	m, err := Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := m.Stages[0].Resolve(m, filepath.Join(m.Dir, ".zpipe"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range src.Files {
		got = append(got, m.Rel(f.Path))
	}
	if want := "data/b.json data/a.json"; strings.Join(got, " ") != want {
		t.Errorf("files %v, want %s", got, want)
	}
	if fmt.Sprint(src.PathFiles) != "[1 1]" || len(src.Empty) != 0 {
		t.Errorf("files by path %v, empty %v", src.PathFiles, src.Empty)
	}
	// A glob whose files an earlier one listed lists none, and is not
	// one that matches no file.
	s := *m.Stages[0]
	s.Source.Paths = []string{"data/*.json", "data/b.json", "data/c*.json"}
	later, err := s.Resolve(m, filepath.Join(m.Dir, ".zpipe"))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(later.PathFiles) != "[2 0 0]" || fmt.Sprint(later.Empty) != "[data/c*.json]" {
		t.Errorf("files by path %v, empty %v", later.PathFiles, later.Empty)
	}
	reals := src.Reals()
	if reals.Len() != 2 || !reals.Has(src.Files[0].Real) || !reals.Has(src.Files[1].Real) || reals.Has(filepath.Join(dir, "data")) {
		t.Errorf("reals %v", reals)
	}
}

func TestRealSet(t *testing.T) {
	for _, tc := range []struct {
		reals    []string
		has, not []string
	}{
		{reals: nil, not: []string{"", "/a"}},
		{reals: []string{"/b", "/a", "/b"}, has: []string{"/a", "/b"}, not: []string{"/", "/ab", "/c"}},
		{reals: []string{"/a", "/b", "/b", "/c"}, has: []string{"/a", "/b", "/c"}, not: []string{"/d"}},
		{reals: []string{"/a", "/b/c", "/b/d"}, has: []string{"/a", "/b/c", "/b/d"}, not: []string{"/b", "/e"}},
	} {
		var files []SourceFile
		for _, r := range tc.reals {
			files = append(files, SourceFile{Path: "x" + r, Real: r})
		}
		s := realSetOf(files)
		for _, p := range tc.has {
			if !s.Has(p) {
				t.Errorf("%v: has no %s", tc.reals, p)
			}
		}
		for _, p := range tc.not {
			if s.Has(p) {
				t.Errorf("%v: has %s", tc.reals, p)
			}
		}
		if want := len(tc.has); s.Len() != want {
			t.Errorf("%v: %d paths, want %d", tc.reals, s.Len(), want)
		}
	}
}

// A folder is read a batch at a time, yet listed in path order, with a
// subfolder's files in their place among the folder's own.
func TestResolveListsInNameOrderPastABatch(t *testing.T) {
	tree := map[string]string{
		"s.cue":             "#S: {...}",
		"pipeline.yaml":     "version: 1\nstages:\n  a:\n    source: {paths: [\"data/**/*.json\"]}\n    schema: s.cue#S\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n",
		"data/f2050/x.json": "{}",
		"data/f2050.txt":    "not a source",
	}
	var want []string
	for i := range 5000 {
		name := fmt.Sprintf("data/f%04d.json", i)
		tree[name] = "{}"
		want = append(want, name)
		if i == 2050 {
			want = append(want, "data/f2050/x.json")
		}
	}
	m, src := resolveFirst(t, files(t, tree))
	var got []string
	for _, f := range src.Files {
		got = append(got, m.Rel(f.Path))
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %d files, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// resolveFirst loads dir's pipeline.yaml and lists its first stage's files.
func resolveFirst(t *testing.T, dir string) (*Manifest, *Sources) {
	t.Helper()
	m, err := Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := m.Stages[0].Resolve(m, filepath.Join(dir, ".zpipe"))
	if err != nil {
		t.Fatal(err)
	}
	return m, src
}
