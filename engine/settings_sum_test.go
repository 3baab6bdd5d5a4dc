package engine

import (
	"testing"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/pipeline"
)

// Every journal item holds its stage's settings sum, so a change to how
// the sum is taken reruns every item of every stage once. It is pinned
// here for a stage whose outputs set every field.
func TestSettingsSumIsStable(t *testing.T) {
	compact := false
	s := &pipeline.Stage{Name: "a", Source: pipeline.Source{Format: format.JSON}, Rejects: "/p/out/rejects.ndjson",
		Outputs: []pipeline.Output{
			{Format: format.JSON, Path: "out/a.json", Indent: 4, Pretty: &compact},
			{Format: format.NDJSON, Path: "out/{stem}.ndjson"},
		}}
	f := &ItemFunc{stage: s, columns: []string{"id", "name"}, limits: format.Limits{MaxDepth: 64}}
	const want = "fb5204bb4f11e0e32d9f96420139771433659ebfcfa26da76fa73fb0cf4217b6" // as at b0edb6b
	if got := f.settingsSum(); got != want {
		t.Errorf("settingsSum() = %s, want %s", got, want)
	}
}
