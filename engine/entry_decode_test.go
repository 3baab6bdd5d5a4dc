package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// journalLines are lines of the forms zpipe writes, and near misses.
var journalLines = []string{
	`{"type":"run","run":"20261202T033037Z-3a2316","status":"started","time":"2026-12-02T03:30:37.1Z"}`,
	`{"type":"base","run":"20261202T033037Z-3a2316","key":"1aae19f221888faa","fp":{"input":"","schema":"669a","settings":"0262","version":"devel"},"time":"2026-12-02T03:30:38.840563646Z"}`,
	`{"type":"item","run":"r","stage":"../pipeline.yaml#users","key":"data/u000000.json","status":"done","fp":{"input":"08e7","base":"1aae19f221888faa"},"stat":[125,1796180885686599854,1796182056814520756,9994332,65024],"parts":[{"output":0,"file":"e38fa05943cfe2f0af6781fd8eaf8b6f.pack","sha256":"bde1","size":112,"records":1}],"records":1,"ok":1,"attempts":1,"duration_ns":246401,"time":"2026-12-02T03:30:38.840563646Z"}`,
	`{"type":"item","run":"r","stage":"p.yaml#u","key":"a.json","status":"done","fp":{"input":"i","schema":"s","transform":"t","settings":"x","version":"v"},"stat":{"size":1,"mtime_ns":2,"ctime_ns":3,"ino":4,"dev":5},"parts":[{"output":1,"file":"a-1.part","offset":7,"sha256":"h","size":3,"records":2}],"rejects":{"output":-1,"file":"b.pack","offset":10,"sha256":"r","size":5,"records":1},"records":3,"ok":2,"failed":1,"attempts":2,"time":"2026-01-01T00:00:00Z"}`,
	`{"type":"item","run":"r","stage":"s","key":"k","status":"failed","error":"bad \"x\"","time":"2026-01-01T00:00:00Z"}`,
	`{"type":"item","run":"r","stage":"s","key":"dätä/ü.json","status":"removed","time":"2026-01-01T00:00:00Z"}`,
	`{"type":"stage","run":"r","stage":"s","outputs":{"out/a.ndjson":"h"},"inputs":"d","time":"2026-01-01T00:00:00Z"}`,
	`{"type":"commit","run":"r","stage":"s","status":"begin","renames":[{"temp":"t","target":"o","sha256":"h"}],"then":{"type":"stage","run":"r","stage":"s","time":"0001-01-01T00:00:00Z"},"time":"2026-01-01T00:00:00Z"}`,
	`{"type":"item","TYPE":"x","time":"2026-01-01T00:00:00Z"}`,
	`{"type":"item","type":"stage"}`,
	`{"type":"item","fp":null,"stat":[1,2,3,4,5]}`,
	`{"type":"item","stat":[-1,2,3,4,5]}`,
	`{"type":"item","stat":[1,2,3,4]}`,
	`{"type":"item","stat":[1,2,3,4,5,6]}`,
	`{"type":"item","stat":[1.5,2,3,4,5]}`,
	`{"type":"item","records":01}`,
	`{"type":"item","records":-0,"ok":1e2}`,
	`{"type":"item","records":99999999999999999999}`,
	`{"type":"item","parts":[]}`,
	`{"type":"item","parts":[{},{"output":2}]}`,
	`{"type":"item","key":"\u00e9\ud800"}`,
	"{\"type\":\"item\",\"key\":\"\xff\"}",
	`{"type":"item"} `,
	` {"type":"item"}`,
	`{"type":"item"}x`,
	`{"type":"item","time":"2026-13-01T00:00:00Z"}`,
	`{"type":"item","time":"yesterday"}`,
	`{}`,
	`[]`,
	`{"type":"item",}`,
	`{"type":"item","fp":{"input":"a","input":"b"}}`,
}

// Every line means what encoding/json says: the same entry, or an error
// where it gives one.
func TestDecodeEntryAgreesWithEncodingJSON(t *testing.T) {
	for _, line := range journalLines {
		agree(t, []byte(line))
	}
}

func agree(t *testing.T, line []byte) {
	t.Helper()
	var got, want entry
	gerr := decodeEntry(line, &got)
	werr := json.Unmarshal(line, &want)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("%s: decodeEntry says %v, encoding/json %v", line, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", line, got, want)
	}
}

// The hand reader takes the lines of item, base and run entries: were it
// to give up on them, a journal of a million items would be read at the
// slow pace without anyone noticing.
func TestDecodeEntryReadsItemLinesByHand(t *testing.T) {
	for _, line := range journalLines[:3] {
		d := entryDecoder{b: []byte(line)}
		var e entry
		if !d.entry(&e) || d.i != len(line) {
			t.Errorf("read by encoding/json: %s", line)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	for _, line := range journalLines {
		f.Add([]byte(line))
	}
	if b, err := os.ReadFile(filepath.Join("..", "testdata", "fuzz", "FuzzDecodeEntry", "journal.ndjson")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f.Add([]byte(line))
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		agree(t, line)
	})
}

func BenchmarkDecodeEntry(b *testing.B) {
	line := []byte(journalLines[2])
	b.Run("by hand", func(b *testing.B) {
		for b.Loop() {
			var e entry
			if err := decodeEntry(line, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var e entry
			if err := json.Unmarshal(line, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// What the journal writes it reads back, by hand and by encoding/json:
// times before 1970 included.
func TestEntriesRoundTrip(t *testing.T) {
	for _, st := range []fileStat{
		{Size: 1, Mtime: 2, Ctime: 3, Ino: 4, Dev: 5},
		{Size: 0, Mtime: -315619200000000000, Ctime: -1, Ino: 1<<64 - 1, Dev: 0},
	} {
		e := entry{Type: "item", Key: "k", Stat: &st, Time: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}
		b, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		agree(t, b)
		var got entry
		if err := decodeEntry(b, &got); err != nil || *got.Stat != st {
			t.Errorf("%s: read back %+v, %v", b, got.Stat, err)
		}
	}
}
