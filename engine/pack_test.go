package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// partsIn lists the parts folder: its packs and the parts with files of
// their own.
func partsIn(t *testing.T, dir string) (packs, own []string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, ".zpipe", "parts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		switch name := e.Name(); {
		case strings.HasSuffix(name, packSuffix):
			packs = append(packs, name)
		case strings.HasSuffix(name, ".part"):
			own = append(own, name)
		default:
			t.Errorf("parts folder holds %s", name)
		}
	}
	return packs, own
}

// oneRecordFiles is a project of n json files of one record each, read
// by one stage into out/all.ndjson.
func oneRecordFiles(n int) map[string]string {
	files := map[string]string{
		"user.cue":      userSchema,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n",
	}
	for i := 0; i < n; i++ {
		files[fmt.Sprintf("data/%03d.json", i)] = fmt.Sprintf(`{"id":%d,"name":"u"}`, i+1)
	}
	return files
}

// Small parts are saved in packs, a large one in a file of its own; a
// rerun joins both into the same bytes, and a pack goes once no item's
// entry names it. Whether parts wait in memory or in files does not show.
func TestSmallPartsArePackedAndLargeOnesKeepAFile(t *testing.T) {
	for _, budget := range []int64{tempBudget, 0} {
		t.Run(fmt.Sprintf("budget %d", budget), func(t *testing.T) {
			defer func(b int64) { tempBudget = b }(tempBudget)
			tempBudget = budget
			big := manyUsers(4000, 0) // > packMax as ndjson
			if len(big) <= packMax {
				t.Fatalf("the big input is %d bytes", len(big))
			}
			dir := project(t, map[string]string{
				"user.cue": userSchema,
				"pipeline.yaml": `version: 1
stages:
  users:
    source: {paths: ["data/*.ndjson"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/all.ndjson}]
    rejects: out/rejects.ndjson
`,
				"data/a.ndjson": manyUsers(2, 0),
				"data/b.ndjson": big,
				"data/c.ndjson": manyUsers(3, 2),
			})
			if sum := run(t, dir, Options{}); sum.Records != 4005 || sum.Failed != 1 {
				t.Fatalf("summary = %+v", sum)
			}
			all, rejects := read(t, dir, "out/all.ndjson"), read(t, dir, "out/rejects.ndjson")
			packs, own := partsIn(t, dir)
			if len(packs) == 0 || len(own) != 1 {
				t.Fatalf("packs %v, own files %v; want packs and one file", packs, own)
			}
			// The outputs are rebuilt from the saved parts.
			os.Remove(filepath.Join(dir, "out/all.ndjson"))
			os.Remove(filepath.Join(dir, "out/rejects.ndjson"))
			if sum := run(t, dir, Options{}); sum.Stages[0].UpToDate != 3 {
				t.Fatalf("second run: %+v", sum.Stages[0])
			}
			if got := read(t, dir, "out/all.ndjson"); got != all {
				t.Errorf("rebuilt output differs:\n%s", got)
			}
			if got := read(t, dir, "out/rejects.ndjson"); got != rejects {
				t.Errorf("rebuilt rejects differ:\n%s", got)
			}
			// New small parts: the packs of the old ones go.
			os.WriteFile(filepath.Join(dir, "data/a.ndjson"), []byte(manyUsers(1, 0)), 0o644)
			os.WriteFile(filepath.Join(dir, "data/c.ndjson"), []byte(manyUsers(4, 4)), 0o644)
			run(t, dir, Options{})
			packs2, own2 := partsIn(t, dir)
			for _, p := range packs {
				if slices.Contains(packs2, p) {
					t.Errorf("pack %s is kept, though no entry names it", p)
				}
			}
			if !slices.Equal(own, own2) {
				t.Errorf("own files %v, then %v", own, own2)
			}
			want := manyUsers(1, 0) + big + manyUsers(3, 0)
			if got := read(t, dir, "out/all.ndjson"); got != strings.ReplaceAll(want, `"}`, `","tier":"free"}`) {
				t.Errorf("output after the change:\n%.300s", got)
			}
		})
	}
}

// A pack whose other parts are no longer used is rewritten: the parts
// still used move to a new pack, the journal says so, and the old pack
// goes. Nothing runs again for it, and the outputs stay as they are.
func TestMostlyUnusedPacksAreRewritten(t *testing.T) {
	skipWindowsTest(t)
	defer func(m int64) { repackMin = m }(repackMin)
	repackMin = 1
	dir := project(t, oneRecordFiles(100))
	run(t, dir, Options{})
	first, _ := partsIn(t, dir)
	for k := 5; k < 100; k++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("data/%03d.json", k)), []byte(fmt.Sprintf(`{"id":%d,"name":"v"}`, k+1)), 0o644)
	}
	if sum := run(t, dir, Options{}); sum.UpToDate != 5 || sum.OK != 100 {
		t.Fatalf("second run: %+v", sum)
	}
	want := read(t, dir, "out/all.ndjson")
	second, _ := partsIn(t, dir)
	for _, p := range first {
		if slices.Contains(second, p) {
			t.Errorf("pack %s of the first run is kept for five small parts", p)
		}
	}
	var events []string
	sum := run(t, dir, Options{OnEvent: func(e Event) { events = append(events, e.Msg) }})
	if sum.UpToDate != 100 {
		t.Errorf("third run: %d up to date, want 100", sum.UpToDate)
	}
	if !slices.Contains(events, "stage users: 100 up to date, 0 to run") {
		t.Errorf("third run said %q", events)
	}
	os.Remove(filepath.Join(dir, "out/all.ndjson"))
	run(t, dir, Options{})
	if got := read(t, dir, "out/all.ndjson"); got != want {
		t.Errorf("output rebuilt from the moved parts differs:\n%s", got)
	}
}

// A journal written before bases and stat arrays (each item with its whole
// fingerprint, its stat as an object) is read as it was: nothing reruns.
// One that lost a base reruns the items that named it.
func TestJournalOfTheEarlierFormIsRead(t *testing.T) {
	files := oneRecordFiles(5)
	dir := project(t, files)
	run(t, dir, Options{})
	path := filepath.Join(dir, ".zpipe", journalName)
	var old []string
	bases := map[string]map[string]any{}
	for _, line := range journalAsJSON(t, path) {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		delete(e, "binary")
		switch e["type"] {
		case "base":
			bases[e["key"].(string)] = e["fp"].(map[string]any)
			continue
		case "item":
			fp := e["fp"].(map[string]any)
			for k, v := range bases[fp["base"].(string)] {
				if k != "input" {
					fp[k] = v
				}
			}
			delete(fp, "base")
			st := e["stat"].([]any)
			e["stat"] = map[string]any{"size": st[0], "mtime_ns": st[1], "ctime_ns": st[2], "ino": st[3], "dev": st[4]}
		}
		line, _ := json.Marshal(e)
		old = append(old, string(line))
	}
	if len(bases) != 1 {
		t.Fatalf("%d bases written for one stage", len(bases))
	}
	// As a journal of lines, which the run upgrades.
	os.Remove(path)
	os.WriteFile(filepath.Join(dir, ".zpipe", journalOfLines), []byte(strings.Join(old, "\n")+"\n"), 0o644)
	if sum := run(t, dir, Options{}); sum.UpToDate != 5 {
		t.Errorf("after the earlier form: %d up to date, want 5", sum.UpToDate)
	}
	if _, err := os.Stat(filepath.Join(dir, ".zpipe", journalOfLines)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the journal of lines is still there: %v", err)
	}
	for _, line := range journalAsJSON(t, path) {
		if strings.HasPrefix(line, `{"type":"item"`) && !strings.HasPrefix(line, `{"type":"item","binary":true`) {
			t.Errorf("an item is still JSON after the run: %s", line)
		}
	}
	if sum := run(t, dir, Options{}); sum.UpToDate != 5 {
		t.Errorf("after the upgrade: %d up to date, want 5", sum.UpToDate)
	}

	// Drop the base line from a journal of this version.
	dir = project(t, files)
	run(t, dir, Options{})
	path = filepath.Join(dir, ".zpipe", journalName)
	if dropped := rewriteJournal(t, path, func(rec []byte) bool { return !strings.HasPrefix(string(rec), `{"type":"base"`) }); dropped != 1 {
		t.Fatalf("%d base records dropped, want 1", dropped)
	}
	var events []string
	if sum := run(t, dir, Options{OnEvent: func(e Event) { events = append(events, e.Msg) }}); sum.UpToDate != 0 || sum.OK != 5 {
		t.Errorf("without its base: %+v", sum)
	}
	if !slices.Contains(events, "stage users: 0 up to date, 5 to run: schema changed (data/000.json, data/001.json, data/002.json and 2 more)") {
		t.Errorf("without its base, the run said %q", events)
	}
}

// A source dated before 1970 has a negative mtime; the journal writes it
// and reads it back, and the next run finds the file up to date.
func TestFilesBefore1970StayUpToDate(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n",
		"data/a.json":   `{"id":1,"name":"a"}`,
		"data/b.json":   `{"id":2,"name":"b"}`,
	})
	old := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "data/a.json"), old, old); err != nil {
		t.Fatal(err)
	}
	run(t, dir, Options{})
	for i := 0; i < 2; i++ {
		if sum := run(t, dir, Options{}); sum.UpToDate != 2 {
			t.Fatalf("run %d: %d up to date, want 2", i+2, sum.UpToDate)
		}
	}
}

// A journal edited to name a pack outside the parts folder never makes
// zpipe read it, not even to rewrite packs.
func TestRepackReadsOnlyThePartsFolder(t *testing.T) {
	defer func(m int64) { repackMin = m }(repackMin)
	repackMin = 1
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n",
		"data/a.json":   `{"id":1,"name":"a"}`,
		"secret.pack":   "TOP-SECRET" + strings.Repeat("\x00", 100),
	})
	run(t, dir, Options{})
	appendRecords(t, filepath.Join(dir, ".zpipe", journalName),
		`{"type":"item","run":"x","stage":"../gone.yaml#s","key":"k","status":"done","parts":[{"output":0,"file":"../../secret.pack","sha256":"00","size":10,"records":1}],"time":"2026-01-01T00:00:00Z"}`,
		`{"type":"item","run":"x","stage":"../gone.yaml#s","key":"j","status":"done","parts":[{"output":0,"file":"0123456789abcdef0123456789abcdef.pack","offset":-5,"sha256":"00","size":10,"records":1}],"time":"2026-01-01T00:00:00Z"}`)
	// A file zpipe never names is not collected as a part no entry
	// names.
	notes := filepath.Join(dir, ".zpipe", "parts", "notes.txt")
	if err := os.WriteFile(notes, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, Options{})
	if err := os.Remove(notes); err != nil {
		t.Errorf("collecting the parts removed a file zpipe did not make: %v", err)
	}
	packs, _ := partsIn(t, dir)
	for _, p := range packs {
		if b, _ := os.ReadFile(filepath.Join(dir, ".zpipe", "parts", p)); strings.Contains(string(b), "SECRET") {
			t.Errorf("pack %s holds the outside file's bytes", p)
		}
	}
}

// A stage that reads another's output through a link has no dependency
// on it; it still lists its files when it starts, after the other wrote.
func TestAStageSeesWhatAnEarlierOneWroteThroughALink(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue": userSchema,
		"pipeline.yaml": `version: 1
stages:
  first:
    source: {paths: ["data/*.ndjson"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/first.ndjson}]
  second:
    source: {paths: ["alias/*.ndjson"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: second.ndjson}]
`,
		"data/a.ndjson": manyUsers(2, 0),
	})
	os.MkdirAll(filepath.Join(dir, "out"), 0o755)
	if err := os.Symlink("out", filepath.Join(dir, "alias")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	run(t, dir, Options{})
	if got, want := read(t, dir, "second.ndjson"), read(t, dir, "out/first.ndjson"); got != want || got == "" {
		t.Errorf("second stage wrote %q, want %q", got, want)
	}
}

// A small input is read in one call when it still has the size it was
// listed at; one that grew or shrank since is read whole all the same.
func TestSmallInputsAreReadWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.json")
	body := `{"id":1,"name":"a"}`
	os.WriteFile(path, []byte(body), 0o644)
	for _, listed := range []int64{int64(len(body)), 5, 1, int64(len(body)) + 1, 100} {
		r, err := openSmall(path, listed)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(b) != body {
			t.Errorf("listed at %d bytes: read %q, %v", listed, b, err)
		}
	}
	if _, err := openSmall(filepath.Join(t.TempDir(), "gone.json"), 10); !os.IsNotExist(err) {
		t.Errorf("a file gone since: %v", err)
	}
}

// A run stopped after repacking wrote its new pack and before the journal
// named it leaves the old journal and the old packs: the next run finds
// every item up to date, and the orphan pack goes.
func TestRepackStoppedBeforeTheJournalLosesNothing(t *testing.T) {
	skipWindowsTest(t)
	defer func(m int64) { repackMin, repackHook = m, nil }(repackMin)
	repackMin = 1
	dir := project(t, oneRecordFiles(100))
	run(t, dir, Options{})
	for k := 5; k < 100; k++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("data/%03d.json", k)), []byte(fmt.Sprintf(`{"id":%d,"name":"v"}`, k+1)), 0o644)
	}
	repackHook = func() error { return errors.New("killed") }
	if _, err := tryRun(context.Background(), t, dir, Options{}); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("run stopped at repacking: %v", err)
	}
	repackHook = nil
	want := read(t, dir, "out/all.ndjson")
	before, _ := partsIn(t, dir)
	if sum := run(t, dir, Options{}); sum.UpToDate != 100 {
		t.Errorf("after the stop: %d up to date, want 100", sum.UpToDate)
	}
	after, _ := partsIn(t, dir)
	if len(after) >= len(before) {
		t.Errorf("packs %v, then %v: the orphan and the rewritten ones should go", before, after)
	}
	os.Remove(filepath.Join(dir, "out/all.ndjson"))
	run(t, dir, Options{})
	if got := read(t, dir, "out/all.ndjson"); got != want {
		t.Errorf("output rebuilt after the stop differs:\n%s", got)
	}
}

// jobsExecutor runs the work here and keeps the Job of each first attempt.
type jobsExecutor struct {
	mu   sync.Mutex
	jobs []Job
}

func (e *jobsExecutor) Execute(ctx context.Context, w *Work) error {
	for _, i := range w.Items {
		e.mu.Lock()
		e.jobs = append(e.jobs, w.Job(i, 1))
		e.mu.Unlock()
	}
	return LocalPool{}.Execute(ctx, w)
}

// An up-to-date item whose saved part was changed runs again with the
// fingerprint its journal entry gives: its file, as the journal saw it,
// is not hashed again as it is read.
func TestAChangedPartRunsWithItsJournaledFingerprint(t *testing.T) {
	files := oneRecordFiles(5)
	dir := project(t, files)
	for name := range files {
		settle(t, dir, name)
	}
	run(t, dir, Options{})
	packs, _ := partsIn(t, dir)
	if len(packs) == 0 {
		t.Fatalf("no pack")
	}
	// One byte of the pack changed, its size kept: one item's part no
	// longer holds what the journal recorded.
	pack := filepath.Join(dir, ".zpipe", "parts", packs[0])
	b, err := os.ReadFile(pack)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(pack, b, 0o644); err != nil {
		t.Fatal(err)
	}
	remove(t, dir, "out/all.ndjson") // the outputs are rebuilt from the parts
	ex := &jobsExecutor{}
	sum := run(t, dir, Options{Executor: ex})
	if st := sum.Stages[0]; st.Items-st.UpToDate != 1 || len(ex.jobs) != 1 {
		t.Fatalf("%d of %d items ran, jobs %+v; want 1", st.Items-st.UpToDate, st.Items, ex.jobs)
	}
	if ex.jobs[0].HashInput {
		t.Errorf("item %s, whose file is as the journal saw it, is hashed again as it is read", ex.jobs[0].Key)
	}
}
