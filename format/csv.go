package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CSV is comma-separated values: a header row, then a record per row.
const CSV Format = "csv"

// TSV is CSV with tabs between the cells.
const TSV Format = "tsv"

func init() {
	Register(csvCodec(CSV, ',', 50, 1, ".csv"))
	Register(csvCodec(TSV, '\t', 60, 2, ".tsv", ".tab"))
}

// csvCodec is the codec of csv or tsv. The content is csv or tsv when the
// first line holds the delimiter: tsv scores higher, since a tab is the
// rarer of the two inside a cell.
func csvCodec(name Format, comma byte, order, score int, exts ...string) Codec {
	return Codec{
		Name:       name,
		Order:      order,
		Extensions: exts,
		Sniff: func(lines [][]byte) int {
			if bytes.IndexByte(lines[0], comma) >= 0 {
				return score
			}
			return 0
		},
		NewDecoder: func(r io.Reader, lim Limits) (Decoder, error) { return newCSVDecoder(r, comma, lim), nil },
		NewUnit: func(opts EncodeOptions) (UnitFunc, func() []byte) {
			e := newCSVEncoder(comma, opts.Columns)
			return e.unit, e.headerLine
		},
		Frame: Frame{Header: true},
		// "" is written quoted, and reads back as itself; null and an
		// absent field are both an empty cell, which a schema reads as
		// absent, so null is not held.
		Holds:  EmptyStrings,
		Weight: StreamedWeight,
	}
}

// csvDecoder reads a header row, then one record per row. Cells stay
// strings: the schema, not a guess, decides what type each column has.
// An empty cell is no value (null), and a quoted one ("") the empty
// string, as PostgreSQL's and DuckDB's csv have it, so that a field that
// is "" and one that is absent both come back as they were written.
type csvDecoder struct {
	r      *csvReader
	header []string
	n      int
	err    error
}

func newCSVDecoder(r io.Reader, comma byte, lim Limits) Decoder {
	return &csvDecoder{r: newCSVReader(r, comma, lim.MaxLine)}
}

func (d *csvDecoder) readHeader() error {
	err := d.r.readRow()
	if err == io.EOF {
		return io.EOF
	}
	var se *csvSyntaxError
	if errors.As(err, &se) {
		return &Error{Line: se.line, Col: se.col, Msg: "header row: " + se.msg}
	}
	if err != nil {
		return err
	}
	row := d.r.cellStrings()
	seen := make(map[string]bool, len(row))
	for i, name := range row {
		line, col := d.r.pos[2*i], d.r.pos[2*i+1]
		switch {
		case !utf8.ValidString(name):
			return &Error{Line: line, Col: col, Msg: "invalid UTF-8 in the header row"}
		case name == "":
			return &Error{Line: line, Col: col, Msg: fmt.Sprintf("header cell %d is empty; every column needs a name", i+1)}
		case seen[name]:
			return &Error{Line: line, Col: col, Msg: fmt.Sprintf("duplicate column %q in the header row", name)}
		}
		// Rows that end in a lone CR (old Mac files) would all read as
		// one header row and give no records, without a word.
		if cr := strings.IndexByte(name, '\r'); cr >= 0 && !d.r.quoted[i] {
			return &Error{Line: line, Col: col + cr, Msg: "header row: a line ends in CR alone; csv rows must end in LF or CR LF"}
		}
		seen[name] = true
	}
	d.header = row
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
	err := d.r.readRow()
	if err == io.EOF {
		d.err = io.EOF
		return Record{}, io.EOF
	}
	d.n++
	if err != nil {
		return Record{}, d.rowError(err)
	}
	r := d.r
	if len(r.ends) != len(d.header) {
		return Record{}, &Error{Line: r.pos[0], Col: 1, Record: d.n, Recoverable: true,
			Msg: fmt.Sprintf("row has %d cells, but the header has %d", len(r.ends), len(d.header))}
	}
	// One string for the whole row, which the cells share. It is checked
	// as a whole, so a character may not straddle two cells.
	s := string(r.cells)
	valid := utf8.ValidString(s)
	for _, end := range r.ends {
		if end < len(s) && !utf8.RuneStart(s[end]) {
			valid = false
		}
	}
	if !valid {
		for i, cell := range r.cellStrings() {
			if !utf8.ValidString(cell) {
				return Record{}, &Error{Line: r.pos[2*i], Col: r.pos[2*i+1], Record: d.n, Recoverable: true, Msg: "invalid UTF-8 in a cell"}
			}
		}
	}
	obj := &Object{Fields: make([]Field, len(r.ends))}
	start := 0
	for i, end := range r.ends {
		obj.Fields[i] = Field{d.header[i], s[start:end]}
		if start == end && !r.quoted[i] {
			obj.Fields[i].Value = nil // no value, where "" is the empty string
		}
		start = end
	}
	pos := slices.Clone(r.pos)
	header := d.header
	return Record{Value: obj, Index: d.n, Line: pos[0], Col: 1, Untyped: true, locate: func(path []string, _ *locateCache) (int, int, bool) {
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

// rowError reports a row the reader could not read. Only a syntax error
// inside a row lets the decoder go on; any other stops it.
func (d *csvDecoder) rowError(err error) error {
	var se *csvSyntaxError
	if errors.As(err, &se) {
		err = &Error{Line: se.line, Col: se.col, Record: d.n, Msg: se.msg, Recoverable: !se.fatal}
		if !se.fatal {
			return err
		}
	}
	d.err = err
	return err
}

// csvEncoder writes a header row, then a row per record. Nested values have
// no cell to go in, so they are an error that names the field.
type csvEncoder struct {
	comma   byte
	columns []string
	row     []string
	// empty marks the cells that hold "", which are written quoted: an
	// unquoted empty cell is null or no field at all.
	empty []bool
}

// name is the format's name, for messages.
func (e *csvEncoder) name() string {
	if e.comma == '\t' {
		return "tsv"
	}
	return "csv"
}

// headerLine returns the header row; the columns are known once a record
// has been encoded.
func (e *csvEncoder) headerLine() []byte {
	line := e.appendRow(nil, e.columns, nil)
	if bytes.HasPrefix(line, bom) {
		// Readers drop a byte order mark at the start of a file, so a
		// first column whose name starts with one is quoted to keep it.
		// Unquoted, the name holds no quote, delimiter or line end.
		end := bytes.IndexAny(line, string(e.comma)+"\r\n")
		line = slices.Concat([]byte{'"'}, line[:end], []byte{'"'}, line[end:])
	}
	return line
}

func newCSVEncoder(comma byte, columns []string) *csvEncoder {
	return &csvEncoder{comma: comma, columns: columns}
}

func (e *csvEncoder) unit(dst []byte, v any) ([]byte, error) {
	obj, ok := v.(*Object)
	if !ok {
		return dst, fmt.Errorf("csv records must be objects, not %s", kindOf(v))
	}
	if e.row == nil {
		if e.columns == nil {
			for _, f := range obj.Fields {
				e.columns = append(e.columns, f.Key)
			}
		}
		e.row = make([]string, len(e.columns))
		e.empty = make([]bool, len(e.columns))
	}
	clear(e.row)
	clear(e.empty)
	for _, f := range obj.Fields {
		i := indexOf(e.columns, f.Key)
		if i < 0 {
			return dst, fmt.Errorf("field %q is not one of the %s columns (%s)", f.Key, e.name(), joinQuoted(e.columns))
		}
		cell, err := cellText(f.Value)
		if err != nil {
			return dst, fmt.Errorf("field %q: %w", f.Key, err)
		}
		e.row[i] = cell
		e.empty[i] = f.Value == ""
	}
	if len(e.row) == 1 && e.row[0] == "" {
		// A lone empty cell would be an empty line, which readers skip;
		// quoting keeps the record.
		e.empty[0] = true
	}
	return e.appendRow(dst, e.row, e.empty), nil
}

// appendRow appends cells as one row, quoting a cell where encoding/csv
// would (it holds the delimiter, a quote or a line end, or starts with a
// space) and where quoted[i] is set.
func (e *csvEncoder) appendRow(dst []byte, cells []string, quoted []bool) []byte {
	for i, cell := range cells {
		if i > 0 {
			dst = append(dst, e.comma)
		}
		if (quoted == nil || !quoted[i]) && !e.needsQuotes(cell) {
			dst = append(dst, cell...)
			continue
		}
		dst = append(dst, '"')
		for j := 0; j < len(cell); j++ {
			if cell[j] == '"' {
				dst = append(dst, '"')
			}
			dst = append(dst, cell[j])
		}
		dst = append(dst, '"')
	}
	return append(dst, '\n')
}

func (e *csvEncoder) needsQuotes(cell string) bool {
	if cell == "" {
		return false
	}
	if cell == `\.` {
		return true // PostgreSQL's end of data, as encoding/csv quotes it
	}
	for j := 0; j < len(cell); j++ {
		if c := cell[j]; c == '\n' || c == '\r' || c == '"' || c == e.comma {
			return true
		}
	}
	r, _ := utf8.DecodeRuneInString(cell)
	return unicode.IsSpace(r)
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
