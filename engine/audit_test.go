package engine

import (
	"bytes"
	"encoding/json"
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
	for name, items := range map[string][]ItemProvenance{
		"none":   {},
		"nil":    nil,
		"one":    {item},
		"tricky": {item, tricky, item},
	} {
		p := &RunProvenance{RunID: "20261202T030405Z-abcdef", Version: "v1", Host: `h,"items":null,`, Items: items,
			Totals: map[string]int{"records": 3}, Outputs: map[string]string{"out/u.ndjson": hashString("x")}}
		var want, got bytes.Buffer
		if err := json.NewEncoder(&want).Encode(p); err != nil {
			t.Fatal(err)
		}
		if err := encodeProvenance(&got, p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.String() != want.String() {
			t.Errorf("%s:\n got %s\nwant %s", name, got.String(), want.String())
		}
	}
}
