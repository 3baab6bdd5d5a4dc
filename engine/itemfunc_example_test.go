package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/pipeline"
)

// memStore keeps parts in memory, as a worker does before it sends them
// back.
type memStore map[string]*bytes.Buffer

type buffer struct{ *bytes.Buffer }

func (buffer) Close() error { return nil }

func (s memStore) Create(name string) (io.WriteCloser, error) {
	s[name] = new(bytes.Buffer)
	return buffer{s[name]}, nil
}

// A worker runs one item of a stage: it compiles the stage from the
// manifest, runs the Job it was sent over the input it was sent, and has
// a Report and the parts to send back.
func ExampleItemFunc_Run() {
	dir, _ := os.MkdirTemp("", "worker")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "user.cue"), []byte("#User: {id: int, name: string}\n"), 0o644)
	manifest := filepath.Join(dir, "pipeline.yaml")
	os.WriteFile(manifest, []byte("version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.ndjson\"]}\n    schema: user.cue#User\n    outputs: [{format: csv, path: out/users.csv}]\n    rejects: out/rejects.ndjson\n"), 0o644)

	m, err := pipeline.Load(manifest)
	if err != nil {
		fmt.Println(err)
		return
	}
	fn, err := engine.NewItemFunc(context.Background(), m, m.Stages[0], format.DefaultLimits)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fn.Close()

	job := engine.Job{Key: "data/a.ndjson", Name: "data/a.ndjson", Format: format.NDJSON, Attempt: 1}
	in := strings.NewReader("{\"id\":1,\"name\":\"ada\"}\n{\"id\":\"two\",\"name\":\"bob\"}\n")
	parts := memStore{}
	rep := fn.Run(context.Background(), job, in, parts)
	fmt.Printf("%d records, %d ok, %d failed\n", rep.Records, rep.OK, rep.Failed)
	fmt.Println(rep.Errors[0])
	for _, p := range rep.Parts {
		fmt.Printf("part %s (output %d, %d records): %.24q\n", p.Name, p.Output, p.Records, parts[p.Name].String())
	}
	// Output:
	// 2 records, 1 ok, 1 failed
	// data/a.ndjson:2:7: record 2: id: conflicting values "two" and int (mismatched types string and int) (user.cue:1:13)
	// part 0 (output 0, 1 records): "id,name\n1,ada\n"
	// part rejects (output -1, 1 records): "{\"source\":\"data/a.ndjson"
}
