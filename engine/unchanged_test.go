package engine

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/atomicfile"
)

// unchangedProject is a stage of 30 files, some with invalid records, a
// yaml one among them, with two outputs and a rejects file.
func unchangedProject(t *testing.T, extra string) string {
	files := map[string]string{
		"user.cue": userSchema,
		"pipeline.yaml": `version: 1
stages:
  users:
    source: {paths: ["d/*.json", "d/*.yaml", "d/*.ndjson", "none/*.json"]}
    schema: user.cue#User
    rejects: out/rejects.ndjson
    outputs:
      - {format: ndjson, path: out/all.ndjson}
      - {format: json, path: out/all.json}
` + extra,
		"d/x.yaml":      "id: 99\nname: yaml\n",
		"d/many.ndjson": "{\"id\": 100, \"name\": \"a\"}\n{\"id\": 101, \"name\": \"b\"}\n{\"id\": 102, \"name\": \"c\"}\n",
	}
	for i := range 30 {
		body := fmt.Sprintf(`{"id": %d, "name": "u%d"}`, i+1, i)
		if i%9 == 4 {
			body = fmt.Sprintf(`{"id": %d, "name": ""}`, i+1)
		}
		files[fmt.Sprintf("d/u%02d.json", i)] = body
	}
	dir := project(t, files)
	for name := range files {
		// One is left as written: its record is made within two seconds
		// of it, so its stat alone does not tell it unchanged.
		if strings.HasPrefix(name, "d/") && name != "d/u07.json" {
			settle(t, dir, name)
		}
	}
	return dir
}

// settle dates a file an hour back: a file changed in the two seconds
// before its record was made is not trusted to be unchanged by its stat.
func settle(t testing.TB, dir, name string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
		t.Fatal(err)
	}
}

// unchangedRun is what a rerun shows and leaves: its events, summary,
// run record and outputs.
func unchangedRun(t *testing.T, dir string) string {
	t.Helper()
	// What a killed run left beside an output goes.
	orphan := "out/" + atomicfile.TempPrefix + "999999999-all.ndjson-1"
	write(t, dir, orphan, "half")
	var b strings.Builder
	sum := run(t, dir, Options{OnEvent: func(e Event) {
		fmt.Fprintf(&b, "event %v %s %q %d %d %v\n", e.Kind, e.Stage, e.Msg, e.UpToDate, e.ToRun, e.Rebuild)
	}})
	for _, st := range sum.Stages {
		st.Duration = 0
		fmt.Fprintf(&b, "stage %+v\n", *st)
	}
	fmt.Fprintf(&b, "exit %d\n", sum.ExitCode())
	if _, err := os.Stat(filepath.Join(dir, orphan)); err == nil {
		b.WriteString("a killed run's temp file is left\n")
	}
	for it, err := range sum.ProvenanceItems() {
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "item %s %s %s %s %d %v %v %s", it.ID, it.Source, it.SourceFormat, it.InputSHA256, it.Attempts, it.UpToDate, it.Time, it.Error)
		for _, o := range it.Outputs {
			fmt.Fprintf(&b, " %s:%s", o.Path, o.SHA256)
		}
		b.WriteString("\n")
	}
	for _, name := range []string{"out/all.ndjson", "out/all.json", "out/rejects.ndjson"} {
		fmt.Fprintf(&b, "%s:\n%s", name, read(t, dir, name))
	}
	return b.String()
}

// A stage of which nothing changed is settled a window of files at a time,
// and shows and leaves what the full way does.
func TestUnchangedStageSettlesAsTheFullWayDoes(t *testing.T) {
	defer func(w int) { unchangedWindow = w }(unchangedWindow)
	unchangedWindow = 7
	for name, extra := range map[string]string{
		"one stage": "",
		"and one after it": `  again:
    source: {paths: [out/all.ndjson]}
    schema: user.cue#User
    outputs: [{format: yaml, path: out/again.yaml}]
`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := unchangedProject(t, extra)
			run(t, dir, Options{})
			settleUnchangedOn = false
			full := unchangedRun(t, dir)
			settleUnchangedOn = true
			before := settledUnchanged.Load()
			quick := unchangedRun(t, dir)
			if n := settledUnchanged.Load() - before; n == 0 {
				t.Errorf("no stage was settled as unchanged")
			}
			if quick != full {
				t.Errorf("settled as unchanged:\n%s\nthe full way:\n%s", quick, full)
			}
			if !strings.Contains(full, "32 up to date, 0 to run") || strings.Contains(full, "temp file is left") || !strings.Contains(full, `matches no file`) {
				t.Errorf("the rerun was not a no-op:\n%s", full)
			}
		})
	}
}

// A stage in which something changed runs the full way, and what the
// check did first leaves no trace: no item twice in the run record, no
// warning twice, counts of this run alone.
func TestChangedStageRunsTheFullWay(t *testing.T) {
	defer func(w int) { unchangedWindow = w }(unchangedWindow)
	unchangedWindow = 7
	for _, c := range []struct {
		name   string
		change func(t *testing.T, dir string)
		opts   Options
		ran    int
		// listed: the files were listed to find them unchanged. A file
		// added or removed is found by their count, without listing.
		listed bool
	}{
		{"an edited file, in the last window", func(t *testing.T, dir string) { write(t, dir, "d/u29.json", `{"id": 30, "name": "new"}`) }, Options{}, 1, true},
		{"an edited file, in the first", func(t *testing.T, dir string) { write(t, dir, "d/u00.json", `{"id": 1, "name": "new"}`) }, Options{}, 1, true},
		{"a new file", func(t *testing.T, dir string) { write(t, dir, "d/u30.json", `{"id": 31, "name": "u30"}`) }, Options{}, 1, false},
		{"a removed file", func(t *testing.T, dir string) { remove(t, dir, "d/u10.json") }, Options{}, 0, false},
		{"a file renamed", func(t *testing.T, dir string) { move(t, dir, "d/u10.json", "d/u10b.json") }, Options{}, 1, true},
		{"a deleted output", func(t *testing.T, dir string) { remove(t, dir, "out/all.json") }, Options{}, 0, true},
		{"an edited output", func(t *testing.T, dir string) { write(t, dir, "out/all.ndjson", "{}\n") }, Options{}, 0, true},
		{"a file now cut in chunks", func(t *testing.T, dir string) {}, Options{ChunkSize: 16}, 3, true},
		{"--force", func(t *testing.T, dir string) {}, Options{Force: true}, 32, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := unchangedProject(t, "")
			run(t, dir, Options{})
			c.change(t, dir)
			before, tried := settledUnchanged.Load(), triedUnchanged.Load()
			var warnings int
			opts := c.opts
			opts.OnEvent = func(e Event) {
				if e.Kind == Warning && strings.Contains(e.Msg, "matches no file") {
					warnings++
				}
			}
			sum := run(t, dir, opts)
			if n := settledUnchanged.Load() - before; n != 0 {
				t.Errorf("settled as unchanged")
			}
			if listed := triedUnchanged.Load() > tried; listed != c.listed {
				t.Errorf("listed to find it unchanged: %v, want %v", listed, c.listed)
			}
			st := sum.Stages[0]
			if st.Items-st.UpToDate != c.ran || warnings != 1 {
				t.Errorf("%d of %d items ran, want %d; %d warnings, want 1", st.Items-st.UpToDate, st.Items, c.ran, warnings)
			}
			var ids []string
			for it, err := range sum.ProvenanceItems() {
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, it.ID)
			}
			if len(ids) != st.Items || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
				t.Errorf("the run record has %d items, %d of them apart, for %d items", len(ids), len(slices.Compact(slices.Sorted(slices.Values(ids)))), st.Items)
			}
			// And the next run has nothing to do: settled as unchanged,
			// unless its files are cut.
			before = settledUnchanged.Load()
			again := run(t, dir, Options{ChunkSize: c.opts.ChunkSize})
			if again.Stages[0].UpToDate != again.Stages[0].Items || c.opts.ChunkSize == 0 && settledUnchanged.Load() == before {
				t.Errorf("the run after: %+v; settled as unchanged: %v", again.Stages[0], settledUnchanged.Load() > before)
			}
		})
	}
}

// write writes a file, and settles it.
func write(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	settle(t, dir, name)
}

func move(t *testing.T, dir, from, to string) {
	t.Helper()
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// In watch mode, a stage that may read a file watch saw change is not
// listed to find it unchanged: it runs the full way at once. Another stage
// is still settled.
func TestWatchRunsAChangedStageTheFullWayAtOnce(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":    userSchema,
		"data/a.json": `{"id":1,"name":"a"}`,
		"more/c.json": `{"id":3,"name":"c"}`,
		"pipeline.yaml": "version: 1\nstages:\n" +
			"  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n" +
			"  more:\n    source: {paths: [\"more/*.json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/more.ndjson}]\n",
	})
	settle(t, dir, "data/a.json")
	settle(t, dir, "more/c.json")
	next, stop := watchSession(t, filepath.Join(dir, "pipeline.yaml"), Options{})
	defer stop()
	next(WatchRunDone)
	tried, settled := triedUnchanged.Load(), settledUnchanged.Load()
	write(t, dir, "data/b.json", `{"id":2,"name":"b"}`)
	if e := next(WatchRunDone); e.Ran != 1 || e.Summary.UpToDate != 2 {
		t.Fatalf("second run: ran %d, up to date %d", e.Ran, e.Summary.UpToDate)
	}
	if n, m := triedUnchanged.Load()-tried, settledUnchanged.Load()-settled; n != 1 || m != 1 {
		t.Errorf("%d stages listed to find them unchanged, %d settled; want 1 and 1 (more)", n, m)
	}
}

// A state whose item stores spill their records to a file runs as one
// that holds them: a no-op rerun shows and leaves the same, a rerun with
// a changed file writes the same outputs, and no spill file is left in
// the state folder.
func TestSpilledStateRunsAsOneHeld(t *testing.T) {
	defer func(b, r int) { storeBlock, storeResident = b, r }(storeBlock, storeResident)
	held, spilled := func() { storeBlock, storeResident = 256<<10, 16<<20 }, func() { storeBlock, storeResident = 300, 300 }
	noTemps := func(dir string) {
		t.Helper()
		ents, _ := os.ReadDir(filepath.Join(dir, ".zpipe"))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), atomicfile.TempPrefix) || strings.HasPrefix(e.Name(), runTempPrefix) {
				t.Errorf("left in the state folder: %s", e.Name())
			}
		}
	}
	dir := unchangedProject(t, "")
	spilled()
	run(t, dir, Options{})
	held()
	want := unchangedRun(t, dir)
	spilled()
	if got := unchangedRun(t, dir); got != want {
		t.Errorf("no-op rerun, spilled:\n%s\nheld:\n%s", got, want)
	}
	noTemps(dir)

	outputs := map[string]string{}
	for name, mode := range map[string]func(){"held": held, "spilled": spilled} {
		dir := unchangedProject(t, "")
		mode()
		run(t, dir, Options{})
		write(t, dir, "d/u03.json", `{"id": 4, "name": "changed"}`)
		sum := run(t, dir, Options{})
		outputs[name] = fmt.Sprintf("exit %d, %d up to date\n", sum.ExitCode(), sum.Stages[0].UpToDate)
		for _, f := range []string{"out/all.ndjson", "out/all.json", "out/rejects.ndjson"} {
			outputs[name] += f + ":\n" + read(t, dir, f)
		}
		noTemps(dir)
	}
	if outputs["held"] != outputs["spilled"] || !strings.Contains(outputs["held"], `"changed"`) {
		t.Errorf("a rerun with a changed file, spilled:\n%s\nheld:\n%s", outputs["spilled"], outputs["held"])
	}
}

// A forced rerun of files as the journal last saw them hashes each as it
// reads it, rather than hold the journal's sums until its commit: the
// journal ends with the same sums, each the sha256 of its file, and the
// next run finds every item up to date.
func TestForcedRerunKeepsTheSums(t *testing.T) {
	dir := unchangedProject(t, "")
	run(t, dir, Options{})
	sums := func() map[string]string {
		t.Helper()
		st, err := readState(filepath.Join(dir, ".zpipe"), nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for e := range st.allItems() {
			got[e.Key] = e.FP.Input
		}
		return got
	}
	before := sums()
	if sum := run(t, dir, Options{Force: true}); sum.Stages[0].UpToDate != 0 {
		t.Fatalf("%d items up to date in a forced run", sum.Stages[0].UpToDate)
	}
	after := sums()
	if len(after) != 32 || !maps.Equal(after, before) {
		t.Fatalf("sums after a forced run:\n%v\nbefore:\n%v", after, before)
	}
	for key, input := range after {
		if file := fmt.Sprintf("%x", sha256.Sum256([]byte(read(t, dir, key)))); input != file {
			t.Errorf("%s: journal sum %s, file's %s", key, input, file)
		}
	}
	if sum := run(t, dir, Options{}); sum.Stages[0].UpToDate != 32 {
		t.Fatalf("%d of 32 items up to date after a forced run", sum.Stages[0].UpToDate)
	}
}
