package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// TOML is one TOML document, whose array of tables holds the records.
const TOML Format = "toml"

func init() {
	Register(Codec{
		Name:       TOML,
		Order:      40,
		Extensions: []string{".toml"},
		Sniff: func(lines [][]byte) int {
			first := lines[0]
			switch {
			case tomlTable.Match(first) && !completeJSON(first):
				return 50
			case tomlKey.Match(first):
				return 20
			}
			return 0
		},
		NewDecoder: newTOMLDecoder,
		NewUnit:    fixedUnit(appendTOML),
		Frame:      Frame{Sep: "\n"},
		Holds:      Objects | Lists | EmptyStrings,
		Weight:     WholeFileWeight,
	})
}

var (
	tomlTable = regexp.MustCompile(`^\[\[?\s*[A-Za-z0-9_."' -]+\s*\]\]?\s*(#.*)?$`)
	tomlKey   = regexp.MustCompile(`^[A-Za-z0-9_."'-]+(\s*\.\s*[A-Za-z0-9_"'-]+)*\s*=`)
)

// tomlDecoder yields the records of one TOML document. A document that is
// [[records]] tables alone is read a table at a time: each table is the
// whole of one record, and building every record up front held some 20
// times the file. Any other document is decoded up front: a table may be
// reopened anywhere in the file, so no record is complete before the end.
type tomlDecoder struct {
	recs []Record
	next int
	err  error
	// data is a document of [[records]] tables; sections holds where
	// each table's first line is.
	data     []byte
	sections []tomlSection
	lim      Limits
	// batch holds tables decoded ahead, on every core, in order.
	batch []tomlParsed
}

type tomlParsed struct {
	rec Record
	err error
}

// tomlBatch is how many tables are decoded together, one core each.
const tomlBatch = 256

func newTOMLDecoder(r io.Reader, lim Limits) (Decoder, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	d := &tomlDecoder{lim: lim}
	if text := bytes.TrimPrefix(data, []byte("\uFEFF")); utf8.Valid(text) {
		if sections, ok := tomlSections(text); ok {
			d.data, d.sections = text, sections
			return d, nil
		}
	}
	d.recs, d.err = decodeTOML(data, lim, 0)
	return d, nil
}

// Next returns the records in order; a decoding error of the document is
// returned by the first call and every call after it, and that of one of
// its [[records]] tables by the call for that record alone.
func (d *tomlDecoder) Next() (Record, error) {
	if d.err != nil {
		return Record{}, d.err
	}
	if d.sections != nil {
		if len(d.batch) == 0 {
			if d.next >= len(d.sections) {
				return Record{}, io.EOF
			}
			d.decodeBatch()
		}
		p := d.batch[0]
		d.batch = d.batch[1:]
		return p.rec, p.err
	}
	if d.next >= len(d.recs) {
		return Record{}, io.EOF
	}
	d.next++
	return d.recs[d.next-1], nil
}

// tomlSection is where a [[records]] table starts: the offset and number
// of the line of its header.
type tomlSection struct{ off, line int }

// tomlSections returns where each [[records]] table of a document that
// holds nothing but those tables and their subtables starts; false for
// any other document, or one go-toml's parser refuses.
func tomlSections(data []byte) (starts []tomlSection, ok bool) {
	defer func() {
		if recover() != nil {
			starts, ok = nil, false
		}
	}()
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.KeyValue:
			if len(starts) == 0 {
				return nil, false // a key of the document itself
			}
		case unstable.Table, unstable.ArrayTable:
			keys := tomlKeyNodes(e)
			switch {
			case string(keys[0].Data) != "records":
				return nil, false
			case len(keys) == 1 && e.Kind == unstable.Table:
				return nil, false // [records]: one table, not a list
			case len(keys) == 1:
				off := bytes.LastIndexByte(data[:int(keys[0].Raw.Offset)], '\n') + 1
				line, from := 1, 0
				if n := len(starts); n > 0 {
					line, from = starts[n-1].line, starts[n-1].off
				}
				line += bytes.Count(data[from:off], []byte{'\n'})
				starts = append(starts, tomlSection{off, line})
			case len(starts) == 0:
				return nil, false // [records.x] before any [[records]]
			}
		}
	}
	if p.Error() != nil || len(starts) == 0 {
		return nil, false
	}
	return starts, true
}

// decodeBatch decodes the next tables on as many cores as there are.
func (d *tomlDecoder) decodeBatch() {
	first := d.next
	n := min(len(d.sections)-first, tomlBatch)
	d.next += n
	d.batch = make([]tomlParsed, n)
	onEveryCore(n, func(i int) {
		rec, err := d.section(first + i)
		d.batch[i] = tomlParsed{rec, err}
	})
}

// section decodes the i-th [[records]] table alone, with the positions of
// the document. Its error is the record's: the records after it are read.
func (d *tomlDecoder) section(i int) (Record, error) {
	start, end := d.sections[i].off, len(d.data)
	if i+1 < len(d.sections) {
		end = d.sections[i+1].off
	}
	text := d.data[start:end]
	shift := d.sections[i].line - 1
	recs, err := decodeTOML(text, d.lim, 2)
	if err == nil && len(recs) != 1 {
		err = &Error{Line: 1, Col: 1, Msg: "a [[records]] table that is not one record"}
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Msg: err.Error()}
		}
		bad := *e
		if bad.Line > 0 {
			bad.Line += shift
		}
		bad.Record, bad.Recoverable, bad.Raw = i+1, true, string(text)
		return Record{}, &bad
	}
	rec := recs[0]
	rec.Index, rec.Line = i+1, rec.Line+shift
	if inner := rec.locate; inner != nil {
		rec.locate = func(path []string, c *locateCache) (int, int, bool) {
			line, col, ok := inner(path, c)
			return line + shift, col, ok
		}
	}
	return rec, nil
}

// decodeTOML validates data with go-toml, then builds the ordered value
// from go-toml's parser and splits it into records. wrapping is the levels
// around each record that are not its own nesting: 2 for a [[records]]
// table (its key and index), so that a record as deep as json allows
// reads back from the toml it is written as.
func decodeTOML(data []byte, lim Limits, wrapping int) (recs []Record, err error) {
	// go-toml is third-party code fed hostile input: a panic in it must
	// become an error, not a crash of the whole pipeline.
	defer func() {
		if p := recover(); p != nil {
			recs, err = nil, &Error{Msg: fmt.Sprintf("toml parser failed: %v", p)}
		}
	}()
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	lines := tomlLineStarts(data)
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			off += n
		}
		line, col := lines.at(off)
		return nil, &Error{Line: line, Col: col, Msg: "invalid UTF-8"}
	}
	// go-toml's own decoder enforces what the parser alone does not:
	// duplicate keys, redefined tables, valid dates and 64-bit integers.
	var check map[string]any
	if err := toml.Unmarshal(data, &check); err != nil {
		return nil, tomlError(err, nil)
	}
	b := &tomlBuilder{data: data, lim: lim, wrapping: wrapping, pos: map[string]int{}}
	root, err := b.build()
	if err != nil {
		return nil, tomlError(err, lines)
	}
	locate := func(prefix []string) func([]string, *locateCache) (int, int, bool) {
		return func(path []string, _ *locateCache) (int, int, bool) {
			full := append(prefix[:len(prefix):len(prefix)], path...)
			off, ok := b.pos[tomlPathKey(full)]
			if !ok {
				return 0, 0, false
			}
			line, col := lines.at(off)
			return line, col, true
		}
	}
	if list, ok := tomlRecordList(root); ok {
		// The shape the encoder writes: [[records]] tables, one record each.
		for i, v := range list {
			prefix := []string{"records", strconv.Itoa(i)}
			line, col := lines.at(b.pos[tomlPathKey(prefix)])
			recs = append(recs, Record{Value: v, Index: i + 1, Line: line, Col: col, locate: locate(prefix)})
		}
		return recs, nil
	}
	if len(root.Fields) == 0 {
		return nil, nil
	}
	return []Record{{Value: root, Index: 1, Line: 1, Col: 1, locate: locate(nil)}}, nil
}

// tomlRecordList returns the tables of a document whose only key is
// "records", holding a non-empty array of tables.
func tomlRecordList(root *Object) ([]any, bool) {
	if len(root.Fields) != 1 || root.Fields[0].Key != "records" {
		return nil, false
	}
	list, ok := root.Fields[0].Value.([]any)
	if !ok || len(list) == 0 {
		return nil, false
	}
	for _, v := range list {
		if _, ok := v.(*Object); !ok {
			return nil, false
		}
	}
	return list, true
}

// tomlError turns an error of go-toml or of the builder into a positioned
// *Error with a one-line message.
func tomlError(err error, lines tomlLines) error {
	var de *toml.DecodeError
	var pe *tomlPosError
	switch {
	case errors.As(err, &de):
		line, col := de.Position()
		return &Error{Line: line, Col: col, Msg: tomlOneLine(strings.TrimPrefix(de.Error(), "toml: "))}
	case errors.As(err, &pe):
		line, col := lines.at(pe.off)
		return &Error{Line: line, Col: col, Msg: pe.msg}
	}
	return &Error{Msg: tomlOneLine(strings.TrimPrefix(err.Error(), "toml: "))}
}

func tomlOneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// tomlPosError is a builder error at a byte offset of the document.
type tomlPosError struct {
	off int
	msg string
}

func (e *tomlPosError) Error() string { return e.msg }

// tomlLines holds the offset of each line start, to turn byte offsets into
// lines and columns without rescanning the document for every record.
type tomlLines []int

func tomlLineStarts(data []byte) tomlLines {
	lines := tomlLines{0}
	for i, c := range data {
		if c == '\n' {
			lines = append(lines, i+1)
		}
	}
	return lines
}

// at returns the 1-based line and byte column of off.
func (l tomlLines) at(off int) (int, int) {
	off = max(off, 0)
	i := sort.SearchInts(l, off+1) - 1
	return i + 1, off - l[i] + 1
}

// tomlBuilder builds the ordered value of a document that go-toml has
// already validated, so it only needs to follow TOML's table rules, not
// enforce them.
type tomlBuilder struct {
	p    unstable.Parser
	data []byte
	lim  Limits
	// wrapping is the levels above a record, which its depth leaves out.
	wrapping int
	// pos maps each value's path (see tomlPathKey) to the byte offset of
	// the value, or of the key or header that made a table.
	pos map[string]int
	// index speeds up key lookups in large tables, which a document of
	// many [headers] would otherwise make quadratic.
	index map[*Object]map[string]int
}

// tomlPathKey joins a path so that different paths never give the same key.
func tomlPathKey(path []string) string {
	var sb strings.Builder
	for _, p := range path {
		sb.WriteString(strconv.Itoa(len(p)))
		sb.WriteByte(':')
		sb.WriteString(p)
	}
	return sb.String()
}

// tomlAppendPath returns path plus one element, never sharing the array with
// another path.
func tomlAppendPath(path []string, elem string) []string {
	return append(path[:len(path):len(path)], elem)
}

func (b *tomlBuilder) fail(off int, format string, args ...any) error {
	return &tomlPosError{off, fmt.Sprintf(format, args...)}
}

// setPos records where the value at path is, keeping the first position.
func (b *tomlBuilder) setPos(path []string, off int) {
	k := tomlPathKey(path)
	if _, ok := b.pos[k]; !ok {
		b.pos[k] = off
	}
}

// deeper checks the depth of a new list or table at path: the document
// is level 1 and every key or index below it adds one.
func (b *tomlBuilder) deeper(path []string, off int) error {
	if len(path)+1-b.wrapping > b.lim.MaxDepth {
		return b.fail(off, "nesting deeper than %d levels", b.lim.MaxDepth)
	}
	return nil
}

func (b *tomlBuilder) get(obj *Object, key string) (any, bool) {
	if len(obj.Fields) <= 16 {
		return obj.Get(key)
	}
	idx := b.index[obj]
	if idx == nil {
		if b.index == nil {
			b.index = map[*Object]map[string]int{}
		}
		idx = make(map[string]int, len(obj.Fields))
		for i, f := range obj.Fields {
			idx[f.Key] = i
		}
		b.index[obj] = idx
	}
	if i, ok := idx[key]; ok {
		return obj.Fields[i].Value, true
	}
	return nil, false
}

func (b *tomlBuilder) add(obj *Object, key string, v any) {
	if idx := b.index[obj]; idx != nil {
		idx[key] = len(obj.Fields)
	}
	obj.Fields = append(obj.Fields, Field{key, v})
}

func (b *tomlBuilder) build() (*Object, error) {
	root := &Object{}
	cur, curPath := root, []string(nil)
	b.p.Reset(b.data)
	for b.p.NextExpression() {
		e := b.p.Expression()
		var err error
		switch e.Kind {
		case unstable.KeyValue:
			err = b.keyValue(cur, curPath, e)
		case unstable.Table, unstable.ArrayTable:
			cur, curPath, err = b.header(root, e)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := b.p.Error(); err != nil {
		// Unmarshal accepted the document, so this is not expected.
		return nil, err
	}
	return root, nil
}

func tomlKeyNodes(n *unstable.Node) []*unstable.Node {
	var keys []*unstable.Node
	it := n.Key()
	for it.Next() {
		keys = append(keys, it.Node())
	}
	return keys
}

// child returns the table at key k of obj, making it when it is new. A key
// naming an array of tables means its last table, as in [a] [[a.b]] [a.b.c].
func (b *tomlBuilder) child(obj *Object, path []string, k *unstable.Node, off int) (*Object, []string, error) {
	key := string(k.Data)
	path = tomlAppendPath(path, key)
	v, ok := b.get(obj, key)
	if !ok {
		if err := b.deeper(path, int(k.Raw.Offset)); err != nil {
			return nil, nil, err
		}
		o := &Object{}
		b.add(obj, key, o)
		b.setPos(path, off)
		return o, path, nil
	}
	switch v := v.(type) {
	case *Object:
		return v, path, nil
	case []any:
		if n := len(v); n > 0 {
			if o, ok := v[n-1].(*Object); ok {
				return o, tomlAppendPath(path, strconv.Itoa(n-1)), nil
			}
		}
	}
	return nil, nil, b.fail(int(k.Raw.Offset), "key %q is not a table", key)
}

// header opens the table of a [a.b] or [[a.b]] line and returns it.
func (b *tomlBuilder) header(root *Object, e *unstable.Node) (*Object, []string, error) {
	keys := tomlKeyNodes(e)
	// The header node has no range of its own: find its '[' before the key.
	start := int(keys[0].Raw.Offset)
	for start > 0 && (b.data[start-1] == ' ' || b.data[start-1] == '\t') {
		start--
	}
	start--
	if e.Kind == unstable.ArrayTable {
		start--
	}
	obj, path := root, []string(nil)
	for i, k := range keys {
		off := int(k.Raw.Offset)
		if i == len(keys)-1 && e.Kind == unstable.Table {
			off = start
		}
		if i < len(keys)-1 || e.Kind == unstable.Table {
			var err error
			if obj, path, err = b.child(obj, path, k, off); err != nil {
				return nil, nil, err
			}
			continue
		}
		// [[a.b]] adds a table to the array at b.
		key := string(k.Data)
		path = tomlAppendPath(path, key)
		v, ok := b.get(obj, key)
		if !ok {
			if err := b.deeper(path, off); err != nil {
				return nil, nil, err
			}
			v = []any{}
			b.add(obj, key, v)
			b.setPos(path, off)
		}
		list, ok := v.([]any)
		if !ok {
			return nil, nil, b.fail(off, "key %q is not an array of tables", key)
		}
		path = tomlAppendPath(path, strconv.Itoa(len(list)))
		if err := b.deeper(path, start); err != nil {
			return nil, nil, err
		}
		o := &Object{}
		list = append(list, o)
		b.setField(obj, key, list)
		b.setPos(path, start)
		obj = o
	}
	return obj, path, nil
}

// setField replaces the value of an existing key.
func (b *tomlBuilder) setField(obj *Object, key string, v any) {
	if idx := b.index[obj]; idx != nil {
		obj.Fields[idx[key]].Value = v
		return
	}
	obj.Set(key, v)
}

// keyValue adds a key = value line (or inline table entry) to obj; a
// dotted key makes or extends the tables before its last part.
func (b *tomlBuilder) keyValue(obj *Object, path []string, kv *unstable.Node) error {
	keys := tomlKeyNodes(kv)
	for _, k := range keys[:len(keys)-1] {
		var err error
		if obj, path, err = b.child(obj, path, k, int(k.Raw.Offset)); err != nil {
			return err
		}
	}
	last := keys[len(keys)-1]
	key := string(last.Data)
	path = tomlAppendPath(path, key)
	// The value starts after the '=' that follows the key.
	start := b.skipSpace(int(last.Raw.Offset + last.Raw.Length))
	start = b.skipSpace(start + 1)
	v, _, err := b.value(kv.Value(), start, path)
	if err != nil {
		return err
	}
	b.setPos(path, start)
	b.add(obj, key, v)
	return nil
}

func (b *tomlBuilder) skipSpace(off int) int {
	for off < len(b.data) && (b.data[off] == ' ' || b.data[off] == '\t') {
		off++
	}
	return off
}

// skipFill skips what may sit between the elements of an array or inline
// table: white space, newlines, comments and commas.
func (b *tomlBuilder) skipFill(off int) int {
	for off < len(b.data) {
		switch b.data[off] {
		case ' ', '\t', '\r', '\n', ',':
			off++
		case '#':
			for off < len(b.data) && b.data[off] != '\n' {
				off++
			}
		default:
			return off
		}
	}
	return off
}

// value converts the value node n, which starts at byte offset start, and
// returns where it ends: array nodes carry no range, so the start of each
// element is found from the end of the one before.
func (b *tomlBuilder) value(n *unstable.Node, start int, path []string) (any, int, error) {
	end := int(n.Raw.Offset + n.Raw.Length)
	switch n.Kind {
	case unstable.Array:
		if err := b.deeper(path, start); err != nil {
			return nil, 0, err
		}
		list := []any{}
		off := start + 1
		it := n.Children()
		for it.Next() {
			s := b.skipFill(off)
			p := tomlAppendPath(path, strconv.Itoa(len(list)))
			v, e, err := b.value(it.Node(), s, p)
			if err != nil {
				return nil, 0, err
			}
			b.setPos(p, s)
			list = append(list, v)
			off = e
		}
		return list, b.skipFill(off) + 1, nil
	case unstable.InlineTable:
		if err := b.deeper(path, start); err != nil {
			return nil, 0, err
		}
		obj := &Object{}
		off := start + 1
		it := n.Children()
		for it.Next() {
			kv := it.Node()
			if err := b.keyValue(obj, path, kv); err != nil {
				return nil, 0, err
			}
			off = int(kv.Raw.Offset + kv.Raw.Length)
		}
		return obj, b.skipFill(off) + 1, nil
	case unstable.String:
		return string(n.Data), end, nil
	case unstable.Bool:
		return string(n.Data) == "true", end, nil
	}
	raw := string(b.p.Raw(n.Raw))
	switch n.Kind {
	case unstable.Integer:
		s, ok := tomlInt(raw)
		if !ok {
			return nil, 0, b.fail(start, "invalid integer %q", raw)
		}
		return Number(s), end, nil
	case unstable.Float:
		s := strings.TrimPrefix(strings.ReplaceAll(raw, "_", ""), "+")
		if strings.HasSuffix(s, "inf") || strings.HasSuffix(s, "nan") {
			return nil, 0, b.fail(start, "%s cannot be represented as a JSON number", raw)
		}
		if !ValidNumber(s) {
			return nil, 0, b.fail(start, "invalid float %q", raw)
		}
		return Number(s), end, nil
	case unstable.DateTime, unstable.LocalDateTime, unstable.LocalDate, unstable.LocalTime:
		return tomlDateTime(raw), end, nil
	}
	return nil, 0, b.fail(start, "unexpected TOML value of kind %s", n.Kind)
}

// tomlDateTime writes a TOML date or time, which go-toml has checked, as
// RFC 3339 text that schemas and time.Parse accept. TOML also allows a
// space or a t between date and time, a lower-case z, and (from 1.1)
// times without seconds.
func tomlDateTime(raw string) string {
	b := []byte(raw)
	t := 0 // where the time starts
	if len(b) >= 10 && b[4] == '-' {
		if len(b) == 10 {
			return raw // a date alone
		}
		b[10] = 'T'
		t = 11
	}
	hm := t + 5 // after HH:MM
	if len(b) < hm {
		return raw // not a time go-toml lets through; no index may panic
	}
	if len(b) == hm || b[hm] != ':' {
		b = slices.Insert(b, hm, ':', '0', '0')
	}
	if b[len(b)-1] == 'z' {
		b[len(b)-1] = 'Z'
	}
	return string(b)
}

// tomlInt turns a TOML integer literal into decimal JSON number text.
func tomlInt(raw string) (string, bool) {
	s := strings.TrimPrefix(strings.ReplaceAll(raw, "_", ""), "+")
	if len(s) > 2 && s[0] == '0' {
		base := 0
		switch s[1] {
		case 'x':
			base = 16
		case 'o':
			base = 8
		case 'b':
			base = 2
		}
		if base != 0 {
			n, ok := new(big.Int).SetString(s[2:], base)
			if !ok {
				return "", false
			}
			s = n.String()
		}
	}
	if s == "-0" {
		s = "0" // TOML reads -0 as plain 0
	}
	return s, ValidNumber(s) && !strings.ContainsAny(s, ".eE")
}

// appendTOML appends one record as a [[records]] table, so that records
// joined by blank lines make one document that decodes back to them.
func appendTOML(dst []byte, v any) ([]byte, error) {
	obj, ok := v.(*Object)
	if !ok || obj == nil {
		return dst, errors.New("toml records must be objects")
	}
	dst = append(dst, "[[records]]\n"...)
	return appendTOMLTable(dst, obj, "records", nil)
}

// tomlIsTable reports whether v is written under a header of its own: an
// object, or a non-empty array of objects.
func tomlIsTable(v any) bool {
	switch v := v.(type) {
	case *Object:
		return v != nil
	case []any:
		for _, e := range v {
			if o, ok := e.(*Object); !ok || o == nil {
				return false
			}
		}
		return len(v) > 0
	}
	return false
}

// appendTOMLTable writes the fields of obj, whose header is already written.
// TOML wants every key = value line before the first sub-table header. The
// fields up to the last one that needs such a line are all written as lines
// (objects as inline tables), and the tables after it get headers: key
// order survives a round trip either way.
func appendTOMLTable(dst []byte, obj *Object, header string, path []string) ([]byte, error) {
	split := 0
	for i, f := range obj.Fields {
		if !tomlIsTable(f.Value) {
			split = i + 1
		}
	}
	var err error
	for _, f := range obj.Fields[:split] {
		dst = appendTOMLKey(dst, f.Key)
		dst = append(dst, " = "...)
		if dst, err = appendTOMLValue(dst, f.Value, tomlAppendPath(path, f.Key)); err != nil {
			return dst, err
		}
		dst = append(dst, '\n')
	}
	for _, f := range obj.Fields[split:] {
		h := string(appendTOMLKey([]byte(header+"."), f.Key))
		p := tomlAppendPath(path, f.Key)
		switch v := f.Value.(type) {
		case *Object:
			dst = append(dst, "\n["+h+"]\n"...)
			if dst, err = appendTOMLTable(dst, v, h, p); err != nil {
				return dst, err
			}
		case []any:
			for i, e := range v {
				dst = append(dst, "\n[["+h+"]]\n"...)
				if dst, err = appendTOMLTable(dst, e.(*Object), h, tomlAppendPath(p, strconv.Itoa(i))); err != nil {
					return dst, err
				}
			}
		}
	}
	return dst, nil
}

// appendTOMLValue writes v inline, as it appears after "key = ".
func appendTOMLValue(dst []byte, v any, path []string) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return dst, fmt.Errorf("toml cannot hold null (at field %q)", strings.Join(path, "."))
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
		return appendTOMLString(dst, v), nil
	case Number:
		if err := tomlCheckNumber(v); err != nil {
			return dst, fmt.Errorf("%v (at field %q)", err, strings.Join(path, "."))
		}
		return append(dst, v...), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			if dst, err = appendTOMLValue(dst, e, tomlAppendPath(path, strconv.Itoa(i))); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case *Object:
		if v == nil {
			return appendTOMLValue(dst, nil, path)
		}
		dst = append(dst, '{')
		for i, f := range v.Fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, ' ')
			dst = appendTOMLKey(dst, f.Key)
			dst = append(dst, " = "...)
			if dst, err = appendTOMLValue(dst, f.Value, tomlAppendPath(path, f.Key)); err != nil {
				return dst, err
			}
		}
		if len(v.Fields) > 0 {
			dst = append(dst, ' ')
		}
		return append(dst, '}'), nil
	}
	return dst, fmt.Errorf("toml cannot hold a value of type %T (at field %q)", v, strings.Join(path, "."))
}

// tomlCheckNumber rejects what TOML cannot read back: integers beyond 64
// bits and floats beyond float64.
func tomlCheckNumber(n Number) error {
	s := string(n)
	if !ValidNumber(s) {
		return fmt.Errorf("invalid number %q", s)
	}
	if n.IsInt() {
		if _, ok := n.Int64(); !ok {
			return fmt.Errorf("toml cannot hold the integer %s: toml integers are 64-bit", s)
		}
		return nil
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return fmt.Errorf("toml cannot hold the number %s: it is out of range", s)
	}
	return nil
}

func appendTOMLKey(dst []byte, key string) []byte {
	bare := key != ""
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			bare = false
			break
		}
	}
	if bare {
		return append(dst, key...)
	}
	return appendTOMLString(dst, key)
}

// appendTOMLString writes s as a basic string. Invalid UTF-8 becomes
// U+FFFD, as in the JSON encoder, since TOML must be valid UTF-8.
func appendTOMLString(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, `\uFFFD`...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, `\b`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\f':
			dst = append(dst, `\f`...)
		case '\r':
			dst = append(dst, `\r`...)
		default:
			if c < 0x20 || c == 0x7F {
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			} else {
				dst = append(dst, c)
			}
		}
		i++
	}
	return append(dst, '"')
}
