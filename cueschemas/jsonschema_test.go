package cueschemas

import (
	"bytes"
	"os"
	"testing"
)

// The JSON Schema committed at the repository's root is the one
// manifest.cue generates. ZPIPE_UPDATE=1 rewrites it.
func TestCommittedJSONSchemaIsGenerated(t *testing.T) {
	want, err := ManifestJSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	const committed = "../zpipe.schema.json"
	if os.Getenv("ZPIPE_UPDATE") == "1" {
		if err := os.WriteFile(committed, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("zpipe.schema.json is not what manifest.cue generates; run ZPIPE_UPDATE=1 go test ./cueschemas")
	}
}
