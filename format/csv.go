package format

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// csvDecoder reads a header row, then one record per row. Cells stay
// strings: the schema, not a guess, decides what type each column has.
type csvDecoder struct {
	r      *csv.Reader
	header []string
	n      int
	err    error
}

func newCSVDecoder(r io.Reader, comma rune, lim Limits) Decoder {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(3); bytes.Equal(b, bom) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.Comma = comma
	cr.ReuseRecord = true
	return &csvDecoder{r: cr}
}

func (d *csvDecoder) parseError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			msg = fmt.Sprintf("row has %d cells, but the header has %d", d.cells(), len(d.header))
		}
		return &Error{Line: pe.Line, Col: pe.Column, Record: d.n, Msg: msg, Recoverable: true}
	}
	return err
}

func (d *csvDecoder) cells() int {
	n := 0
	for {
		if _, _, ok := d.fieldPos(n); !ok {
			return n
		}
		n++
	}
}

// fieldPos wraps csv.Reader.FieldPos, which panics past the last field.
func (d *csvDecoder) fieldPos(i int) (line, col int, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	line, col = d.r.FieldPos(i)
	return line, col, true
}

func (d *csvDecoder) readHeader() error {
	row, err := d.r.Read()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return &Error{Line: pe.Line, Col: pe.Column, Msg: "header row: " + pe.Err.Error()}
		}
		return err
	}
	seen := map[string]bool{}
	for i, name := range row {
		line, col, _ := d.fieldPos(i)
		switch {
		case !utf8.ValidString(name):
			return &Error{Line: line, Col: col, Msg: "invalid UTF-8 in the header row"}
		case name == "":
			return &Error{Line: line, Col: col, Msg: fmt.Sprintf("header cell %d is empty; every column needs a name", i+1)}
		case seen[name]:
			return &Error{Line: line, Col: col, Msg: fmt.Sprintf("duplicate column %q in the header row", name)}
		}
		seen[name] = true
	}
	d.header = append([]string(nil), row...)
	return nil
}

func (d *csvDecoder) Next() (Record, error) {
	if d.err != nil {
		return Record{}, d.err
	}
	if d.header == nil {
		if err := d.readHeader(); err != nil {
			d.err = err
			return Record{}, err
		}
	}
	row, err := d.r.Read()
	if err == io.EOF {
		d.err = io.EOF
		return Record{}, io.EOF
	}
	d.n++
	if err != nil {
		return Record{}, d.parseError(err)
	}
	obj := &Object{Fields: make([]Field, len(row))}
	pos := make([]int, 2*len(row))
	for i, cell := range row {
		pos[2*i], pos[2*i+1], _ = d.fieldPos(i)
		if !utf8.ValidString(cell) {
			return Record{}, &Error{Line: pos[2*i], Col: pos[2*i+1], Record: d.n, Recoverable: true, Msg: "invalid UTF-8 in a cell"}
		}
		obj.Fields[i] = Field{d.header[i], cell}
	}
	header := d.header
	return Record{Value: obj, Index: d.n, Line: pos[0], Col: 1, Untyped: true, locate: func(path []string) (int, int, bool) {
		if len(path) == 0 {
			return 0, 0, false
		}
		for i, name := range header {
			if name == path[0] {
				return pos[2*i], pos[2*i+1], true
			}
		}
		return 0, 0, false
	}}, nil
}

// csvEncoder writes a header row, then a row per record. Nested values have
// no cell to go in, so they are an error that names the field.
type csvEncoder struct {
	columns []string
	buf     bytes.Buffer
	w       *csv.Writer
	row     []string
}

// headerLine returns the header row; the columns are known once a record
// has been encoded.
func (e *csvEncoder) headerLine() []byte {
	e.buf.Reset()
	e.w.Write(e.columns)
	e.w.Flush()
	return bytes.Clone(e.buf.Bytes())
}

func newCSVEncoder(f Format, columns []string) *csvEncoder {
	e := &csvEncoder{columns: columns}
	e.w = csv.NewWriter(&e.buf)
	if f == TSV {
		e.w.Comma = '\t'
	}
	return e
}

func (e *csvEncoder) unit(dst []byte, v any) ([]byte, error) {
	obj, ok := v.(*Object)
	if !ok {
		return dst, fmt.Errorf("csv records must be objects, not %s", kindOf(v))
	}
	e.buf.Reset()
	if e.row == nil {
		if e.columns == nil {
			for _, f := range obj.Fields {
				e.columns = append(e.columns, f.Key)
			}
		}
		e.row = make([]string, len(e.columns))
	}
	for i := range e.row {
		e.row[i] = ""
	}
	for _, f := range obj.Fields {
		i := indexOf(e.columns, f.Key)
		if i < 0 {
			return dst, fmt.Errorf("field %q is not one of the csv columns (%s)", f.Key, joinQuoted(e.columns))
		}
		cell, err := cellText(f.Value)
		if err != nil {
			return dst, fmt.Errorf("field %q: %w", f.Key, err)
		}
		e.row[i] = cell
	}
	if len(e.row) == 1 && e.row[0] == "" {
		// encoding/csv writes a lone empty cell as an empty line, which
		// readers skip; quoting keeps the record.
		return append(dst, "\"\"\n"...), nil
	}
	e.w.Write(e.row)
	e.w.Flush()
	if err := e.w.Error(); err != nil {
		return dst, err
	}
	return append(dst, e.buf.Bytes()...), nil
}

func cellText(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case Number:
		return string(v), nil
	case bool:
		if v {
			return "true", nil
		}
		return "false", nil
	}
	return "", fmt.Errorf("csv cannot hold a nested %s", kindOf(v))
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	case Number:
		return "number"
	case []any:
		return "list"
	case *Object:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func joinQuoted(list []string) string {
	var b bytes.Buffer
	for i, s := range list {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	return b.String()
}
