package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/zpipe/zpipe/pipeline"
)

// windowedRun is what a run shows and leaves: its events, the start and
// end of its progress, its summary, run record and outputs, leaving out
// what differs from run to run (times).
func windowedRun(t *testing.T, dir string, opts Options) string {
	t.Helper()
	var b strings.Builder
	opts.OnEvent = func(e Event) {
		fmt.Fprintf(&b, "event %v %s %q %d %d %v\n", e.Kind, e.Stage, e.Msg, e.UpToDate, e.ToRun, e.Rebuild)
	}
	opts.OnProgress = func(p Progress) {
		if p.Type == ProgressStart || p.Type == ProgressComplete {
			fmt.Fprintf(&b, "progress %s %s %d/%d records %d failed %d\n", p.Type, p.Name, p.Completed, p.Total, p.Records, p.Failed)
		}
	}
	sum := run(t, dir, opts)
	for _, st := range sum.Stages {
		st.Duration = 0
		fmt.Fprintf(&b, "stage %+v\n", *st)
	}
	fmt.Fprintf(&b, "exit %d\n", sum.ExitCode())
	for it, err := range sum.ProvenanceItems() {
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "item %s %s %s %s %d %v %s", it.ID, it.Source, it.SourceFormat, it.InputSHA256, it.Attempts, it.UpToDate, it.Error)
		for _, o := range it.Outputs {
			fmt.Fprintf(&b, " %s:%s", o.Path, o.SHA256)
		}
		b.WriteString("\n")
	}
	for _, name := range []string{"out/all.ndjson", "out/all.json", "out/rejects.ndjson", "out/again.yaml"} {
		body, err := os.ReadFile(filepath.Join(dir, name))
		fmt.Fprintf(&b, "%s (%v):\n%s", name, err != nil, body)
	}
	return b.String()
}

// A stage of many files runs a window of them at a time, and shows and
// leaves what the full way does: on a first run, with failed records, a
// racy file, a file cut in chunks and a stage after it; on reruns with
// files edited and added; with --force; and when it stops at the first
// failure.
func TestWindowedStageRunsAsTheFullWayDoes(t *testing.T) {
	defer func(f, w int) { windowedFiles, runWindow = f, w }(windowedFiles, runWindow)
	chunked := Options{ChunkSize: 120}
	for _, tc := range []struct {
		name  string
		extra string
		// before runs before the run compared, and between edits the
		// project.
		before  []Options
		between func(t *testing.T, dir string)
		opts    Options
	}{
		{name: "first run"},
		{name: "first run, chunks", opts: chunked},
		{name: "and one after it", extra: `  again:
    source: {paths: [out/all.ndjson]}
    schema: user.cue#User
    outputs: [{format: yaml, path: out/again.yaml}]
`},
		{name: "edited and added", before: []Options{{}}, between: func(t *testing.T, dir string) {
			write(t, dir, "d/u03.json", `{"id": 4, "name": "edited"}`)
			write(t, dir, "d/u30.json", `{"id": 31, "name": ""}`)
			write(t, dir, "d/u31.json", `{"id": 32, "name": "added"}`)
		}},
		{name: "an output deleted", before: []Options{{}}, between: func(t *testing.T, dir string) {
			remove(t, dir, "out/all.json")
		}},
		{name: "chunks, one file edited", before: []Options{chunked}, opts: chunked, between: func(t *testing.T, dir string) {
			// Cut as before: no chunk is gone.
			write(t, dir, "d/many.ndjson", strings.Repeat(`{"id": 100, "name": "a"}`+"\n", 6)+strings.Repeat(`{"id": 100, "name": "b"}`+"\n", 6))
		}},
		{name: "forced", before: []Options{{}}, opts: Options{Force: true}},
		{name: "stopped at the first failure", extra: "    on_error: stop\n    parallel: 1\n"},
		{name: "files gone", before: []Options{{}}, between: func(t *testing.T, dir string) {
			remove(t, dir, "d/u05.json")
			remove(t, dir, "d/u29.json")
		}},
		{name: "chunks, a file gone, one edited", before: []Options{chunked}, opts: chunked, between: func(t *testing.T, dir string) {
			remove(t, dir, "d/x.yaml")
			write(t, dir, "d/u03.json", `{"id": 4, "name": "edited"}`)
		}},
		{name: "files renamed, one new", before: []Options{{}}, between: func(t *testing.T, dir string) {
			renameFile(t, dir, "d/u05.json", "d/u40.json")
			renameFile(t, dir, "d/u07.json", "d/u41.json")
			write(t, dir, "d/u42.json", `{"id": 43, "name": "new"}`)
		}},
		{name: "a file gone, an output deleted", before: []Options{{}}, between: func(t *testing.T, dir string) {
			remove(t, dir, "d/u00.json")
			remove(t, dir, "out/all.json")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]string
			for k, windowed := range []bool{false, true} {
				dir := windowedProject(t, tc.extra, tc.before, tc.between, windowed)
				before := ranWindowed.Load()
				got[k] = windowedRun(t, dir, tc.opts)
				if n := ranWindowed.Load() - before; n == 0 && windowed || n > 0 && !windowed {
					t.Fatalf("windowed %v: %d stages ran in windows", windowed, n)
				}
			}
			if got[0] != got[1] {
				t.Errorf("in windows:\n%s\nthe full way:\n%s", got[1], got[0])
			}
		})
	}
}

// windowedProject is unchangedProject with extra, and a file of twelve
// records to cut in chunks, after the runs before and between: its stage
// is then taken in windows of 3 files, or not.
func windowedProject(t *testing.T, extra string, before []Options, between func(t *testing.T, dir string), windowed bool) string {
	t.Helper()
	windowedFiles, runWindow = 1<<30, 3
	dir := unchangedProject(t, extra)
	write(t, dir, "d/many.ndjson", strings.Repeat(`{"id": 100, "name": "a"}`+"\n", 12))
	for _, o := range before {
		run(t, dir, o)
	}
	if between != nil {
		between(t, dir)
	}
	if windowed {
		windowedFiles = 1
	}
	return dir
}

// A file gone since the last run is named in the plan and its records
// leave the outputs, in windows; so is one renamed, which the plan finds
// among the new files. A stage with more new files than the plan keeps
// for that is left to the full way.
func TestWindowedStageNamesGoneFiles(t *testing.T) {
	defer func(f, w, k int) { windowedFiles, runWindow, renamableKept = f, w, k }(windowedFiles, runWindow, renamableKept)
	for _, tc := range []struct {
		name     string
		edit     func(t *testing.T, dir string)
		kept     int
		windowed bool
		plan     string
	}{
		{name: "gone", windowed: true, edit: func(t *testing.T, dir string) {
			remove(t, dir, "d/u05.json")
		}, plan: "stage users: 30 up to date, 1 to run: input changed (d/u03.json); removed (d/u05.json)"},
		{name: "renamed", windowed: true, edit: func(t *testing.T, dir string) {
			renameFile(t, dir, "d/u05.json", "d/u40.json")
			write(t, dir, "d/u41.json", `{"id": 42, "name": "new"}`)
		}, plan: "stage users: 30 up to date, 3 to run: input changed (d/u03.json); new (d/u41.json); renamed (d/u05.json -> d/u40.json)"},
		{name: "renamed, more new files than kept", kept: 1, edit: func(t *testing.T, dir string) {
			renameFile(t, dir, "d/u05.json", "d/u40.json")
			write(t, dir, "d/u41.json", `{"id": 42, "name": "new"}`)
		}, plan: "stage users: 30 up to date, 3 to run: input changed (d/u03.json); new (d/u41.json); renamed (d/u05.json -> d/u40.json)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			windowedFiles, runWindow, renamableKept = 1, 3, cmp.Or(tc.kept, 8192)
			dir := unchangedProject(t, "")
			run(t, dir, Options{})
			tc.edit(t, dir)
			write(t, dir, "d/u03.json", `{"id": 4, "name": "edited"}`)
			before := ranWindowed.Load()
			var plan string
			run(t, dir, Options{OnEvent: func(e Event) {
				if e.Kind == StagePlanned {
					plan = e.Msg
				}
			}})
			if n := ranWindowed.Load() - before; n > 0 != tc.windowed {
				t.Errorf("%d stages ran in windows", n)
			}
			if plan != tc.plan {
				t.Errorf("plan %q, want %q", plan, tc.plan)
			}
			if strings.Count(read(t, dir, "out/all.ndjson"), `"id":6,`) != strings.Count(tc.name, "renamed") {
				t.Errorf("the gone file's record is in the output, or the renamed one's is not")
			}
			if again := run(t, dir, Options{}).Stages[0]; again.UpToDate != again.Items {
				t.Errorf("next run: %+v; want it all up to date", again)
			}
		})
	}
}

// renameFile renames a file of the project.
func renameFile(t *testing.T, dir, from, to string) {
	t.Helper()
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		t.Fatal(err)
	}
}

// A graceful stop in a windowed stage lets no new item start and does
// not wait for the rest of the files to be listed: the outputs are not
// replaced, the finished items are saved, and the next run does the rest.
func TestWindowedStageStopsGracefully(t *testing.T) {
	defer func(f, w int) { windowedFiles, runWindow = f, w }(windowedFiles, runWindow)
	windowedFiles, runWindow = 1, 3
	files := oneRecordFiles(30)
	dir := project(t, files)
	stop := make(chan struct{})
	var once sync.Once
	sum, err := tryRun(context.Background(), t, dir, Options{Stop: stop, OnProgress: func(p Progress) {
		// The first window's last item: the stop comes between
		// windows.
		if p.Type == ProgressItemComplete && p.Completed == 3 {
			once.Do(func() { close(stop) })
		}
	}})
	if err != nil || !sum.Interrupted {
		t.Fatalf("summary %+v, err %v; want an interrupted run", sum, err)
	}
	st := sum.Stages[0]
	if st.Status != StatusInterrupted || st.OK != 3 {
		t.Errorf("stopped run: %+v; want interrupted with the first window's 3 items done", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "out/all.ndjson")); !os.IsNotExist(err) {
		t.Errorf("the output was written by a stopped run: %v", err)
	}
	leftovers(t, dir)
	again := run(t, dir, Options{}).Stages[0]
	if again.Status != StatusOK || again.UpToDate != 3 || again.OK != 30 {
		t.Errorf("next run: %+v; want the 3 saved items up to date and all 30 written", again)
	}
	if n := strings.Count(read(t, dir, "out/all.ndjson"), "\n"); n != 30 {
		t.Errorf("%d records written, want 30", n)
	}
}

// What happens after the plan is as the full way has it: a stop in a
// stage with nothing to run, a stop after the last item that runs, and
// a file changed after it was planned up to date (taken as planned; the
// next run sees it), with a saved part changed too, which the plan finds.
func TestWindowedStageFollowsItsPlan(t *testing.T) {
	defer func(f, w int, on bool) { windowedFiles, runWindow, settleUnchangedOn = f, w, on }(windowedFiles, runWindow, settleUnchangedOn)
	for _, tc := range []struct {
		name   string
		before func(t *testing.T, dir string)
		// after runs once the stage is planned; stop closes Stop.
		after func(t *testing.T, dir string, stop func())
		// done runs once an item is done.
		done func(stop func())
	}{
		{name: "stopped with nothing to run", after: func(t *testing.T, dir string, stop func()) { stop() }},
		{name: "stopped after the last item to run", before: func(t *testing.T, dir string) {
			write(t, dir, "data/000.json", `{"id":1,"name":"edited"}`)
		}, done: func(stop func()) { stop() }},
		{name: "changed after the plan", after: func(t *testing.T, dir string, stop func()) {
			write(t, dir, "data/029.json", `{"id":30,"name":"changed after the plan"}`)
		}},
		{name: "changed after the plan, a part changed before", before: func(t *testing.T, dir string) {
			remove(t, dir, "out/all.ndjson")
			corruptPart(t, dir, `{"id":1,"name":"u"`)
		}, after: func(t *testing.T, dir string, stop func()) {
			write(t, dir, "data/029.json", `{"id":30,"name":"changed after the plan"}`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]string
			for k, windowed := range []bool{false, true} {
				windowedFiles, runWindow, settleUnchangedOn = 1<<30, 3, true
				files := oneRecordFiles(30)
				dir := project(t, files)
				for name := range files {
					settle(t, dir, name)
				}
				run(t, dir, Options{})
				if tc.before != nil {
					tc.before(t, dir)
				}
				if windowed {
					windowedFiles = 1
				}
				// As for a stage with a chunked file, or in watch mode.
				settleUnchangedOn = false
				var b strings.Builder
				stopped := make(chan struct{})
				stop := sync.OnceFunc(func() { close(stopped) })
				sum, err := tryRun(context.Background(), t, dir, Options{Stop: stopped,
					OnEvent: func(e Event) {
						fmt.Fprintf(&b, "event %v %q %d %d\n", e.Kind, e.Msg, e.UpToDate, e.ToRun)
						if e.Kind == StagePlanned && tc.after != nil {
							tc.after(t, dir, stop)
						}
					},
					OnProgress: func(p Progress) {
						if p.Type == ProgressItemComplete && tc.done != nil {
							tc.done(stop)
						}
					}})
				if err != nil {
					t.Fatal(err)
				}
				st := sum.Stages[0]
				fmt.Fprintf(&b, "interrupted=%v status=%s items=%d uptodate=%d ok=%d records=%d exit=%d\n",
					sum.Interrupted, st.Status, st.Items, st.UpToDate, st.OK, st.Records, sum.ExitCode())
				for it, err := range sum.ProvenanceItems() {
					if err != nil {
						t.Fatal(err)
					}
					fmt.Fprintf(&b, "item %s %s %v\n", it.ID, it.InputSHA256, it.UpToDate)
				}
				body, _ := os.ReadFile(filepath.Join(dir, "out/all.ndjson"))
				fmt.Fprintf(&b, "out/all.ndjson:\n%s", body)
				settleUnchangedOn = true
				again := run(t, dir, Options{}).Stages[0]
				fmt.Fprintf(&b, "next run: %d of %d up to date\n", again.UpToDate, again.Items)
				got[k] = packNames.ReplaceAllString(b.String(), "<pack>")
			}
			if got[0] != got[1] {
				t.Errorf("in windows:\n%s\nthe full way:\n%s", got[1], got[0])
			}
		})
	}
}

// packNames are the names of packs, which differ from run to run.
var packNames = regexp.MustCompile(`[0-9a-f]{32}\.pack`)

// corruptPart changes one byte of the saved part that holds marker.
func corruptPart(t *testing.T, dir, marker string) {
	t.Helper()
	parts := filepath.Join(dir, ".zpipe", "parts")
	entries, err := os.ReadDir(parts)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(parts, e.Name())
		b, err := os.ReadFile(p)
		if i := bytes.Index(b, []byte(marker)); err == nil && i >= 0 {
			b[i+len(marker)-2] = 'X'
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no part holds %s", marker)
}

// zpipe plan of a stage of many files decides it a window at a time, and
// reports what the full way does, whether it lists every item or the
// first few that would run: on a first run, with chunks and a stage after
// it; on reruns with nothing changed, files edited and added, an output
// deleted, a saved part changed, files gone and renamed, and with
// --force. A stage with files gone and more new ones than the plan keeps
// for renames is left to the full way.
func TestWindowedPlanIsTheFullWays(t *testing.T) {
	defer func(f, w, k int) { windowedFiles, runWindow, renamableKept = f, w, k }(windowedFiles, runWindow, renamableKept)
	chunked := Options{ChunkSize: 120}
	after := `  again:
    source: {paths: [out/all.ndjson]}
    schema: user.cue#User
    outputs: [{format: yaml, path: out/again.yaml}]
`
	for _, tc := range []struct {
		name    string
		extra   string
		before  []Options
		between func(t *testing.T, dir string)
		opts    Options
		// full: the stage is left to the full way.
		full bool
	}{
		{name: "first run"},
		{name: "first run, chunks", opts: chunked},
		{name: "and one after it", extra: after},
		{name: "nothing changed", extra: after, before: []Options{{}}},
		{name: "edited and added", extra: after, before: []Options{{}}, between: func(t *testing.T, dir string) {
			write(t, dir, "d/u03.json", `{"id": 4, "name": "edited"}`)
			write(t, dir, "d/u30.json", `{"id": 31, "name": ""}`)
		}},
		{name: "an output deleted", before: []Options{{}}, between: func(t *testing.T, dir string) {
			remove(t, dir, "out/all.json")
		}},
		{name: "a saved part changed", before: []Options{chunked}, opts: chunked, between: func(t *testing.T, dir string) {
			write(t, dir, "d/u20.json", `{"id": 21, "name": "edited"}`)
			corruptPart(t, dir, `{"id":2,"name":"u1"`)
			corruptPart(t, dir, `{"id":28,"name":"u27"`)
		}},
		{name: "forced", before: []Options{{}}, opts: Options{Force: true}},
		{name: "a file gone", before: []Options{{}}, between: func(t *testing.T, dir string) {
			remove(t, dir, "d/u05.json")
		}},
		{name: "a file gone, one edited", before: []Options{{}}, between: func(t *testing.T, dir string) {
			remove(t, dir, "d/u05.json")
			write(t, dir, "d/u03.json", `{"id": 4, "name": "edited"}`)
		}},
		{name: "files renamed, one new", before: []Options{{}}, between: func(t *testing.T, dir string) {
			renameFile(t, dir, "d/u05.json", "d/u40.json")
			renameFile(t, dir, "d/u07.json", "d/u41.json")
			write(t, dir, "d/u42.json", `{"id": 43, "name": "new"}`)
		}},
		{name: "files renamed, more new than kept", before: []Options{{}}, full: true, between: func(t *testing.T, dir string) {
			renamableKept = 1
			renameFile(t, dir, "d/u05.json", "d/u40.json")
			write(t, dir, "d/u42.json", `{"id": 43, "name": "new"}`)
		}},
	} {
		for _, limit := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s, %d listed", tc.name, limit), func(t *testing.T) {
				var got [2]string
				for k, windowed := range []bool{false, true} {
					renamableKept = 8192
					dir := windowedProject(t, tc.extra, tc.before, tc.between, windowed)
					before := plannedWindowed.Load()
					opts := tc.opts
					opts.StateDir, opts.PlanItems = filepath.Join(dir, ".zpipe"), limit
					rep, err := DryRun(context.Background(), []*pipeline.Plan{planOf(t, dir)}, opts)
					if err != nil {
						t.Fatal(err)
					}
					if n := plannedWindowed.Load() - before; windowed && !tc.full && n == 0 || (!windowed || tc.full) && n > 0 {
						t.Fatalf("windowed %v: %d stages planned in windows", windowed, n)
					}
					b, err := json.MarshalIndent(rep, "", " ")
					if err != nil {
						t.Fatal(err)
					}
					got[k] = strings.ReplaceAll(string(b), dir, "<dir>")
				}
				if got[0] != got[1] {
					t.Errorf("in windows:\n%s\nthe full way:\n%s", got[1], got[0])
				}
				if limit > 0 && strings.Count(got[0], `"item"`) > 2*limit {
					t.Errorf("more than %d items listed a stage:\n%s", limit, got[0])
				}
			})
		}
	}
}

// A hard stop while the saved parts are rechecked is reported with the
// stage's items counted, as the full way reports it.
func TestWindowedStageStoppedInItsRecheckCountsItsItems(t *testing.T) {
	defer func(f, w int) { windowedFiles, runWindow = f, w }(windowedFiles, runWindow)
	var got [2]string
	for k, windowed := range []bool{false, true} {
		windowedFiles, runWindow = 1<<30, 3
		dir := unchangedProject(t, "")
		run(t, dir, Options{})
		remove(t, dir, "out/all.json") // the outputs are rebuilt: the parts are rechecked
		corruptPart(t, dir, `{"id":2,"name":"u1"`)
		if windowed {
			windowedFiles = 1
		}
		ctx, cancel := context.WithCancel(context.Background())
		sum, err := tryRun(ctx, t, dir, Options{OnEvent: func(e Event) {
			if e.Kind == Warning && strings.Contains(e.Msg, "saved part") {
				cancel()
			}
		}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		st := sum.Stages[0]
		got[k] = fmt.Sprintf("status=%s items=%d error=%q", st.Status, st.Items, st.Error)
	}
	if got[0] != got[1] {
		t.Errorf("in windows: %s\nthe full way: %s", got[1], got[0])
	}
}

// A new file of a gone one's size is hashed to tell whether it is the
// gone one renamed; should it then fail, its journal entry and the trail
// keep that sum, in windows as the full way has it.
func TestWindowedStageKeepsTheSumOfAFileHashedForARename(t *testing.T) {
	defer func(f, w int) { windowedFiles, runWindow = f, w }(windowedFiles, runWindow)
	times := regexp.MustCompile(`"(run|stat|time|duration_ns)":(\[[^\]]*\]|"[^"]*"|[0-9]+),?`)
	var got [2]string
	for k, windowed := range []bool{false, true} {
		windowedFiles, runWindow = 1<<30, 3
		dir := unchangedProject(t, "")
		run(t, dir, Options{})
		b := read(t, dir, "d/u05.json")
		remove(t, dir, "d/u05.json")
		write(t, dir, "d/u40.json", b[:len(b)-1]+"]") // as long, and not JSON
		if windowed {
			windowedFiles = 1
		}
		for it, err := range run(t, dir, Options{}).ProvenanceItems() {
			if err != nil {
				t.Fatal(err)
			}
			if it.Source == "d/u40.json" {
				got[k] += "trail input_sha256=" + it.InputSHA256 + "\n"
			}
		}
		var j bytes.Buffer
		if err := DumpJournal(filepath.Join(dir, ".zpipe"), &j); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(j.String(), "\n") {
			if strings.Contains(line, `"d/u40.json"`) {
				got[k] += "journal " + times.ReplaceAllString(line, "") + "\n"
			}
		}
	}
	if got[0] == "" || strings.Contains(got[0], "input_sha256=\n") || got[0] != got[1] {
		t.Errorf("in windows:\n%s\nthe full way:\n%s", got[1], got[0])
	}
}
