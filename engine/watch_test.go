package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zpipe/zpipe/pipeline"
)

// Watch is a library call: a Go program gets the session's events, and
// stops it with its Stop channel.
func TestWatchAsALibrary(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"data/a.json":   `{"id":1,"name":"a"}`,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n",
	})
	events := make(chan WatchEvent, 100)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Watch(context.Background(), WatchOptions{
			Manifests: []string{filepath.Join(dir, "pipeline.yaml")},
			Load: func(file string) (*pipeline.Plan, error) {
				m, err := pipeline.Load(file)
				if err != nil {
					return nil, err
				}
				return pipeline.Compile(m)
			},
			Debounce: 20 * time.Millisecond,
			Scan:     50 * time.Millisecond,
			Stop:     stop,
			Notify:   func(e WatchEvent) { events <- e },
		})
	}()
	next := func(kind WatchKind) WatchEvent {
		t.Helper()
		for {
			select {
			case e := <-events:
				if e.Kind == kind {
					return e
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("no event %d", kind)
			}
		}
	}
	if e := next(WatchRunDone); e.Ran != 1 || e.Summary.OK != 1 {
		t.Fatalf("first run: ran %d, %+v", e.Ran, e.Summary)
	}
	os.WriteFile(filepath.Join(dir, "data/b.json"), []byte(`{"id":2,"name":"b"}`), 0o644)
	if e := next(WatchChanged); len(e.Paths) != 1 || filepath.Base(e.Paths[0]) != "b.json" {
		t.Errorf("change: %+v", e)
	}
	if e := next(WatchRunDone); e.Ran != 1 || e.Summary.UpToDate != 1 {
		t.Errorf("second run: ran %d, up to date %d", e.Ran, e.Summary.UpToDate)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Errorf("Watch returned %v", err)
	}
}
