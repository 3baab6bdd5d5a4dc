//go:build unix

package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zpipe/zpipe/internal/benchdata"
)

// jsonFiles is how many small json files the records are spread over.
const jsonFiles = 2000

// writeData writes the data set of n records from seed into dir: every
// input format, the valid records alone for cue (which stops at the first
// invalid record), the schema, and one manifest per zpipe input.
func writeData(dir string, n int, seed uint64) error {
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
		write("users.ndjson", func(f *os.File) error { return benchdata.WriteNDJSON(f, n, seed, 0) }),
		write("users.valid.ndjson", func(f *os.File) error { return writeValid(f, n, seed) }),
		write("users.csv", func(f *os.File) error { return benchdata.WriteCSV(f, n, seed) }),
		write("users.yaml", func(f *os.File) error { return benchdata.WriteYAML(f, n, seed) }),
		write("users.json", func(f *os.File) error { return benchdata.WriteJSONArray(f, n, seed) }),
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "json")); err != nil {
		return err
	}
	if _, err := benchdata.WriteJSONFiles(filepath.Join(dir, "json"), n, seed, min(jsonFiles, max(n, 1))); err != nil {
		return err
	}
	for _, in := range zpipeInputs {
		m := fmt.Sprintf(`version: 1
stages:
  users:
    source: {paths: [%q]}
    schema: user.cue#%s
    outputs: [{format: ndjson, path: out/%s/users.ndjson}]
    rejects: out/%s/rejects.ndjson
`, in.source, in.def, in.name, in.name)
		if err := os.WriteFile(filepath.Join(dir, "pipeline-"+in.name+".yaml"), []byte(m), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeValid(f *os.File, n int, seed uint64) error {
	w := bufio.NewWriter(f)
	g := benchdata.New(seed)
	var b []byte
	for range n {
		if u := g.Next(); u.Valid() {
			b = append(benchdata.AppendJSON(b[:0], u, 0), '\n')
			w.Write(b)
		}
	}
	return w.Flush()
}

// zpipeInputs are the inputs zpipe converts to ndjson; ndjson comes first
// because every ratio is taken against it.
var zpipeInputs = []struct{ name, label, source, def string }{
	{"ndjson", "ndjson → ndjson", "users.ndjson", "User"},
	{"csv", "csv → ndjson (flat)", "users.csv", "UserFlat"},
	{"yaml", "yaml → ndjson", "users.yaml", "User"},
	{"jsonarray", "one json array → ndjson", "users.json", "User"},
	{"json", fmt.Sprintf("%d json → ndjson", jsonFiles), "json/*.json", "User"},
}
