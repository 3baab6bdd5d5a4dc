package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/pipeline"
)

// Watch a pipeline: it runs once at the start, then again on every
// change; the caller stops it.
func ExampleWatch() {
	dir, _ := os.MkdirTemp("", "watch")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "user.cue"), []byte("#User: {id: int}\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	os.WriteFile(filepath.Join(dir, "data", "a.json"), []byte(`{"id": 1}`), 0o644)
	manifest := filepath.Join(dir, "pipeline.yaml")
	os.WriteFile(manifest, []byte("version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/users.ndjson}]\n"), 0o644)

	stop := make(chan struct{})
	err := engine.Watch(context.Background(), engine.WatchOptions{
		Manifests: []string{manifest},
		Load: func(file string) (*pipeline.Plan, error) {
			m, err := pipeline.Load(file)
			if err != nil {
				return nil, err
			}
			return pipeline.Compile(m)
		},
		Stop: stop,
		Notify: func(e engine.WatchEvent) {
			if e.Kind == engine.WatchRunDone {
				fmt.Printf("ran %d item, %d records ok\n", e.Ran, e.Summary.OK)
				close(stop) // one run is enough here
			}
		},
	})
	fmt.Println("stopped:", err)
	// Output:
	// ran 1 item, 1 records ok
	// stopped: <nil>
}
