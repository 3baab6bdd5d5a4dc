//go:build unix

// Command zpipe-bench times zpipe against its anchors (the cue CLI, jq, yq
// and Node.js zod 4) on the same generated user records, at two or more
// sizes so that growth worse than linear shows, and says whether zpipe
// meets its throughput target (issue 6). Anchors that are not installed are
// skipped, with how to install them.
//
//	go run ./cmd/zpipe-bench [-sizes 20000,200000 | -n 200000] [-seed 1] [-runs 3] [-dir DIR] [-only zpipe-csv,cue-vet]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zpipe/zpipe/internal/benchdata"
)

// job is one command timed on each round, on the data set of one size.
type job struct {
	key, tool, input string
	versus           string                     // key of the zpipe job an anchor is compared with; "" for zpipe jobs
	records          int                        // records it reads, for records/s
	argv             []string                   // run in the data folder
	stdoutFile       string                     // where its stdout goes, inside the data folder
	clean            []string                   // removed before each run, inside the data folder
	okCodes          []int                      // exit codes that mean it ran to the end
	check            func(stdout []byte) string // for a small stdout
	wantLines        int                        // lines a large stdout must hold
	prime            bool                       // run once, untimed, before the first timed run
	editOne          bool                       // edit one input file before each run (editOne)
	edits            int
	walls            []time.Duration
	rssKB            int64
	failed           bool
}

func main() {
	sizes := flag.String("sizes", "20000,200000", "comma-separated record counts; every job runs on a data set of each, from the same seed")
	n := flag.Int("n", 0, "one size: the same as -sizes N")
	seed := flag.Uint64("seed", 1, "random seed of the data sets")
	runs := flag.Int("runs", 3, "runs of each command at each size; records/s is from the median")
	dir := flag.String("dir", "", "keep the data sets and outputs in this folder (default: a temporary one, removed)")
	only := flag.String("only", "", "comma-separated job names or prefixes to run (zpipe-ndjson, zpipe-valid, zpipe-csv, zpipe-tsv, zpipe-yaml, zpipe-toml, zpipe-jsonarray, zpipe-json, cue-vet, cue-export, jq-ndjson, jq-jsonarray, yq, zod); zpipe-ndjson, the reference, always runs")
	flag.Parse()
	spec := *sizes
	if isSet("n") {
		if isSet("sizes") {
			fail(errors.New("give -n or -sizes, not both"))
		}
		spec = strconv.Itoa(*n)
	}
	list, err := parseSizes(spec)
	if err != nil {
		fail(err)
	}
	if err := run(list, *seed, *runs, *dir, *only); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "zpipe-bench:", err)
	os.Exit(1)
}

// isSet reports whether the named flag was given on the command line.
func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseSizes reads -sizes: record counts of at least 100, returned in
// increasing order without repeats.
func parseSizes(spec string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 100 {
			return nil, fmt.Errorf("size %q: want a record count of at least 100", strings.TrimSpace(f))
		}
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	return slices.Compact(sizes), nil
}

func run(sizes []int, seed uint64, runs int, dir, only string) error {
	if runs < 1 {
		return errors.New("-runs must be at least 1")
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
	zpipe, err := buildZpipe(root, dir)
	if err != nil {
		return err
	}

	want := wanted(only)
	anchors, notes := findAnchors(root, want)
	notes = append(zpipeNotes(want), notes...)
	var rows []row
	var warnings []string
	for i, n := range sizes {
		jobs := plan(zpipe, n, anchors, want)
		w, err := measureSize(jobs, sizeDir(dir, n), n, seed, runs)
		if err != nil {
			return err
		}
		warnings = append(warnings, w...)
		rows = collect(rows, jobs, i, len(sizes))
		if note := stateNote(filepath.Join(sizeDir(dir, n), "state-files-rerun"), n); note != "" {
			notes = append(notes, note)
		}
	}

	last := len(sizes) - 1
	if len(rows) == 0 || rows[0].key != "zpipe-ndjson" || rows[0].at[last].rate <= 0 {
		for _, w := range warnings {
			fmt.Println("warning:", w)
		}
		return fmt.Errorf("zpipe ndjson → ndjson did not run on %s records; nothing to compare against", thousands(float64(sizes[last])))
	}
	report(rows, sizes, notes, warnings, sizeDir(dir, sizes[last]), seed, runs)
	return nil
}

// buildZpipe builds zpipe into dir: the binary, not go run, so that build
// time and the go tool's memory are not measured, and beside the data to
// keep the repo clean.
func buildZpipe(root, dir string) (string, error) {
	zpipe := filepath.Join(dir, "zpipe")
	logf("building zpipe")
	build := exec.Command("go", "build", "-o", zpipe, "./cmd/zpipe")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/zpipe: %w", err)
	}
	return zpipe, nil
}

// sizeDir is the folder of the data set of n records.
func sizeDir(dir string, n int) string { return filepath.Join(dir, fmt.Sprintf("n%d", n)) }

// measureSize writes the data set of n records into dir and runs the jobs
// on it, returning the warnings to print.
func measureSize(jobs []*job, dir string, n int, seed uint64, runs int) ([]string, error) {
	logf("generating %d records (seed %d) in %s", n, seed, dir)
	if err := writeData(dir, n, seed); err != nil {
		return nil, err
	}
	// Write the data out now, so that writeback does not slow the first run.
	syscall.Sync()
	return rounds(jobs, dir, runs, sizeLabel(n)), nil
}

// collect adds the results of jobs, run at size index i of nSizes, to rows:
// one row per job key, in the order the jobs first appear. A job that
// failed leaves a zero measure, shown as "-".
func collect(rows []row, jobs []*job, i, nSizes int) []row {
	for _, j := range jobs {
		k := slices.IndexFunc(rows, func(r row) bool { return r.key == j.key })
		if k < 0 {
			rows = append(rows, row{key: j.key, tool: j.tool, input: j.input, versus: j.versus, at: make([]measure, nSizes)})
			k = len(rows) - 1
		}
		if !j.failed && len(j.walls) > 0 {
			rows[k].at[i] = measure{float64(j.records) / median(j.walls).Seconds(), j.rssKB}
		}
	}
	// Drop the rows of jobs that failed at every size.
	return slices.DeleteFunc(rows, func(r row) bool {
		return !slices.ContainsFunc(r.at, func(m measure) bool { return m.rate > 0 })
	})
}

// report prints the machine, the data, the table of rates and memory, and,
// at the largest size, how zpipe compares and whether it meets its target.
// largestDir is the data folder of the largest size.
func report(rows []row, sizes []int, notes, warnings []string, largestDir string, seed uint64, runs int) {
	last := len(sizes) - 1
	fmt.Printf("machine: %s/%s, %d CPUs (%s), %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), runtime.Version())
	fmt.Printf("data: %s (seed %d, 1 in 100 invalid, %.0f bytes each in ndjson); runs: %d of each job at each size, alternating within a size; records/s from the median run\n",
		sizesText(sizes), seed, avgBytes(filepath.Join(largestDir, "users.ndjson"), sizes[last]), runs)
	if len(sizes) > 1 {
		fmt.Printf("%s: records/s at %s over records/s at %s; about 1.00 or above is linear growth, well below 1 is worse than linear\n",
			growthLabel(sizes), sizeLabel(sizes[last]), sizeLabel(sizes[0]))
	}
	for _, s := range notes {
		fmt.Println(s)
	}
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	fmt.Println()
	printTable(os.Stdout, sizes, rows)
	fmt.Println()
	for _, line := range comparisons(rows, last) {
		fmt.Printf("%s, at %s records\n", line, thousands(float64(sizes[last])))
	}
	fmt.Println(targetLine(rows[0].at[last], sizes[last], runtime.NumCPU()))
}

// rounds runs every job once a round, alternating, so that a slow drift of
// the machine (heat, other load) touches every tool alike, and returns the
// warnings to print, each starting with size, the label of the data set.
func rounds(jobs []*job, dir string, runs int, size string) []string {
	var warnings []string
	for r := 1; r <= runs; r++ {
		for _, j := range jobs {
			if j.failed {
				continue
			}
			wall, rss, warn, err := j.runOnce(dir)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("%s %s: %v; dropped", size, j.key, err))
				logf("%s round %d/%d  %-16s failed: %v", size, r, runs, j.key, err)
				j.failed = true
				continue
			}
			if warn != "" && r == 1 {
				warnings = append(warnings, size+" "+j.key+": "+warn)
			}
			j.walls = append(j.walls, wall)
			j.rssKB = max(j.rssKB, rss)
			logf("%s round %d/%d  %-16s %6.2fs  %5s MB", size, r, runs, j.key, wall.Seconds(), thousands(mb(rss)))
		}
	}
	return warnings
}

// plan returns the jobs to time on the data set of n records: zpipe's, the
// ndjson reference first, then the anchors'.
func plan(zpipe string, n int, anchors []anchor, want func(key string) bool) []*job {
	jobs := zpipeJobs(zpipe, n, want)
	for _, a := range anchors {
		jobs = append(jobs, a(n)...)
	}
	return jobs
}

// zpipeJobs returns a zpipe run per input that want accepts.
func zpipeJobs(zpipe string, n int, want func(key string) bool) []*job {
	valid := n - benchdata.Invalid(n)
	var jobs []*job
	for _, in := range zpipeInputs {
		if !want("zpipe-" + in.name) {
			continue
		}
		records, check := n, zpipeCheck(valid, n-valid)
		if in.validOnly {
			records, check = valid, zpipeCheck(valid, 0)
		}
		tool, versus := "zpipe", ""
		if in.tool != "" {
			tool, versus = in.tool, "zpipe-ndjson"
		}
		j := &job{
			key: "zpipe-" + in.name, tool: tool, versus: versus, input: in.label, records: records,
			argv: []string{zpipe, "run", "--json", "--force", "--progress", "none", "--log-level", "error",
				"--state-dir", "state-" + in.name, "pipeline-" + in.name + ".yaml"},
			clean:   []string{"state-" + in.name, "out/" + in.name},
			okCodes: []int{0, 1}, // 1: the invalid records
			check:   check,
		}
		if in.rerun != firstRun {
			j.argv = slices.DeleteFunc(j.argv, func(a string) bool { return a == "--force" })
			j.clean, j.prime = nil, true
			j.editOne = in.rerun == oneEditedRerun
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// zpipeNotes explains zpipe rows whose input differs from the others.
func zpipeNotes(want func(key string) bool) []string {
	if !want("zpipe-csv") && !want("zpipe-tsv") {
		return nil
	}
	return []string{"note: csv and tsv cannot hold tags or address, so they run a flat variant (#UserFlat: address.city and .zip as top-level city and zip, no tags)"}
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
	if j.prime {
		j.prime = false
		if _, _, _, err := j.runOnce(dir); err != nil {
			return 0, 0, "", err
		}
	}
	for _, c := range j.clean {
		os.RemoveAll(filepath.Join(dir, c))
	}
	if j.editOne {
		restore, err := editOne(dir, &j.edits)
		if err != nil {
			return 0, 0, "", err
		}
		defer restore()
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
		// The largest of the process and of the children it waited
		// for (Python yq's jq), not their sum.
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
	if j.wantLines > 0 {
		f, err := os.Open(stdoutPath)
		if err != nil {
			return 0, 0, "", err
		}
		warn = lineCheck(f, j.wantLines)
		f.Close()
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

// stateNote says how many bytes a file the state folder of the no-op
// reruns of n one-record files holds, by what holds them; "" when those
// did not run.
func stateNote(state string, n int) string {
	var total int64
	by := map[string]int64{}
	err := filepath.WalkDir(state, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(state, path)
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		by[top] += fi.Size()
		total += fi.Size()
		return nil
	})
	if err != nil || total == 0 {
		return ""
	}
	per := func(b int64) string { return strconv.FormatFloat(float64(b)/float64(n), 'f', 0, 64) }
	runs, _ := os.ReadDir(filepath.Join(state, "runs"))
	each := ""
	if len(runs) > 0 {
		each = fmt.Sprintf(": %d records, %s bytes a file each", len(runs), per(by["runs"]/int64(len(runs))))
	}
	return fmt.Sprintf("state after the no-op reruns of %s files: %s bytes a file (journal.bin %s, runs/ %s%s, parts/ %s: the saved outputs)",
		thousands(float64(n)), per(total), per(by["journal.bin"]), per(by["runs"]), each, per(by["parts"]))
}
