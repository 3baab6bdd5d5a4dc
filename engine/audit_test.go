package engine

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
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
	// Longer than a read buffer.
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
			var err error
			if indent == "" {
				// As saved: gzip, with the items the trails' own.
				// One member an item, joined as a stage's are.
				trail := newItemTrail(filepath.Join(t.TempDir(), "trail"))
				for i := range items {
					line, err := appendItemLine(nil, &items[i])
					if err == nil {
						_, line, err = gzipMember(nil, nil, line[:len(line)-1])
					}
					trail.write(line, 1, err)
				}
				empty := newItemTrail(filepath.Join(t.TempDir(), "empty"))
				var saved bytes.Buffer
				if err = writeSavedRecord(&saved, p, []*itemTrail{empty, trail, empty}); err == nil {
					var z *gzip.Reader
					if z, err = gzip.NewReader(&saved); err == nil {
						_, err = got.ReadFrom(z)
					}
				}
			} else {
				err = writeRecord(&got, p, indent, func(yield func([]byte) bool) error {
					for i := range items {
						b, err := json.Marshal(&items[i])
						if err != nil || !yield(b) {
							return err
						}
					}
					return nil
				})
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got.String() != want.String() {
				t.Errorf("%s, indent %q:\n got %s\nwant %s", name, indent, got.String(), want.String())
			}
		}
	}
}

// The run record's quick item encoder writes what encoding/json writes,
// or declines and leaves the item to it.
func FuzzItemProvenanceJSON(f *testing.F) {
	f.Add("users:a.json", "a.json", "out/u.ndjson", "", int64(1764424800000000001), 0, true)
	f.Add("users:<a>&b.json", "a\u2028.json", "", "bad \"record\"\n", int64(-62135596800000000000/1000), 3600, false)
	f.Add("users:\xff.json", "", "o", "\x7f\x01", int64(253402300800000000), -37, false)
	f.Add("users:a.json", "a.json", "o", "", int64(0), 86400, false) // json refuses a zone hour of 24
	f.Fuzz(func(t *testing.T, id, source, out, msg string, ns int64, offset int, upToDate bool) {
		p := ItemProvenance{ID: id, Source: source, InputSHA256: hashString(id), SourceFormat: "json",
			Attempts: len(msg), DurationNS: ns / 7, Time: time.Unix(0, ns).In(time.FixedZone("z", offset%100000)), Error: msg, UpToDate: upToDate}
		if out != "" {
			p.Outputs = []OutputProvenance{{Path: out, Format: "ndjson", SHA256: hashString(out)}, {Format: "csv", SHA256: hashString(msg)}}
			p.Schema = &SchemaProvenance{Path: out, Definition: msg, SHA256: hashString("s")}
		}
		got := appendItemJSON(nil, &p)
		want, err := json.Marshal(&p)
		if got == nil {
			return
		}
		if err != nil {
			t.Fatalf("json.Marshal refuses what appendItemJSON writes: %v\n%s", err, got)
		}
		if string(got) != string(want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// The quick encoder takes the items of a real rerun: plain paths, sums,
// UTC times.
func TestItemProvenanceJSONTakesPlainItems(t *testing.T) {
	p := ItemProvenance{ID: "users:data/u0001.json", Source: "data/u0001.json", InputSHA256: hashString("in"), SourceFormat: "json",
		Outputs: []OutputProvenance{{Path: "out/u.ndjson", Format: "ndjson", SHA256: hashString("o")}},
		Schema:  &SchemaProvenance{Path: "user.cue", Definition: "User", SHA256: hashString("s")}, Attempts: 1,
		Time: time.Date(2026, 12, 2, 3, 4, 5, 6, time.UTC), UpToDate: true}
	want, _ := json.Marshal(&p)
	if got := appendItemJSON(nil, &p); string(got) != string(want) {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}

// appendItemJSON appends to what the buffer holds, and declines a time
// json refuses: a zone 24 hours or more away.
func TestItemProvenanceJSONAppendsAndDeclines(t *testing.T) {
	p := ItemProvenance{ID: "users:a.json", InputSHA256: "x", SourceFormat: "json", Time: time.Unix(0, 0).UTC()}
	want, _ := json.Marshal(&p)
	if got := appendItemJSON([]byte("prefix:"), &p); string(got) != "prefix:"+string(want) {
		t.Errorf("got %s", got)
	}
	for _, off := range []int{24 * 3600, -24 * 3600, 99 * 3600, 23*3600 + 59*60} {
		p.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("z", off))
		got := appendItemJSON(nil, &p)
		want, err := json.Marshal(&p)
		if got != nil && (err != nil || !bytes.Equal(got, want)) {
			t.Errorf("offset %d: wrote %s; json.Marshal: %s, %v", off, got, want, err)
		}
	}
}
