package format

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// decodeTrace reads a json input to its end and writes down everything a
// caller sees: each record's value and position, where its paths are,
// and the error that ends it.
func decodeTrace(data []byte) string {
	var b strings.Builder
	d, err := NewDecoder(JSON, bytes.NewReader(data), DefaultLimits)
	if err != nil {
		return "new: " + err.Error()
	}
	for {
		r, err := d.Next()
		if err == io.EOF {
			return b.String()
		}
		if err != nil {
			return b.String() + "error: " + err.Error()
		}
		v, _ := AppendJSON(nil, r.Value)
		fmt.Fprintf(&b, "%d %d:%d %s", r.Index, r.Line, r.Col, v)
		if obj, ok := r.Value.(*Object); ok && len(obj.Fields) > 0 {
			l, c := r.Locate([]string{obj.Fields[len(obj.Fields)-1].Key})
			fmt.Fprintf(&b, " last field at %d:%d", l, c)
		}
		b.WriteByte('\n')
	}
}

// A window of any size, down to a byte, reads an array as reading it
// whole does: the same records, positions and errors.
func TestJSONWindowsReadAsWhole(t *testing.T) {
	inputs := []string{
		"[]", " [ ] ", "[1]", "[1,2,3]\n", "\ufeff[1, 2]",
		"[\n  {\"a\": \"x,]\\\"}\", \"b\": [1, {\"c\": \"[\"}]},\n  {\"d\": null}\n]\n",
		"[1 2]", "[1,]", "[1, 2", "[\"abc", "[{\"a\": 1}] x", "[{\"a\": 1, \"a\": 2}]", "[1]\n\n  \n",
		"{\"whole\": [1, 2]}", "  \n\n[\n\"é\", \"\\u00e9\"]", "[[[[]]], {}, \"\\\\\"]",
	}
	if files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "testsuites", "json", "test_parsing", "*.json")); len(files) > 0 {
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && len(b) < 4096 {
				inputs = append(inputs, string(b))
			}
		}
	}
	defer func(w int) { jsonWindow = w }(jsonWindow)
	for _, in := range inputs {
		jsonWindow = 256 << 10
		want := decodeTrace([]byte(in))
		for _, w := range []int{1, 2, 3, 5, 8, 13} {
			jsonWindow = w
			if got := decodeTrace([]byte(in)); got != want {
				t.Errorf("%q with a %d-byte window:\n%s\nwhole:\n%s", in, w, got, want)
			}
		}
	}
}

// A large array streams: reading it holds a few windows, not the file.
func TestJSONArrayStreamsInBoundedMemory(t *testing.T) {
	const rows = 400000
	r := &arrayReader{rows: rows}
	d, err := NewDecoder(JSON, r, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	peak := readMeasuringHeap(t, d, rows, 20000, func(n int, rec Record) {
		if rec.Line != n+1 || rec.Index != n {
			t.Fatalf("record %d at line %d, index %d", n, rec.Line, rec.Index)
		}
	})
	// The array is some 19 MB; a window is 256 KiB.
	if peak > 8<<20 {
		t.Errorf("%d MB of heap in use while reading, want the array not held", peak>>20)
	}
}

// What follows an array's closing bracket is read window by window too:
// a file of blanks after it is not held whole to find the stray byte.
func TestJSONAfterTheArrayStreams(t *testing.T) {
	const blankLines = 8 << 20 // 32 MiB of "   \n"
	blanks := &heapSampler{r: &repeatReader{s: "   \n", n: blankLines}, every: 4 << 20}
	r := io.MultiReader(strings.NewReader("[1, 2]\n"), blanks, strings.NewReader("  x"))
	d, err := NewDecoder(JSON, r, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	// What follows the last element decides whether it is a record.
	_, err = d.Next()
	want := fmt.Sprintf("%d:3: unexpected data after the end of the document", blankLines+2)
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if blanks.peak > 8<<20 {
		t.Errorf("%d MB of heap in use while reading past the array, want a few windows", blanks.peak>>20)
	}
}

// heapSampler reads r and notes the most heap in use, after a GC, every
// every bytes.
type heapSampler struct {
	r           io.Reader
	every, next int
	peak        uint64
}

func (h *heapSampler) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if h.next -= n; h.next <= 0 {
		h.next = h.every
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		h.peak = max(h.peak, ms.HeapInuse)
	}
	return n, err
}

// readMeasuringHeap reads every record of d, which must be want, calls
// check on each, and returns the most heap in use, measured after a GC
// every every records.
func readMeasuringHeap(t *testing.T, d Decoder, want, every int, check func(n int, rec Record)) uint64 {
	t.Helper()
	var ms runtime.MemStats
	peak := uint64(0)
	for n := 1; ; n++ {
		rec, err := d.Next()
		if err == io.EOF {
			if n-1 != want {
				t.Fatalf("read %d records, want %d", n-1, want)
			}
			return peak
		}
		if err != nil {
			t.Fatal(err)
		}
		check(n, rec)
		if n%every == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
}

// arrayReader writes a JSON array of rows objects, one a line, as it is read.
type arrayReader struct {
	rows, i int
	buf     []byte
}

func (r *arrayReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		switch {
		case r.i == 0:
			r.buf = []byte("[\n")
		case r.i <= r.rows:
			sep := ",\n"
			if r.i == r.rows {
				sep = "\n]\n"
			}
			r.buf = fmt.Appendf(nil, `{"id": %d, "name": "user %d", "tags": ["a", "b"]}%s`, r.i, r.i, sep)
		default:
			return 0, io.EOF
		}
		r.i++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// FuzzJSONWindows holds a small window to reading whole on any input.
func FuzzJSONWindows(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "fuzz", "FuzzJSONDecode", "*"))
	for i, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, uint8(i))
		}
	}
	f.Add([]byte("[{\"a\": \"x,]\\\"\"}, [1, {\"b\": 2}]]"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, w uint8) {
		defer func(old int) { jsonWindow = old }(jsonWindow)
		jsonWindow = 256 << 10
		want := decodeTrace(data)
		jsonWindow = int(w%32) + 1
		if got := decodeTrace(data); got != want {
			t.Fatalf("%q with a %d-byte window:\n%s\nwhole:\n%s", data, jsonWindow, got, want)
		}
	})
}

// FuzzJSONLines holds the decoder to Next when a caller takes some
// records as their text (Line) and moves past them undecoded: every
// record it does decode, and any error, are the ones Next gives.
func FuzzJSONLines(f *testing.F) {
	f.Add([]byte(`[{"a":1},{"b":[1,2]} , "x",3]`))
	f.Add([]byte(`[{"a":1}},{"b":2}]`))
	f.Add([]byte(`[1,2] x`))
	f.Add([]byte("[\n{\"a\":1},\n{\"a\":2}\n]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		describe := func(rec Record, err error) string {
			if err != nil {
				return "error " + err.Error()
			}
			b, _ := AppendJSON(nil, rec.Value)
			return fmt.Sprintf("%d %d:%d %s", rec.Index, rec.Line, rec.Col, b)
		}
		var want []string
		if d, err := NewDecoder(JSON, bytes.NewReader(data), DefaultLimits); err == nil {
			for len(want) < 1000 {
				rec, err := d.Next()
				if err == io.EOF {
					break
				}
				want = append(want, describe(rec, err))
				if err != nil {
					break
				}
			}
		}
		// The same through small windows, so that elements straddle them.
		defer func(w int) { jsonWindow = w }(jsonWindow)
		jsonWindow = len(data)%13 + 1
		d, err := NewDecoder(JSON, bytes.NewReader(data), DefaultLimits)
		if err != nil {
			return
		}
		ld := d.(LineDecoder)
		for i := 0; i < len(want); i++ {
			err := ld.NextLine()
			if err != nil {
				if got := describe(Record{}, err); got != want[i] {
					t.Fatalf("record %d: %s, want %s", i+1, got, want[i])
				}
				return
			}
			if ld.Line() != nil && i%2 == 0 {
				continue // taken as its text
			}
			if got := describe(ld.DecodeLine()); got != want[i] {
				t.Fatalf("record %d: %s, want %s", i+1, got, want[i])
			}
		}
	})
}

// A caller may move on from a record without taking its text or decoding
// it. The last element of an array and a lone document have no text, so
// NextLine must find their end itself: it once went back to the element
// before and read on forever.
func TestSkippedRecordsEnd(t *testing.T) {
	for _, tc := range []struct {
		f    Format
		in   string
		want int
	}{
		{JSON, "[{\"a\":1}, {\"a\":2}, {\"a\":3}]\n", 3},
		{JSON, "[{\"a\":1}]", 1},
		{JSON, "{\"a\":1}\n", 1},
		{NDJSON, "{\"a\":1}\n{\"a\":2}\n", 2},
	} {
		d, err := NewDecoder(tc.f, strings.NewReader(tc.in), DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		ld := d.(LineDecoder)
		n := 0
		for ; n <= tc.want; n++ {
			if err := ld.NextLine(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s %q: %v", tc.f, tc.in, err)
			}
		}
		if n != tc.want {
			t.Errorf("%s %q: %d records, want %d", tc.f, tc.in, n, tc.want)
		}
	}
	// What follows a skipped last element is still checked.
	d, _ := NewDecoder(JSON, strings.NewReader(`[{"a":1}] x`), DefaultLimits)
	ld := d.(LineDecoder)
	if err := ld.NextLine(); err != nil {
		t.Fatal(err)
	}
	want := "1:11: unexpected data after the end of the document"
	if err := ld.NextLine(); err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
