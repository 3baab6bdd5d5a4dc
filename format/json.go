package format

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON is one JSON value per file: a list of records, or one record.
const JSON Format = "json"

func init() {
	Register(Codec{
		Name:       JSON,
		Order:      10,
		Extensions: []string{".json"},
		Sniff: func(lines [][]byte) int {
			if startsJSON(lines[0]) {
				return 40
			}
			return 0
		},
		NewDecoder:      newJSONDecoder,
		NewChunkDecoder: newJSONChunkDecoder,
		Split:           splitJSONArray,
		NewUnit:         jsonUnit,
		Frame:           Frame{Head: "[\n", Sep: ",\n", Tail: "\n]\n", Empty: "[]\n"},
		Holds:           Objects | Lists | Nulls | EmptyStrings,
		Layout:          []string{"indent", "pretty"},
		Weight:          WholeFileWeight,
	})
}

// appendJSONElement appends a record as an element of a file's list.
func appendJSONElement(dst []byte, v any) ([]byte, error) {
	dst = append(dst, "  "...)
	return appendJSON(dst, v, "  ", 1)
}

// jsonUnit appends records indented as the options say: two spaces a
// level by default, Indent spaces, or with Compact each record on one line.
func jsonUnit(opts EncodeOptions) (UnitFunc, func() []byte) {
	switch {
	case opts.Compact:
		return func(dst []byte, v any) ([]byte, error) { return appendJSON(dst, v, "", 0) }, nil
	case opts.Indent > 0:
		pad := strings.Repeat(" ", opts.Indent)
		return func(dst []byte, v any) ([]byte, error) { return appendJSON(append(dst, pad...), v, pad, 1) }, nil
	}
	return appendJSONElement, nil
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// checkEncoding strips a UTF-8 byte order mark and names the UTF-16 and
// UTF-32 ones, which zpipe does not read.
func checkEncoding(data []byte) ([]byte, error) {
	if bytes.HasPrefix(data, bom) {
		return data[len(bom):], nil
	}
	if bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) {
		return nil, &Error{Line: 1, Col: 1, Msg: "the input is UTF-16 or UTF-32 (it starts with a byte order mark); convert it to UTF-8"}
	}
	return data, nil
}

// jsonParser is a strict RFC 8259 parser that keeps key order and number
// literals, rejects duplicate keys and invalid UTF-8, and bounds nesting.
type jsonParser struct {
	data  []byte
	pos   int
	depth int
	lim   Limits
	// src, when set, holds the same bytes as data: strings and numbers
	// are cut from it without a copy each, one allocation per record
	// instead of one per value.
	src string
	// fields and values are scratch stacks for the objects and lists
	// being parsed, reused from record to record.
	fields []Field
	values []any
}

// cut returns data[a:b] as a string, from src when there is one.
func (p *jsonParser) cut(a, b int) string {
	if p.src != "" {
		return p.src[a:b]
	}
	return string(p.data[a:b])
}

// syntaxError is a parse failure at a byte offset; callers turn the offset
// into a line and column.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

func (p *jsonParser) fail(off int, format string, args ...any) error {
	return &syntaxError{off, fmt.Sprintf(format, args...)}
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// unexpected describes the byte at the cursor for an error message.
func (p *jsonParser) unexpected(want string) error {
	if p.pos >= len(p.data) {
		return p.fail(p.pos, "unexpected end of input, expected %s", want)
	}
	r, _ := utf8.DecodeRune(p.data[p.pos:])
	if r == utf8.RuneError {
		return p.fail(p.pos, "invalid UTF-8, expected %s", want)
	}
	return p.fail(p.pos, "unexpected %q, expected %s", r, want)
}

func (p *jsonParser) value() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, p.unexpected("a value")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.string()
	case c == '-' || isDigit(c):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, p.unexpected("a value")
}

func (p *jsonParser) literal(word string) error {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		return p.unexpected("a value")
	}
	p.pos += len(word)
	return nil
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > p.lim.MaxDepth {
		return p.fail(p.pos, "nesting deeper than %d levels", p.lim.MaxDepth)
	}
	return nil
}

// object parses an object. Its fields gather on the parser's shared stack
// and are copied out once, at their final size, so that a record costs
// one slice per object rather than a slice that grows.
func (p *jsonParser) object() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // {
	mark := len(p.fields)
	defer func() { p.fields = p.fields[:mark] }()
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return &Object{Fields: []Field{}}, nil
	}
	var seen map[string]int
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.unexpected("a string key")
		}
		keyOff := p.pos
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.unexpected("':' after the key")
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		own := p.fields[mark:]
		// A linear scan beats a map for the small objects most records are.
		if len(own) > 16 && seen == nil {
			seen = make(map[string]int, 32)
			for i, f := range own {
				seen[f.Key] = i
			}
		}
		at := -1
		if seen != nil {
			if i, ok := seen[key]; ok {
				at = i
			}
		} else {
			for i := range own {
				if own[i].Key == key {
					at = i
					break
				}
			}
		}
		switch {
		case at < 0:
			if seen != nil {
				seen[key] = len(own)
			}
			p.fields = append(p.fields, Field{key, v})
		case !Equal(own[at].Value, v):
			// As in CUE, a repeated key with the same value is harmless;
			// with another value one of them would be lost.
			return nil, p.fail(keyOff, "duplicate key %q with a different value", key)
		}
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			p.pos++
			p.depth--
			return &Object{Fields: append([]Field(nil), p.fields[mark:]...)}, nil
		}
		return nil, p.unexpected("',' or '}'")
	}
}

// array parses a list, its elements gathered on the parser's shared stack
// as object fields are.
func (p *jsonParser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // [
	mark := len(p.values)
	defer func() { p.values = p.values[:mark] }()
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return []any{}, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.values = append(p.values, v)
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			p.pos++
			p.depth--
			return append([]any(nil), p.values[mark:]...), nil
		}
		return nil, p.unexpected("',' or ']'")
	}
}

func (p *jsonParser) number() (any, error) {
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if !isDigit(c) && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			break
		}
		p.pos++
	}
	s := p.cut(start, p.pos)
	if !ValidNumber(s) {
		return nil, p.fail(start, "invalid number %q", s)
	}
	return Number(s), nil
}

func (p *jsonParser) string() (string, error) {
	start := p.pos
	p.pos++ // "
	// Fast path: no escapes, so the string is a plain copy of the bytes.
	i := p.pos
	for i < len(p.data) {
		c := p.data[i]
		if c == '"' {
			s := p.cut(p.pos, i)
			p.pos = i + 1
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(p.data[i:])
		if r == utf8.RuneError && n == 1 {
			return "", p.fail(i, "invalid UTF-8 in a string")
		}
		i += n
	}
	var b []byte
	b = append(b, p.data[p.pos:i]...)
	p.pos = i
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c < 0x20:
			return "", p.fail(p.pos, "control character %q in a string must be escaped", rune(c))
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			b = utf8.AppendRune(b, r)
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, n := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && n == 1 {
				return "", p.fail(p.pos, "invalid UTF-8 in a string")
			}
			b = append(b, p.data[p.pos:p.pos+n]...)
			p.pos += n
		}
	}
	return "", p.fail(start, "string is not terminated")
}

func (p *jsonParser) escape() (rune, error) {
	start := p.pos
	p.pos++ // backslash
	if p.pos >= len(p.data) {
		return 0, p.fail(start, "string is not terminated")
	}
	c := p.data[p.pos]
	p.pos++
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := p.hex4(start)
		if err != nil {
			return 0, err
		}
		if utf16.IsSurrogate(r) {
			// A surrogate is only valid as the first half of a pair.
			if r < 0xDC00 && bytes.HasPrefix(p.data[p.pos:], []byte(`\u`)) {
				p.pos += 2
				r2, err := p.hex4(start)
				if err != nil {
					return 0, err
				}
				if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
					return pair, nil
				}
			}
			return 0, p.fail(start, "invalid UTF-16 surrogate in \\u escape")
		}
		return r, nil
	}
	return 0, p.fail(start, "invalid escape %q in a string", "\\"+string(rune(c)))
}

func (p *jsonParser) hex4(start int) (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.fail(start, "invalid \\u escape")
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, p.fail(start, "invalid \\u escape")
	}
	p.pos += 4
	return rune(n), nil
}

// jsonLocate returns the offset of the value at path inside the JSON value
// that starts at start, by walking past the siblings on the way.
func jsonLocate(data []byte, start int, path []string, lim Limits) (int, bool) {
	p := &jsonParser{data: data, pos: start, lim: lim}
	for _, want := range path {
		p.skipSpace()
		if p.pos >= len(data) {
			return 0, false
		}
		switch data[p.pos] {
		case '{':
			p.pos++
			for {
				p.skipSpace()
				if p.pos >= len(data) || data[p.pos] != '"' {
					return 0, false
				}
				key, err := p.string()
				if err != nil {
					return 0, false
				}
				p.skipSpace()
				if p.pos >= len(data) || data[p.pos] != ':' {
					return 0, false
				}
				p.pos++
				if key == want {
					break
				}
				if _, err := p.value(); err != nil {
					return 0, false
				}
				p.skipSpace()
				if p.pos >= len(data) || data[p.pos] != ',' {
					return 0, false
				}
				p.pos++
			}
		case '[':
			n, err := strconv.Atoi(want)
			if err != nil || n < 0 {
				return 0, false
			}
			p.pos++
			for i := 0; i < n; i++ {
				if _, err := p.value(); err != nil {
					return 0, false
				}
				p.skipSpace()
				if p.pos >= len(data) || data[p.pos] != ',' {
					return 0, false
				}
				p.pos++
			}
			p.skipSpace()
			if p.pos >= len(data) || data[p.pos] == ']' {
				return 0, false // past the list's end
			}
		default:
			return 0, false
		}
	}
	p.skipSpace()
	return p.pos, true
}

// lineCol turns a byte offset into a 1-based line and byte column.
func lineCol(data []byte, off int) (int, int) {
	if off > len(data) {
		off = len(data)
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off + 1
	if i := bytes.LastIndexByte(data[:off], '\n'); i >= 0 {
		col = off - i
	}
	return line, col
}

// cursor turns byte offsets into lines and columns by counting on from
// the last offset asked for, so that the records of a large array, each a
// few bytes past the last, cost no count from the start of the file.
type cursor struct{ off, line, lineStart int }

func newCursor() cursor { return cursor{line: 1} }

func (c *cursor) at(data []byte, off int) (int, int) {
	off = min(off, len(data))
	if off < c.off {
		*c = newCursor()
	}
	seg := data[c.off:off]
	if n := bytes.Count(seg, []byte{'\n'}); n > 0 {
		c.line += n
		c.lineStart = c.off + bytes.LastIndexByte(seg, '\n') + 1
	}
	c.off = off
	return c.line, off - c.lineStart + 1
}

// jsonDecoder reads one JSON document: an array yields its elements as
// records, anything else is a single record.
type jsonDecoder struct {
	p      jsonParser
	cur    cursor
	inList bool
	// open is set for a chunk of an array (jsonsplit.go) that may end
	// after a comma, where its last record ends.
	open bool
	done bool
	n    int
	err  error
	// in is the rest of the input while an array streams through a
	// window, p.data; nil once it is all read.
	in   io.Reader
	scan elemScan
	// step is how much the next window reads: it doubles from firstFill
	// up to jsonWindow, so that a small file costs a small buffer.
	step int
	// elem is the text of the element NextLine found, when a comma
	// ends it at elemEnd; pending is set until it is decoded or moved
	// past. known is set when elemEnd holds the element's end, a comma
	// or the closing bracket: a bad element is then skipped.
	elem    []byte
	elemEnd int
	known   bool
	pending bool
	// scanned is where window found the element's end, or -1.
	scanned int
}

func newJSONDecoder(r io.Reader, lim Limits) (Decoder, error) {
	d := &jsonDecoder{p: jsonParser{lim: lim}, cur: newCursor(), in: r}
	// Enough to see the byte order mark and the first value's start.
	if err := d.fill(); err != nil {
		return nil, err
	}
	for d.in != nil && (len(d.p.data) < 4 || len(bytes.TrimLeft(d.p.data, " \t\r\n\xef\xbb\xbf")) == 0) {
		if err := d.fill(); err != nil {
			return nil, err
		}
	}
	data, err := checkEncoding(d.p.data)
	if err != nil {
		return nil, err
	}
	d.setData(data)
	if start := bytes.TrimLeft(data, " \t\r\n"); len(start) == 0 || start[0] != '[' || lim.Whole {
		// One value, read whole.
		if err := d.readAll(); err != nil {
			return nil, err
		}
	}
	d.p.skipSpace()
	if d.p.pos >= len(d.p.data) {
		// Unlike an ndjson or yaml stream, a json document must hold a value.
		line, col := lineCol(d.p.data, d.p.pos)
		d.err = &Error{Line: line, Col: col, Msg: "the file holds no JSON value"}
		return d, nil
	}
	if d.p.data[d.p.pos] == '[' && !lim.Whole {
		d.inList = true
		d.p.pos++
		d.p.depth = 1
		if err := d.skipSpace(); err != nil {
			return nil, err
		}
		if d.p.pos < len(d.p.data) && d.p.data[d.p.pos] == ']' {
			d.p.pos++
			d.done = true
			if err := d.end(); err != nil {
				return nil, d.wrap(err)
			}
		}
	}
	return d, nil
}

func (d *jsonDecoder) wrap(err error) error {
	if se, ok := err.(*syntaxError); ok {
		line, col := d.cur.at(d.p.data, se.off)
		return &Error{Line: line, Col: col, Record: d.n, Msg: se.msg}
	}
	return err
}

// end checks that nothing but white space follows the document.
func (d *jsonDecoder) end() error {
	// Window by window: what follows may be as large as the array.
	if err := d.skipSpace(); err != nil {
		return err
	}
	if d.p.pos < len(d.p.data) {
		return d.p.fail(d.p.pos, "unexpected data after the end of the document")
	}
	return nil
}

func (d *jsonDecoder) Next() (Record, error) {
	if err := d.NextLine(); err != nil {
		return Record{}, err
	}
	return d.DecodeLine()
}

// NextLine finds the next record, an element of a top-level array or the
// document, without decoding it; Line gives its text.
func (d *jsonDecoder) NextLine() error {
	if d.err != nil {
		return d.err
	}
	if d.pending && d.elem == nil {
		// A record without its text (the document, or an array's last
		// element) was skipped: only decoding it finds its end.
		if _, err := d.DecodeLine(); err != nil {
			return err
		}
	}
	if d.pending {
		// The last record was taken as its text: move past it.
		d.pending = false
		d.p.pos = d.elemEnd
		if err := d.after(); err != nil {
			d.err = d.wrap(err)
			return d.err
		}
	}
	if d.done {
		return io.EOF
	}
	d.scanned = -1
	if err := d.window(); err != nil {
		d.err = err
		return err
	}
	d.p.skipSpace()
	if d.open && d.p.pos >= len(d.p.data) {
		d.done = true
		return io.EOF
	}
	d.n++
	d.elem, d.known, d.pending = nil, false, true
	if d.inList {
		end := d.scanned
		if end < 0 {
			scan := elemScan{pos: d.p.pos}
			end = scan.end(d.p.data)
		}
		// An empty element (a comma too many) is no record to skip.
		if end > d.p.pos && (d.p.data[end] == ',' || d.p.data[end] == ']') {
			d.elemEnd, d.known = end, true
		}
		// Only an element a comma ends is handed over as its text:
		// what follows the last one may be an error that keeps it from
		// being a record at all.
		if d.known && d.p.data[end] == ',' {
			d.elem = bytes.TrimRight(d.p.data[d.p.pos:end], " \t\r\n")
		}
	}
	return nil
}

// LineDepth is one less than MaxDepth: an element is inside the array.
func (d *jsonDecoder) LineDepth() int { return d.p.lim.MaxDepth - 1 }

// Line is the text of the array element NextLine found, or nil when the
// record is the whole document.
func (d *jsonDecoder) Line() []byte { return d.elem }

// DecodeLine decodes the record NextLine found.
func (d *jsonDecoder) DecodeLine() (Record, error) {
	d.pending = false
	start := d.p.pos
	v, err := d.p.value()
	if err == nil && d.known {
		if d.p.skipSpace(); d.p.pos < d.elemEnd {
			err = d.p.unexpected("',' or ']'")
		}
	}
	if se, ok := err.(*syntaxError); ok && d.known {
		// The element's end is known, a comma or bracket at the
		// array's own level: the bad element is skipped, as a bad
		// ndjson line is, and the elements after it are read.
		line, col := d.cur.at(d.p.data, se.off)
		raw := bytes.TrimRight(d.p.data[start:d.elemEnd], " \t\r\n")
		bad := &Error{Line: line, Col: col, Record: d.n, Recoverable: true, Msg: se.msg, Raw: string(raw)}
		d.p.pos, d.p.depth = d.elemEnd, 1
		if err := d.after(); err != nil {
			d.err = d.wrap(err)
		}
		return Record{}, bad
	}
	if err != nil {
		d.err = d.wrap(err)
		return Record{}, d.err
	}
	// Before after, which may move the window on.
	line, col := d.cur.at(d.p.data, start)
	data, lim, cur := d.p.data, d.p.lim, d.cur
	if err := d.after(); err != nil {
		d.err = d.wrap(err)
		return Record{}, d.err
	}
	return Record{Value: v, Index: d.n, Line: line, Col: col, locate: func(path []string, lc *locateCache) (int, int, bool) {
		off, ok := lc.jsonLocate(data, start, path, lim)
		c := cur // counted on from the record's start, for each call
		l, col := c.at(data, off)
		return l, col, ok
	}}, nil
}

// after consumes what follows a record: a separator or the end of the list
// or document.
func (d *jsonDecoder) after() error {
	if !d.inList {
		d.done = true
		return d.end()
	}
	if err := d.skipSpace(); err != nil {
		return err
	}
	if d.p.pos < len(d.p.data) && d.p.data[d.p.pos] == ',' {
		d.p.pos++
		return nil
	}
	if d.p.pos < len(d.p.data) && d.p.data[d.p.pos] == ']' {
		d.p.pos++
		d.done = true
		return d.end()
	}
	return d.p.unexpected("',' or ']'")
}
