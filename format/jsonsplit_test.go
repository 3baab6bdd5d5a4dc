package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// chunkRecords decodes data cut into chunks as the engine does, each
// chunk alone, and describes each record up to the error that ends the
// chunk, if one does. The engine reads every chunk whatever another's
// fate, so that an error that ends one chunk and not the whole file's
// reading shows here as records after it.
func chunkRecords(t testing.TB, data []byte, chunks []Chunk, lines bool) []string {
	var out []string
	for _, c := range chunks {
		d, err := NewChunkDecoder(JSON, bytes.NewReader(data[c.Offset:c.Offset+c.Size]), c, DefaultLimits)
		if err != nil {
			return append(out, describeRecord(Record{}, err))
		}
		for len(out) < 1000 {
			var rec Record
			if lines {
				ld := d.(LineDecoder)
				if err = ld.NextLine(); err == nil {
					if ld.Line() != nil {
						out = append(out, fmt.Sprintf("%d text %s", len(out)+1, ld.Line()))
					}
					rec, err = ld.DecodeLine()
				}
			} else {
				rec, err = d.Next()
			}
			if err == io.EOF {
				break
			}
			out = append(out, describeRecord(rec, err))
			var fe *Error
			if err != nil && !(errors.As(err, &fe) && fe.Recoverable) {
				break
			}
		}
	}
	return out
}

// wholeRecords describes the records the decoder reads from the whole of
// data, up to the first error.
func wholeRecords(data []byte, lines bool) []string {
	return chunkRecords(nil, data, []Chunk{{Size: int64(len(data)), Line: 1, Record: 1}}, lines)
}

func describeRecord(rec Record, err error) string {
	var fe *Error
	if errors.As(err, &fe) && fe.Recoverable {
		return fmt.Sprintf("skipped %s: %q", err, fe.Raw)
	}
	if err != nil {
		return "error " + err.Error()
	}
	b, _ := AppendJSON(nil, rec.Value)
	return fmt.Sprintf("%d %d:%d %s", rec.Index, rec.Line, rec.Col, b)
}

func TestJSONArraySplits(t *testing.T) {
	tests := []struct {
		name, in string
		size     int64
		chunks   []Chunk // nil: not cut
	}{
		{
			name: "between elements, with lines and columns",
			in:   "\xef\xbb\xbf[\n  {\"a\": 1},\n  {\"a\": [2, \"]\"]}, {\"a\": 3},\n  4\n]\n",
			size: 10,
			chunks: []Chunk{
				{Offset: 0, Size: 16, Line: 1, Record: 1, Records: 1},
				{Offset: 16, Size: 19, Line: 2, Col: 12, Record: 2, Records: 1},
				{Offset: 35, Size: 10, Line: 3, Col: 19, Record: 3, Records: 1},
				{Offset: 45, Size: 7, Line: 3, Col: 29, Record: 4, Records: 1},
			},
		},
		{name: "escaped quotes and commas in strings", in: `["a\",b", "c,d", "e"]`, size: 1, chunks: []Chunk{
			{Offset: 0, Size: 9, Line: 1, Record: 1, Records: 1},
			{Offset: 9, Size: 7, Line: 1, Col: 10, Record: 2, Records: 1},
			{Offset: 16, Size: 5, Line: 1, Col: 17, Record: 3, Records: 1},
		}},
		{name: "one element", in: `[{"a": 1}]`, size: 1, chunks: []Chunk{{Size: 10, Line: 1, Record: 1, Records: 1}}},
		{name: "not an array", in: `{"a": [1, 2]}`, size: 1},
		{name: "space, then not an array", in: "  \n 1", size: 1},
		{name: "brackets that do not match", in: `[{"a": 1], 2, 3]`, size: 1},
		{name: "a line break in a string", in: "[\"a\nb\", 1, 2]", size: 1},
		{name: "no closing bracket", in: `[1, 2, 3`, size: 1},
		{name: "a trailing comma", in: "[1, 2, 3, \n]", size: 1},
		{name: "an empty element", in: `[1, 2, , 3]`, size: 1},
		{name: "a comma first", in: `[, 1, 2]`, size: 1},
		{name: "data after the array", in: "[1, 2, 3]\n x", size: 1},
		{name: "data after the array, past the first block", in: "[1, 2, 3]" + strings.Repeat(" ", splitScanBuf) + "x", size: 1},
		{name: "UTF-16", in: "\xfe\xff[1, 2]", size: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Split(JSON, strings.NewReader(tt.in), tt.size)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.chunks) {
				t.Fatalf("chunks:\n%+v\nwant\n%+v", got, tt.chunks)
			}
			if len(got) > 1 {
				for _, lines := range []bool{false, true} {
					want := wholeRecords([]byte(tt.in), lines)
					if rs := chunkRecords(t, []byte(tt.in), got, lines); !reflect.DeepEqual(rs, want) {
						t.Errorf("records by chunk:\n%s\nwant\n%s", strings.Join(rs, "\n"), strings.Join(want, "\n"))
					}
				}
			}
		})
	}
}

// A bad element is skipped with its text, and the elements after it are
// read, in chunks as when the file is read whole; what follows the
// closing bracket is checked by the last chunk.
func TestJSONArrayChunkErrors(t *testing.T) {
	for _, tt := range []struct{ in, err string }{
		{"[1, 2, {\"a\": tru}, 4, 5]", `skipped 1:14: unexpected 't', expected a value: "{\"a\": tru}"`},
		{"[1, 2, 3, {\"a\": tru} ]", `skipped 1:17: unexpected 't', expected a value: "{\"a\": tru}"`},
		{"[1 2, 3, 4]", `skipped 1:4: unexpected '2', expected ',' or ']': "1 2"`},
		{"[1, {\"id\": 5} x, 3]", `skipped 1:15: unexpected 'x', expected ',' or ']': "{\"id\": 5} x"`},
		{"[1, 2, {\"a\" 1}, 4]", `skipped 1:13: unexpected '1', expected ':' after the key: "{\"a\" 1}"`},
		{"[1, 2, {\"a\": 1, \"a\": 2}, 4]", `skipped 1:17: duplicate key "a" with a different value: "{\"a\": 1, \"a\": 2}"`},
		{"[1, 2, \"\xff\", 4]", `skipped 1:9: invalid UTF-8 in a string: "\"\xff\""`},
	} {
		in := tt.in
		chunks, err := Split(JSON, strings.NewReader(in), 1)
		if err != nil || len(chunks) < 2 {
			t.Fatalf("%q: %d chunks, %v", in, len(chunks), err)
		}
		want := wholeRecords([]byte(in), false)
		if !slices.Contains(want, tt.err) {
			t.Errorf("%q read whole:\n%s\nwant %s among them", in, strings.Join(want, "\n"), tt.err)
		}
		if got := chunkRecords(t, []byte(in), chunks, false); !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n%s\nwant\n%s", in, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// FuzzJSONSplit holds the chunks of any input to the records, positions
// and first error of the input read whole, through small windows too.
func FuzzJSONSplit(f *testing.F) {
	f.Add([]byte("[\n{\"a\":1},\n{\"a\":2}\n]\n"), uint8(3))
	f.Add([]byte(`[1, "a,\"]", [2, {"b": [3]}], null]`), uint8(1))
	f.Add([]byte("\xef\xbb\xbf [ 1 , 2 ] "), uint8(2))
	// Files at the project root, each with large and tiny scan blocks.
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "fuzz", "FuzzJSONSplit", "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, uint8(5))
			f.Add(b, uint8(0xc3))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		defer func(b int) { splitScanBuf = b }(splitScanBuf)
		if size&0x40 != 0 {
			splitScanBuf = len(data)%7 + 1
		}
		chunks, err := Split(JSON, bytes.NewReader(data), int64(size%16)+1)
		if err != nil {
			t.Fatal(err)
		}
		if len(chunks) < 2 {
			return
		}
		var off int64
		for _, c := range chunks {
			if c.Offset != off || c.Size <= 0 {
				t.Fatalf("chunks %+v do not tile the input", chunks)
			}
			off += c.Size
		}
		if off != int64(len(data)) {
			t.Fatalf("chunks %+v cover %d of %d bytes", chunks, off, len(data))
		}
		lines := size&0x80 != 0
		want := wholeRecords(data, lines)
		defer func(w int) { jsonWindow = w }(jsonWindow)
		jsonWindow = len(data)%13 + 1
		if got := chunkRecords(t, data, chunks, lines); !reflect.DeepEqual(got, want) {
			t.Fatalf("records by chunk:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
