package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"go.uber.org/goleak"

	"github.com/zpipe/zpipe/internal/journal"
)

// The watch tests run the whole loop in-process on a temp project, and
// wait on what it prints, never on fixed sleeps, except where the point is
// that nothing happens for a while.

const (
	debounce    = 50 * time.Millisecond
	scanEvery   = 100 * time.Millisecond
	waitTimeout = 15 * time.Second
)

// cycleRE matches the last line of every finished run.
var cycleRE = regexp.MustCompile(`(?m)^\[\d\d:\d\d:\d\d\] .* in [0-9.]+[µmn]?s$`)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// watchRun is one zpipe watch running in a goroutine.
type watchRun struct {
	t        *testing.T
	dir      string
	a        *app
	out, err *syncBuffer
	cancel   context.CancelFunc
	done     chan error
}

// startWatch runs zpipe watch on dir's pipeline.yaml, with flags.
func startWatch(t *testing.T, dir string, flags ...string) *watchRun {
	t.Helper()
	out, errs := &syncBuffer{}, &syncBuffer{}
	a := &app{stdout: out, stderr: errs, stop: make(chan struct{}), log: log.NewWithOptions(errs, log.Options{})}
	root := a.rootCmd()
	args := []string{"watch", "--progress=none", "--debounce=" + debounce.String(), "--scan-interval=" + scanEvery.String()}
	args = append(args, flags...)
	root.SetArgs(append(args, filepath.Join(dir, "pipeline.yaml")))
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchRun{t: t, dir: dir, a: a, out: out, err: errs, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(waitTimeout):
			t.Error("zpipe watch did not return after cancel")
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", out, errs)
		}
	})
	return w
}

// waitFor polls cond until it holds.
func (w *watchRun) waitFor(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitOut waits until stdout matches re.
func (w *watchRun) waitOut(re string) {
	w.t.Helper()
	rx := regexp.MustCompile(re)
	w.waitFor("stdout to match "+re, func() bool { return rx.MatchString(w.out.String()) })
}

// waitErr waits until stderr matches re.
func (w *watchRun) waitErr(re string) {
	w.t.Helper()
	rx := regexp.MustCompile(re)
	w.waitFor("stderr to match "+re, func() bool { return rx.MatchString(w.err.String()) })
}

func (w *watchRun) cycles() []string { return cycleRE.FindAllString(w.out.String(), -1) }

// cycle waits for the n-th finished run and returns its last line.
func (w *watchRun) cycle(n int) string {
	w.t.Helper()
	w.waitFor(fmt.Sprintf("run %d to finish", n), func() bool { return len(w.cycles()) >= n })
	return w.cycles()[n-1]
}

// quiet checks that no run starts for a while: two scans and a few
// debounce windows, enough for any echo of the last run to show.
func (w *watchRun) quiet() {
	w.t.Helper()
	n := len(w.cycles())
	time.Sleep(2*scanEvery + 4*debounce)
	if got := w.cycles(); len(got) != n {
		w.t.Fatalf("%d runs started with nothing changed: %q", len(got)-n, got[n:])
	}
}

// exit stops the watch as Ctrl-C does and returns its error.
func (w *watchRun) exit() error {
	w.t.Helper()
	close(w.a.stop)
	select {
	case err := <-w.done:
		w.done <- err // for the cleanup
		return err
	case <-time.After(waitTimeout):
		w.t.Fatal("zpipe watch did not stop after Ctrl-C")
		return nil
	}
}

func (w *watchRun) path(rel string) string { return filepath.Join(w.dir, filepath.FromSlash(rel)) }

// write puts a file in place whole, by a rename, so that the watcher
// never sees it half written (an empty file read between the truncate and
// the write made TestWatchBurstIsOneRun flaky).
func (w *watchRun) write(rel, content string) {
	w.t.Helper()
	p := w.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(p), ".zpipe-tmp-test-"+filepath.Base(p))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		w.t.Fatal(err)
	}
}

// save writes as editors do: a swap file renamed over the target.
func (w *watchRun) save(rel, content string) {
	w.t.Helper()
	swp := rel + ".swp"
	w.write(swp, content)
	if err := os.Rename(w.path(swp), w.path(rel)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *watchRun) read(rel string) string {
	b, _ := os.ReadFile(w.path(rel))
	return string(b)
}

func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const usersManifest = `version: 1
stages:
  users:
    source: {paths: ["data/**/*.json"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/users.ndjson}]
`

// usersProject has n sources, data/1.json to data/n.json.
func usersProject(t *testing.T, manifest string, n int) string {
	files := map[string]string{"pipeline.yaml": manifest, "user.cue": "#User: {id: int}\n"}
	for i := 1; i <= n; i++ {
		files[fmt.Sprintf("data/%d.json", i)] = fmt.Sprintf(`{"id": %d}`, i)
	}
	return writeProject(t, files)
}

func TestWatchAtomicSave(t *testing.T) {
	t.Parallel()
	w := startWatch(t, usersProject(t, usersManifest, 5))
	if c := w.cycle(1); !strings.Contains(c, "users: 5 ran, 0 up to date, 0 failed in") {
		t.Fatalf("first run: %q", c)
	}
	w.save("data/2.json", `{"id": 22}`)
	if c := w.cycle(2); !strings.Contains(c, "users: 1 ran, 4 up to date, 0 failed in") {
		t.Fatalf("after saving one source: %q", c)
	}
	w.waitOut(`\] data/2\.json changed\n`)
	if !strings.Contains(w.read("out/users.ndjson"), `{"id":22}`) {
		t.Fatalf("output misses the change:\n%s", w.read("out/users.ndjson"))
	}
	w.quiet()
}

func TestWatchNewSubfolder(t *testing.T) {
	t.Parallel()
	w := startWatch(t, usersProject(t, usersManifest, 3))
	w.cycle(1)
	w.write("data/2026/05/new.json", `{"id": 9}`)
	if c := w.cycle(2); !strings.Contains(c, "users: 1 ran, 3 up to date, 0 failed in") {
		t.Fatalf("after a file in a new folder: %q", c)
	}
	w.waitOut(`data/2026/05/new\.json changed`)
	// The new folder is watched now.
	w.write("data/2026/05/newer.json", `{"id": 10}`)
	if c := w.cycle(3); !strings.Contains(c, "users: 1 ran, 4 up to date, 0 failed in") {
		t.Fatalf("after a second file in the new folder: %q", c)
	}
}

func TestWatchSourceFolderCreatedLater(t *testing.T) {
	t.Parallel()
	manifest := strings.Replace(usersManifest, `["data/**/*.json"]`, `["data/**/*.json", "later/*.json"]`, 1)
	w := startWatch(t, usersProject(t, manifest, 2))
	w.cycle(1)
	w.write("later/a.json", `{"id": 7}`)
	if c := w.cycle(2); !strings.Contains(c, "users: 1 ran, 2 up to date, 0 failed in") {
		t.Fatalf("after a file in a folder created after start: %q", c)
	}
}

func TestWatchDeletedSource(t *testing.T) {
	t.Parallel()
	w := startWatch(t, usersProject(t, usersManifest, 3))
	w.cycle(1)
	if err := os.Remove(w.path("data/2.json")); err != nil {
		t.Fatal(err)
	}
	w.waitOut(`\] data/2\.json was deleted\n`)
	c := w.cycle(2)
	if !strings.Contains(c, "users: 0 ran, 2 up to date, 0 failed in") {
		t.Fatalf("after a deletion: %q", c)
	}
	w.waitFor("the output to lose the deleted record", func() bool {
		return w.read("out/users.ndjson") == "{\"id\":1}\n{\"id\":3}\n"
	})
}

func TestWatchBurstIsOneRun(t *testing.T) {
	t.Parallel()
	// A burst is writes closer together than the debounce: 50 ms, the
	// other tests' window, is less than a loaded machine can pause.
	w := startWatch(t, usersProject(t, usersManifest, 3), "--debounce=1s")
	w.cycle(1)
	for i := range 50 {
		w.write("data/1.json", fmt.Sprintf(`{"id": %d}`, 100+i))
	}
	if c := w.cycle(2); !strings.Contains(c, "users: 1 ran, 2 up to date, 0 failed in") {
		t.Fatalf("after a burst: %q", c)
	}
	w.quiet()
	if !strings.Contains(w.read("out/users.ndjson"), `{"id":149}`) {
		t.Fatalf("output misses the last write:\n%s", w.read("out/users.ndjson"))
	}
}

// Every file a run writes lands inside the watched folder: outputs (one per
// source, with {dir}), the merged output a second stage reads, rejects,
// the state folder and the provenance. None may start another run.
func TestWatchOwnOutputsNoLoop(t *testing.T) {
	t.Parallel()
	manifest := `version: 1
stages:
  users:
    source: {paths: ["data/**/*.json"], exclude: ["data/.state/**", "data/provenance.json"]}
    schema: user.cue#User
    outputs:
      - {format: yaml, path: "data/out/{dir}/{stem}.yaml"}
      - {format: ndjson, path: data/all.ndjson}
    rejects: data/rejects.ndjson
  report:
    source: {paths: ["data/all.ndjson"]}
    schema: user.cue#User
    outputs: [{format: csv, path: data/report.csv}]
`
	dir := usersProject(t, manifest, 3)
	if err := os.WriteFile(filepath.Join(dir, "data", "bad.json"), []byte(`{"id": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, dir, "--state-dir", filepath.Join(dir, "data", ".state"), "--provenance", filepath.Join(dir, "data", "provenance.json"))
	w.cycle(1)
	w.quiet()
	// The downstream stage still reruns, in the same run.
	w.save("data/1.json", `{"id": 11}`)
	w.cycle(2)
	w.waitOut(`users: 1 ran, 3 up to date, 0 failed, 1 record rejected\n.*report: 1 ran, 0 up to date, 0 failed\n.*total 2 items run, 3 up to date in`)
	w.quiet()
	if !strings.Contains(w.read("data/report.csv"), "11") {
		t.Fatalf("report.csv misses the change:\n%s", w.read("data/report.csv"))
	}
}

func TestWatchBadManifest(t *testing.T) {
	t.Parallel()
	w := startWatch(t, usersProject(t, usersManifest, 3))
	w.cycle(1)
	good := w.read("pipeline.yaml")
	w.save("pipeline.yaml", strings.Replace(good, "schema: user.cue#User", "schema: [", 1))
	w.waitOut(`pipeline\.yaml changed; reloading`)
	w.waitErr(`(?m)^ERRO .*pipeline\.yaml:\d+:\d+: `)
	w.waitErr(`keeping the last good plan of pipeline\.yaml`)
	// The last good plan still runs on a data change.
	w.save("data/1.json", `{"id": 11}`)
	if c := w.cycle(2); !strings.Contains(c, "users: 1 ran, 2 up to date, 0 failed in") {
		t.Fatalf("data change under the last good plan: %q", c)
	}
	// The fix changes the stage's outputs, so every item reruns.
	w.save("pipeline.yaml", good+"    rejects: out/rejects.ndjson\n")
	if c := w.cycle(3); !strings.Contains(c, "users: 3 ran, 0 up to date, 0 failed in") {
		t.Fatalf("after fixing the manifest: %q", c)
	}
}

const slowManifest = `version: 1
limits: {throttle: 100ms}
stages:
  users:
    parallel: 1
    source: {paths: ["data/*.json"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/users.ndjson}]
`

func TestWatchChangeMidRun(t *testing.T) {
	t.Parallel()
	w := startWatch(t, usersProject(t, slowManifest, 10))
	w.waitErr(`stage users: 0 up to date, 10 to run`)
	w.save("data/9.json", `{"id": 99}`)
	w.waitOut(`\] data/9\.json changed; stopping the run to start again\n`)
	w.waitOut(`\] stopped after \d+ items?; the next run redoes only the rest\n`)
	c := w.cycle(1)
	m := regexp.MustCompile(`users: (\d+) ran, (\d+) up to date, 0 failed`).FindStringSubmatch(c)
	if m == nil || m[1]+m[2] == "" || atoi(m[1])+atoi(m[2]) != 10 || atoi(m[1]) == 10 {
		t.Fatalf("the run after the change should redo only what was not done: %q", c)
	}
	if got := w.read("out/users.ndjson"); !strings.Contains(got, `{"id":99}`) || strings.Count(got, "\n") != 10 {
		t.Fatalf("output after the restarted run:\n%s", got)
	}
}

func TestWatchCtrlC(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		w := startWatch(t, usersProject(t, usersManifest, 2))
		w.cycle(1)
		if err := w.exit(); err != nil {
			t.Fatalf("Ctrl-C: %v, want exit 0", err)
		}
	})
	t.Run("mid-run", func(t *testing.T) {
		t.Parallel()
		w := startWatch(t, usersProject(t, slowManifest, 10))
		w.waitErr(`stage users: 0 up to date, 10 to run`)
		if err := w.exit(); err != nil {
			t.Fatalf("Ctrl-C: %v, want exit 0", err)
		}
		w.waitOut(`\] stopped after \d+ items?; finished items are saved for the next run\n`)
		if _, err := os.Stat(w.path(".zpipe")); err != nil {
			t.Fatalf("no state saved: %v", err)
		}
	})
}

// TestWatchNoLeak is not parallel, so that the goroutines it checks are
// its own.
func TestWatchNoLeak(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w := startWatch(t, usersProject(t, usersManifest, 2))
	w.cycle(1)
	w.save("data/1.json", `{"id": 11}`)
	w.cycle(2)
	if err := w.exit(); err != nil {
		t.Fatal(err)
	}
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

// TestWatchWaitsForABusyStateFolder: while another zpipe holds the state
// folder, a run cannot start; the change is kept and the run is retried
// with backoff until the folder is free, with no further change needed.
func TestWatchWaitsForABusyStateFolder(t *testing.T) {
	t.Parallel()
	dir := usersProject(t, usersManifest, 2)
	if err := os.MkdirAll(filepath.Join(dir, ".zpipe"), 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := journal.Acquire(filepath.Join(dir, ".zpipe"), ".zpipe")
	if err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, dir)
	w.waitErr(`state folder .*\.zpipe is in use by another zpipe \(pid \d+\); trying again in 250ms`)
	w.waitErr(`trying again in 500ms`)
	if n := len(w.cycles()); n != 0 {
		t.Fatalf("%d runs with the folder busy", n)
	}
	lock.Release()
	if c := w.cycle(1); !strings.Contains(c, "users: 2 ran, 0 up to date, 0 failed in") {
		t.Fatalf("once the folder is free: %q", c)
	}
	if !strings.Contains(w.read("out/users.ndjson"), `{"id":2}`) {
		t.Errorf("output: %q", w.read("out/users.ndjson"))
	}
}
