//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/zpipe/zpipe/internal/benchdata"
)

// anchor makes the jobs of one installed anchor for a data set of n records.
// It is found once, so that its version is asked once and its notes printed
// once, and then run at every size.
type anchor func(n int) []*job

// anchorFinder looks for one anchor that want asks for; it returns nil and
// a note on how to install it when it is absent.
type anchorFinder func(root string, want func(key string) bool) (anchor, []string)

// findAnchors returns the installed anchors that want asks for, in table
// order, and notes on what was skipped or changed and why.
func findAnchors(root string, want func(key string) bool) ([]anchor, []string) {
	var anchors []anchor
	var notes []string
	for _, find := range []anchorFinder{cueAnchor, jqAnchor, yqAnchor, zodAnchor} {
		a, n := find(root, want)
		if a != nil {
			anchors = append(anchors, a)
		}
		notes = append(notes, n...)
	}
	return anchors, notes
}

// cueAnchor is cue vet and cue export, as want asks.
func cueAnchor(_ string, want func(string) bool) (anchor, []string) {
	if !want("cue-vet") && !want("cue-export") {
		return nil, nil
	}
	cue, version, err := findCue()
	if err != nil {
		return nil, []string{"skipped: cue vet and cue export: the cue CLI is not installed (go install cuelang.org/go/cmd/cue@v0.17.1)"}
	}
	var notes []string
	if version != "v0.17.1" {
		notes = append(notes, fmt.Sprintf("note: cue is %s; the anchor is v0.17.1 (go install cuelang.org/go/cmd/cue@v0.17.1)", version))
	}
	notes = append(notes, fmt.Sprintf("note: cue %s stops at the first invalid record, so cue vet and cue export read the valid records only", version))
	return func(n int) []*job {
		valid := n - benchdata.Invalid(n)
		var jobs []*job
		if want("cue-vet") {
			jobs = append(jobs, &job{key: "cue-vet", tool: "cue vet", input: "ndjson (valid only)", versus: "zpipe-ndjson", records: valid,
				argv: []string{cue, "vet", "-d", "#User", "user.cue", "users.valid.ndjson"}, okCodes: []int{0}})
		}
		if want("cue-export") {
			jobs = append(jobs, &job{key: "cue-export", tool: "cue export", input: "ndjson → yaml (valid only)", versus: "zpipe-ndjson", records: valid,
				argv:       []string{cue, "export", "-d", "#User", "user.cue", "users.valid.ndjson", "--out", "yaml"},
				stdoutFile: "out/cue-export.yaml", okCodes: []int{0}})
		}
		return jobs
	}, notes
}

// jqAnchor is jq re-encoding the ndjson file and the json array: parsing
// and writing with no schema, a floor for zpipe's own rows on those inputs.
func jqAnchor(_ string, want func(string) bool) (anchor, []string) {
	if !want("jq-ndjson") && !want("jq-jsonarray") {
		return nil, nil
	}
	jq, err := exec.LookPath("jq")
	if err != nil {
		return nil, []string{"skipped: jq: not installed (apt install jq, brew install jq, or https://jqlang.org/download/)"}
	}
	tool := strings.TrimSpace("jq " + jqVersion(jq))
	return func(n int) []*job {
		var jobs []*job
		if want("jq-ndjson") {
			jobs = append(jobs, passThrough("jq-ndjson", tool, "ndjson → ndjson (no validation)", "zpipe-ndjson", n,
				jq, "-c", ".", "users.ndjson"))
		}
		if want("jq-jsonarray") {
			jobs = append(jobs, passThrough("jq-jsonarray", tool, "one json array → ndjson (no validation)", "zpipe-jsonarray", n,
				jq, "-c", ".[]", "users.json"))
		}
		return jobs
	}, nil
}

// yqAnchor is yq turning the yaml stream into ndjson, with the arguments
// of whichever yq is installed.
func yqAnchor(_ string, want func(string) bool) (anchor, []string) {
	if !want("yq") {
		return nil, nil
	}
	yq, err := exec.LookPath("yq")
	if err != nil {
		return nil, []string{"skipped: yq: not installed (mikefarah's Go yq: go install github.com/mikefarah/yq/v4@latest; or Python yq: pip install yq, which needs jq)"}
	}
	// CombinedOutput: yq before 3.4 printed its version on stderr.
	out, _ := exec.Command(yq, "--version").CombinedOutput()
	flavour, err := parseYQVersion(string(out))
	if err != nil {
		return nil, []string{"skipped: yq: " + err.Error()}
	}
	argv := append(append([]string{yq}, flavour.args...), "users.yaml")
	var notes []string
	if flavour.note != "" {
		notes = append(notes, "note: "+flavour.note)
	}
	return func(n int) []*job {
		return []*job{passThrough("yq", flavour.tool, "yaml → ndjson (no validation)", "zpipe-yaml", n, argv...)}
	}, notes
}

// yqFlavour is one of the two programs called yq: how to name it in the
// table, and the arguments, before the file, that print each document of a
// yaml stream as one line of json.
type yqFlavour struct {
	tool string
	args []string
	note string // what the reader should know about its numbers
}

// parseYQVersion tells mikefarah's Go yq from kislyuk's Python yq (a jq
// wrapper) by what `yq --version` prints:
//
//	yq (https://github.com/mikefarah/yq/) version v4.44.3   Go, v4
//	yq version 3.4.1                                        Go, v3 and older
//	yq 3.4.3                                                Python
func parseYQVersion(out string) (yqFlavour, error) {
	first, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	fields := strings.Fields(first)
	switch {
	case strings.Contains(first, "mikefarah") && len(fields) > 0:
		version := strings.TrimPrefix(fields[len(fields)-1], "v")
		major, _, _ := strings.Cut(version, ".")
		if m, err := strconv.Atoi(major); err != nil || m < 4 {
			return yqFlavour{}, fmt.Errorf("mikefarah yq %s is older than v4 (go install github.com/mikefarah/yq/v4@latest)", version)
		}
		return yqFlavour{tool: "yq " + version + " (Go)", args: []string{"-o=json", "-I=0", "."}}, nil
	case strings.HasPrefix(first, "yq version "):
		return yqFlavour{}, fmt.Errorf("mikefarah yq %s is older than v4 (go install github.com/mikefarah/yq/v4@latest)", fields[len(fields)-1])
	case len(fields) == 2 && fields[0] == "yq":
		return yqFlavour{tool: "yq " + fields[1] + " (Python)", args: []string{"-c", "."},
			note: "Python yq parses the yaml and pipes it to jq; its peak RSS is the larger of the two processes'"}, nil
	}
	return yqFlavour{}, fmt.Errorf("cannot tell which yq this is from its --version %q", first)
}

// zodAnchor is the Node.js zod 4 script in cmd/zpipe-bench/zod.
func zodAnchor(root string, want func(string) bool) (anchor, []string) {
	if !want("zod") {
		return nil, nil
	}
	zodDir := filepath.Join(root, "cmd", "zpipe-bench", "zod")
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, []string{"skipped: zod: node is not installed (install Node.js 20 or later, then: cd cmd/zpipe-bench/zod && npm install)"}
	}
	if !exists(filepath.Join(zodDir, "node_modules", "zod")) {
		return nil, []string{"skipped: zod: not installed (cd cmd/zpipe-bench/zod && npm install)"}
	}
	tool := "zod " + zodVersion(zodDir)
	return func(n int) []*job {
		valid := n - benchdata.Invalid(n)
		return []*job{{key: "zod", tool: tool, input: "ndjson → ndjson", versus: "zpipe-ndjson", records: n,
			argv:  []string{node, filepath.Join(zodDir, "bench.mjs"), "users.ndjson", "out/zod.ndjson"},
			clean: []string{"out/zod.ndjson"}, okCodes: []int{0}, check: zodCheck(valid, n-valid)}}
	}, nil
}

// passThrough is a job that re-encodes all n records to ndjson on its
// stdout without validating them; its check counts the lines.
func passThrough(key, tool, input, versus string, n int, argv ...string) *job {
	return &job{key: key, tool: tool, input: input, versus: versus, records: n, argv: argv,
		stdoutFile: "out/" + key + ".ndjson", okCodes: []int{0}, wantLines: n}
}

// lineCheck says how the lines of r differ from the n it should hold,
// one a record. It streams: a child's peak RSS, as Linux reports it,
// starts from this process's own, which must stay small.
func lineCheck(r io.Reader, n int) string {
	br := bufio.NewReaderSize(r, 64<<10)
	lines := 0
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			lines++
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			break
		}
	}
	if lines != n {
		return fmt.Sprintf("%d lines, want %d", lines, n)
	}
	return ""
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

// jqVersion is "1.7.1" from jq's "jq-1.7.1", or "" when jq does not say.
func jqVersion(jq string) string {
	out, _ := exec.Command(jq, "--version").Output()
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "jq-")
}

func zodVersion(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "node_modules", "zod", "package.json"))
	var p struct{ Version string }
	json.Unmarshal(b, &p)
	return p.Version
}
