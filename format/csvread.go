package format

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// csvReader splits csv or tsv text into rows of cells, one row in memory at
// a time. It replaces encoding/csv, which turns CR LF inside a quoted cell
// into LF and refuses a " inside an unquoted cell (37°36'37.8"N): both
// change or refuse data that Python's csv module and spreadsheets read as
// written.
//
// A cell that starts with " is quoted: it runs to the next " that is not
// doubled, across line ends, and keeps every byte between, CR LF included.
// Any other cell runs to the delimiter or the line end, and a " in it is
// text. Rows end in LF or CR LF; a CR on its own is text, as in
// encoding/csv, and blank lines are skipped.
type csvReader struct {
	br    *bufio.Reader
	comma byte
	max   int // longest row, in bytes
	line  int // number of the line last read, from 1

	long   []byte // a line longer than br's buffer
	rowLen int    // bytes of the current row read so far

	// The row last read: its cells end to end, where each one ends, the
	// line and column of each cell's first byte, and which were quoted.
	cells  []byte
	ends   []int
	pos    []int
	quoted []bool
}

// csvSyntaxError is a row the reader cannot read. Unless it is fatal, the
// reader goes on at the line after it.
type csvSyntaxError struct {
	line, col int
	msg       string
	fatal     bool
}

func (e *csvSyntaxError) Error() string { return fmt.Sprintf("%d:%d: %s", e.line, e.col, e.msg) }

var errCSVRowTooLong = errors.New("csv row too long")

func newCSVReader(r io.Reader, comma byte, max int) *csvReader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(len(bom)); bytes.Equal(b, bom) {
		br.Discard(len(bom))
	}
	if max <= 0 {
		max = DefaultLimits.MaxLine
	}
	return &csvReader{br: br, comma: comma, max: max}
}

// readLine returns the next line with its line end, or the rest of the
// input when no LF is left, and (nil, io.EOF) at the end. The slice is
// valid until the next call.
func (r *csvReader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.long = append(r.long[:0], line...)
		for err == bufio.ErrBufferFull {
			// Checked as it grows, so that a runaway row fails before
			// it fills memory.
			if r.rowLen+len(r.long) > r.max {
				r.line++
				return nil, errCSVRowTooLong
			}
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(line) == 0 {
		return nil, io.EOF
	}
	r.line++
	if r.rowLen += len(line); r.rowLen > r.max {
		return nil, errCSVRowTooLong
	}
	return line, nil
}

// csvLineEnd reports whether b is only a line end, or nothing (the end of
// the input). A lone CR can only be left at the end of the input, where it
// is dropped as encoding/csv does.
func csvLineEnd(b []byte) bool {
	switch len(b) {
	case 0:
		return true
	case 1:
		return b[0] == '\n' || b[0] == '\r'
	case 2:
		return b[0] == '\r' && b[1] == '\n'
	}
	return false
}

// readRow reads the next row that is not blank into r.cells, r.ends,
// r.pos and r.quoted. It returns io.EOF after the last row.
func (r *csvReader) readRow() error {
	r.cells, r.ends, r.pos, r.quoted = r.cells[:0], r.ends[:0], r.pos[:0], r.quoted[:0]
	var line []byte
	for {
		r.rowLen = 0
		l, err := r.readLine()
		if err != nil {
			return r.lineError(err, r.line, 1, "")
		}
		if !csvLineEnd(l) {
			line = l
			break
		}
	}
	col := 0 // offset in line of the cell's first byte
	for {
		r.pos = append(r.pos, r.line, col+1)
		if col < len(line) && line[col] == '"' {
			qline, qcol := r.line, col+1
			col++
			for {
				i := bytes.IndexByte(line[col:], '"')
				if i < 0 {
					// The cell goes on past this line: its line end is
					// part of it, CR and all.
					r.cells = append(r.cells, line[col:]...)
					var err error
					if line, err = r.readLine(); err == io.EOF {
						return &csvSyntaxError{line: qline, col: qcol, msg: "quoted cell has no closing quote before the end of the input"}
					} else if err != nil {
						return r.lineError(err, r.pos[0], r.pos[1], fmt.Sprintf(" (is the quote at %d:%d not closed?)", qline, qcol))
					}
					col = 0
					continue
				}
				r.cells = append(r.cells, line[col:col+i]...)
				col += i + 1
				if col < len(line) && line[col] == '"' {
					r.cells = append(r.cells, '"')
					col++
					continue
				}
				break
			}
			r.ends = append(r.ends, len(r.cells))
			r.quoted = append(r.quoted, true)
			rest := line[col:]
			if len(rest) > 0 && rest[0] == r.comma {
				col++
				continue
			}
			if csvLineEnd(rest) {
				return nil
			}
			// Python's csv would keep the text after the quote and drop
			// the quote, reading "say "hi" now" as say hi" now": a writer
			// that forgot to double its quotes would lose them unseen. So
			// the row is refused, where the quote is, as encoding/csv did.
			_, n := utf8.DecodeRune(rest)
			return &csvSyntaxError{line: r.line, col: col,
				msg: fmt.Sprintf(`a " inside a quoted cell must be doubled (""); this one is followed by %q`, rest[:n])}
		}
		rest := line[col:]
		if i := bytes.IndexByte(rest, r.comma); i >= 0 {
			r.cells = append(r.cells, rest[:i]...)
			r.ends = append(r.ends, len(r.cells))
			r.quoted = append(r.quoted, false)
			col += i + 1
			continue
		}
		rest = bytes.TrimSuffix(rest, []byte{'\n'})
		rest = bytes.TrimSuffix(rest, []byte{'\r'})
		r.cells = append(r.cells, rest...)
		r.ends = append(r.ends, len(r.cells))
		r.quoted = append(r.quoted, false)
		return nil
	}
}

// lineError turns an error of readLine into what readRow returns, for the
// row that starts at line:col. A row over the limit is fatal: where it
// ends is unknown, so nothing after it can be trusted.
func (r *csvReader) lineError(err error, line, col int, hint string) error {
	if err != errCSVRowTooLong {
		return err
	}
	return &csvSyntaxError{line: line, col: col, msg: fmt.Sprintf("row is longer than the limit of %d bytes%s", r.max, hint), fatal: true}
}

// cellStrings returns the cells of the row last read, sharing one string.
func (r *csvReader) cellStrings() []string {
	s := string(r.cells)
	row := make([]string, len(r.ends))
	start := 0
	for i, end := range r.ends {
		row[i] = s[start:end]
		start = end
	}
	return row
}
