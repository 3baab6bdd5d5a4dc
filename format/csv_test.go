package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
		{"a quote inside an unquoted cell is text", CSV, "a,b\nx,y\"z\n", "{\"a\":\"x\",\"b\":\"y\\\"z\"}\n", nil},
		{"coordinates keep their quote marks", CSV, "at,city\n37°36'37.8\"N 121°2'17.9\"W,Modesto\n",
			"{\"at\":\"37°36'37.8\\\"N 121°2'17.9\\\"W\",\"city\":\"Modesto\"}\n", nil},
		{"a quoted cell keeps its CR LF", CSV, "a,b\r\n\"x\r\ny\",z\r\n", "{\"a\":\"x\\r\\ny\",\"b\":\"z\"}\n", nil},
		{"rows may end in CR LF", CSV, "a,b\r\n1,2\r\n", "{\"a\":\"1\",\"b\":\"2\"}\n", nil},
		{"blank lines are skipped", CSV, "a\n\n1\r\n\r\n2\n", "{\"a\":\"1\"}\n{\"a\":\"2\"}\n", nil},
		{"a CR at the end of the input is dropped", CSV, "a\n1\r", "{\"a\":\"1\"}\n", nil},
		{"a lone CR inside a row is text", CSV, "a,b\n1\r2,3\n", "{\"a\":\"1\\r2\",\"b\":\"3\"}\n", nil},
		{"a quoted cell keeps its LF", CSV, "a,b\n\"x\ny\",z", "{\"a\":\"x\\ny\",\"b\":\"z\"}\n", nil},
		{"a quoted cell keeps doubled quotes and delimiters", CSV, "a,b\n\"say \"\"hi\"\"\",\"x,y\"\n",
			"{\"a\":\"say \\\"hi\\\"\",\"b\":\"x,y\"}\n", nil},
		{"a quoted empty cell is the empty string, an unquoted one no value", CSV, "a,b,c\n\"\",,x\n", "{\"a\":\"\",\"b\":null,\"c\":\"x\"}\n", nil},
		{"a quote after a leading space is text", CSV, "a,b\n \"x\",y\n", "{\"a\":\" \\\"x\\\"\",\"b\":\"y\"}\n", nil},
		{"tsv cells may be quoted", TSV, "a\tb\n\"x\ty\"\tz\n", "{\"a\":\"x\\ty\",\"b\":\"z\"}\n", nil},
		{"tsv keeps inch marks", TSV, "h\tw\n5'11\"\t70\n", "{\"h\":\"5'11\\\"\",\"w\":\"70\"}\n", nil},
		{"an undoubled quote in a quoted cell is reported and the row skipped", CSV, "a,b\n\"say \"hi\" now\",x\n3,4\n",
			"{\"a\":\"3\",\"b\":\"4\"}\n", []string{`2:6: a " inside a quoted cell must be doubled (""); this one is followed by "h"`}},
		{"a space after the closing quote is reported", CSV, "a,b\n\"x\" ,y\n", "", []string{`2:3: a " inside a quoted cell must be doubled (""); this one is followed by " "`}},
		{"an error after a cell of two lines skips the rest of the second", CSV, "a,b\n\"x\ny\"z,1\n2,3\n",
			"{\"a\":\"2\",\"b\":\"3\"}\n", []string{`3:2: a " inside a quoted cell must be doubled (""); this one is followed by "z"`}},
		{"an unclosed quoted cell is reported at its quote", CSV, "a,b\n1,2\n3,\"x\n4,5\n",
			"{\"a\":\"1\",\"b\":\"2\"}\n", []string{"3:3: quoted cell has no closing quote before the end of the input"}},
		{"a row with too few cells is reported", CSV, "a,b\n1\n", "", []string{"2:1: row has 1 cells, but the header has 2"}},
		{"an unclosed quote in the header row stops the decoder", CSV, "a,\"b\n1,2\n", "",
			[]string{"1:3: header row: quoted cell has no closing quote before the end of the input"}},
		{"a header whose lines end in CR alone is refused", CSV, "a,b\r1,2\r", "",
			[]string{"1:4: header row: a line ends in CR alone; csv rows must end in LF or CR LF"}},
		{"invalid UTF-8 in the header row is an error", CSV, "a,\xff\n1,2\n", "", []string{"1:3: invalid UTF-8 in the header row"}},
		{"a duplicate column is an error", CSV, "a,a\n1,2\n", "", []string{`1:3: duplicate column "a" in the header row`}},
		{"an empty header cell is an error", CSV, "a,,c\n", "", []string{"1:3: header cell 2 is empty; every column needs a name"}},
		{"invalid UTF-8 in a cell is an error", CSV, "a\n\xff\n", "", []string{"2:1: invalid UTF-8 in a cell"}},
		{"a character split between two cells is invalid UTF-8", CSV, "a,b\n\xc3,\xa9\n", "", []string{"2:1: invalid UTF-8 in a cell"}},
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
	tests := []struct {
		name, in, field string
		line, col       int
	}{
		{"a quoted cell is at its quote", "id,name,zip\n1,Ada,\"123\"\n", "zip", 2, 7},
		{"a cell after a cell of two lines is on the second line", "a,b\n\"x\r\ny\",z\n", "b", 3, 4},
		{"a byte order mark takes no column", "\ufeffa,b\n1,2\n", "b", 2, 3},
		{"a missing field is the record", "a,b\n\n1,2\n", "c", 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, errs := decodeAll(t, CSV, tt.in)
			if len(recs) != 1 || errs != nil {
				t.Fatalf("got %d records and errors %q, want 1 record", len(recs), errs)
			}
			if line, col := recs[0].Locate([]string{tt.field}); line != tt.line || col != tt.col {
				t.Errorf("%s is at %d:%d, want %d:%d", tt.field, line, col, tt.line, tt.col)
			}
		})
	}
}

func TestCSVEncodeQuotesALeadingByteOrderMark(t *testing.T) {
	var b strings.Builder
	e, _ := NewEncoder(CSV, &b, EncodeOptions{})
	if err := e.Encode(&Object{Fields: []Field{{"\ufeffid", "1"}, {"n", "2"}}}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	if got, want := b.String(), "\"\ufeffid\",n\n1,2\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}

// TestCSVRowLimit checks that a row longer than Limits.MaxLine stops the
// decoder instead of filling memory, whether the row fits the read buffer
// or not.
func TestCSVRowLimit(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"an unclosed quote runs into the limit", "a,b\n1,2\n3,\"" + strings.Repeat("x\n", 20) + "\n4,5\n", 20,
			"3:1: row is longer than the limit of 20 bytes (is the quote at 3:3 not closed?)"},
		{"a line longer than the read buffer runs into the limit", "a,b\n1,2\n" + strings.Repeat("x", 300<<10) + ",3\n4,5\n", 100 << 10,
			"3:1: row is longer than the limit of 102400 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := NewDecoder(CSV, strings.NewReader(tt.in), Limits{MaxDepth: 10, MaxLine: tt.max})
			if _, err := d.Next(); err != nil {
				t.Fatalf("first record: %v", err)
			}
			_, err := d.Next()
			var fe *Error
			if !errors.As(err, &fe) || fe.Error() != tt.want || fe.Recoverable {
				t.Fatalf("got %#v, want the unrecoverable error %q", err, tt.want)
			}
			if _, again := d.Next(); again != err {
				t.Errorf("the next call returned %v, want the same error", again)
			}
		})
	}
}

// TestCSVRoundTrip checks that what the encoder writes reads back as the
// same cells, for cells that need quoting or could lose bytes.
func TestCSVRoundTrip(t *testing.T) {
	// "" and null come back apart: "" is quoted, null an empty cell.
	cells := []any{"a\r\nb", "\r\n", "\r", "\n", "x\ry", `"`, `say "hi"`, `"quoted"`, `5'11"`, ",", "\t", "a,b\tc",
		"", " lead", "trail ", "  ", "é", "\r\n\r\n", "\"\r\n\"", nil, `\.`}
	for _, f := range []Format{CSV, TSV} {
		t.Run(string(f), func(t *testing.T) {
			var want []Record
			for i := 0; i < len(cells); i += 3 {
				obj := &Object{}
				for j, k := range []string{"x", "y", "z"} {
					obj.Fields = append(obj.Fields, Field{k, cells[(i+j)%len(cells)]})
				}
				want = append(want, Record{Value: obj})
			}
			// A single column of one empty cell is a row of its own too.
			lone := []Record{{Value: &Object{Fields: []Field{{"x", ""}}}}, {Value: &Object{Fields: []Field{{"x", "\r\n"}}}}}
			for _, recs := range [][]Record{want, lone} {
				var b strings.Builder
				e, err := NewEncoder(f, &b, EncodeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					if err := e.Encode(r.Value); err != nil {
						t.Fatal(err)
					}
				}
				e.Close()
				got, errs := decodeAll(t, f, b.String())
				if errs != nil {
					t.Fatalf("reading back %q: %v", b.String(), errs)
				}
				if g, w := compact(t, got), compact(t, recs); g != w {
					t.Errorf("%q read back as\n%s\nwant\n%s", b.String(), g, w)
				}
			}
		})
	}
}

// FuzzCSVDecode checks that csv and tsv input never panics, that every
// error has a position, and that what the encoder writes back reads as the
// same records.
func FuzzCSVDecode(f *testing.F) {
	addSeeds(f, "FuzzCSVDecode")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []Format{CSV, TSV} {
			d, _ := NewDecoder(format, bytes.NewReader(data), DefaultLimits)
			var recs []Record
			for {
				rec, err := d.Next()
				if err == io.EOF {
					break
				}
				var fe *Error
				if err != nil && (!errors.As(err, &fe) || fe.Line < 1 || fe.Col < 1) {
					t.Fatalf("%s: error without a position: %v", format, err)
				}
				if err != nil && !fe.Recoverable {
					break
				}
				if err == nil {
					recs = append(recs, rec)
				}
			}
			var b strings.Builder
			e, _ := NewEncoder(format, &b, EncodeOptions{})
			written := true
			for _, r := range recs {
				if err := e.Encode(r.Value); err != nil {
					written = false // rows of a short header cannot all be written back
					break
				}
			}
			e.Close()
			if !written {
				continue
			}
			again, errs := decodeAll(t, format, b.String())
			if errs != nil || compact(t, again) != compact(t, recs) {
				t.Fatalf("%s: round trip of %q failed: %v", format, b.String(), errs)
			}
		}
	})
}

// benchCSV is a user table as exported by a spreadsheet: mostly plain
// cells, some quoted ones with delimiters, doubled quotes and line breaks.
func benchCSV(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("id,name,email,age,city,zip,note\n")
	for i := range rows {
		note := "ok"
		switch i % 10 {
		case 3:
			note = `"late, again"`
		case 6:
			note = `"said ""hi"""`
		case 9:
			note = "\"two\r\nlines\""
		}
		fmt.Fprintf(&b, "%d,User %d,user%d@example.com,%d,Springfield,%05d,%s\n", i, i, i, 20+i%60, i%100000, note)
	}
	return b.Bytes()
}

func BenchmarkCSVDecode(b *testing.B) {
	const rows = 10000
	benchDecode(b, CSV, benchCSV(rows), rows, nil)
}

// benchDecode times decoding data, which holds want records of format f,
// and reports records/s; check, when set, looks at each record.
func benchDecode(b *testing.B, f Format, data []byte, want int, check func(n int, rec Record)) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := NewDecoder(f, bytes.NewReader(data), DefaultLimits)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			rec, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
			if check != nil {
				check(n, rec)
			}
		}
		if n != want {
			b.Fatalf("read %d records, want %d", n, want)
		}
	}
	b.ReportMetric(float64(b.N*want)/b.Elapsed().Seconds(), "records/s")
}
