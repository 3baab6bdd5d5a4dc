package format

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// NDJSON is one JSON value per line.
const NDJSON Format = "ndjson"

func init() {
	Register(Codec{
		Name:       NDJSON,
		Order:      20,
		Extensions: []string{".ndjson", ".jsonl", ".ldjson"},
		Sniff: func(lines [][]byte) int {
			// Two lines that each hold a whole value make ndjson; a
			// value that spans lines is one json document.
			if len(lines) > 1 && startsJSON(lines[0]) && completeJSON(lines[0]) {
				return 60
			}
			return 0
		},
		NewDecoder: func(r io.Reader, lim Limits) (Decoder, error) { return newNDJSONDecoder(r, lim), nil },
		NewChunkDecoder: func(r io.Reader, c Chunk, lim Limits) (Decoder, error) {
			return NewNDJSONChunkDecoder(r, c.Line, c.Record, lim), nil
		},
		NewUnit: fixedUnit(appendNDJSONLine),
		Holds:   Objects | Lists | Nulls | EmptyStrings,
		Weight:  StreamedWeight,
	})
}

func appendNDJSONLine(dst []byte, v any) ([]byte, error) {
	dst, err := appendJSON(dst, v, "", 0)
	return append(dst, '\n'), err
}

// lineReader reads lines of any length up to a limit without holding more
// than one line in memory.
type lineReader struct {
	r    *bufio.Reader
	max  int
	line int // number of the line last read, from 1
	buf  []byte
}

func newLineReader(r io.Reader, firstLine, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max, line: firstLine - 1}
}

// errLongLine is returned with the line number when a line exceeds the limit;
// the rest of that line has been skipped.
var errLongLine = errors.New("line too long")

// next returns the next line without its line ending. The slice is valid
// until the following call.
func (lr *lineReader) next() ([]byte, error) {
	lr.buf = lr.buf[:0]
	tooLong := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if !tooLong {
			if len(lr.buf)+len(chunk) > lr.max+1 {
				tooLong = true
				lr.buf = lr.buf[:0]
			} else {
				lr.buf = append(lr.buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(chunk) == 0 && len(lr.buf) == 0 && !tooLong {
			return nil, io.EOF
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		lr.line++
		if tooLong {
			return nil, errLongLine
		}
		b := bytes.TrimSuffix(lr.buf, []byte{'\n'})
		return bytes.TrimSuffix(b, []byte{'\r'}), nil
	}
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// ndjsonDecoder reads one JSON value per line. A bad line is reported and
// skipped, so one typo does not hide the records after it.
type ndjsonDecoder struct {
	lr  *lineReader
	lim Limits
	n   int
	p   jsonParser // reused, so its scratch stacks are too
	cur []byte     // the line NextLine read
}

func newNDJSONDecoder(r io.Reader, lim Limits) Decoder {
	return NewNDJSONChunkDecoder(r, 1, 1, lim)
}

// NewNDJSONChunkDecoder reads ndjson that starts at line firstLine and
// record firstRecord of a larger file, as a Chunk from SplitLines does.
func NewNDJSONChunkDecoder(r io.Reader, firstLine, firstRecord int, lim Limits) Decoder {
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	return &ndjsonDecoder{lr: newLineReader(r, firstLine, lim.MaxLine), lim: lim, n: firstRecord - 1}
}

func (d *ndjsonDecoder) Next() (Record, error) {
	if err := d.NextLine(); err != nil {
		return Record{}, err
	}
	return d.DecodeLine()
}

// NextLine reads the next record's line without decoding it: Line gives
// it, DecodeLine decodes it.
func (d *ndjsonDecoder) NextLine() error {
	for {
		b, err := d.lr.next()
		if err == errLongLine {
			d.n++
			return &Error{Line: d.lr.line, Col: 1, Record: d.n, Recoverable: true,
				Msg: fmt.Sprintf("line is longer than the limit of %d bytes", d.lim.MaxLine)}
		}
		if err != nil {
			return err
		}
		if d.lr.line == 1 {
			b = bytes.TrimPrefix(b, bom)
		}
		if isBlank(b) {
			continue
		}
		d.n++
		d.cur = b
		return nil
	}
}

// LineDepth is the decoder's MaxDepth: a line is a whole document.
func (d *ndjsonDecoder) LineDepth() int { return d.lim.MaxDepth }

// Line is the line NextLine read, valid until the next call to it.
func (d *ndjsonDecoder) Line() []byte { return d.cur }

// DecodeLine decodes the line NextLine read, as Next does.
func (d *ndjsonDecoder) DecodeLine() (Record, error) {
	b := d.cur
	src := string(b)
	p := &d.p
	p.data, p.src, p.pos, p.depth, p.lim = b, src, 0, 0, d.lim
	v, err := p.value()
	if err == nil {
		p.skipSpace()
		if p.pos < len(b) {
			err = p.fail(p.pos, "unexpected data after the value; ndjson holds one value per line")
		}
	}
	if err != nil {
		se := err.(*syntaxError)
		return Record{}, &Error{Line: d.lr.line, Col: se.off + 1, Record: d.n, Recoverable: true, Msg: se.msg, Raw: src}
	}
	line, lim := d.lr.line, d.lim
	return Record{Value: v, Index: d.n, Line: line, Col: 1, locate: func(path []string, lc *locateCache) (int, int, bool) {
		off, ok := lc.jsonLocateText(src, path, lim)
		return line, off + 1, ok
	}}, nil
}

// Chunk is a piece of a file that holds whole records: a run of lines of
// a line-oriented file, or a run of elements of a json array.
type Chunk struct {
	Offset, Size int64
	// Line and Record are the numbers of the chunk's first line and record.
	Line, Record int
	// Col is the column of the chunk's first byte, for a chunk that may
	// start within a line (json); 0 is the same as 1.
	Col int `json:",omitempty"`
	// Records counts the records in the chunk.
	Records int
}

// SplitLines cuts r into chunks of about size bytes at line boundaries, so
// that one large file can be worked on in parallel and resumed in pieces.
func SplitLines(r io.Reader, size int64) ([]Chunk, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var chunks []Chunk
	cur := Chunk{Line: 1, Record: 1}
	var off int64
	line, rec := 1, 1
	blank := true
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 && !isBlank(bytes.TrimSuffix(b, []byte{'\n'})) {
			blank = false
		}
		off += int64(len(b))
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(b) > 0 || err == nil {
			if !blank {
				rec++
				cur.Records++
			}
			line++
			blank = true
			if off-cur.Offset >= size {
				cur.Size = off - cur.Offset
				chunks = append(chunks, cur)
				cur = Chunk{Offset: off, Line: line, Record: rec}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if off > cur.Offset || len(chunks) == 0 {
		cur.Size = off - cur.Offset
		chunks = append(chunks, cur)
	}
	return chunks, nil
}
