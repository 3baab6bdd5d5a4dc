package format

import (
	"strings"
	"testing"
)

func TestCSVDecode(t *testing.T) {
	tests := []struct {
		name     string
		f        Format
		in, want string
		errs     []string
	}{
		{"cells stay strings under the header's names", CSV, "id,name\n1,Ada\n2,\"Turing, A\"\n",
			"{\"id\":\"1\",\"name\":\"Ada\"}\n{\"id\":\"2\",\"name\":\"Turing, A\"}\n", nil},
		{"tsv splits on tabs", TSV, "a\tb\nx y\tz\n", "{\"a\":\"x y\",\"b\":\"z\"}\n", nil},
		{"a byte order mark is skipped", CSV, "\ufeffa\n1\n", "{\"a\":\"1\"}\n", nil},
		{"a row with the wrong number of cells is reported and skipped", CSV, "a,b\n1,2\n1,2,3\n4,5\n",
			"{\"a\":\"1\",\"b\":\"2\"}\n{\"a\":\"4\",\"b\":\"5\"}\n", []string{"3:1: row has 3 cells, but the header has 2"}},
		{"a bare quote is an error with its column", CSV, "a,b\nx,y\"z\n", "", []string{`2:4: bare " in non-quoted-field`}},
		{"a duplicate column is an error", CSV, "a,a\n1,2\n", "", []string{`1:3: duplicate column "a" in the header row`}},
		{"an empty header cell is an error", CSV, "a,,c\n", "", []string{"1:3: header cell 2 is empty; every column needs a name"}},
		{"invalid UTF-8 in a cell is an error", CSV, "a\n\xff\n", "", []string{"2:1: invalid UTF-8 in a cell"}},
		{"an empty file has no records", CSV, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, errs := decodeAll(t, tt.f, tt.in)
			if got := compact(t, recs); got != tt.want {
				t.Errorf("records:\n%s\nwant:\n%s", got, tt.want)
			}
			if strings.Join(errs, "\n") != strings.Join(tt.errs, "\n") {
				t.Errorf("errors: %q, want %q", errs, tt.errs)
			}
			for _, r := range recs {
				if !r.Untyped {
					t.Errorf("record %d is not marked untyped", r.Index)
				}
			}
		})
	}
}

func TestCSVLocate(t *testing.T) {
	recs, _ := decodeAll(t, CSV, "id,name,zip\n1,Ada,\"123\"\n")
	if line, col := recs[0].Locate([]string{"zip"}); line != 2 || col != 7 {
		t.Errorf("zip is at %d:%d, want 2:7", line, col)
	}
}

func FuzzCSVDecode(f *testing.F) {
	addSeeds(f, "FuzzCSVDecode")
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _ := decodeAll(t, CSV, string(data))
		var b strings.Builder
		e, _ := NewEncoder(CSV, &b, EncodeOptions{})
		for _, r := range recs {
			if err := e.Encode(r.Value); err != nil {
				return // rows of a short header cannot all be written back
			}
		}
		e.Close()
		again, errs := decodeAll(t, CSV, b.String())
		if errs != nil || compact(t, again) != compact(t, recs) {
			t.Fatalf("round trip of %q failed: %v", b.String(), errs)
		}
	})
}
