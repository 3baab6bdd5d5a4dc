package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/pipeline"
)

// watchSession runs Watch on a manifest in the background; next waits for
// an event of a kind, and stop ends the session.
func watchSession(t *testing.T, manifest string, run Options) (next func(WatchKind) WatchEvent, stop func()) {
	t.Helper()
	events := make(chan WatchEvent, 100)
	stopc := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Watch(context.Background(), WatchOptions{
			Manifests: []string{manifest},
			Load: func(file string) (*pipeline.Plan, error) {
				m, err := pipeline.Load(file)
				if err != nil {
					return nil, err
				}
				return pipeline.Compile(m)
			},
			Run:      run,
			Debounce: 20 * time.Millisecond,
			Scan:     50 * time.Millisecond,
			Stop:     stopc,
			Notify:   func(e WatchEvent) { events <- e },
		})
	}()
	next = func(kind WatchKind) WatchEvent {
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
	stop = func() {
		t.Helper()
		close(stopc)
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v", err)
		}
	}
	return next, stop
}

// Watch is a library call: a Go program gets the session's events, and
// stops it with its Stop channel.
func TestWatchAsALibrary(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"data/a.json":   `{"id":1,"name":"a"}`,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*.json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n",
	})
	next, stop := watchSession(t, filepath.Join(dir, "pipeline.yaml"), Options{})
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
	stop()
}

// Standard input is read once for the whole session: a schema edit reruns
// the stage on the same records, not on an input already at its end.
func TestWatchKeepsStandardInput(t *testing.T) {
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n    source: {paths: [\"-\"], format: ndjson}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n",
	})
	in := "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n"
	next, stop := watchSession(t, filepath.Join(dir, "pipeline.yaml"), Options{Stdin: strings.NewReader(in)})
	defer stop()
	if e := next(WatchRunDone); e.Summary.OK != 2 {
		t.Fatalf("first run: %+v", e.Summary)
	}
	os.WriteFile(filepath.Join(dir, "user.cue"), []byte(userSchema+"\n#Other: {}\n"), 0o644)
	if e := next(WatchRunDone); e.Ran != 1 || e.Summary.OK != 2 {
		t.Errorf("second run: ran %d, %+v", e.Ran, e.Summary)
	}
	want := "{\"id\":1,\"name\":\"a\",\"tier\":\"free\"}\n{\"id\":2,\"name\":\"b\",\"tier\":\"free\"}\n"
	if got, _ := os.ReadFile(filepath.Join(dir, "out/all.ndjson")); string(got) != want {
		t.Errorf("out/all.ndjson after the second run:\n%s", got)
	}
}
