package format

import (
	"bytes"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// The fast path reads the documents of a common subset of YAML straight
// into records, where goccy's lexer and parser cost most of the time of
// reading YAML. It takes a document only when it understands all of it,
// and then gives exactly the records the goccy path gives: the same
// values, positions and locate results. For anything else it says "not
// mine" and the goccy path reads the document as before.
//
// The subset: block mappings and sequences, including sequences of
// mappings; flow sequences and mappings on one line; plain scalars of
// common characters and quoted scalars on one line; comments, blank lines
// and the "---" and "..." markers. Left to goccy, among others: anchors,
// aliases, tags, block scalars, multi-line scalars and flow collections,
// explicit keys, directives, tabs, merge keys, duplicate keys, and every
// document the goccy path would reject.

// yamlFastRecords returns the records of a document in the subset, and
// false for a document it leaves to goccy.
func yamlFastRecords(c yamlChunk, lim Limits) (recs []Record, ok bool) {
	defer func() {
		// A bug here must not cost a record: goccy reads it instead.
		if recover() != nil {
			recs, ok = nil, false
		}
	}()
	return yamlFastParse(c, lim)
}

// yamlFastParse is yamlFastRecords without the safety net, for the tests.
func yamlFastParse(c yamlChunk, lim Limits) ([]Record, bool) {
	if c.directives > 0 || !yamlFastChars(c.text) || yamlFastCRLFComments(c.text) {
		return nil, false
	}
	src := string(c.text)
	p := yamlFastPool.Get().(*yamlFast)
	v, at, ok := p.parse(src, c, lim, false)
	empty := len(p.lines) == 0
	p.release()
	if !ok {
		return nil, false
	}
	if empty {
		// "---" and comments only: the goccy path's empty document.
		return []Record{{Index: 1, Line: c.markerLine, Col: 1}}, true
	}
	loc := &yamlFastLocator{src: src, chunk: c, lim: lim}
	loc.chunk.text = nil // the locator parses src again, when asked
	return []Record{{Value: v, Index: 1, Line: at.line, Col: at.col, locate: loc.locate, locateKey: loc.locateKey}}, true
}

// yamlFast is the state of one parse. Its scratch stacks are reused from
// parse to parse through yamlFastPool; the values it returns never share
// their memory.
type yamlFast struct {
	lines    []yamlFastLine // the content lines
	i, off   int            // the current line, and where its unread text starts
	depth    int            // collections open
	maxDepth int
	nulls    bool // an empty value was read as null
	pos      bool // collect every node's position, for locate
	fields   []Field
	items    []any
	kids     []yamlFastPos
	buf      []byte
}

// yamlFastLine is a line of content: not blank, a comment or a marker.
type yamlFastLine struct {
	text      string // without the line break
	num       int    // line number in the input
	indent    int    // leading spaces
	lineBreak bool   // a line break ends it: not the input's last line
	ascii     bool   // so columns are byte offsets + 1
}

// yamlFastPos is where a node starts, as goccy's positions say, and when
// collected for locate, where its fields or items start, in order.
type yamlFastPos struct {
	line, col int
	// kline and kcol are where a mapping value's key is.
	kline, kcol int
	kids        []yamlFastPos
	keys        map[string]int // field index by key, for a large mapping
}

// yamlFastMaxDepth bounds the recursion of the fast path; deeper documents
// are left to goccy, whose checks report nesting past the limits.
const yamlFastMaxDepth = 100

var yamlFastPool = sync.Pool{New: func() any { return new(yamlFast) }}

func (p *yamlFast) release() {
	clear(p.lines[:cap(p.lines)]) // drop references to the text and values
	clear(p.fields[:cap(p.fields)])
	clear(p.items[:cap(p.items)])
	clear(p.kids[:cap(p.kids)])
	*p = yamlFast{lines: p.lines[:0], fields: p.fields[:0], items: p.items[:0], kids: p.kids[:0], buf: p.buf[:0]}
	yamlFastPool.Put(p)
}

// parse reads a document's value and its position. ok is false for a
// document outside the subset; no lines with ok means an empty document.
func (p *yamlFast) parse(src string, c yamlChunk, lim Limits, pos bool) (any, yamlFastPos, bool) {
	p.maxDepth, p.pos = min(lim.MaxDepth, yamlFastMaxDepth), pos
	if !p.split(src, c) {
		return nil, yamlFastPos{}, false
	}
	if len(p.lines) == 0 {
		return nil, yamlFastPos{}, c.marker
	}
	p.off = p.lines[0].indent
	v, at, ok := p.node()
	if !ok || p.i < len(p.lines) {
		return nil, yamlFastPos{}, false
	}
	// goccy's path parses a mapping of many keys in parts (yamlCuts), and
	// puts an empty value that ends a part elsewhere.
	if o, isObj := v.(*Object); isObj && p.nulls && len(o.Fields) > yamlCutEvery {
		return nil, yamlFastPos{}, false
	}
	return v, at, true
}

// split keeps the content lines of a document. It refuses markers with
// content on their line and markers where the splitter leaves none.
func (p *yamlFast) split(src string, c yamlChunk) bool {
	ok := true
	num := c.line
	yamlLines(c.text, func(off, end int, line []byte) {
		n := num
		num++
		switch {
		case !ok:
		case c.marker && n == c.markerLine:
			ok = isYAMLBlank(line[3:])
		case isYAMLMarker(line, "---"):
			ok = false
		case isYAMLMarker(line, "..."):
			ok = end == len(c.text) && isYAMLBlank(line[3:])
		case isYAMLBlank(line):
		case c.marker && n < c.markerLine:
			ok = false
		default:
			p.lines = append(p.lines, yamlFastNewLine(src[off:off+len(line)], n, end > off+len(line)))
		}
	})
	return ok
}

func yamlFastNewLine(text string, num int, lineBreak bool) yamlFastLine {
	l := yamlFastLine{text: text, num: num, lineBreak: lineBreak, ascii: true}
	for l.indent < len(text) && text[l.indent] == ' ' {
		l.indent++
	}
	for i := l.indent; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			l.ascii = false
			break
		}
	}
	return l
}

// yamlFastChars reports whether text is UTF-8 of only characters the
// fast path reads as goccy does: no tabs or other control characters, no
// line break but "\n" and "\r\n", no byte order marks or Unicode line
// breaks.
func yamlFastChars(text []byte) bool {
	for i := 0; i < len(text); i++ {
		switch b := text[i]; {
		case b >= ' ' && b < 0x7f, b == '\n':
		case b == '\r':
			if i+1 == len(text) || text[i+1] != '\n' {
				return false
			}
		case b >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(text[i:])
			if r < 0xa0 || r == utf8.RuneError && size == 1 || r == 0x2028 || r == 0x2029 || r == 0xfeff || r >= 0xfffe && r <= 0xffff {
				return false
			}
			i += size - 1
		default:
			return false
		}
	}
	return true
}

// yamlFastCRLFComments reports whether text has "\r\n" line breaks and
// comments, perhaps: goccy counts a line too many after each such comment.
func yamlFastCRLFComments(text []byte) bool {
	return bytes.IndexByte(text, '\r') >= 0 && bytes.IndexByte(text, '#') >= 0
}

// at returns the position of the current line's byte off.
func (p *yamlFast) at(off int) yamlFastPos {
	l := &p.lines[p.i]
	if l.ascii {
		return yamlFastPos{line: l.num, col: off + 1}
	}
	return yamlFastPos{line: l.num, col: utf8.RuneCountInString(l.text[:off]) + 1}
}

// enter opens a collection, within the depth limit.
func (p *yamlFast) enter() bool {
	p.depth++
	return p.depth <= p.maxDepth
}

// node reads the block sequence or mapping that starts at off on the
// current line, or else the scalar or flow collection that ends the line.
func (p *yamlFast) node() (any, yamlFastPos, bool) {
	text := p.lines[p.i].text
	switch {
	case yamlFastEntry(text, p.off):
		return p.sequence()
	case yamlFastIsKey(text, p.off):
		return p.mapping()
	}
	return p.lineValue()
}

// isBlock reports whether a block sequence or mapping starts at off on the
// current line.
func (p *yamlFast) isBlock() bool {
	text := p.lines[p.i].text
	return yamlFastEntry(text, p.off) || yamlFastIsKey(text, p.off)
}

// sequence reads a block sequence whose first "-" is at off on the current
// line: its items start at the same column on the lines that follow.
func (p *yamlFast) sequence() (any, yamlFastPos, bool) {
	if !p.enter() {
		return nil, yamlFastPos{}, false
	}
	indent, at := p.off, p.at(p.off)
	items, kids := len(p.items), len(p.kids)
	for {
		dash := p.off
		p.off = yamlFastSpaces(p.lines[p.i].text, dash+1)
		v, vat, ok := p.value(dash, indent, false)
		if !ok {
			return nil, yamlFastPos{}, false
		}
		p.items = append(p.items, v)
		p.kid(vat)
		if p.i == len(p.lines) || p.lines[p.i].indent != indent || !yamlFastEntry(p.lines[p.i].text, indent) {
			break
		}
		p.off = indent
	}
	list := slices.Clone(p.items[items:])
	p.items = p.items[:items]
	at.kids = p.popKids(kids)
	p.depth--
	return list, at, true
}

// mapping reads a block mapping whose first key is at off on the current
// line: its other keys start at the same column on the lines that follow.
func (p *yamlFast) mapping() (any, yamlFastPos, bool) {
	if !p.enter() {
		return nil, yamlFastPos{}, false
	}
	indent, at := p.off, p.at(p.off)
	fields, kids := len(p.fields), len(p.kids)
	for {
		text := p.lines[p.i].text
		end, colon := yamlFastKeyEnd(text, p.off, false)
		if colon < 0 {
			return nil, yamlFastPos{}, false
		}
		key, ok := p.key(text, p.off, end)
		if !ok {
			return nil, yamlFastPos{}, false
		}
		var kat yamlFastPos
		if p.pos {
			kat = p.at(p.off)
		}
		p.off = yamlFastSpaces(text, colon+1)
		v, vat, ok := p.value(colon, indent, true)
		if !ok {
			return nil, yamlFastPos{}, false
		}
		p.fields = append(p.fields, Field{key, v})
		vat.kline, vat.kcol = kat.line, kat.col
		p.kid(vat)
		if p.i == len(p.lines) || p.lines[p.i].indent != indent || yamlFastEntry(p.lines[p.i].text, indent) {
			break
		}
		p.off = indent
	}
	p.depth--
	return p.object(fields, kids, at)
}

// object makes the object of the fields read since fields, refusing
// duplicate keys: the goccy path reports them.
func (p *yamlFast) object(fields, kids int, at yamlFastPos) (any, yamlFastPos, bool) {
	fs := p.fields[fields:]
	if yamlFastDuplicates(fs) {
		return nil, yamlFastPos{}, false
	}
	obj := &Object{}
	if len(fs) > 0 {
		obj.Fields = slices.Clone(fs)
	}
	p.fields = p.fields[:fields]
	at.kids = p.popKids(kids)
	if p.pos && len(obj.Fields) > yamlFastIndexed {
		at.keys = make(map[string]int, len(obj.Fields))
		for i, f := range obj.Fields {
			at.keys[f.Key] = i
		}
	}
	return obj, at, true
}

// yamlFastIndexed is the size past which locate looks keys up in a map.
const yamlFastIndexed = 16

func yamlFastDuplicates(fs []Field) bool {
	if len(fs) <= yamlFastIndexed {
		for i := range fs {
			for j := range i {
				if fs[i].Key == fs[j].Key {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]bool, len(fs))
	for _, f := range fs {
		if seen[f.Key] {
			return true
		}
		seen[f.Key] = true
	}
	return false
}

// kid keeps a node's position for its collection, when collecting them.
func (p *yamlFast) kid(at yamlFastPos) {
	if p.pos {
		p.kids = append(p.kids, at)
	}
}

// popKids takes the positions kept since kids.
func (p *yamlFast) popKids(kids int) []yamlFastPos {
	if !p.pos {
		return nil
	}
	k := slices.Clone(p.kids[kids:])
	p.kids = p.kids[:kids]
	return k
}

// value reads the value of a key whose ":" is at ind, or of an item whose
// "-" is at ind, in a collection at column indent: on the rest of the
// line, which starts at off, on the lines below, or none at all.
func (p *yamlFast) value(ind, indent int, inMap bool) (any, yamlFastPos, bool) {
	text := p.lines[p.i].text
	switch {
	case p.off == len(text) || text[p.off] == '#':
		at := p.at(ind)
		p.i++
		return p.below(at, indent, inMap)
	case !inMap:
		return p.node() // "- a", "- - a", "- a: b"
	case p.isBlock():
		return nil, yamlFastPos{}, false // "a: - b", "a: b: c"
	}
	return p.lineValue()
}

// below reads a value on the lines below its key or "-" at ind: a block
// collection indented more than the parent at indent, or a sequence at its
// column when the parent is a mapping, or nothing: null.
func (p *yamlFast) below(ind yamlFastPos, indent int, inMap bool) (any, yamlFastPos, bool) {
	if p.i < len(p.lines) {
		l := &p.lines[p.i]
		entry := yamlFastEntry(l.text, l.indent)
		switch {
		case l.indent > indent || inMap && l.indent == indent && entry:
			p.off = l.indent
			if !p.isBlock() {
				return nil, yamlFastPos{}, false // a scalar on a line of its own
			}
			return p.node()
		case !inMap && l.indent == indent && !entry:
			// goccy reads the line as the item's value (a mapping
			// ends a sequence at its column).
			return nil, yamlFastPos{}, false
		}
	}
	// goccy puts an empty value just after its indicator, and one more
	// column on when nothing follows in the document.
	p.nulls = true
	ind.col++
	if p.i == len(p.lines) {
		ind.col++
	}
	return nil, ind, true
}

// lineValue reads a scalar or a flow collection that ends the current
// line but for a comment.
func (p *yamlFast) lineValue() (any, yamlFastPos, bool) {
	text := p.lines[p.i].text
	v, at, end, ok := p.flowNode(text, p.off, false)
	if !ok || !yamlFastRestBlank(text, end) {
		return nil, yamlFastPos{}, false
	}
	if yamlFastPlainStart(text, p.off) && yamlFastSpaces(text, end) == len(text) && p.lines[p.i].lineBreak {
		// goccy places a plain scalar that ends its line a column on for
		// each space after it, before a line break.
		at.col += len(text) - end
	}
	p.i++
	return v, at, true
}

// flowNode reads a scalar or a flow collection at text[off], in a flow
// collection or not, and returns where it ends.
func (p *yamlFast) flowNode(text string, off int, inFlow bool) (any, yamlFastPos, int, bool) {
	if off < len(text) && (text[off] == '[' || text[off] == '{') {
		return p.flow(text, off)
	}
	at := p.at(off)
	v, end, ok := p.scalar(text, off, inFlow)
	return v, at, end, ok
}

// flow reads a flow sequence or mapping that starts at text[off] and ends
// on the same line, and returns where it ends.
func (p *yamlFast) flow(text string, off int) (any, yamlFastPos, int, bool) {
	if !p.enter() {
		return nil, yamlFastPos{}, 0, false
	}
	var v any
	at, end, ok := p.at(off), 0, false
	if text[off] == '[' {
		v, at, end, ok = p.flowSeq(text, off, at)
	} else {
		v, at, end, ok = p.flowMap(text, off, at)
	}
	p.depth--
	return v, at, end, ok
}

// flowSeq reads the items of a flow sequence.
func (p *yamlFast) flowSeq(text string, off int, at yamlFastPos) (any, yamlFastPos, int, bool) {
	items, kids := len(p.items), len(p.kids)
	i := yamlFastSpaces(text, off+1)
	if i < len(text) && text[i] == ']' {
		return []any{}, at, i + 1, true
	}
	for {
		v, vat, end, ok := p.flowNode(text, i, true)
		if !ok {
			return nil, at, 0, false
		}
		p.items = append(p.items, v)
		p.kid(vat)
		if i, ok = yamlFastFlowNext(text, end, ']'); !ok {
			return nil, at, 0, false
		}
		if text[i-1] == ']' {
			break
		}
	}
	list := slices.Clone(p.items[items:])
	p.items = p.items[:items]
	at.kids = p.popKids(kids)
	return list, at, i, true
}

// flowMap reads the entries of a flow mapping, each a scalar key, ": "
// and a value.
func (p *yamlFast) flowMap(text string, off int, at yamlFastPos) (any, yamlFastPos, int, bool) {
	fields, kids := len(p.fields), len(p.kids)
	i := yamlFastSpaces(text, off+1)
	if i < len(text) && text[i] == '}' {
		v, at, ok := p.object(fields, kids, at)
		return v, at, i + 1, ok
	}
	for {
		end, colon := yamlFastKeyEnd(text, i, true)
		if colon < 0 {
			return nil, at, 0, false
		}
		key, ok := p.key(text, i, end)
		if !ok {
			return nil, at, 0, false
		}
		var kat yamlFastPos
		if p.pos {
			kat = p.at(i)
		}
		i = yamlFastSpaces(text, colon+1)
		if i == len(text) || text[i] == ',' || text[i] == '}' {
			return nil, at, 0, false // an empty value
		}
		v, vat, end, ok := p.flowNode(text, i, true)
		if !ok {
			return nil, at, 0, false
		}
		p.fields = append(p.fields, Field{key, v})
		vat.kline, vat.kcol = kat.line, kat.col
		p.kid(vat)
		if i, ok = yamlFastFlowNext(text, end, '}'); !ok {
			return nil, at, 0, false
		}
		if text[i-1] == '}' {
			break
		}
	}
	v, at, ok := p.object(fields, kids, at)
	return v, at, i, ok
}

// yamlFastFlowNext steps over what follows a flow collection's entry: a
// "," and the spaces after it, or the collection's closing bracket. It
// refuses a "," right before the bracket.
func yamlFastFlowNext(text string, end int, closing byte) (int, bool) {
	i := yamlFastSpaces(text, end)
	if i == len(text) {
		return 0, false
	}
	switch text[i] {
	case closing:
		return i + 1, true
	case ',':
		i = yamlFastSpaces(text, i+1)
		return i, i < len(text) && text[i] != closing
	}
	return 0, false
}

// key returns the text of the key at text[off:end]: the quoted scalar's
// value, or a plain scalar as written.
func (p *yamlFast) key(text string, off, end int) (string, bool) {
	switch text[off] {
	case '"', '\'':
		s, _, ok := p.quoted(text, off)
		return s, ok
	}
	return text[off:end], true
}

// scalar reads the scalar at text[off] and returns its value and where it
// ends.
func (p *yamlFast) scalar(text string, off int, flow bool) (any, int, bool) {
	if off < len(text) && (text[off] == '"' || text[off] == '\'') {
		s, end, ok := p.quoted(text, off)
		return s, end, ok
	}
	end := yamlFastPlainEnd(text, off, flow)
	if end <= off {
		return nil, 0, false
	}
	v, ok := yamlPlain(text[off:end])
	return v, end, ok
}

// quoted reads the quoted scalar at text[off], which must end on its line,
// and returns its value and the offset after its closing quote.
func (p *yamlFast) quoted(text string, off int) (string, int, bool) {
	end := yamlFastQuoteEnd(text, off)
	if end < 0 {
		return "", 0, false
	}
	body := text[off+1 : end-1]
	if text[off] == '\'' {
		return yamlFastSingle(body), end, true
	}
	s, ok := p.double(body)
	return s, end, ok
}

// yamlFastQuoteEnd returns the offset after the closing quote of the
// quoted scalar at text[off], or -1 when it doesn't end on the line.
func yamlFastQuoteEnd(text string, off int) int {
	q := text[off]
	for i := off + 1; i < len(text); i++ {
		switch {
		case text[i] == '\\' && q == '"':
			i++
		case text[i] == q && q == '\'' && i+1 < len(text) && text[i+1] == '\'':
			i++
		case text[i] == q:
			return i + 1
		}
	}
	return -1
}

// yamlFastSingle is the value of a single-quoted scalar's body, where two
// quotes stand for one.
func yamlFastSingle(body string) string {
	for i := 0; i < len(body); i++ {
		if body[i] == '\'' {
			b := make([]byte, 0, len(body))
			for j := 0; j < len(body); j++ {
				b = append(b, body[j])
				if body[j] == '\'' {
					j++
				}
			}
			return string(b)
		}
	}
	return body
}

// double is the value of a double-quoted scalar's body, with its escapes
// read as goccy reads them. An escape that goccy refuses or reads oddly
// (a lone surrogate, say) is left to goccy.
func (p *yamlFast) double(body string) (string, bool) {
	i := 0
	for i < len(body) && body[i] != '\\' {
		i++
	}
	if i == len(body) {
		return body, true
	}
	b := append(p.buf[:0], body[:i]...)
	for ; i < len(body); i++ {
		if body[i] != '\\' {
			b = append(b, body[i])
			continue
		}
		r, n := yamlFastEscape(body[i+1:])
		if n == 0 {
			return "", false
		}
		b = utf8.AppendRune(b, r)
		i += n
	}
	p.buf = b
	return string(b), true
}

// yamlFastEscapes maps the one-letter escapes to what they stand for.
var yamlFastEscapes = map[byte]rune{
	'0': 0, 'a': 0x07, 'b': 0x08, 't': 0x09, 'n': 0x0a, 'v': 0x0b, 'f': 0x0c, 'r': 0x0d, 'e': 0x1b,
	' ': ' ', '"': '"', '/': '/', '\\': '\\', 'N': 0x85, '_': 0xa0, 'L': 0x2028, 'P': 0x2029,
}

// yamlFastEscape reads the escape after a "\" and returns its rune and the
// bytes it took, or 0 bytes when the fast path leaves it to goccy.
func yamlFastEscape(s string) (rune, int) {
	if s == "" {
		return 0, 0
	}
	if r, ok := yamlFastEscapes[s[0]]; ok {
		return r, 1
	}
	digits := 0
	switch s[0] {
	case 'x':
		digits = 2
	case 'u':
		digits = 4
	case 'U':
		digits = 8
	default:
		return 0, 0
	}
	if len(s) < 1+digits {
		return 0, 0
	}
	n, err := strconv.ParseUint(s[1:1+digits], 16, 32)
	if err != nil || n > utf8.MaxRune || n >= 0xd800 && n <= 0xdfff {
		return 0, 0
	}
	return rune(n), 1 + digits
}

// yamlFastEntry reports whether a block sequence entry, "-" and a space or
// the line's end, starts at text[off].
func yamlFastEntry(text string, off int) bool {
	return off < len(text) && text[off] == '-' && (off+1 == len(text) || text[off+1] == ' ')
}

// yamlFastIsKey reports whether a block mapping's key starts at text[off].
func yamlFastIsKey(text string, off int) bool {
	_, colon := yamlFastKeyEnd(text, off, false)
	return colon >= 0
}

// yamlFastKeyEnd returns where the key starting at text[off] ends, and the
// offset of the ":" after it, perhaps after spaces; colon is -1 when no key
// starts there. In a block mapping the ":" comes before a space or the
// line's end; in a flow mapping before a space or, after a quoted key, as
// in JSON, before the value.
func yamlFastKeyEnd(text string, off int, flow bool) (end, colon int) {
	quoted := false
	switch {
	case off >= len(text):
		return 0, -1
	case text[off] == '"' || text[off] == '\'':
		end, quoted = yamlFastQuoteEnd(text, off), true
	default:
		end = yamlFastPlainEnd(text, off, flow)
	}
	if end <= off {
		return 0, -1
	}
	colon = yamlFastSpaces(text, end)
	switch {
	case colon == len(text) || text[colon] != ':':
		return 0, -1
	case colon+1 == len(text):
		if flow {
			return 0, -1
		}
	case text[colon+1] == ' ':
	case flow && quoted && text[colon+1] != '/': // goccy reads ":/" as a URL's
	default:
		return 0, -1
	}
	return end, colon
}

// yamlFastPlainEnd returns where the plain scalar at text[off] ends, its
// trailing spaces left out: before a ": " or a ":" that ends the line, a
// " #", the line's end, and in a flow collection before ",", "]" or "}".
// It returns -1 for a scalar the fast path leaves to goccy.
func yamlFastPlainEnd(text string, off int, flow bool) int {
	if !yamlFastPlainStart(text, off) {
		return -1
	}
	end := off
	for i := off; i < len(text); i++ {
		switch c := text[i]; {
		case c == ' ':
			continue
		case c == ':':
			if i+1 == len(text) || text[i+1] == ' ' {
				return end
			}
			if flow {
				return -1
			}
		case c == '#':
			if text[i-1] == ' ' {
				return end // a comment
			}
		case c == ',' || c == ']' || c == '}':
			if flow {
				return end
			}
		case c == '[' || c == '{':
			if flow {
				return -1
			}
		case c == '<':
			if i+1 < len(text) && text[i+1] == '<' {
				return -1 // goccy may take it for a merge key
			}
		case c == '`':
			return -1
		}
		end = i + 1
	}
	return end
}

// yamlFastPlainStart reports whether a plain scalar may start at text[off]
// as far as the fast path knows: not with an indicator, nor with "-" but
// before a digit, a letter or ".".
func yamlFastPlainStart(text string, off int) bool {
	if off >= len(text) {
		return false
	}
	switch text[off] {
	case '-':
		if off+1 == len(text) {
			return false
		}
		c := text[off+1]
		return c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	case '.':
		return !(len(text)-off >= 3 && text[off+1] == '.' && text[off+2] == '.')
	case '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ', '<':
		return false
	}
	return true
}

// yamlFastRestBlank reports whether text[end:] is spaces, or spaces and a
// comment.
func yamlFastRestBlank(text string, end int) bool {
	i := yamlFastSpaces(text, end)
	return i == len(text) || text[i] == '#' && i > end
}

// yamlFastSpaces returns the offset of the first byte from off on that is
// not a space.
func yamlFastSpaces(text string, off int) int {
	for off < len(text) && text[off] == ' ' {
		off++
	}
	return off
}

// yamlFastLocator finds where the values of a record read by the fast
// path are. It reads the document again, collecting positions, the first
// time it is asked: records are many and questions few.
type yamlFastLocator struct {
	src   string
	chunk yamlChunk // without its text, which is src
	lim   Limits
	once  sync.Once
	value any // its own copy, which no one changes
	root  yamlFastPos
	ok    bool
}

func (l *yamlFastLocator) locate(path []string, _ *locateCache) (int, int, bool) {
	at := l.pos(path)
	if at == nil {
		return 0, 0, false
	}
	return at.line, at.col, true
}

// locateKey finds the key of the field at path.
func (l *yamlFastLocator) locateKey(path []string) (int, int, bool) {
	at := l.pos(path)
	if at == nil || at.kline == 0 {
		return 0, 0, false
	}
	return at.kline, at.kcol, true
}

// pos is the positions of the value at path, or nil.
func (l *yamlFastLocator) pos(path []string) *yamlFastPos {
	l.once.Do(l.read)
	if !l.ok {
		return nil
	}
	v, at := l.value, &l.root
	for _, k := range path {
		switch x := v.(type) {
		case *Object:
			i := at.field(x, k)
			if i < 0 {
				return nil
			}
			v, at = x.Fields[i].Value, &at.kids[i]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v, at = x[i], &at.kids[i]
		default:
			return nil
		}
	}
	return at
}

func (l *yamlFastLocator) read() {
	c := l.chunk
	c.text = []byte(l.src)
	p := yamlFastPool.Get().(*yamlFast)
	l.value, l.root, l.ok = p.parse(l.src, c, l.lim, true)
	p.release()
}

// field returns the index of key in o, whose positions at holds, or -1.
func (at *yamlFastPos) field(o *Object, key string) int {
	if at.keys != nil {
		if i, ok := at.keys[key]; ok {
			return i
		}
		return -1
	}
	for i, f := range o.Fields {
		if f.Key == key {
			return i
		}
	}
	return -1
}
