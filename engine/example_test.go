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
