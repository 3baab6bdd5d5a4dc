package format_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/format"
)

// This file adds a format, "lines": one string record per line. It is the
// whole of the change, apart from naming it in cueschemas/manifest.cue, and
// it uses only exported names.

const lines format.Format = "lines"

func init() {
	format.Register(format.Codec{
		Name:       lines,
		Order:      70,
		Extensions: []string{".lines"},
		NewDecoder: func(r io.Reader, lim format.Limits) (format.Decoder, error) {
			return newLinesDecoder(r, 1, 1, lim), nil
		},
		NewChunkDecoder: func(r io.Reader, c format.Chunk, lim format.Limits) (format.Decoder, error) {
			return newLinesDecoder(r, c.Line, c.Record, lim), nil
		},
		NewUnit: func(format.EncodeOptions) (format.UnitFunc, func() []byte) {
			return appendLine, nil
		},
		Weight: format.StreamedWeight,
	})
}

type linesDecoder struct {
	s       *bufio.Scanner
	line, n int
}

func newLinesDecoder(r io.Reader, firstLine, firstRecord int, lim format.Limits) format.Decoder {
	s := bufio.NewScanner(r)
	s.Buffer(nil, lim.MaxLine+1)
	return &linesDecoder{s: s, line: firstLine - 1, n: firstRecord - 1}
}

func (d *linesDecoder) Next() (format.Record, error) {
	if !d.s.Scan() {
		if err := d.s.Err(); err != nil {
			return format.Record{}, err
		}
		return format.Record{}, io.EOF
	}
	d.line++
	d.n++
	return format.Record{Value: d.s.Text(), Index: d.n, Line: d.line, Col: 1}, nil
}

func appendLine(dst []byte, v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return dst, fmt.Errorf("lines records must be strings, not %T", v)
	}
	if strings.Contains(s, "\n") {
		return dst, fmt.Errorf("a lines record cannot hold a line break")
	}
	return append(append(dst, s...), '\n'), nil
}

func TestANewFormatIsOneFile(t *testing.T) {
	t.Run("its name is parsed and listed last, by its order", func(t *testing.T) {
		if f, err := format.Parse("lines"); err != nil || f != lines {
			t.Errorf("Parse = %q, %v", f, err)
		}
		if got, want := format.Names(), "json, ndjson, yaml, toml, csv, tsv, lines"; got != want {
			t.Errorf("Names = %q, want %q", got, want)
		}
	})
	t.Run("it is detected by its extension, in any case, and not by content", func(t *testing.T) {
		if f, ok := format.Detect("notes.LINES", nil); !ok || f != lines {
			t.Errorf("Detect by extension = %q, %v", f, ok)
		}
		if f, ok := format.Detect("notes", []byte("some words\nmore words\n")); ok {
			t.Errorf("Detect by content = %q, want nothing", f)
		}
	})
	t.Run("it decodes a record per line", func(t *testing.T) {
		recs, err := format.ReadAll(lines, strings.NewReader("a\nb c\n"))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"1:1 #1 a", "2:1 #2 b c"}
		if got := showRecords(recs); !reflect.DeepEqual(got, want) {
			t.Errorf("records = %q, want %q", got, want)
		}
	})
	t.Run("it is read in chunks of lines, each decoded with its numbers", func(t *testing.T) {
		if !lines.Chunked() {
			t.Fatal("lines is not Chunked")
		}
		chunks, err := format.Split(lines, strings.NewReader("a\nb\nc\nd\n"), 4)
		if err != nil || len(chunks) != 2 || chunks[1].Line != 3 || chunks[1].Record != 3 {
			t.Fatalf("Split = %+v, %v; want two chunks of two lines", chunks, err)
		}
		d, err := format.NewChunkDecoder(lines, strings.NewReader("x\n"), format.Chunk{Line: 5, Record: 3}, format.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := showRecords([]format.Record{rec}), []string{"5:1 #3 x"}; !reflect.DeepEqual(got, want) {
			t.Errorf("record = %q, want %q", got, want)
		}
	})
	t.Run("it encodes and refuses what it cannot hold", func(t *testing.T) {
		var b bytes.Buffer
		e, err := format.NewEncoder(lines, &b, format.EncodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.Encode("a")
		for v, want := range map[any]string{
			&format.Object{}: "lines records must be strings, not *format.Object",
			"b\nc":           "a lines record cannot hold a line break",
		} {
			if err := e.Encode(v); err == nil || err.Error() != want {
				t.Errorf("Encode(%#v) = %v, want %q", v, err, want)
			}
		}
		e.Encode("b")
		e.Close()
		if got, want := b.String(), "a\nb\n"; got != want {
			t.Errorf("wrote %q, want %q", got, want)
		}
		if h := format.HeaderLine(lines, []string{"a"}); h != nil {
			t.Errorf("HeaderLine = %q, want nil", h)
		}
	})
	t.Run("its parts join", func(t *testing.T) {
		var b bytes.Buffer
		if err := format.Join(lines, &b, strings.NewReader("a\n"), strings.NewReader(""), strings.NewReader("b\n")); err != nil {
			t.Fatal(err)
		}
		if got, want := b.String(), "a\nb\n"; got != want {
			t.Errorf("joined %q, want %q", got, want)
		}
	})
}

func showRecords(recs []format.Record) []string {
	var s []string
	for _, r := range recs {
		s = append(s, fmt.Sprintf("%d:%d #%d %v", r.Line, r.Col, r.Index, r.Value))
	}
	return s
}

func TestWeight(t *testing.T) {
	const n = 10 << 20
	tests := []struct {
		f    format.Format
		want int64
	}{
		{format.JSON, 3*n + 1},
		{format.NDJSON, 1<<20 + 1},
		{format.YAML, 3*n + 1},
		{format.TOML, 3*n + 1},
		{format.CSV, 1<<20 + 1},
		{format.TSV, 1<<20 + 1},
		{lines, 1<<20 + 1},
		{"xml", 3*n + 1},
	}
	for _, tt := range tests {
		if got := format.Weight(tt.f, n); got != tt.want {
			t.Errorf("Weight(%s, %d) = %d, want %d", tt.f, n, got, tt.want)
		}
	}
	if got := format.Weight(format.NDJSON, 10); got != 11 {
		t.Errorf("Weight(ndjson, 10) = %d, want 11", got)
	}
}

func TestHolds(t *testing.T) {
	// csv writes null and "" as an empty cell, which reads back as an
	// absent field: it holds neither.
	tests := []struct {
		f                            format.Format
		objects, lists, nulls, empty bool
	}{
		{format.JSON, true, true, true, true},
		{format.NDJSON, true, true, true, true},
		{format.YAML, true, true, true, true},
		{format.TOML, true, true, false, true},
		{format.CSV, false, false, false, true},
		{format.TSV, false, false, false, true},
		{lines, false, false, false, false},
		{"xml", false, false, false, false},
	}
	for _, tt := range tests {
		got := []bool{tt.f.Holds(format.Objects), tt.f.Holds(format.Lists), tt.f.Holds(format.Nulls), tt.f.Holds(format.EmptyStrings)}
		if want := []bool{tt.objects, tt.lists, tt.nulls, tt.empty}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s holds objects, lists, nulls, empty strings: %v, want %v", tt.f, got, want)
		}
	}
}
