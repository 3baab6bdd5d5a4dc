package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/pipeline"
)

// Load a manifest, compile it and run it.
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "zpipe-example")
	defer os.RemoveAll(dir)
	write := func(name, body string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	write("user.cue", "#User: {id: int & >=1, name: string}\n")
	write("data/users.ndjson", "{\"id\": 1, \"name\": \"Ada\"}\n{\"id\": 0, \"name\": \"Nobody\"}\n")
	write("pipeline.yaml", `version: 1
stages:
  users:
    source: {paths: ["data/*.ndjson"]}
    schema: user.cue#User
    outputs: [{format: csv, path: out/users.csv}]
    rejects: out/rejects.ndjson
`)

	m, err := pipeline.Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		panic(err)
	}
	plan, err := pipeline.Compile(m)
	if err != nil {
		panic(err)
	}
	sum, err := engine.Run(context.Background(), plan, engine.Options{
		OnEvent: func(e engine.Event) {
			if e.Kind == engine.RecordFailed {
				fmt.Println("rejected:", e.Msg)
			}
		},
	})
	if err != nil {
		panic(err)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "out/users.csv"))
	fmt.Printf("%d records, %d ok, exit code %d\n%s", sum.Records, sum.OK, sum.ExitCode(), csv)
	// Output:
	// rejected: data/users.ndjson:2:8: record 2: id: invalid value 0 (out of bound >=1) (user.cue:1:19)
	// 2 records, 1 ok, exit code 1
	// id,name
	// 1,Ada
}

// Read back what each item of a run read and wrote. The items are read
// from the run record in the state folder, not held in the Summary: a run
// of a million files has a million of them.
func ExampleSummary_ProvenanceItems() {
	dir, _ := os.MkdirTemp("", "zpipe-example")
	defer os.RemoveAll(dir)
	write := func(name, body string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	write("user.cue", "#User: {id: int & >=1, name: string}\n")
	write("data/a.json", `{"id": 1, "name": "Ada"}`)
	write("data/b.json", `{"id": 2, "name": "Grace"}`)
	write("pipeline.yaml", `version: 1
stages:
  users:
    source: {paths: ["data/*.json"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/users.ndjson}]
`)
	m, err := pipeline.Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		panic(err)
	}
	plan, err := pipeline.Compile(m)
	if err != nil {
		panic(err)
	}
	for run := 1; run <= 2; run++ {
		sum, err := engine.Run(context.Background(), plan, engine.Options{})
		if err != nil {
			panic(err)
		}
		fmt.Printf("run %d, saved as %s:\n", run, filepath.Base(sum.RunRecord))
		for it, err := range sum.ProvenanceItems() {
			if err != nil {
				panic(err)
			}
			fmt.Printf("  %s %s up to date: %v\n", it.ID, it.Outputs[0].SHA256[:12], it.UpToDate)
		}
	}
	// Output:
	// run 1, saved as provenance.json.gz:
	//   users:data/a.json 4f2dc8963529 up to date: false
	//   users:data/b.json e9582dff1950 up to date: false
	// run 2, saved as provenance.json.gz:
	//   users:data/a.json 4f2dc8963529 up to date: true
	//   users:data/b.json e9582dff1950 up to date: true
}
