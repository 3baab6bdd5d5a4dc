//go:build crash

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/internal/journal"
)

// TestCrash kills zpipe run with SIGKILL at random moments, resumes each
// time, and checks that nothing is lost, nothing is half written, and no
// finished item is redone. Run it with make crash.
func TestCrash(t *testing.T) { crash(t, crashCase{perSource: true, midCommits: 10}) }

// TestCrashNATS kills the coordinator of a distributed run: its embedded
// server and local worker die with it, and the next run resumes from the
// journal as a local one does.
func TestCrashNATS(t *testing.T) {
	crash(t, crashCase{args: []string{"--executor", "nats"}, perSource: true, midCommits: 10})
}

// TestCrashWindowed kills runs whose stages run a window of 100 files at
// a time (engine.runWindowed), as a stage of 100,000 files or more does.
// Its outputs are one file each, since per-source outputs are never run
// in windows, so its commits are brief and few kills land inside one (2
// to 8 in 200 tries): one is asked for, in up to 400, since the commit
// is the one TestCrash kills.
func TestCrashWindowed(t *testing.T) {
	crash(t, crashCase{ldflags: "-X github.com/zpipe/zpipe/engine.testWindow=100", midCommits: 1, tries: 400})
}

// crashCase is how crash runs zpipe: with args, built with ldflags, with
// a per-source output or not; midCommits is how many kills must land
// inside a commit, in up to tries runs (200 unless set).
type crashCase struct {
	args       []string
	ldflags    string
	perSource  bool
	midCommits int
	tries      int
}

// crash kills runs at random, then inside commits, and checks that every
// output is whole, that the final run writes what a clean run does, and
// that no item is redone once recorded done.
func crash(t *testing.T, cc crashCase) {
	bin := filepath.Join(t.TempDir(), "zpipe")
	if out, err := exec.Command("go", "build", "-ldflags", cc.ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	const files = 3000
	setup := func(dir string) {
		os.MkdirAll(filepath.Join(dir, "data"), 0o755)
		os.WriteFile(filepath.Join(dir, "user.cue"), []byte("#User: {id: int & >=1, name: string, tier: *\"free\" | \"pro\"}\n"), 0o644)
		each := ""
		if cc.perSource {
			each = `      - {format: yaml, path: "out/each/{stem}.yaml"}
`
		}
		os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(`version: 1
stages:
  users:
    parallel: 2
    source: {paths: ["data/*.json"]}
    schema: user.cue#User
    outputs:
      - {format: ndjson, path: out/users.ndjson}
`+each+`    rejects: out/rejects.ndjson
  report:
    source: {paths: [out/users.ndjson]}
    schema: user.cue#User
    outputs: [{format: csv, path: out/users.csv}]
`), 0o644)
		for i := 0; i < files; i++ {
			id := i + 1
			if i%97 == 0 {
				id = 0 // invalid: goes to rejects
			}
			os.WriteFile(filepath.Join(dir, "data", fmt.Sprintf("u%05d.json", i)), []byte(fmt.Sprintf(`{"id": %d, "name": "user %d"}`, id, i)), 0o644)
		}
	}
	// What a killed zpipe cannot remove (an embedded NATS server's
	// folder) is left in a temp folder of the test's, not the system's.
	tmp := t.TempDir()
	zpipe := func(dir string, args ...string) *exec.Cmd {
		c := exec.Command(bin, append(append([]string{"run", "--progress=none", "--log-level=error"}, cc.args...), args...)...)
		c.Dir = dir
		c.Env = append(os.Environ(), "TMPDIR="+tmp)
		return c
	}

	clean := t.TempDir()
	setup(clean)
	start := time.Now()
	if out, err := zpipe(clean, "p.yaml").CombinedOutput(); err != nil && !isExit(err, 1) {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	took := time.Since(start)
	want := tree(t, filepath.Join(clean, "out"))
	t.Logf("clean run: %s, %d output files", took, len(want))

	dir := t.TempDir()
	setup(dir)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for kills < 20 {
		c := zpipe(dir, "p.yaml")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(took))))
		c.Process.Signal(syscall.SIGKILL)
		err := c.Wait()
		if !strings.Contains(fmt.Sprint(err), "killed") {
			// The run finished before the kill: start over from nothing.
			os.RemoveAll(filepath.Join(dir, "out"))
			os.RemoveAll(filepath.Join(dir, ".zpipe"))
			continue
		}
		kills++
		// Whatever exists must be whole: an output is either absent or
		// exactly what a clean run writes.
		for name, b := range tree(t, filepath.Join(dir, "out")) {
			if strings.Contains(name, ".zpipe-tmp-") {
				continue // the temp file of an output being written
			}
			if w, ok := want[name]; !ok || !bytes.Equal(w, b) {
				t.Fatalf("kill %d: %s is half written or wrong", kills, name)
			}
		}
	}
	// Then kill inside commits: once a commit's intent is in the journal,
	// after a few of its renames. An input changes before each run, so
	// that every commit replaces outputs that exist.
	midCommit := 0
	if cc.tries == 0 {
		cc.tries = 200
	}
	for i := 0; midCommit < cc.midCommits && i < cc.tries; i++ {
		p := filepath.Join(dir, "data", fmt.Sprintf("u%05d.json", rng.IntN(files)))
		b, _ := os.ReadFile(p)
		os.WriteFile(p, append(b, ' '), 0o644)
		journal := filepath.Join(dir, ".zpipe", "journal.bin")
		before := commitsBegun(journal)
		c := zpipe(dir, "p.yaml")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); commitsBegun(journal) == before && time.Now().Before(deadline); {
			time.Sleep(200 * time.Microsecond)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(2 * time.Millisecond))))
		c.Process.Signal(syscall.SIGKILL)
		if err := c.Wait(); strings.Contains(fmt.Sprint(err), "killed") && commitsBegun(journal) > commitsDone(journal) {
			midCommit++
		}
	}
	if midCommit < cc.midCommits {
		t.Errorf("only %d kills landed inside a commit", midCommit)
	}
	if out, err := zpipe(dir, "p.yaml").CombinedOutput(); err != nil && !isExit(err, 1) {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	// The edits above only added spaces, so the records are the same.
	got := tree(t, filepath.Join(dir, "out"))
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s differs from the clean run's", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is left behind", name)
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.HasPrefix(d.Name(), ".zpipe-tmp-") || (d.IsDir() && strings.HasPrefix(d.Name(), ".zpipe-run-"))) {
			t.Errorf("temp file left behind: %s", p)
		}
		return nil
	})
	// No item is recorded done twice with the same fingerprint: once done,
	// an item's parts were never written again.
	var entries bytes.Buffer
	if err := engine.DumpJournal(filepath.Join(dir, ".zpipe"), &entries); err != nil {
		t.Fatal(err)
	}
	done := map[string]int{}
	sc := bufio.NewScanner(&entries)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var e struct {
			Type, Stage, Key, Status string
			FP                       map[string]string
		}
		json.Unmarshal(sc.Bytes(), &e)
		if e.Type == "item" && e.Status == "done" {
			k := e.Stage + " " + e.Key + " " + e.FP["input"] + e.FP["base"] + e.FP["schema"] + e.FP["settings"]
			if done[k]++; done[k] > 1 {
				t.Errorf("item %s was redone after it was recorded done", e.Key)
			}
		}
	}
	t.Logf("%d kills at random, %d inside a commit, %d items recorded done once each", kills, midCommit, len(done))
}

// commitsBegun and commitsDone count the commit records in the journal.
func commitsBegun(journal string) int {
	return countLines(journal, `"type":"commit"`, `"status":"begin"`)
}
func commitsDone(journal string) int {
	return countLines(journal, `"type":"commit"`, `"status":"done"`)
}

// countLines counts the journal's records that hold every one of subs:
// commits, which are JSON.
func countLines(path string, subs ...string) int {
	n := 0
	journal.Read(path, func(rec []byte) error {
		all := true
		for _, s := range subs {
			all = all && bytes.Contains(rec, []byte(s))
		}
		if all {
			n++
		}
		return nil
	})
	return n
}

func isExit(err error, code int) bool {
	ee, ok := err.(*exec.ExitError)
	return ok && ee.ExitCode() == code
}

func tree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		files[rel], _ = os.ReadFile(p)
		return nil
	})
	return files
}
