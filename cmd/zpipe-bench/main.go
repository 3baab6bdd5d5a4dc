//go:build unix

// Command zpipe-bench times zpipe against its anchors (the cue CLI and
// Node.js zod 4) on the same generated user records, and says whether zpipe
// meets its throughput target (issue 6). Anchors that are not installed are
// skipped, with how to install them.
//
//	go run ./cmd/zpipe-bench [-n 200000] [-seed 1] [-runs 3] [-dir DIR] [-only zpipe-csv,cue-vet]
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zpipe/zpipe/internal/benchdata"
)

// job is one command timed on each round.
type job struct {
	key, tool, input string
	records          int      // records it reads, for records/s
	argv             []string // run in the data folder
	stdoutFile       string   // where its stdout goes, inside the data folder
	clean            []string // removed before each run, inside the data folder
	okCodes          []int    // exit codes that mean it ran to the end
	check            func(stdout []byte) string
	walls            []time.Duration
	rssKB            int64
	failed           bool
}

func main() {
	n := flag.Int("n", 200000, "records in the data set")
	seed := flag.Uint64("seed", 1, "random seed of the data set")
	runs := flag.Int("runs", 3, "runs of each command; records/s is from the median")
	dir := flag.String("dir", "", "keep the data set and outputs in this folder (default: a temporary one, removed)")
	only := flag.String("only", "", "comma-separated job names or prefixes to run (zpipe-ndjson, zpipe-csv, zpipe-yaml, zpipe-jsonarray, zpipe-json, cue-vet, cue-export, zod); zpipe-ndjson, the reference, always runs")
	flag.Parse()
	if err := run(*n, *seed, *runs, *dir, *only); err != nil {
		fmt.Fprintln(os.Stderr, "zpipe-bench:", err)
		os.Exit(1)
	}
}

func run(n int, seed uint64, runs int, dir, only string) error {
	if n < 100 || runs < 1 {
		return errors.New("-n must be at least 100 and -runs at least 1")
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "zpipe-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}

	logf("generating %d records (seed %d) in %s", n, seed, dir)
	if err := writeData(dir, n, seed); err != nil {
		return err
	}
	// Write the data out now, so that writeback does not slow the first run.
	syscall.Sync()
	// The binary, not go run, so that build time and the go tool's memory
	// are not measured. It goes beside the data to keep the repo clean.
	zpipe := filepath.Join(dir, "zpipe")
	logf("building zpipe")
	build := exec.Command("go", "build", "-o", zpipe, "./cmd/zpipe")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/zpipe: %w", err)
	}

	valid := n - benchdata.Invalid(n)
	jobs, notes := plan(root, zpipe, n, valid, wanted(only))
	for _, d := range []string{"logs", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}

	warnings := rounds(jobs, dir, runs)
	var rows []row
	for _, j := range jobs {
		if !j.failed {
			rows = append(rows, row{j.tool, j.input, float64(j.records) / median(j.walls).Seconds(), j.rssKB})
		}
	}
	if len(rows) == 0 || jobs[0].key != "zpipe-ndjson" || jobs[0].failed {
		for _, w := range warnings {
			fmt.Println("warning:", w)
		}
		return errors.New("zpipe ndjson → ndjson did not run; nothing to compare against")
	}

	report(rows, notes, warnings, dir, n, seed, runs)
	return nil
}

// report prints the machine, the data, the table of rates and memory, and
// how zpipe compares and whether it meets its target.
func report(rows []row, notes, warnings []string, dir string, n int, seed uint64, runs int) {
	fmt.Printf("machine: %s/%s, %d CPUs (%s), %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), runtime.Version())
	fmt.Printf("data: %s records (seed %d, %s invalid, %.0f bytes each in ndjson), runs: %d each, alternating; records/s from the median run\n",
		thousands(float64(n)), seed, thousands(float64(benchdata.Invalid(n))), avgBytes(filepath.Join(dir, "users.ndjson"), n), runs)
	for _, s := range notes {
		fmt.Println(s)
	}
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	fmt.Println()
	printTable(os.Stdout, rows)
	fmt.Println()
	var vs []string
	for _, r := range rows[1:] {
		if r.tool != "zpipe" && r.rate > 0 {
			vs = append(vs, fmt.Sprintf("%.1f× %s", rows[0].rate/r.rate, r.tool))
		}
	}
	if len(vs) > 0 {
		fmt.Printf("zpipe ndjson → ndjson is %s\n", strings.Join(vs, ", "))
	}
	fmt.Println(targetLine(rows[0], runtime.NumCPU()))
}

// rounds runs every job once a round, alternating, so that a slow drift of
// the machine (heat, other load) touches every tool alike, and returns the
// warnings to print.
func rounds(jobs []*job, dir string, runs int) []string {
	var warnings []string
	for r := 1; r <= runs; r++ {
		for _, j := range jobs {
			if j.failed {
				continue
			}
			wall, rss, warn, err := j.runOnce(dir)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("%s: %v; dropped", j.key, err))
				logf("round %d/%d  %-12s failed: %v", r, runs, j.key, err)
				j.failed = true
				continue
			}
			if warn != "" && r == 1 {
				warnings = append(warnings, j.key+": "+warn)
			}
			j.walls = append(j.walls, wall)
			j.rssKB = max(j.rssKB, rss)
			logf("round %d/%d  %-12s %6.2fs  %5s MB", r, runs, j.key, wall.Seconds(), thousands(mb(rss)))
		}
	}
	return warnings
}

// plan returns the jobs to time that want accepts, zpipe ndjson first, and
// notes on what was skipped or changed and why.
func plan(root, zpipe string, n, valid int, want func(key string) bool) ([]*job, []string) {
	var jobs []*job
	var notes []string
	if want("zpipe-csv") {
		notes = append(notes, "note: csv cannot hold tags or address, so csv runs a flat variant (#UserFlat: address.city and .zip as top-level city and zip, no tags)")
	}
	for _, in := range zpipeInputs {
		if !want("zpipe-" + in.name) {
			continue
		}
		jobs = append(jobs, &job{
			key: "zpipe-" + in.name, tool: "zpipe", input: in.label, records: n,
			argv: []string{zpipe, "run", "--json", "--force", "--progress", "none", "--log-level", "error",
				"--state-dir", "state-" + in.name, "pipeline-" + in.name + ".yaml"},
			clean:   []string{"state-" + in.name, "out/" + in.name},
			okCodes: []int{0, 1}, // 1: the invalid records
			check:   zpipeCheck(valid, n-valid),
		})
	}

	if want("cue-vet") || want("cue-export") {
		cj, cn := cueJobs(valid, want)
		jobs, notes = append(jobs, cj...), append(notes, cn...)
	}
	if want("zod") {
		if zj, skip := zodJob(root, n, valid); zj != nil {
			jobs = append(jobs, zj)
		} else {
			notes = append(notes, skip)
		}
	}
	return jobs, notes
}

// cueJobs returns cue vet and cue export as want asks, or a note on how to
// install cue.
func cueJobs(valid int, want func(string) bool) ([]*job, []string) {
	cue, version, err := findCue()
	if err != nil {
		return nil, []string{"skipped: cue vet and cue export: the cue CLI is not installed (go install cuelang.org/go/cmd/cue@v0.17.1)"}
	}
	var notes []string
	if version != "v0.17.1" {
		notes = append(notes, fmt.Sprintf("note: cue is %s; the anchor is v0.17.1 (go install cuelang.org/go/cmd/cue@v0.17.1)", version))
	}
	notes = append(notes, fmt.Sprintf("note: cue %s stops at the first invalid record, so cue vet and cue export read the %s valid records only", version, thousands(float64(valid))))
	var jobs []*job
	if want("cue-vet") {
		jobs = append(jobs, &job{key: "cue-vet", tool: "cue vet", input: "ndjson (valid only)", records: valid,
			argv: []string{cue, "vet", "-d", "#User", "user.cue", "users.valid.ndjson"}, okCodes: []int{0}})
	}
	if want("cue-export") {
		jobs = append(jobs, &job{key: "cue-export", tool: "cue export", input: "ndjson → yaml (valid only)", records: valid,
			argv:       []string{cue, "export", "-d", "#User", "user.cue", "users.valid.ndjson", "--out", "yaml"},
			stdoutFile: "out/cue-export.yaml", okCodes: []int{0}})
	}
	return jobs, notes
}

// zodJob returns the zod anchor, or nil and a note on how to install it.
func zodJob(root string, n, valid int) (*job, string) {
	zodDir := filepath.Join(root, "cmd", "zpipe-bench", "zod")
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, "skipped: zod: node is not installed (install Node.js 20 or later, then: cd cmd/zpipe-bench/zod && npm install)"
	}
	if !exists(filepath.Join(zodDir, "node_modules", "zod")) {
		return nil, "skipped: zod: not installed (cd cmd/zpipe-bench/zod && npm install)"
	}
	return &job{key: "zod", tool: "zod " + zodVersion(zodDir), input: "ndjson → ndjson", records: n,
		argv:  []string{node, filepath.Join(zodDir, "bench.mjs"), "users.ndjson", "out/zod.ndjson"},
		clean: []string{"out/zod.ndjson"}, okCodes: []int{0}, check: zodCheck(valid, n-valid)}, ""
}

// wanted returns whether -only asks for a job: one of its comma-separated
// names is a prefix of the job's key. zpipe ndjson, the reference, is always
// wanted.
func wanted(only string) func(key string) bool {
	return func(key string) bool {
		if only == "" || key == "zpipe-ndjson" {
			return true
		}
		for _, p := range strings.Split(only, ",") {
			if p = strings.TrimSpace(p); p != "" && strings.HasPrefix(key, p) {
				return true
			}
		}
		return false
	}
}

// runOnce runs j in dir and returns its wall time and peak RSS in KB.
// A non-empty warn means it ran but its verdict was not the expected one.
func (j *job) runOnce(dir string) (wall time.Duration, rssKB int64, warn string, err error) {
	for _, c := range j.clean {
		os.RemoveAll(filepath.Join(dir, c))
	}
	stdoutPath := filepath.Join(dir, "logs", j.key+".stdout")
	if j.stdoutFile != "" {
		stdoutPath = filepath.Join(dir, j.stdoutFile)
	}
	stdout, err := os.Create(stdoutPath)
	if err != nil {
		return 0, 0, "", err
	}
	defer stdout.Close()
	stderrPath := filepath.Join(dir, "logs", j.key+".stderr")
	stderr, err := os.Create(stderrPath)
	if err != nil {
		return 0, 0, "", err
	}
	defer stderr.Close()

	// Files, not pipes: the child writes them itself, so no copying by this
	// process is timed.
	cmd := exec.Command(j.argv[0], j.argv[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, stdout, stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, "", err
	}
	cmd.Wait()
	wall = time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rssKB = ru.Maxrss // KB on Linux
		if runtime.GOOS == "darwin" {
			rssKB /= 1024 // bytes there
		}
	}
	if code := cmd.ProcessState.ExitCode(); !slices.Contains(j.okCodes, code) {
		tail, _ := os.ReadFile(stderrPath)
		if len(tail) > 600 {
			tail = tail[len(tail)-600:]
		}
		return 0, 0, "", fmt.Errorf("exit status %d: %s", code, strings.TrimSpace(string(tail)))
	}
	if j.check != nil {
		out, err := os.ReadFile(stdoutPath)
		if err != nil {
			return 0, 0, "", err
		}
		warn = j.check(out)
	}
	return wall, rssKB, warn, nil
}

// zpipeCheck compares zpipe's --json summary with the expected verdicts.
func zpipeCheck(ok, failed int) func([]byte) string {
	return func(out []byte) string {
		var sum struct{ OK, Failed int }
		if err := json.Unmarshal(out, &sum); err != nil {
			return "cannot read its --json summary: " + err.Error()
		}
		if sum.OK != ok || sum.Failed != failed {
			return fmt.Sprintf("%d ok and %d failed, want %d and %d", sum.OK, sum.Failed, ok, failed)
		}
		return ""
	}
}

// zodCheck compares bench.mjs's {"ok","failed"} line with the expected
// verdicts.
func zodCheck(ok, failed int) func([]byte) string {
	return func(out []byte) string {
		var got struct{ OK, Failed int }
		if err := json.Unmarshal(bytes.TrimSpace(out), &got); err != nil {
			return "cannot read its counts: " + err.Error()
		}
		if got.OK != ok || got.Failed != failed {
			return fmt.Sprintf("%d ok and %d failed, want %d and %d", got.OK, got.Failed, ok, failed)
		}
		return ""
	}
}

// findCue finds the cue CLI on PATH or where go install puts it, and its
// version.
func findCue() (path, version string, err error) {
	path, err = exec.LookPath("cue")
	if err != nil {
		out, gerr := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
		if gerr != nil {
			return "", "", err
		}
		lines := strings.Split(string(out), "\n")
		for _, d := range []string{lines[0], filepath.Join(strings.Split(lines[1], string(os.PathListSeparator))[0], "bin")} {
			if p := filepath.Join(d, "cue"); d != "" && d != "bin" && exists(p) {
				path, err = p, nil
				break
			}
		}
		if err != nil {
			return "", "", err
		}
	}
	out, err := exec.Command(path, "version").Output()
	if err != nil {
		return "", "", err
	}
	// The first line is "cue version v0.17.1".
	first, _, _ := strings.Cut(string(out), "\n")
	return path, strings.TrimPrefix(strings.TrimSpace(first), "cue version "), nil
}

func zodVersion(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "node_modules", "zod", "package.json"))
	var p struct{ Version string }
	json.Unmarshal(b, &p)
	return p.Version
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("run zpipe-bench inside the zpipe module (go run ./cmd/zpipe-bench)")
	}
	return filepath.Dir(gomod), nil
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func avgBytes(path string, n int) float64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return float64(fi.Size()) / float64(n)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// logf reports progress on stderr, leaving stdout to the results.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "zpipe-bench: "+format+"\n", args...)
}
