//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/zpipe/zpipe/internal/benchdata"
)

// recordsPerJSONFile is how many records each small json file holds. It is
// fixed, not the number of files, so that at every size the json case has
// the same shape and its rate compares across sizes.
const recordsPerJSONFile = 100

// writeData writes the data set of n records from seed into dir: every
// input format, the valid records alone (for cue, which stops at the first
// invalid record, and for zpipe's all-valid case), the schema, one manifest
// per zpipe input, and the folders the jobs write to.
func writeData(dir string, n int, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, fill func(*os.File) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := fill(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	steps := []error{
		os.WriteFile(filepath.Join(dir, "user.cue"), []byte(benchdata.Schema), 0o644),
		os.WriteFile(filepath.Join(dir, "user.schema.json"), []byte(benchdata.JSONSchema), 0o644),
		os.WriteFile(filepath.Join(dir, "user.unevaluated.schema.json"),
			[]byte(strings.ReplaceAll(benchdata.JSONSchema, `"additionalProperties"`, `"unevaluatedProperties"`)), 0o644),
		write("users.ndjson", func(f *os.File) error { return benchdata.WriteNDJSON(f, n, seed, 0) }),
		write("users.valid.ndjson", func(f *os.File) error { return benchdata.WriteValidNDJSON(f, n, seed) }),
		write("users.csv", func(f *os.File) error { return benchdata.WriteCSV(f, n, seed) }),
		write("users.tsv", func(f *os.File) error { return benchdata.WriteTSV(f, n, seed) }),
		write("users.yaml", func(f *os.File) error { return benchdata.WriteYAML(f, n, seed) }),
		write("users.toml", func(f *os.File) error { return benchdata.WriteTOML(f, n, seed) }),
		write("users.json", func(f *os.File) error { return benchdata.WriteJSONArray(f, n, seed) }),
		os.RemoveAll(filepath.Join(dir, "json")),
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	if _, err := benchdata.WriteJSONFiles(filepath.Join(dir, "json"), n, seed, max(n/recordsPerJSONFile, 1)); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(dir, "files")); err != nil {
		return err
	}
	if _, err := benchdata.WriteJSONFiles(filepath.Join(dir, "files"), n, seed, n); err != nil {
		return err
	}
	for _, in := range zpipeInputs {
		m := fmt.Sprintf(`version: 1
stages:
  users:
    source: {paths: [%q]}
    schema: %s
    outputs: [{format: ndjson, path: out/%s/users.ndjson}]
    rejects: out/%s/rejects.ndjson
`, in.source, in.schema, in.name, in.name)
		if err := os.WriteFile(filepath.Join(dir, "pipeline-"+in.name+".yaml"), []byte(m), 0o644); err != nil {
			return err
		}
	}
	for _, d := range []string{"logs", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// zpipeInputs are the inputs zpipe converts to ndjson; ndjson comes first
// because every anchor on ndjson is compared with it. validOnly inputs hold
// the valid records alone, so every record is expected ok.
var zpipeInputs = []struct {
	name, label, source, schema string
	validOnly                   bool
	// tool names a row that checks with another form of the schema, and
	// is compared with the ndjson row, which uses the CUE form.
	tool string
	// rerun rows time a run after a first, untimed one, whose state is
	// kept, and nothing is forced: with nothing to do, or with one file
	// edited.
	rerun rerunKind
}{
	{"ndjson", "ndjson → ndjson", "users.ndjson", "user.cue#User", false, "", firstRun},
	// All valid: the case where zpipe passes each line through untouched.
	{"valid", "ndjson → ndjson, valid records only", "users.valid.ndjson", "user.cue#User", true, "", firstRun},
	{"csv", "csv → ndjson (flat)", "users.csv", "user.cue#UserFlat", false, "", firstRun},
	{"tsv", "tsv → ndjson (flat)", "users.tsv", "user.cue#UserFlat", false, "", firstRun},
	{"yaml", "yaml → ndjson", "users.yaml", "user.cue#User", false, "", firstRun},
	{"toml", "toml [[records]] → ndjson", "users.toml", "user.cue#User", false, "", firstRun},
	{"jsonarray", "one json array → ndjson", "users.json", "user.cue#User", false, "", firstRun},
	{"json", fmt.Sprintf("json files of %d records → ndjson", recordsPerJSONFile), "json/*.json", "user.cue#User", false, "", firstRun},
	// #User as a JSON Schema, and closed by unevaluatedProperties, which
	// zpipe's own JSON Schema validator checks (CUE's translation cannot).
	{"jsonschema", "ndjson → ndjson", "users.ndjson", "user.schema.json", false, "zpipe, JSON Schema form", firstRun},
	{"unevaluated", "ndjson → ndjson", "users.ndjson", "user.unevaluated.schema.json", false, "zpipe, JSON Schema, unevaluatedProperties", firstRun},
	// As many files as records: what a tree of small documents costs,
	// per file, on a first run and on a rerun that has nothing to do.
	{"files", "one-record json files → ndjson", "files/*.json", "user.cue#User", false, "", firstRun},
	{"files-rerun", "one-record json files, no-op rerun", "files/*.json", "user.cue#User", false, "", noOpRerun},
	// The rerun a make or watch user waits for: one file of many edited.
	{"files-edit", "one-record json files, one edited, rerun", "files/*.json", "user.cue#User", false, "", oneEditedRerun},
}

type rerunKind int

const (
	firstRun rerunKind = iota
	noOpRerun
	oneEditedRerun
)

// editOne rewrites the middle file of dir/files with its record as it
// was but for the white space after it, which differs from the last
// edit's, and returns how to put the file back as it was, so that the
// no-op rerun still finds nothing to do (its changed ctime costs it one
// hash). edits counts the edits.
func editOne(dir string, edits *int) (restore func(), err error) {
	files, err := filepath.Glob(filepath.Join(dir, "files", "*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no file to edit in %s: %v", filepath.Join(dir, "files"), err)
	}
	path := files[len(files)/2]
	was, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	*edits++
	edited := append(slices.Clip(was), strings.Repeat(" ", 1+*edits%2)+"\n"...)
	if err := os.WriteFile(path, edited, 0o644); err != nil {
		return nil, err
	}
	return func() {
		os.WriteFile(path, was, 0o644)
		os.Chtimes(path, st.ModTime(), st.ModTime())
	}, nil
}
