package engine

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The run record is streamed an item at a time; it must stay the bytes
// json.Encoder writes, which programs reading it have relied on.
func TestProvenanceIsWrittenAsJSONEncoderWould(t *testing.T) {
	item := ItemProvenance{ID: "users:a.json", Source: "a.json", InputSHA256: hashString("in"), SourceFormat: "json",
		Outputs:  []OutputProvenance{{Path: "out/u.ndjson", Format: "ndjson", SHA256: hashString("out")}},
		Schema:   &SchemaProvenance{Path: "user.cue", Definition: "User", SHA256: hashString("s")},
		Attempts: 1, Time: time.Date(2026, 12, 2, 3, 4, 5, 6, time.UTC)}
	tricky := item
	tricky.ID, tricky.Error = `users:,"items":null,.json`, "bad <record> & \u2028"
	// Longer than the trail's read buffer.
	long := item
	long.Error = strings.Repeat("x\n", 100<<10)
	for name, items := range map[string][]ItemProvenance{
		"none":   {},
		"one":    {item},
		"tricky": {item, tricky, item},
		"long":   {item, long, item, long},
	} {
		for _, indent := range []string{"", "  ", "\t"} {
			p := &RunProvenance{RunID: "20261202T030405Z-abcdef", Version: "v1", Host: `h,"items":null, "items": null,`, Items: items,
				Totals: map[string]int{"records": 3}, Outputs: map[string]string{"out/u.ndjson": hashString("x")}}
			var want, got bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", indent)
			if err := enc.Encode(p); err != nil {
				t.Fatal(err)
			}
			trail := newItemTrail(filepath.Join(t.TempDir(), "trail"))
			for i := range items {
				trail.add(&items[i])
			}
			err := writeRecord(&got, p, indent, trail.each)
			trail.close()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got.String() != want.String() {
				t.Errorf("%s, indent %q:\n got %s\nwant %s", name, indent, got.String(), want.String())
			}
		}
	}
}
