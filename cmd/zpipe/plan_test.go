package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/pipeline"
)

// zpipe plan --json writes each stage's items one at a time, and the
// bytes a json.Encoder indenting by two spaces writes.
func TestPlanJSONIsTheEncoders(t *testing.T) {
	stage := func(name string, items ...engine.ItemDryRun) *engine.StageDryRun {
		return &engine.StageDryRun{Pipeline: "p", Name: name, State: engine.StateWouldRun, Items: items,
			Settings: pipeline.Settings{Parallel: 2, Timeout: time.Second},
			Sources:  engine.SourcePlan{Paths: []string{"d/*.json"}, Files: 2},
			Outputs:  []pipeline.Output{{Format: "ndjson", Path: "out/\"items\": null\n.ndjson"}},
			Gone:     []string{"d/gone.json"}, Removes: []engine.Removal{{Path: "out/old.json", Why: "gone"}}}
	}
	for _, rep := range []*engine.DryRunReport{
		{},
		{Manifests: []engine.ManifestDryRun{{File: "p.yaml", Name: "p"}}, Stages: []*engine.StageDryRun{
			stage("a", engine.ItemDryRun{Item: "d/a.json", Reason: "new"}, engine.ItemDryRun{Item: "d/b.json"}),
			stage("empty"),
			{Name: "nil items"},
			stage("one", engine.ItemDryRun{Item: "d/<&>.json", Reason: "input changed"}),
			nil,
			stage("after a nil one", engine.ItemDryRun{Item: "d/c.json", Reason: "new"}),
		}, Removes: []engine.Removal{{Path: "x", Why: "no stage"}}},
	} {
		var want, got bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			t.Fatal(err)
		}
		if err := writePlanJSON(&got, rep); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("written:\n%s\nencoded:\n%s", got.String(), want.String())
		}
	}
}
