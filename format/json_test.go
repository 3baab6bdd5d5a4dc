package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// decodeAll decodes every record of src, collecting recoverable errors and
// stopping at the first other one.
func decodeAll(t testing.TB, f Format, src string) (recs []Record, errs []string) {
	t.Helper()
	d, err := NewDecoder(f, strings.NewReader(src), DefaultLimits)
	if err != nil {
		return nil, []string{err.Error()}
	}
	for {
		rec, err := d.Next()
		if err == io.EOF {
			return recs, errs
		}
		if err != nil {
			errs = append(errs, err.Error())
			var fe *Error
			if errors.As(err, &fe) && fe.Recoverable {
				continue
			}
			return recs, errs
		}
		recs = append(recs, rec)
	}
}

// compact encodes records as ndjson, for comparing values in tests.
func compact(t testing.TB, recs []Record) string {
	t.Helper()
	var b bytes.Buffer
	e, err := NewEncoder(NDJSON, &b, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := e.Encode(r.Value); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	return b.String()
}

func TestJSONDecode(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // records as ndjson
		errs     []string
	}{
		{"an object is one record", `{"b": 1, "a": 2}`, "{\"b\":1,\"a\":2}\n", nil},
		{"an array yields one record per element", `[{"a":1}, {"a":2}]`, "{\"a\":1}\n{\"a\":2}\n", nil},
		{"an empty array yields no record", ` [ ] `, "", nil},
		{"big integers and decimals keep every digit", `{"i": 123456789012345678901234567890, "d": 0.1000000000000000055511151231257827, "e": -1.5E+300}`,
			"{\"i\":123456789012345678901234567890,\"d\":0.1000000000000000055511151231257827,\"e\":-1.5E+300}\n", nil},
		{"a byte order mark is skipped", "\ufeff{\"a\":1}", "{\"a\":1}\n", nil},
		{"escapes are decoded and re-escaped", `{"s":"\u00e9\n\"\\\/\ud83d\ude00"}`, "{\"s\":\"é\\n\\\"\\\\/😀\"}\n", nil},
		{"an empty file is an error", "  \n", "", []string{"2:1: the file holds no JSON value"}},
		{"a duplicate key is an error", "{\"a\": 1,\n \"a\": 2}", "", []string{"2:2: duplicate key \"a\" with a different value"}},
		{"a duplicate key with the same value is kept once", `{"a": [1], "a": [1]}`, "{\"a\":[1]}\n", nil},
		{"a trailing comma is an error", `[{"a":1},]`, "{\"a\":1}\n", []string{`1:10: unexpected ']', expected a value`}},
		{"a missing bracket is an error", "[{\"a\":1}\n", "", []string{"2:1: unexpected end of input, expected ',' or ']'"}},
		{"invalid UTF-8 is an error", "{\"a\":\"\xff\"}", "", []string{"1:7: invalid UTF-8 in a string"}},
		{"a leading zero is an error", `{"a": 01}`, "", []string{`1:7: invalid number "01"`}},
		{"data after the document is an error", `{"a":1} {"a":2}`, "", []string{"1:9: unexpected data after the end of the document"}},
		{"a lone surrogate is an error", `["\ud800"]`, "", []string{`1:3: invalid UTF-16 surrogate in \u escape`}},
		{"UTF-16 is named", "\xff\xfe{", "", []string{"1:1: the input is UTF-16 or UTF-32 (it starts with a byte order mark); convert it to UTF-8"}},
		{"deep nesting is an error, not a crash", strings.Repeat("[", 10000), "", []string{"1:1001: nesting deeper than 1000 levels"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, errs := decodeAll(t, JSON, tt.in)
			if got := compact(t, recs); got != tt.want {
				t.Errorf("records:\n%s\nwant:\n%s", got, tt.want)
			}
			if strings.Join(errs, "\n") != strings.Join(tt.errs, "\n") {
				t.Errorf("errors: %q, want %q", errs, tt.errs)
			}
		})
	}
}

func TestNDJSONDecode(t *testing.T) {
	tests := []struct {
		name, in string
		want     string
		errs     []string
	}{
		{"each line is a record and blank lines are skipped", "{\"a\":1}\n\n{\"a\":2}\r\n", "{\"a\":1}\n{\"a\":2}\n", nil},
		{"a bad line is reported and the rest still read", "{\"a\":1}\n{\"a\":}\n{\"a\":3}", "{\"a\":1}\n{\"a\":3}\n", []string{`2:6: unexpected '}', expected a value`}},
		{"two values on a line are an error", "1 2\n", "", []string{"1:3: unexpected data after the value; ndjson holds one value per line"}},
		{"an empty file has no records", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, errs := decodeAll(t, NDJSON, tt.in)
			if got := compact(t, recs); got != tt.want {
				t.Errorf("records:\n%s\nwant:\n%s", got, tt.want)
			}
			if strings.Join(errs, "\n") != strings.Join(tt.errs, "\n") {
				t.Errorf("errors: %q, want %q", errs, tt.errs)
			}
		})
	}
}

func TestNDJSONLongLines(t *testing.T) {
	t.Run("a 10 MB line is one record", func(t *testing.T) {
		big := `{"s":"` + strings.Repeat("x", 10<<20) + `"}` + "\n{\"a\":1}\n"
		recs, errs := decodeAll(t, NDJSON, big)
		if len(recs) != 2 || errs != nil {
			t.Fatalf("got %d records, errors %v", len(recs), errs)
		}
	})
	t.Run("a line over the limit is skipped with its number", func(t *testing.T) {
		d := NewNDJSONChunkDecoder(strings.NewReader(strings.Repeat("x", 100)+"\n{\"a\":1}\n"), 1, 1, Limits{MaxDepth: 10, MaxLine: 50})
		_, err := d.Next()
		if err == nil || err.Error() != "1:1: line is longer than the limit of 50 bytes" {
			t.Fatalf("err = %v", err)
		}
		rec, err := d.Next()
		if err != nil || rec.Index != 2 || rec.Line != 2 {
			t.Fatalf("next record = %+v, %v", rec, err)
		}
	})
}

func TestLocate(t *testing.T) {
	src := "[\n {\"a\": 1,\n  \"b\": {\"c\": [10, 20]}}\n]"
	recs, errs := decodeAll(t, JSON, src)
	if errs != nil {
		t.Fatal(errs)
	}
	tests := []struct {
		path      []string
		line, col int
	}{
		{nil, 2, 2},
		{[]string{"a"}, 2, 8},
		{[]string{"b", "c", "1"}, 3, 19},
		{[]string{"b", "missing"}, 3, 8},
		{[]string{"b", "c", "2"}, 3, 14},
		{[]string{"b", "c", "-1"}, 3, 14},
	}
	for range 2 { // and again, from what the first look read
		for _, tt := range tests {
			line, col := recs[0].Locate(tt.path)
			if line != tt.line || col != tt.col {
				t.Errorf("Locate(%q) = %d:%d, want %d:%d", tt.path, line, col, tt.line, tt.col)
			}
		}
	}
}

// A path past the end of a list is not in it: Locate and LocateAll both
// place it at the list.
func TestLocateInAnEmptyList(t *testing.T) {
	src := `{"y": [1, [[]]]}`
	for _, f := range []Format{JSON, NDJSON} {
		recs, errs := decodeAll(t, f, src)
		if errs != nil {
			t.Fatal(errs)
		}
		path := []string{"y", "1", "0", "0"}
		line, col := recs[0].Locate(path)
		if want := strings.Index(src, "[]") + 1; line != 1 || col != want {
			t.Errorf("%s: Locate = %d:%d, want 1:%d", f, line, col, want)
		}
		if all := recs[0].LocateAll([][]string{path}); all[0] != [2]int{line, col} {
			t.Errorf("%s: LocateAll = %v, Locate = %d:%d", f, all[0], line, col)
		}
	}
}

// Every value of a wide record is found where it is written, in json and
// ndjson alike; a key written twice is found at its first.
func TestLocateEveryField(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"dup": 0, `)
	for i := range 500 {
		fmt.Fprintf(&b, `"k%d": [%d, {"x": %d}], `, i, i, i)
	}
	b.WriteString(`"dup": 0}`)
	src := b.String()
	for _, f := range []Format{JSON, NDJSON} {
		recs, errs := decodeAll(t, f, src)
		if errs != nil {
			t.Fatal(errs)
		}
		if _, col := recs[0].Locate([]string{"dup"}); col != strings.Index(src, "0")+1 {
			t.Errorf("%s: dup at column %d, want its first", f, col)
		}
		var paths [][]string
		for i := 499; i >= 0; i-- {
			paths = append(paths, []string{"k" + strconv.Itoa(i), "1", "x"}, []string{"k" + strconv.Itoa(i), "2"})
		}
		at := recs[0].LocateAll(paths)
		for k, p := range paths {
			want := strings.Index(src, fmt.Sprintf(`{"x": %s}`, strings.TrimPrefix(p[0], "k")))
			if p[1] == "1" {
				want += len(`{"x": `)
			} else {
				want = strings.LastIndex(src[:want], "[") // k[2] is absent: its list
			}
			if line, col := recs[0].Locate(p); at[k] != [2]int{line, col} || col != want+1 {
				t.Fatalf("%s: %q at %v, alone at %d:%d, want column %d", f, p, at[k], line, col, want+1)
			}
		}
	}
}

// BenchmarkLocateManyErrors locates every field of a record of 20,000 at once:
// one error each, as a record with every field wrong has.
func BenchmarkLocateManyErrors(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 20000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"field%d":"x"`, i)
	}
	sb.WriteString("}\n")
	for b.Loop() {
		d, err := NewDecoder(NDJSON, strings.NewReader(sb.String()), DefaultLimits)
		if err != nil {
			b.Fatal(err)
		}
		rec, err := d.Next()
		if err != nil {
			b.Fatal(err)
		}
		paths := make([][]string, 20000)
		for i := range paths {
			paths[i] = []string{"field" + strconv.Itoa(i)}
		}
		rec.LocateAll(paths)
	}
}

func TestSplitLines(t *testing.T) {
	src := "{\"a\":1}\n\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}"
	chunks, err := SplitLines(strings.NewReader(src), 10)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, c := range chunks {
		d := NewNDJSONChunkDecoder(strings.NewReader(src[c.Offset:c.Offset+c.Size]), c.Line, c.Record, DefaultLimits)
		n := 0
		for {
			rec, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
			all = append(all, compact(t, []Record{rec})[:7]+"@"+itoa(rec.Line)+"#"+itoa(rec.Index))
		}
		if n != c.Records {
			t.Errorf("chunk %+v: decoded %d records", c, n)
		}
	}
	want := `{"a":1}@1#1 {"a":2}@3#2 {"a":3}@4#3 {"a":4}@5#4`
	if got := strings.Join(all, " "); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+i))) }

// jsonSuiteDeviations are y_ files zpipe rejects on purpose.
var jsonSuiteDeviations = map[string]string{
	// A key repeated with another value would silently lose one of them;
	// CUE rejects it too. The same key with the same value is accepted.
	"y_object_duplicated_key.json": "duplicate key with a different value",
}

// TestJSONTestSuite runs the parsing corpus of JSONTestSuite: y_ files must
// decode, n_ files must fail with a positioned error, and i_ files may do
// either; none may panic or hang.
func TestJSONTestSuite(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "testsuites", "json", "test_parsing")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Skip("JSONTestSuite is not at ../shared/testsuites/json")
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan []string, 1)
			go func() {
				_, errs := decodeAll(t, JSON, string(data))
				done <- errs
			}()
			var errs []string
			select {
			case errs = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("decoding hung")
			}
			switch name[0] {
			case 'y':
				if why, ok := jsonSuiteDeviations[name]; ok {
					if errs == nil {
						t.Errorf("listed as rejected on purpose (%s), but accepted", why)
					}
					return
				}
				if errs != nil {
					t.Errorf("valid JSON rejected: %v", errs)
				}
			case 'n':
				if errs == nil {
					t.Errorf("invalid JSON accepted")
				} else if !strings.Contains(errs[0], ":") {
					t.Errorf("error has no position: %s", errs[0])
				}
			}
		})
	}
}

func FuzzJSONDecode(f *testing.F) {
	addSeeds(f, "FuzzJSONDecode")
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, errs := decodeAll(t, JSON, string(data))
		if errs != nil {
			return
		}
		// What decodes must survive a round trip unchanged.
		var b bytes.Buffer
		e, _ := NewEncoder(JSON, &b, EncodeOptions{})
		for _, r := range recs {
			if err := e.Encode(r.Value); err != nil {
				t.Fatal(err)
			}
		}
		e.Close()
		again, errs := decodeAll(t, JSON, b.String())
		if errs != nil {
			t.Fatalf("re-decoding %q: %v", b.String(), errs)
		}
		if compact(t, again) != compact(t, recs) {
			t.Fatalf("round trip changed %q into %q", compact(t, recs), compact(t, again))
		}
	})
}

func FuzzNDJSONDecode(f *testing.F) {
	addSeeds(f, "FuzzNDJSONDecode")
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _ := decodeAll(t, NDJSON, string(data))
		out := compact(t, recs)
		again, errs := decodeAll(t, NDJSON, out)
		if errs != nil || compact(t, again) != out {
			t.Fatalf("round trip of %q failed: %v", out, errs)
		}
	})
}

// addSeeds adds every file of testdata/fuzz/NAME at the project root.
func addSeeds(f *testing.F, name string) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "fuzz", name, "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

// The cursor gives the same line and column as counting from the start,
// whichever way the offsets move.
func TestCursorMatchesLineCol(t *testing.T) {
	data := []byte("[\n  {\"a\": 1},\n\n  {\"b\": [1,\n 2]}, {\"c\": 3}\n]\n")
	offs := []int{0, 1, 4, 5, 14, 15, 17, 30, 31, 3, 40, len(data), len(data) + 5, 2}
	c := newCursor()
	for _, off := range offs {
		l, col := c.at(data, off)
		wl, wc := lineCol(data, off)
		if l != wl || col != wc {
			t.Errorf("offset %d: cursor %d:%d, want %d:%d", off, l, col, wl, wc)
		}
	}
}

// BenchmarkJSONArrayDecode reads one large array: each record's position
// must cost what the record's bytes do, not a count from the file's start.
// Two sizes, so that linear growth shows in records/s.
func BenchmarkJSONArrayDecode(b *testing.B) {
	for _, rows := range []int{20000, 200000} {
		b.Run(fmt.Sprintf("%d records", rows), func(b *testing.B) { benchJSONArray(b, rows) })
	}
}

func benchJSONArray(b *testing.B, rows int) {
	var buf bytes.Buffer
	buf.WriteString("[\n")
	for i := range rows {
		if i > 0 {
			buf.WriteString(",\n")
		}
		fmt.Fprintf(&buf, `{"id": %d, "name": "user %d"}`, i, i)
	}
	buf.WriteString("\n]\n")
	benchDecode(b, JSON, buf.Bytes(), rows, func(n int, r Record) {
		if r.Line != n+1 {
			b.Fatalf("record %d on line %d", n, r.Line)
		}
	})
}

// BenchmarkJSONArrayLines finds each element's text without decoding it,
// as run does when the schema vouches for records as their text: the
// scan for an element's end is then most of the decoder's work.
func BenchmarkJSONArrayLines(b *testing.B) {
	const rows = 200000
	var buf bytes.Buffer
	buf.WriteString("[\n")
	for i := range rows {
		if i > 0 {
			buf.WriteString(",\n")
		}
		fmt.Fprintf(&buf, `  {"id": %d, "name": "user %d", "email": "u%d@example.com", "tags": ["a", "b\"c"], "address": {"city": "Paris"}}`, i, i, i)
	}
	buf.WriteString("\n]\n")
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := NewDecoder(JSON, bytes.NewReader(data), DefaultLimits)
		if err != nil {
			b.Fatal(err)
		}
		ld := d.(LineDecoder)
		n := 0
		for {
			err := ld.NextLine()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if ld.Line() == nil {
				// The last element: what follows it is checked as
				// it is decoded.
				if _, err := ld.DecodeLine(); err != nil {
					b.Fatal(err)
				}
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d elements, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "records/s")
}
