package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/internal/cachetest"
	"github.com/zpipe/zpipe/pipeline"
	"github.com/zpipe/zpipe/schema"
)

func TestMain(m *testing.M) {
	// ZPIPE_TEST_SPILL=1 runs every test with the item stores keeping
	// one small block in memory and spilling the rest.
	if os.Getenv("ZPIPE_TEST_SPILL") != "" {
		storeBlock, storeResident = 200, 0
	}
	// ZPIPE_TEST_WINDOWS=1 runs every stage that runWindowed can in
	// windows of two files.
	if windowsTest = os.Getenv("ZPIPE_TEST_WINDOWS") != ""; windowsTest {
		windowedFiles, runWindow = 1, 2
	}
	remove := cachetest.Use()
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { remove() }))
}

// windowsTest is set by ZPIPE_TEST_WINDOWS, read in TestMain so that go
// test's cache tells the two apart.
var windowsTest bool

// skipWindowsTest skips a test of how items are grouped in packs: each
// window of a windowed stage ends with a commit of its own.
func skipWindowsTest(t *testing.T) {
	if windowsTest {
		t.Skip("ZPIPE_TEST_WINDOWS: each window of two files commits its own pack")
	}
}

// project writes files into a temp folder; "pipeline.yaml" is the manifest.
func project(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func run(t *testing.T, dir string, opts Options) *Summary {
	t.Helper()
	return runCtx(context.Background(), t, dir, opts)
}

func runCtx(ctx context.Context, t *testing.T, dir string, opts Options) *Summary {
	t.Helper()
	sum, err := tryRun(ctx, t, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// tryRun runs the project's manifest, which must load, and returns what
// Run returns.
func tryRun(ctx context.Context, t *testing.T, dir string, opts Options) (*Summary, error) {
	t.Helper()
	return Run(ctx, planOf(t, dir), opts)
}

// planOf loads and compiles the project's manifest, which must load.
func planOf(t testing.TB, dir string) *pipeline.Plan {
	t.Helper()
	m, err := pipeline.Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const userSchema = `#User: {
	id:   int & >=1
	name: string & !=""
	tier: *"free" | "pro"
}
`

func manyUsers(n, badEvery int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("u%d", i)
		if badEvery > 0 && i%badEvery == 0 {
			name = ""
		}
		fmt.Fprintf(&b, "{\"id\":%d,\"name\":%q}\n", i, name)
	}
	return b.String()
}

func TestMergedOutputKeepsInputOrder(t *testing.T) {
	files := map[string]string{
		"user.cue": userSchema,
		"pipeline.yaml": `version: 1
stages:
  users:
    parallel: PAR
    source: {paths: ["data/*.ndjson"]}
    schema: user.cue#User
    outputs:
      - {format: ndjson, path: out/all.ndjson}
      - {format: csv, path: out/all.csv}
      - {format: json, path: "out/{stem}.json"}
    rejects: out/rejects.ndjson
`,
	}
	for i := 0; i < 6; i++ {
		files[fmt.Sprintf("data/part%d.ndjson", i)] = manyUsers(50, 7)
	}
	var want map[string]string
	for _, tc := range []struct {
		par   string
		chunk int64
	}{{"1", 0}, {"8", 0}, {"3", 256}} {
		t.Run("parallel "+tc.par+fmt.Sprintf(" chunk %d", tc.chunk), func(t *testing.T) {
			f := map[string]string{}
			for k, v := range files {
				f[k] = strings.Replace(v, "PAR", tc.par, 1)
			}
			dir := project(t, f)
			sum := run(t, dir, Options{ChunkSize: tc.chunk})
			if sum.Records != 300 || sum.Failed != 42 || sum.OK != 258 || sum.ExitCode() != 1 {
				t.Fatalf("summary = %+v", sum)
			}
			got := map[string]string{}
			for _, name := range []string{"out/all.ndjson", "out/all.csv", "out/part3.json", "out/rejects.ndjson"} {
				got[name] = read(t, dir, name)
			}
			if want == nil {
				want = got
				if !strings.HasPrefix(got["out/all.csv"], "id,name,tier\n1,u1,free\n") {
					t.Errorf("csv starts %q", got["out/all.csv"][:40])
				}
				return
			}
			for name := range want {
				if got[name] != want[name] {
					t.Errorf("%s differs from the parallel 1 run", name)
				}
			}
		})
	}
}

func TestBadLinesGoToRejectsWithTheirText(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":       userSchema,
		"data/a.ndjson":  "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":}\n{\"id\":3,\"name\":\"c\"}\n",
		"data/b.json":    "[{\"id\":4,\"name\":\"d\"}, {\"id\":5,",
		"pipeline.yaml":  "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n    rejects: out/rejects.ndjson\n",
		"data/empty.csv": "",
	})
	sum := run(t, dir, Options{})
	if sum.Records != 4 || sum.OK != 2 || sum.Failed != 2 || sum.FailedItems != 1 {
		t.Errorf("summary = %+v", sum)
	}
	if got, want := read(t, dir, "out/all.ndjson"), "{\"id\":1,\"name\":\"a\",\"tier\":\"free\"}\n{\"id\":3,\"name\":\"c\",\"tier\":\"free\"}\n"; got != want {
		t.Errorf("all.ndjson = %q, want %q", got, want)
	}
	want := `{"source":"data/a.ndjson","record":2,"line":2,"errors":[{"line":2,"column":16,"message":"unexpected '}', expected a value","error":"data/a.ndjson:2:16: record 2: unexpected '}', expected a value"}],"input":"{\"id\":2,\"name\":}"}
{"source":"data/b.json","record":2,"line":1,"errors":[{"line":1,"column":31,"message":"unexpected end of input, expected a string key","error":"data/b.json:1:31: record 2: unexpected end of input, expected a string key"}],"input":null}
`
	if got := read(t, dir, "out/rejects.ndjson"); got != want {
		t.Errorf("rejects:\n%s\nwant:\n%s", got, want)
	}
}

func TestStopSkipsDependants(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":     userSchema,
		"data/a.json":  `[{"id":1,"name":"a"},{"id":0,"name":"b"}]`,
		"out/all.json": "old\n",
		"pipeline.yaml": `version: 1
stages:
  users:
    on_error: stop
    source: {paths: [data/a.json]}
    schema: user.cue#User
    outputs: [{format: json, path: out/all.json}]
  report:
    source: {paths: [out/all.json]}
    schema: user.cue#User
    outputs: [{format: csv, path: out/all.csv}]
`,
	})
	sum := run(t, dir, Options{})
	if s := sum.Stages[0]; s.Status != StatusStopped {
		t.Errorf("users = %+v", s)
	}
	if s := sum.Stages[1]; s.Status != StatusSkipped || s.Error != "skipped: stage users did not finish" {
		t.Errorf("report = %+v", s)
	}
	if got := read(t, dir, "out/all.json"); got != "old\n" {
		t.Errorf("a stopped stage replaced its output: %q", got)
	}
}

func TestOutputNamesMayNotEscape(t *testing.T) {
	dir := project(t, map[string]string{
		"proj/user.cue":      userSchema,
		"in/a.json":          `{"id":1,"name":"a"}`,
		"proj/pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"../in/a.json\"]}\n    schema: user.cue#User\n    outputs: [{format: json, path: \"{dir}/{stem}.json\"}]\n",
	})
	m, err := pipeline.Load(filepath.Join(dir, "proj", "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), plan, Options{})
	want := filepath.Join(dir, "proj", "pipeline.yaml") + `:6:36: stages.users.outputs[0].path: output "{dir}/{stem}.json" for the source ../in/a.json is ../in/a.json, which escapes the manifest's folder`
	var se *SetupError
	if !errors.As(err, &se) || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "proj", ".zpipe")); err == nil {
		t.Error("a refused run made its state folder")
	}
}

// A rerun reads its journal while the manifest is checked: a run the
// check refuses leaves the journal as it was, torn or corrupt, and the
// folder unlocked.
func TestARefusedRerunLeavesTheJournalAlone(t *testing.T) {
	good := "version: 1\nstages:\n  users:\n    source: {paths: [\"in/*.json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/users.ndjson}]\n"
	bad := strings.Replace(good, "out/users.ndjson", "user.cue", 1)
	for _, tc := range []struct {
		name   string
		damage []byte // appended to the journal before the refused run
		force  bool
	}{
		{name: "sound"},
		{name: "torn at the end", damage: []byte{0x40, 'x', 'y'}},
		{name: "corrupt, with --force", damage: []byte("\x05hello\x00\x00\x00\x00 and more records after it"), force: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t, map[string]string{
				"user.cue":      userSchema,
				"in/a.json":     `{"id":1,"name":"a"}`,
				"pipeline.yaml": good,
			})
			run(t, dir, Options{})
			journal := filepath.Join(dir, ".zpipe", journalName)
			f, err := os.OpenFile(journal, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tc.damage)
			f.Close()
			before, _ := os.ReadFile(journal)
			if err := os.WriteFile(filepath.Join(dir, "pipeline.yaml"), []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = tryRun(context.Background(), t, dir, Options{Force: tc.force})
			var se *SetupError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), "user.cue") {
				t.Fatalf("err = %v, want the check's refusal", err)
			}
			if after, _ := os.ReadFile(journal); !bytes.Equal(after, before) {
				t.Error("a refused run changed the journal")
			}
			if tc.damage != nil {
				return
			}
			if err := os.WriteFile(filepath.Join(dir, "pipeline.yaml"), []byte(good), 0o644); err != nil {
				t.Fatal(err)
			}
			if sum := run(t, dir, Options{}); sum.Stages[0].UpToDate != 1 {
				t.Errorf("the next run found %d items up to date, want 1", sum.Stages[0].UpToDate)
			}
		})
	}
}

func TestInterruptedRunWritesNothing(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"data/a.ndjson": manyUsers(1000, 0),
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [data/a.ndjson]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n",
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Stopped before its schemas are loaded, whether or not they were
	// tried before: nothing ran.
	sum, err := tryRun(ctx, t, dir, Options{})
	var stopped *InterruptedError
	if sum != nil || !errors.As(err, &stopped) || stopped.ExitCode() != 130 || !errors.Is(err, context.Canceled) {
		t.Errorf("summary = %+v, err = %v; want no summary and an InterruptedError", sum, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Errorf("an interrupted run wrote out/: %v", err)
	}
	leftovers(t, dir)
}

// leftovers fails the test when a temp or part file is left in dir.
func leftovers(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasPrefix(d.Name(), ".zpipe-tmp-") || strings.HasSuffix(d.Name(), ".part")) {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

func TestRetriesOnlyTransientFailures(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"data/a.json":   `{"id":0,"name":"a"}`,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    retry: {max: 3, delay: 1ms}\n    source: {paths: [data/a.json]}\n    schema: user.cue#User\n",
	})
	m, err := pipeline.Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := pipeline.Compile(m)
	sch, err := schema.Load(plan.Stages[0].Schema)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{opts: Options{Limits: format.DefaultLimits}, tmp: t.TempDir()}
	n := &node{plan: plan, stage: plan.Stages[0], schema: sch, key: "0-users"}
	sr := &stageRun{r: r, n: n, m: m, s: n.stage, schema: sch, fn: newItemFunc(n.stage, sch, format.DefaultLimits)}
	tests := []struct {
		name     string
		source   string
		attempts int
		failed   int
		itemErr  bool
	}{
		{"a file that cannot be read is retried up to retry.max times", "gone.json", 4, 0, true},
		{"a schema violation is never retried", "data/a.json", 1, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			sr.items = []item{{Item: Item{Path: filepath.Join(dir, tt.source), Name: tt.source, Key: tt.source, Format: format.JSON}}}
			sr.results, sr.running, sr.started = make([]itemResult, 1), []int{0}, make([]time.Duration, 1)
			LocalPool{}.Execute(ctx, &Work{Items: []int{0}, Retry: sr.s.Retry, Attempt: sr.tryItem,
				Done: func(i int) { sr.finishItem(ctx, i) }, Skipped: func(int) { t.Error("skipped") }})
			res := sr.results[0]
			if res.attempts != tt.attempts || res.failed != tt.failed || (res.err != nil) != tt.itemErr {
				t.Errorf("attempts %d, failed %d, err %v", res.attempts, res.failed, res.err)
			}
		})
	}
}

func TestJournalIsCompacted(t *testing.T) {
	files := map[string]string{
		"user.cue":      userSchema,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n",
	}
	for i := 0; i < 300; i++ {
		files[fmt.Sprintf("data/%03d.json", i)] = fmt.Sprintf(`{"id":%d,"name":"u"}`, i+1)
	}
	dir := project(t, files)
	lines := func() int {
		return len(journalAsJSON(t, filepath.Join(dir, ".zpipe", journalName)))
	}
	max := 0
	for i := 0; i < 8; i++ {
		// Every input changes, so every run appends an entry per item.
		for k := 0; k < 300; k++ {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("data/%03d.json", k)), []byte(fmt.Sprintf(`{"id":%d,"name":"u%d"}`, k+1, i)), 0o644)
		}
		if sum := run(t, dir, Options{}); sum.OK != 300 || sum.UpToDate != 0 {
			t.Fatalf("run %d: %+v", i, sum)
		}
		max = maxInt(max, lines())
	}
	want := read(t, dir, "out/all.ndjson")
	// Eight runs append 8 × 300 item entries; compaction keeps the
	// journal near one run's worth plus the slack it allows.
	if max > 2*302+1000+305 {
		t.Errorf("journal grew to %d lines", max)
	}
	if sum := run(t, dir, Options{}); sum.UpToDate != 300 {
		t.Errorf("after compaction: %d up to date, want 300", sum.UpToDate)
	}
	if got := read(t, dir, "out/all.ndjson"); got != want {
		t.Errorf("output changed after compaction")
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// TestHalfDoneCommitIsRolledForward stops a commit of several outputs after
// its first rename, as a kill would, and checks that the next run completes
// it: every output then holds the new records, and none is redone.
func TestHalfDoneCommitIsRolledForward(t *testing.T) {
	for _, tempsGone := range []bool{false, true} {
		t.Run(map[bool]string{false: "temp files kept", true: "temp files swept"}[tempsGone], func(t *testing.T) {
			testHalfDoneCommit(t, tempsGone)
		})
	}
}

// testHalfDoneCommit kills a commit after its first rename. Its temp files
// may then be swept by another zpipe, as orphans: the commit cannot be
// completed, and the stage must rebuild its outputs instead of recording
// them as done.
func testHalfDoneCommit(t *testing.T, tempsGone bool) {
	dir := project(t, map[string]string{
		"user.cue":    userSchema,
		"data/a.json": `{"id":1,"name":"a"}`,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n" +
			"    outputs: [{format: ndjson, path: out/a.ndjson}, {format: json, path: out/b.json}]\n",
	})
	run(t, dir, Options{})
	os.WriteFile(filepath.Join(dir, "data/a.json"), []byte(`{"id":2,"name":"b"}`), 0o644)
	// Run again, and stand in for a kill once the commit's intent is in
	// the journal: do the first rename, and keep the other temp files as a
	// killed process would leave them (the failed commit removes its own).
	var events []string
	killed := killAfterFirstRename(t)
	sum := run(t, dir, Options{})
	killed(!tempsGone)
	if got := read(t, dir, "out/a.ndjson") + read(t, dir, "out/b.json"); got != "{\"id\":2,\"name\":\"b\",\"tier\":\"free\"}\n[\n  {\n    \"id\": 1,\n    \"name\": \"a\",\n    \"tier\": \"free\"\n  }\n]\n" {
		t.Fatalf("after the kill the outputs hold %q", got)
	}
	if st := sum.Stages[0]; st.Status != StatusFailed || st.Error != "replacing the outputs: killed" {
		t.Fatalf("stage = %+v", st)
	}
	sum = run(t, dir, Options{OnEvent: func(e Event) {
		if e.Msg != "" {
			events = append(events, e.Msg)
		}
	}})
	if got := read(t, dir, "out/a.ndjson") + read(t, dir, "out/b.json"); got != "{\"id\":2,\"name\":\"b\",\"tier\":\"free\"}\n[\n  {\n    \"id\": 2,\n    \"name\": \"b\",\n    \"tier\": \"free\"\n  }\n]\n" {
		t.Errorf("after the next run the outputs hold %q", got)
	}
	wantFirst, wantLast := "completed the commit of stage users that an earlier run left half done\n", "\nstage users: 1 up to date, 0 to run"
	if tempsGone {
		wantFirst = "cannot complete the commit of stage users that an earlier run left half done: the new ../out/b.json is gone; the stage rebuilds its outputs\n"
		wantLast = "\nstage users: 1 up to date, 0 to run: the outputs were not built from the saved items, so the outputs are rebuilt"
	}
	if got := strings.Join(events, "\n"); !strings.HasPrefix(got, wantFirst) || !strings.HasSuffix(got, wantLast) {
		t.Errorf("events:\n%s", strings.Join(events, "\n"))
	}
	if st := sum.Stages[0]; st.Status != StatusOK || st.UpToDate != 1 {
		t.Errorf("stage = %+v", st)
	}
	temps, _ := filepath.Glob(filepath.Join(dir, "out", ".zpipe-tmp-*"))
	if len(temps) > 0 {
		t.Errorf("temp files left: %v", temps)
	}
}

var errKilled = errors.New("killed")

// killAfterFirstRename stands in for a kill of the next commit once its
// intent is in the journal: it does the first rename and fails. The
// failed commit removes its other temp files; the func it returns ends
// the stand-in and, with keep, puts them back as a killed process leaves
// them.
func killAfterFirstRename(t *testing.T) func(keep bool) {
	t.Helper()
	var left [][2]string
	commitHook = func(renames [][2]string) error {
		if err := os.Rename(renames[0][0], renames[0][1]); err != nil {
			t.Fatal(err)
		}
		for _, r := range renames[1:] {
			b, _ := os.ReadFile(r[0])
			left = append(left, [2]string{r[0], string(b)})
		}
		return errKilled
	}
	return func(keep bool) {
		commitHook = nil
		for _, l := range left {
			if keep {
				os.WriteFile(l[0], []byte(l[1]), 0o644)
			}
		}
	}
}

// A kill after a commit's renames, before its stale outputs went, leaves
// them for the next run to remove, not for good: the commit's intent names
// them.
func TestKilledCommitRemovesItsStaleOutputsLater(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":    userSchema,
		"data/a.json": `{"id":1,"name":"a"}`,
		"data/b.json": `{"id":2,"name":"b"}`,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n" +
			"    outputs: [{format: ndjson, path: out/all.ndjson}, {format: yaml, path: \"out/by/{stem}.yaml\"}]\n",
	})
	run(t, dir, Options{})
	remove(t, dir, "data/b.json")
	commitHook = func(renames [][2]string) error {
		for _, r := range renames {
			if err := os.Rename(r[0], r[1]); err != nil {
				t.Fatal(err)
			}
		}
		return errKilled
	}
	run(t, dir, Options{})
	commitHook = nil
	if _, err := os.Stat(filepath.Join(dir, "out/by/b.yaml")); err != nil {
		t.Fatalf("the killed commit removed b.yaml already: %v", err)
	}
	var events []string
	run(t, dir, Options{OnEvent: func(e Event) { events = append(events, e.Msg) }})
	if _, err := os.Stat(filepath.Join(dir, "out/by/b.yaml")); err == nil {
		t.Errorf("b.yaml is left; events:\n%s", strings.Join(events, "\n"))
	}
	if got := read(t, dir, "out/all.ndjson"); got != "{\"id\":1,\"name\":\"a\",\"tier\":\"free\"}\n" {
		t.Errorf("out/all.ndjson holds %q", got)
	}
}

// A half-done commit is completed though a later stage reads one of its
// outputs: the stage writes it in this run, so its commit now would
// replace it all the same.
func TestHalfDoneCommitOfAFileALaterStageReads(t *testing.T) {
	// A stage's name may hold a '#', as the journal's keys do.
	for _, name := range []string{"users", "raw#users"} {
		t.Run(name, func(t *testing.T) { testHalfDoneCommitOfAFileALaterStageReads(t, name) })
	}
}

func testHalfDoneCommitOfAFileALaterStageReads(t *testing.T, name string) {
	dir := project(t, map[string]string{
		"user.cue":    userSchema,
		"data/a.json": `{"id":1,"name":"a"}`,
		"pipeline.yaml": "version: 1\nstages:\n  \"" + name + "\":\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n" +
			"    outputs: [{format: ndjson, path: out/a.ndjson}, {format: json, path: out/b.json}]\n" +
			"  report:\n    source: {paths: [out/a.ndjson]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: report.ndjson}]\n",
	})
	run(t, dir, Options{})
	os.WriteFile(filepath.Join(dir, "data/a.json"), []byte(`{"id":2,"name":"b"}`), 0o644)
	killed := killAfterFirstRename(t)
	run(t, dir, Options{})
	killed(true)
	var events []string
	run(t, dir, Options{OnEvent: func(e Event) { events = append(events, e.Msg) }})
	if !slices.Contains(events, "completed the commit of stage "+name+" that an earlier run left half done") {
		t.Errorf("events:\n%s", strings.Join(events, "\n"))
	}
	want := "{\"id\":2,\"name\":\"b\",\"tier\":\"free\"}\n"
	if got := read(t, dir, "out/a.ndjson") + read(t, dir, "report.ndjson"); got != want+want {
		t.Errorf("outputs hold %q", got)
	}
}

// A stage whose only record was rejected did not succeed, and its
// provenance says so.
func TestProvenanceCountsARejectAsAFailure(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"data/a.json":   `{"id":0,"name":"a"}`,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n",
	})
	sum := run(t, dir, Options{})
	st := sum.Provenance.Stages[0]
	if st.Items != 1 || st.Successful != 0 || st.Failed != 1 {
		t.Errorf("stage provenance = %+v", st)
	}
}

// Old run records go, the newest stay; what is not a run record stays,
// and a link named like one is not followed.
func TestRunRecordsArePruned(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"data/a.ndjson": "{\"id\":1,\"name\":\"a\"}\n",
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n",
	})
	runs := filepath.Join(dir, ".zpipe", "runs")
	for i := range 5 {
		os.MkdirAll(filepath.Join(runs, fmt.Sprintf("20200101T00000%dZ-abcdef", i)), 0o755)
	}
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "keep.txt"), []byte("x"), 0o644)
	if err := os.Symlink(outside, filepath.Join(runs, "20190101T000000Z-abcdef")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(runs, "notes.txt"), []byte("mine"), 0o644)

	sum := run(t, dir, Options{KeepRuns: 3})
	var got []string
	ents, _ := os.ReadDir(runs)
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := []string{"20190101T000000Z-abcdef", "20200101T000003Z-abcdef", "20200101T000004Z-abcdef", sum.RunID, "notes.txt"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("runs/ holds %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep.txt")); err != nil {
		t.Errorf("pruning followed a link: %v", err)
	}

	// A negative KeepRuns keeps every record.
	sum2 := run(t, dir, Options{KeepRuns: -1})
	if _, err := os.Stat(filepath.Join(runs, sum.RunID, recordName)); err != nil || sum2.RunID == sum.RunID {
		t.Errorf("KeepRuns -1 removed a record: %v", err)
	}
}

// A json file of one large array is cut between its elements and read on
// every core, as an ndjson file is: what it writes, and where it places
// each rejected record, are the same as when it is read whole.
// A file cut shorter after it was split fails the chunks it no longer
// holds, loudly: their records are not quietly missing from the outputs.
func TestAFileCutAfterItWasSplitFailsItsChunks(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "{\"id\": %d, \"name\": \"u%d\"}\n", i, i)
	}
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"data/a.ndjson": b.String(),
		"pipeline.yaml": `version: 1
stages:
  users:
    source: {paths: ["data/*.ndjson"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/all.ndjson}]
`,
	})
	var cut sync.Once
	ex := &countingExecutor{before: func(i, n int) {
		cut.Do(func() {
			half := strings.Index(b.String(), `{"id": 21,`)
			if err := os.Truncate(filepath.Join(dir, "data/a.ndjson"), int64(half)); err != nil {
				t.Error(err)
			}
		})
	}}
	var msgs []string
	sum := run(t, dir, Options{ChunkSize: 200, Executor: ex, OnEvent: func(e Event) { msgs = append(msgs, e.Msg) }})
	if st := sum.Stages[0]; st.FailedItems == 0 || st.Status != StatusFailed {
		t.Fatalf("summary = %+v, want failed chunks", st)
	}
	if !slices.ContainsFunc(msgs, func(m string) bool {
		return strings.Contains(m, "the file ends ") && strings.HasSuffix(m, " before this chunk does: it changed after it was split; the next run reads it again")
	}) {
		t.Errorf("no event says the file changed:\n%s", strings.Join(msgs, "\n"))
	}
	// The next run reads what the file now holds.
	sum = run(t, dir, Options{ChunkSize: 200})
	if sum.Records != 20 || sum.Failed != 0 || sum.FailedItems != 0 {
		t.Errorf("rerun: %+v", sum)
	}
	if out := read(t, dir, "out/all.ndjson"); strings.Count(out, "\n") != 20 || !strings.HasSuffix(out, `{"id":20,"name":"u20","tier":"free"}`+"\n") {
		t.Errorf("rerun wrote:\n%s", out)
	}
}

func TestLargeJSONArraysAreReadInChunks(t *testing.T) {
	var b strings.Builder
	b.WriteString("[\n")
	for i := 1; i <= 120; i++ {
		name := fmt.Sprintf("u%d", i)
		if i%9 == 0 {
			name = ""
		}
		fmt.Fprintf(&b, "  {\"id\": %d, \"name\": %q},", i, name)
		if i%4 == 0 {
			b.WriteString("\n")
		}
	}
	b.WriteString(" {\"id\": 121, \"name\": \"last\"}\n]\n")
	files := map[string]string{
		"user.cue":    userSchema,
		"data/a.json": b.String(),
		"pipeline.yaml": `version: 1
stages:
  users:
    source: {paths: ["data/*.json"]}
    schema: user.cue#User
    outputs:
      - {format: ndjson, path: out/all.ndjson}
      - {format: json, path: out/all.json}
    rejects: out/rejects.ndjson
`,
	}
	var want map[string]string
	for _, chunk := range []int64{0, 300} {
		dir := project(t, files)
		sum := run(t, dir, Options{ChunkSize: chunk})
		st := sum.Stages[0]
		if st.Records != 121 || st.Failed != 13 || (chunk > 0) != (st.Items > 1) {
			t.Fatalf("chunk %d: summary = %+v", chunk, st)
		}
		got := map[string]string{}
		for _, name := range []string{"out/all.ndjson", "out/all.json", "out/rejects.ndjson"} {
			got[name] = read(t, dir, name)
		}
		if want == nil {
			want = got
			if !strings.Contains(got["out/rejects.ndjson"], `"record":9,"line":4,"errors":[{"path":"name","line":4,"column":21,`) {
				t.Fatalf("rejects:\n%s", got["out/rejects.ndjson"])
			}
			continue
		}
		for name := range want {
			if got[name] != want[name] {
				t.Errorf("%s read in chunks:\n%s\nwhole:\n%s", name, got[name], want[name])
			}
		}
	}
	// A plan names each chunk by where it starts, the column too when
	// chunks share a line.
	files["data/a.json"] = strings.ReplaceAll(files["data/a.json"], "\n", " ")
	dir := project(t, files)
	rep, err := DryRun(context.Background(), []*pipeline.Plan{planOf(t, dir)}, Options{ChunkSize: 300, StateDir: filepath.Join(dir, ".zpipe")})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range rep.Stages[0].Items {
		ids = append(ids, it.Item)
	}
	if len(ids) < 3 || ids[0] != "data/a.json:1" || ids[1] != "data/a.json:1:321" || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Errorf("plan items %q, want one name each, by line and column", ids)
	}
}

// userArray is a json array of n users, u1 to un, sep between them.
func userArray(n int, sep string) string {
	var b strings.Builder
	b.WriteString("[")
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(sep)
		}
		fmt.Fprintf(&b, "{\"id\": %d, \"name\": \"u%d\"}", i, i)
	}
	b.WriteString("]\n")
	return b.String()
}

// whole: true reads a json array as one record, so such a file is never
// cut; an ndjson file of the same stage still is.
func TestWholeKeepsOnlyJSONInOnePiece(t *testing.T) {
	dir := project(t, map[string]string{
		"any.cue":       "#Any: _\n",
		"data/a.json":   userArray(61, ",\n"),
		"data/b.ndjson": manyUsers(60, 0),
		"pipeline.yaml": `version: 1
stages:
  all:
    source: {paths: ["data/*"], whole: true}
    schema: any.cue#Any
    outputs: [{format: ndjson, path: out/all.ndjson}]
`,
	})
	sum := run(t, dir, Options{ChunkSize: 300})
	if st := sum.Stages[0]; st.Records != 61 || st.Items < 4 {
		t.Fatalf("summary = %+v; want the array as one record and the ndjson file cut", st)
	}
	lines := strings.Split(read(t, dir, "out/all.ndjson"), "\n")
	if !strings.HasPrefix(lines[0], `[{"id":1,`) {
		t.Errorf("first record %.40s, want the whole array", lines[0])
	}
}

// A large file the journal has chunks for is cut as it was, without
// reading it again, while its stat is the one each chunk was run with.
func TestUnchangedFilesKeepTheirChunks(t *testing.T) {
	array := userArray(61, ", ")
	dir := project(t, map[string]string{
		"user.cue":    userSchema,
		"data/a.json": array,
		"pipeline.yaml": `version: 1
stages:
  users:
    source: {paths: ["data/*.json"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/all.ndjson}]
`,
	})
	opts := Options{ChunkSize: 300}
	before := splits.Load()
	if st := run(t, dir, opts).Stages[0]; st.Items < 3 || st.Records != 61 {
		t.Fatalf("first run: %+v", st)
	}
	if n := splits.Load() - before; n != 1 {
		t.Fatalf("first run cut the file %d times, want 1", n)
	}
	st := run(t, dir, opts).Stages[0]
	if n := splits.Load() - before; n != 1 || st.UpToDate != st.Items {
		t.Errorf("rerun: cut %d times in all, %d of %d items up to date; want the file not read again", n, st.UpToDate, st.Items)
	}
	// A changed file is cut again, and read as it is now.
	edited := strings.Replace(array, `"u61"}]`, `"u61"}, {"id": 62, "name": "u62"}]`, 1)
	if err := os.WriteFile(filepath.Join(dir, "data/a.json"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	st = run(t, dir, opts).Stages[0]
	if n := splits.Load() - before; n != 2 || st.Records == 0 {
		t.Errorf("after an edit: cut %d times in all, summary %+v", n, st)
	}
	if got := strings.Count(read(t, dir, "out/all.ndjson"), "\n"); got != 62 {
		t.Errorf("%d records written, want 62", got)
	}
	if !strings.Contains(read(t, dir, "out/all.ndjson"), `{"id":62,"name":"u62","tier":"free"}`) {
		t.Error("the new record is not written")
	}
}

func TestParseChunkKey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want format.Chunk
		ok   bool
	}{
		{"0+300:1:1", format.Chunk{Size: 300, Line: 1, Record: 1}, true},
		{"300+25:3:9:14", format.Chunk{Offset: 300, Size: 25, Line: 3, Record: 9, Col: 14}, true},
		{"300+25:3", format.Chunk{}, false},
		{"300+25:3:9:14:2", format.Chunk{}, false},
		{"-1+25:3:9", format.Chunk{}, false},
		{"01+25:3:9", format.Chunk{}, false},
		{"a+25:3:9", format.Chunk{}, false},
	} {
		got, ok := parseChunkKey(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseChunkKey(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// A stage of many files is listed by several workers straight into its
// items; files cut in chunks are spread out where they stand. The output
// is the same, in the same order, whether or not files are cut.
func TestManyFilesWithChunksKeepTheirOrder(t *testing.T) {
	files := map[string]string{
		"user.cue": "#User: {id: int, name: string}\n",
		"pipeline.yaml": `version: 1
stages:
  users:
    source: {paths: ["data/*"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/all.ndjson}]
`,
	}
	want := ""
	for i := range 2500 {
		name := fmt.Sprintf("data/f%04d.json", i)
		body := fmt.Sprintf("{\"id\":%d,\"name\":\"u%d\"}\n", i, i)
		if i%700 == 3 { // a few large files, cut when chunks are small
			name = fmt.Sprintf("data/f%04d.ndjson", i)
			body = ""
			for k := range 40 {
				body += fmt.Sprintf("{\"id\":%d,\"name\":\"c%d\"}\n", i*1000+k, k)
			}
		}
		files[name] = body
		want += body
	}
	for _, chunk := range []int64{0, 100} {
		dir := project(t, files)
		sum := run(t, dir, Options{ChunkSize: chunk})
		if sum.ExitCode() != 0 || sum.Records != 2500-4+4*40 {
			t.Fatalf("chunk %d: summary = %+v", chunk, sum)
		}
		if chunk > 0 && sum.Stages[0].Items <= 2500 {
			t.Errorf("chunk %d: %d items: no file was cut", chunk, sum.Stages[0].Items)
		}
		if got := read(t, dir, "out/all.ndjson"); got != want {
			t.Errorf("chunk %d: the output is not the files in order", chunk)
		}
	}
}

// A stage's share of the run record is on disk, not held open: a run of
// many stages holds no file for each until the record is written.
func TestRunRecordTrailsAreNotHeldOpen(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts /proc/self/fd")
	}
	files := map[string]string{"user.cue": "#User: {id: int, name: string}\n"}
	y := "version: 1\nstages:\n"
	const stages = 40
	for s := range stages {
		name := "s" + strconv.Itoa(s)
		y += "  " + name + ":\n    source: {paths: [\"d/" + name + ".json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/" + name + ".ndjson}]\n"
		files["d/"+name+".json"] = `{"id":1,"name":"x"}`
	}
	files["pipeline.yaml"] = y
	dir := project(t, files)
	most := 0
	sum := run(t, dir, Options{OnEvent: func(e Event) {
		if e.Kind != StageFinished {
			return
		}
		ents, _ := os.ReadDir("/proc/self/fd")
		n := 0
		for _, e := range ents {
			if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasSuffix(l, ".trail") {
				n++
			}
		}
		most = max(most, n)
	}})
	if most > 0 {
		t.Errorf("%d trail files open at once for %d stages", most, stages)
	}
	n := 0
	for _, err := range sum.ProvenanceItems() {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != stages {
		t.Errorf("the run record has %d items, want %d", n, stages)
	}
}

// A rerun of many files finds each one's verdict on several cores, and
// whether the outputs are intact beside them: only the files changed run,
// and the output of a file removed goes.
func TestARerunOfManyFilesRunsOnlyWhatChanged(t *testing.T) {
	files := map[string]string{
		"user.cue": "#User: {id: int, name: string}\n",
		"pipeline.yaml": `version: 1
stages:
  users:
    source: {paths: ["data/*.json"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/all.ndjson}]
`,
	}
	body := func(i int) string { return fmt.Sprintf("{\"id\":%d,\"name\":\"u%d\"}\n", i, i) }
	for i := range 5000 {
		files[fmt.Sprintf("data/f%04d.json", i)] = body(i)
	}
	dir := project(t, files)
	run(t, dir, Options{})
	later := time.Now().Add(time.Hour)
	for _, i := range []int{10, 4900} {
		p := filepath.Join(dir, fmt.Sprintf("data/f%04d.json", i))
		if err := os.WriteFile(p, []byte(body(i+10000)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "data/f2500.json")); err != nil {
		t.Fatal(err)
	}
	planned, sum := runPlanned(t, dir)
	if want := "stage users: 4997 up to date, 2 to run: input changed (data/f0010.json, data/f4900.json); removed (data/f2500.json)"; planned != want {
		t.Errorf("plan = %q\nwant %q", planned, want)
	}
	if st := sum.Stages[0]; st.UpToDate != 4997 || st.Items != 4999 {
		t.Errorf("up to date %d of %d items, want 4997 of 4999", st.UpToDate, st.Items)
	}
	want := ""
	for i := range 5000 {
		switch i {
		case 2500:
		case 10, 4900:
			want += body(i + 10000)
		default:
			want += body(i)
		}
	}
	if got := read(t, dir, "out/all.ndjson"); got != want {
		t.Error("the output is not the files as they are now")
	}
	// The run record has every item, in order, each told as it went.
	n := 0
	for p, err := range sum.ProvenanceItems() {
		if err != nil {
			t.Fatal(err)
		}
		i := n
		if n >= 2500 {
			i++
		}
		if want := fmt.Sprintf("users:data/f%04d.json", i); p.ID != want || p.UpToDate != (i != 10 && i != 4900) || len(p.Outputs) != 1 {
			t.Fatalf("item %d of the run record = %+v, want %s", n, p, want)
		}
		n++
	}
	if n != 4999 {
		t.Errorf("the run record has %d items, want 4999", n)
	}
}

// A new file with a gone file's bytes is named as renamed, within a
// budget of bytes read early: past it, a moved folder runs as new files,
// read once.
func TestRenamesWithinTheirBudget(t *testing.T) {
	for _, tt := range []struct {
		budget int64
		want   string
	}{
		{64 << 20, "stage users: 1 up to date, 2 to run: new (data/d.json); renamed (data/a.json -> data/z.json); removed (data/b.json)"},
		{0, "stage users: 1 up to date, 2 to run: new (data/d.json, data/z.json); removed (data/a.json, data/b.json)"},
	} {
		t.Run(fmt.Sprint(tt.budget), func(t *testing.T) {
			old := renameHashBudget
			renameHashBudget = tt.budget
			defer func() { renameHashBudget = old }()
			dir := project(t, map[string]string{
				"user.cue": "#User: {id: int}\n",
				"pipeline.yaml": `version: 1
stages:
  users:
    source: {paths: ["data/*.json"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/all.ndjson}]
`,
				"data/a.json": `{"id":1}`, "data/b.json": `{"id":2}`, "data/c.json": `{"id":3}`,
			})
			run(t, dir, Options{})
			if err := os.Rename(filepath.Join(dir, "data/a.json"), filepath.Join(dir, "data/z.json")); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(dir, "data/b.json"))
			os.WriteFile(filepath.Join(dir, "data/d.json"), []byte(`{"id":4}`), 0o644)
			if planned, _ := runPlanned(t, dir); planned != tt.want {
				t.Errorf("plan = %q\nwant %q", planned, tt.want)
			}
		})
	}
}

// runPlanned runs the project at dir, and returns the line its stage was
// planned with.
func runPlanned(t *testing.T, dir string) (planned string, sum *Summary) {
	t.Helper()
	sum = run(t, dir, Options{OnEvent: func(e Event) {
		if e.Kind == StagePlanned {
			planned = e.Msg
		}
	}})
	return planned, sum
}

// A stage's name may hold a '/': the run's working files are not named
// after it. Cut in chunks, a file of users/raw lost its records, and its
// run record was empty.
func TestStageNamesMayHoldSlashes(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"data/a.ndjson": manyUsers(500, 0),
		"pipeline.yaml": "version: 1\nstages:\n  users/raw:\n    source: {paths: [\"data/*.ndjson\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n    rejects: out/rejects.ndjson\n",
	})
	sum := run(t, dir, Options{ChunkSize: 4096})
	if st := sum.Stages[0]; st.Status != StatusOK || st.Items < 2 || st.OK != 500 {
		t.Fatalf("stage = %+v", st)
	}
	if got := strings.Count(read(t, dir, "out/all.ndjson"), "\n"); got != 500 {
		t.Errorf("%d records written, want 500", got)
	}
	n := 0
	for _, err := range sum.ProvenanceItems() {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != sum.Stages[0].Items {
		t.Errorf("the run record has %d items, want %d", n, sum.Stages[0].Items)
	}
}
