package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// YAML is a stream of YAML documents, one record each.
const YAML Format = "yaml"

func init() {
	Register(Codec{
		Name:       YAML,
		Order:      30,
		Extensions: []string{".yaml", ".yml"},
		Sniff: func(lines [][]byte) int {
			first := lines[0]
			switch {
			case bytes.HasPrefix(first, []byte("---")) || bytes.HasPrefix(first, []byte("%YAML")) || first[0] == '-':
				return 30
			case yamlKey.Match(first):
				return 10
			}
			return 0
		},
		NewDecoder: newYAMLDecoder,
		NewUnit:    fixedUnit(appendYAML),
		Frame:      Frame{Sep: "---\n"},
		Holds:      Objects | Lists | Nulls,
		Weight:     WholeFileWeight,
	})
}

var yamlKey = regexp.MustCompile(`^("[^"]*"|'[^']*'|[^\s#:][^:#]*):(\s|$)`)

// yamlDecoder reads a whole YAML stream, splits it into documents by their
// markers and parses one document per Next. Parsing each document on its own
// keeps the cost per document flat, where goccy's streaming decoder slows
// down as a file grows.
type yamlDecoder struct {
	src     []byte
	chunks  []yamlChunk
	next    int // next chunk to parse
	index   int // records handed out or skipped so far
	lim     Limits
	pending []Record // documents of a chunk that goccy split further
}

// yamlChunk is the text of one document: its directives, its "---" line,
// its content and its "..." line.
type yamlChunk struct {
	start, end int // byte offsets in src
	line       int // line number of the first line
	marker     bool
	markerLine int // line of "---", when marker is set
	directives int // line of the first directive, or 0
}

func newYAMLDecoder(r io.Reader, lim Limits) (Decoder, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	src = bytes.TrimPrefix(src, []byte("\uFEFF"))
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultLimits.MaxDepth
	}
	if lim.MaxNodes <= 0 {
		lim.MaxNodes = DefaultLimits.MaxNodes
	}
	return &yamlDecoder{src: src, chunks: splitYAML(src), lim: lim}, nil
}

// yamlLines calls fn for each line of src with its offset, its end (after
// the line break) and its text without the break. YAML breaks lines at
// "\r\n", "\n" and a lone "\r", and so does goccy.
func yamlLines(src []byte, fn func(off, end int, text []byte)) {
	for off := 0; off < len(src); {
		i := bytes.IndexAny(src[off:], "\r\n")
		if i < 0 {
			fn(off, len(src), src[off:])
			return
		}
		end := off + i + 1
		if src[off+i] == '\r' && end < len(src) && src[end] == '\n' {
			end++
		}
		fn(off, end, src[off:off+i])
		off = end
	}
}

// isYAMLMarker reports whether a line starts with the document marker m
// ("---" or "...") followed by a space, a tab or the end of the line.
func isYAMLMarker(text []byte, m string) bool {
	return bytes.HasPrefix(text, []byte(m)) && (len(text) == 3 || text[3] == ' ' || text[3] == '\t')
}

// splitYAML cuts a stream into documents. A line starting with "---" or
// "..." is a marker wherever it is, because YAML forbids such lines inside
// any scalar or collection. Directives ("%") belong to the document whose
// "---" follows them; comments and blank lines alone make no document.
func splitYAML(src []byte) []yamlChunk {
	var chunks []yamlChunk
	cur := yamlChunk{line: 1}
	open := false  // cur has a marker or content
	prefix := true // at the stream start or after "...": directives may come
	line := 0
	yamlLines(src, func(off, end int, text []byte) {
		line++
		switch {
		case isYAMLMarker(text, "---"):
			if open {
				cur.end = off
				chunks = append(chunks, cur)
				cur = yamlChunk{start: off, line: line}
			}
			open, prefix = true, false
			cur.marker, cur.markerLine = true, line
		case isYAMLMarker(text, "..."):
			if open || cur.directives > 0 {
				cur.end = end
				chunks = append(chunks, cur)
			}
			cur = yamlChunk{start: end, line: line + 1}
			open, prefix = false, true
		case prefix && len(text) > 0 && text[0] == '%':
			if cur.directives == 0 {
				cur.directives = line
			}
		case isYAMLBlank(text):
		default:
			open, prefix = true, false
		}
	})
	if open || cur.directives > 0 {
		cur.end = len(src)
		chunks = append(chunks, cur)
	}
	return chunks
}

// isYAMLBlank reports whether a line holds only spaces, tabs and a comment.
func isYAMLBlank(text []byte) bool {
	t := bytes.TrimLeft(text, " \t")
	return len(t) == 0 || t[0] == '#'
}

func (d *yamlDecoder) Next() (Record, error) {
	for len(d.pending) == 0 {
		if d.next >= len(d.chunks) {
			return Record{}, io.EOF
		}
		c := d.chunks[d.next]
		d.next++
		recs, err := d.decodeChunk(c)
		if err != nil {
			d.index++
			var e *Error
			if errors.As(err, &e) {
				e.Record = d.index
				// The next document starts after a marker line, so
				// reading can go on there.
				e.Recoverable = true
				e.Raw = string(d.src[c.start:c.end])
			}
			return Record{}, err
		}
		d.pending = recs
	}
	rec := d.pending[0]
	d.pending = d.pending[1:]
	return rec, nil
}

// decodeChunk parses one document. goccy may still see more than one in it
// (say, after a "..." followed by content), so it returns a list.
func (d *yamlDecoder) decodeChunk(c yamlChunk) (recs []Record, err error) {
	defer func() {
		// goccy can panic on odd input, and its trees may then be odd
		// too; a panic must not escape.
		if r := recover(); r != nil {
			recs, err = nil, &Error{Line: c.line, Col: 1, Msg: fmt.Sprintf("yaml parser failed: %v", r)}
		}
	}()
	text := d.src[c.start:c.end]
	if e := yamlCheckUTF8(text, c.line); e != nil {
		return nil, e
	}
	if c.directives > 0 && !c.marker {
		return nil, &Error{Line: c.directives, Col: 1, Msg: `a directive must be followed by a document start marker "---"`}
	}
	check := &yamlCheck{first: c.line, marker: c.markerLine, maxDepth: d.lim.MaxDepth}
	prepared := yamlPrepare(text, check)
	if e := check.directives(); e != nil {
		return nil, e
	}
	docs, err := parseYAMLDocs(prepared, check)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 && c.marker {
		// "---" with nothing after it is an empty document: null.
		docs = append(docs, &ast.DocumentNode{})
	}
	for _, doc := range docs {
		rec, err := d.record(doc, c, check, d.index+len(recs)+1)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	d.index += len(recs)
	return recs, nil
}

// yamlCheckUTF8 returns a positioned error at the first byte that is not
// UTF-8; line is the line number of src's first line.
func yamlCheckUTF8(src []byte, line int) *Error {
	if utf8.Valid(src) {
		return nil
	}
	col := 1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return &Error{Line: line, Col: col, Msg: fmt.Sprintf("invalid UTF-8 byte 0x%02x", src[i])}
		case r == '\n' || r == '\r' && (i+1 == len(src) || src[i+1] != '\n'):
			line, col = line+1, 1
		case r != '\r':
			col++
		}
		i += size
	}
	return nil
}

// yamlPrepare keeps the lines for the checks and empties the lines that
// goccy must not see: the directives, which check.directives reads since
// goccy's parser takes only one, and lines of only white space starting
// with a tab, which YAML allows and goccy's lexer refuses. It also ends a
// last line of spaces with a line break, which goccy's block scalars lose.
func yamlPrepare(text []byte, check *yamlCheck) string {
	src := string(text)
	var b []byte // the text so far, once a line has been emptied
	yamlLines(text, func(off, end int, line []byte) {
		check.lines = append(check.lines, src[off:off+len(line)])
		n := check.first + len(check.lines) - 1
		directive := n < check.marker && len(line) > 0 && line[0] == '%'
		tabbed := len(line) > 0 && line[0] == '\t' && len(bytes.Trim(line, " \t")) == 0
		if tabbed {
			check.tabLines = append(check.tabLines, n)
		}
		switch {
		case directive || tabbed:
			if b == nil {
				b = append([]byte{}, text[:off]...)
			}
			b = append(b, text[off+len(line):end]...)
		case b != nil:
			b = append(b, text[off:end]...)
		}
	})
	if n := len(text); n > 0 && text[n-1] != '\n' && text[n-1] != '\r' && len(bytes.Trim(text[bytes.LastIndexAny(text, "\r\n")+1:], " \t")) == 0 {
		if b == nil {
			b = append([]byte{}, text...)
		}
		b = append(b, '\n')
	}
	if b == nil {
		return src
	}
	return string(b)
}

// parseYAMLDocs runs goccy's lexer and parser over one document's text. It
// returns the documents that hold content, with every position counted from
// the input's start.
func parseYAMLDocs(text string, check *yamlCheck) ([]*ast.DocumentNode, error) {
	tks, e := yamlTokens(text, check.first)
	if e != nil {
		return nil, e
	}
	if e := check.check(tks); e != nil {
		return nil, e
	}
	if cuts := yamlCuts(tks); cuts != nil {
		if docs := parseYAMLParts(text, check.first, cuts); docs != nil {
			return docs, nil
		}
	}
	return yamlParse(tks, check.first)
}

// yamlTokens runs goccy's lexer over text, whose first line is line first
// of the input, and moves the tokens' lines there.
func yamlTokens(text string, first int) (token.Tokens, *Error) {
	tks := lexer.Tokenize(text)
	seen := make(map[*token.Position]bool, len(tks))
	for _, tk := range tks {
		if tk.Position != nil && !seen[tk.Position] {
			seen[tk.Position] = true
			tk.Position.Line += first - 1
		}
	}
	if tk := tks.InvalidToken(); tk != nil {
		return nil, yamlTokenError(tk, tk.Error, first)
	}
	return tks, nil
}

// yamlParse runs goccy's parser and keeps the documents with content.
func yamlParse(tks token.Tokens, first int) ([]*ast.DocumentNode, error) {
	// Duplicate keys are found by the walker, which knows the key text
	// that records will carry.
	f, err := parser.Parse(tks, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		var ge interface {
			GetToken() *token.Token
			GetMessage() string
		}
		if errors.As(err, &ge) {
			return nil, yamlTokenError(ge.GetToken(), ge.GetMessage(), first)
		}
		return nil, &Error{Line: first, Col: 1, Msg: yamlOneLine(err.Error())}
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		// goccy puts directives into a document of their own.
		if _, ok := doc.Body.(*ast.DirectiveNode); ok {
			continue
		}
		if doc.Body == nil && doc.Start == nil {
			continue
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

// yamlCutEvery is how many top-level keys go into one parse. goccy's parser
// takes time quadratic in the keys of one block mapping, so a document that
// is a large mapping is parsed in parts that are then put together.
const yamlCutEvery = 256

// yamlCuts returns the lines at which to cut a document that is a block
// mapping of many "key: value" lines at column 1, or nil.
func yamlCuts(tks token.Tokens) []int {
	var cuts []int
	keys, flow := 0, 0
	var prev *token.Token
	prevFirst := false // prev is the first token on its line
	for _, tk := range tks {
		switch tk.Type {
		case token.CommentType, token.DocumentHeaderType:
			continue
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow--
		case token.MappingValueType:
			key := prev != nil && prevFirst && flow == 0 && prev.Position.Column == 1 &&
				(prev.Type == token.StringType || prev.Type == token.SingleQuoteType || prev.Type == token.DoubleQuoteType)
			if key {
				if keys++; keys%yamlCutEvery == 1 && keys > 1 {
					cuts = append(cuts, prev.Position.Line)
				}
			}
		}
		if prev == nil && tk.Type != token.StringType && tk.Type != token.SingleQuoteType && tk.Type != token.DoubleQuoteType {
			return nil // the document doesn't start with a key
		}
		prevFirst = prev == nil || prev.Position.Line != tk.Position.Line
		prev = tk
	}
	return cuts
}

// parseYAMLParts parses text in parts cut before the given lines, each a
// block mapping, and joins their entries into the first one. It returns
// nil when a part is not as expected, and the text must be parsed whole.
func parseYAMLParts(text string, first int, cuts []int) []*ast.DocumentNode {
	starts := []int{0} // offsets of the lines in text
	yamlLines([]byte(text), func(off, end int, line []byte) { starts = append(starts, end) })
	var doc *ast.DocumentNode
	var body *ast.MappingNode
	from := first
	for i := 0; i <= len(cuts); i++ {
		to := first + len(starts) - 1
		if i < len(cuts) {
			to = cuts[i]
		}
		if to-first >= len(starts) || from-first >= len(starts) {
			return nil
		}
		tks, e := yamlTokens(text[starts[from-first]:starts[to-first]], from)
		if e != nil {
			return nil
		}
		docs, err := yamlParse(tks, from)
		if err != nil || len(docs) != 1 {
			return nil
		}
		m, ok := docs[0].Body.(*ast.MappingNode)
		if !ok || m.IsFlowStyle {
			return nil
		}
		if doc == nil {
			doc, body = docs[0], m
		} else {
			body.Values = append(body.Values, m.Values...)
		}
		from = to
	}
	return []*ast.DocumentNode{doc}
}

func yamlTokenError(tk *token.Token, msg string, line int) *Error {
	e := &Error{Line: line, Col: 1, Msg: yamlOneLine(msg)}
	if e.Msg == "" {
		e.Msg = "invalid YAML"
	}
	if tk != nil && tk.Position != nil && tk.Position.Line > 0 {
		e.Line, e.Col = tk.Position.Line, tk.Position.Column
	}
	return e
}

// yamlOneLine reduces a message to one line without colour codes.
func yamlOneLine(s string) string {
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			break
		}
		j := i + 2
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == ';') {
			j++
		}
		if j < len(s) {
			j++
		}
		s = s[:i] + s[j:]
	}
	return strings.Join(strings.Fields(s), " ")
}

// yamlCheck holds what the token checks need to know about a document.
type yamlCheck struct {
	first    int      // line number of the text's first line
	lines    []string // the text's lines
	tabLines []int    // lines of only white space, starting with a tab
	marker   int      // line of the "---", or 0
	handles  []string // tag handles declared by %TAG, like "!e!"
	maxDepth int
}

// check looks at the tokens for what goccy's parser lets through but YAML
// forbids, and for nesting deep enough to slow goccy's parser down, which
// takes time quadratic in depth. The depth count is a lower bound: block
// collections are told apart by their columns only.
func (c *yamlCheck) check(tks token.Tokens) *Error {
	var block []int // columns of the open block collections
	flow := 0
	var prev *token.Token
	scalarLine := 0          // line of the last block scalar's header
	var opens []*token.Token // starts of the open flow collections
	var closed *token.Token  // start of the flow collection prev ended
	var key yamlKeyWatch
	for _, tk := range tks {
		pos := tk.Position
		firstOnLine := prev == nil || prev.Position.Line != pos.Line
		// A block scalar's content is one token after its header; the
		// next token's line is where the scalar has surely ended.
		content := prev != nil && (prev.Type == token.LiteralType || prev.Type == token.FoldedType)
		if scalarLine > 0 && !content {
			if e := c.tabInScalar(scalarLine, pos.Line); e != nil {
				return e
			}
			scalarLine = 0
		}
		switch tk.Type {
		case token.CommentType:
			// "#" only starts a comment after white space.
			if e := c.commentSpace(tk); e != nil {
				return e
			}
			continue
		case token.LiteralType, token.FoldedType:
			scalarLine = pos.Line
		case token.SequenceStartType, token.MappingStartType:
			flow++
			opens = append(opens, tk)
		case token.SequenceEndType, token.MappingEndType:
			if flow > 0 {
				flow--
			}
			if len(opens) > 0 {
				prev, closed = tk, opens[len(opens)-1]
				opens = opens[:len(opens)-1]
				continue
			}
		case token.SequenceEntryType, token.MappingKeyType, token.MappingValueType:
			if tk.Type == token.MappingValueType && closed != nil {
				return yamlTokenError(closed, "complex mapping keys are not supported", c.first)
			}
			if flow > 0 {
				break
			}
			col := pos.Column
			if tk.Type == token.MappingValueType && !firstOnLine {
				col = prev.Position.Column // a mapping starts at its key
			}
			for len(block) > 0 && block[len(block)-1] > col {
				block = block[:len(block)-1]
			}
			if len(block) == 0 || block[len(block)-1] < col {
				block = append(block, col)
			}
		case token.StringType:
			if tk.Value == "-" {
				return yamlTokenError(tk, `"-" must be followed by a space to start a list item`, c.first)
			}
		case token.TagType:
			if !strings.HasPrefix(tk.Value, "!<") && strings.ContainsAny(tk.Value, ",[]{}") {
				return yamlTokenError(tk, fmt.Sprintf("invalid tag %s", tk.Value), c.first)
			}
			if h := yamlTagHandle(tk.Value); h != "" && !slices.Contains(c.handles, h) {
				return yamlTokenError(tk, fmt.Sprintf("tag handle %s is not declared by a %%TAG directive", h), c.first)
			}
		}
		if bad := key.next(tk, flow > 0); bad != nil {
			return yamlTokenError(bad, "complex mapping keys are not supported", c.first)
		}
		closed = nil
		if len(block)+flow > c.maxDepth {
			return yamlTokenError(tk, fmt.Sprintf("nesting deeper than %d levels", c.maxDepth), c.first)
		}
		// Lines that go on inside a block collection, within a flow
		// collection or a multi-line scalar, must be indented past it.
		if len(block) > 0 {
			top := block[len(block)-1]
			if flow > 0 && firstOnLine && c.indent(pos.Line) < top {
				return yamlTokenError(tk, "a flow collection's lines must be indented more than its parent", c.first)
			}
			if line := c.badContinuation(tk, top); line > 0 {
				return &Error{Line: line, Col: 1, Msg: "a multi-line scalar's lines must be indented more than its parent"}
			}
		}
		prev = tk
	}
	if scalarLine > 0 {
		return c.tabInScalar(scalarLine, c.first+len(c.lines))
	}
	return nil
}

// tabInScalar returns an error when a line between from and to, both
// excluded, held only white space starting with a tab: inside a block
// scalar, that tab stands where indentation must be spaces.
func (c *yamlCheck) tabInScalar(from, to int) *Error {
	for _, l := range c.tabLines {
		if l > from && l < to {
			return &Error{Line: l, Col: 1, Msg: "a tab can't indent a block scalar's line"}
		}
	}
	return nil
}

// commentSpace returns an error when a comment follows other text on its
// line with no white space between: "#" only starts a comment after it.
// goccy's comment columns are not exact, so this finds the "#" itself.
func (c *yamlCheck) commentSpace(tk *token.Token) *Error {
	l := c.line(tk.Position.Line)
	i := strings.LastIndex(l, "#"+tk.Value)
	if i <= 0 || l[i-1] == ' ' || l[i-1] == '\t' {
		return nil
	}
	return &Error{Line: tk.Position.Line, Col: utf8.RuneCountInString(l[:i]) + 1, Msg: "a comment needs white space before the #"}
}

// directives reads the %YAML and %TAG directives before the "---".
func (c *yamlCheck) directives() *Error {
	seenYAML := false
	for i, l := range c.lines {
		line := c.first + i
		if line >= c.marker {
			break
		}
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasPrefix(f[0], "%") {
			continue
		}
		for j, w := range f {
			if strings.HasPrefix(w, "#") {
				f = f[:j] // a comment
				break
			}
		}
		switch f[0] {
		case "%YAML":
			if seenYAML {
				return &Error{Line: line, Col: 1, Msg: "the %YAML directive is given twice"}
			}
			seenYAML = true
			if len(f) != 2 || !yamlVersion(f[1]) {
				return &Error{Line: line, Col: 1, Msg: "the %YAML directive needs one version, like 1.2"}
			}
		case "%TAG":
			if len(f) != 3 {
				return &Error{Line: line, Col: 1, Msg: "the %TAG directive needs a handle and a prefix"}
			}
			if slices.Contains(c.handles, f[1]) {
				return &Error{Line: line, Col: 1, Msg: fmt.Sprintf("tag handle %s is declared twice", f[1])}
			}
			c.handles = append(c.handles, f[1])
		}
	}
	return nil
}

// yamlVersion reports whether v is a version like "1.2".
func yamlVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	return ok && major != "" && minor != "" && strings.Trim(major, "0123456789") == "" && strings.Trim(minor, "0123456789") == ""
}

// yamlKeyWatch follows the tokens after an explicit key's "?" to find a key
// that is a collection: a block or flow one ("? - a", "? [a]") or, in
// block context, a mapping on one line ("? a: b"). goccy's own errors for
// these don't say.
type yamlKeyWatch struct {
	state int // 1 after "?", 2 after the key's first token
	first *token.Token
}

func (k *yamlKeyWatch) next(tk *token.Token, inFlow bool) *token.Token {
	switch {
	case tk.Type == token.MappingKeyType:
		k.state = 1
	case k.state == 0 || tk.Type == token.TagType:
	case k.state == 1:
		switch tk.Type {
		case token.SequenceEntryType, token.SequenceStartType, token.MappingStartType:
			k.state = 0
			return tk
		}
		k.state, k.first = 2, tk
	default:
		k.state = 0
		if !inFlow && tk.Type == token.MappingValueType && tk.Position.Line == k.first.Position.Line {
			return k.first
		}
	}
	return nil
}

// indent returns the leading spaces of an input line.
func (c *yamlCheck) indent(line int) int {
	l := c.line(line)
	return len(l) - len(strings.TrimLeft(l, " "))
}

func (c *yamlCheck) line(line int) string {
	if i := line - c.first; i >= 0 && i < len(c.lines) {
		return c.lines[i]
	}
	return ""
}

// badContinuation returns the first line of a multi-line scalar token that
// is not indented past column top, or 0.
func (c *yamlCheck) badContinuation(tk *token.Token, top int) int {
	// Only quoted scalars: goccy's position of a multi-line plain scalar
	// is sometimes its end, and goccy checks those itself.
	if tk.Type != token.SingleQuoteType && tk.Type != token.DoubleQuoteType {
		return 0
	}
	lines := strings.Split(strings.TrimSpace(tk.Origin), "\n")
	for i, l := range lines[1:] {
		if strings.TrimSpace(l) != "" && c.indent(tk.Position.Line+1+i) < top {
			return tk.Position.Line + 1 + i
		}
	}
	return 0
}

// yamlTagHandle returns the named handle of a tag ("!e!" of "!e!foo"), or
// "" for the primary "!", the secondary "!!" and verbatim tags.
func yamlTagHandle(tag string) string {
	if len(tag) < 3 || tag[0] != '!' || tag[1] == '!' || tag[1] == '<' {
		return ""
	}
	if i := strings.IndexByte(tag[1:], '!'); i >= 0 {
		return tag[:i+2]
	}
	return ""
}

// record turns one parsed document into a record.
func (d *yamlDecoder) record(doc *ast.DocumentNode, c yamlChunk, check *yamlCheck, index int) (Record, error) {
	rec := Record{Index: index, Line: c.line, Col: 1}
	if c.marker {
		rec.Line = c.markerLine
	}
	if doc.Body == nil {
		return rec, nil
	}
	p := yamlPrep{lim: d.lim, anchors: map[string]ast.Node{}, aliases: map[*ast.AliasNode]ast.Node{}, sizes: map[ast.Node]int{}}
	if _, err := p.visit(doc.Body, 0); err != nil {
		return Record{}, err
	}
	// A %TAG directive may give "!!" another prefix: then "!!int" is not
	// the YAML int.
	w := yamlWalker{lim: d.lim, aliases: p.aliases, ownSecondary: slices.Contains(check.handles, "!!")}
	v, err := w.value(doc.Body)
	if err != nil {
		return Record{}, err
	}
	rec.Value = v
	pos := yamlPos(doc.Body)
	rec.Line, rec.Col = pos.Line, pos.Column
	body, aliases := doc.Body, p.aliases
	rec.locate = func(path []string) (line, col int, ok bool) {
		defer func() {
			if recover() != nil {
				ok = false // an odd tree: fall back to the record
			}
		}()
		return yamlLocate(body, aliases, path)
	}
	return rec, nil
}

// yamlPos returns where a node starts. goccy's own token for a block
// mapping is its first ":", so that case takes the first key.
func yamlPos(n ast.Node) *token.Position {
	switch n := n.(type) {
	case nil:
		return &token.Position{}
	case *ast.MappingNode:
		if !n.IsFlowStyle && len(n.Values) > 0 {
			return yamlPos(n.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return yamlPos(n.Key)
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position
	}
	return &token.Position{}
}

// yamlPrep resolves aliases to their anchored nodes in document order and
// counts what the aliases expand to, before any value is built, so that an
// alias bomb fails at once in little memory.
type yamlPrep struct {
	lim     Limits
	anchors map[string]ast.Node
	aliases map[*ast.AliasNode]ast.Node
	sizes   map[ast.Node]int // values each anchored node expands to
	through int              // values added by aliases so far
}

func (p *yamlPrep) visit(n ast.Node, depth int) (int, error) {
	switch n := n.(type) {
	case *ast.MappingNode:
		return p.mapping(n, n.Values, depth)
	case *ast.MappingValueNode:
		return p.mapping(n, []*ast.MappingValueNode{n}, depth)
	case *ast.SequenceNode:
		if depth++; depth > p.lim.MaxDepth {
			return 0, yamlDepthError(n, p.lim)
		}
		size := 1
		for _, v := range n.Values {
			s, err := p.visit(v, depth)
			if err != nil {
				return 0, err
			}
			size = p.add(size, s)
		}
		return size, nil
	case *ast.MappingKeyNode:
		return p.visit(n.Value, depth)
	case *ast.TagNode:
		return p.visit(n.Value, depth)
	case *ast.AnchorNode:
		s, err := p.visit(n.Value, depth)
		if err != nil {
			return 0, err
		}
		// Registered after its content, so an anchor can't contain
		// itself: an alias inside it finds an earlier anchor or none.
		p.anchors[yamlName(n.Name)] = n.Value
		p.sizes[n.Value] = s
		return s, nil
	case *ast.AliasNode:
		name := yamlName(n.Value)
		target, ok := p.anchors[name]
		if !ok {
			return 0, yamlNodeError(n, fmt.Sprintf("unknown alias %q", name))
		}
		p.aliases[n] = target
		s := p.sizes[target]
		if p.through = p.add(p.through, s); p.through > p.lim.MaxNodes {
			return 0, yamlNodeError(n, fmt.Sprintf("document expands to more than %d values through aliases", p.lim.MaxNodes))
		}
		return s, nil
	}
	return 1, nil
}

func (p *yamlPrep) mapping(n ast.Node, values []*ast.MappingValueNode, depth int) (int, error) {
	if depth++; depth > p.lim.MaxDepth {
		return 0, yamlDepthError(n, p.lim)
	}
	size := 1
	for _, mv := range values {
		if _, err := p.visit(mv.Key, depth); err != nil {
			return 0, err
		}
		s, err := p.visit(mv.Value, depth)
		if err != nil {
			return 0, err
		}
		size = p.add(size, s)
	}
	return size, nil
}

// add sums sizes without overflowing: past the limit, the count stops.
func (p *yamlPrep) add(a, b int) int {
	if a+b > p.lim.MaxNodes {
		return p.lim.MaxNodes + 1
	}
	return a + b
}

func yamlName(n ast.Node) string {
	if n == nil || n.GetToken() == nil {
		return ""
	}
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value
	}
	return n.GetToken().Value
}

func yamlNodeError(n ast.Node, msg string) *Error {
	pos := yamlPos(n)
	return &Error{Line: pos.Line, Col: pos.Column, Msg: msg}
}

func yamlDepthError(n ast.Node, lim Limits) *Error {
	return yamlNodeError(n, fmt.Sprintf("nesting deeper than %d levels", lim.MaxDepth))
}

// yamlWalker builds values from a document's nodes.
type yamlWalker struct {
	lim          Limits
	aliases      map[*ast.AliasNode]ast.Node
	depth        int
	ownSecondary bool     // "!!" is not tag:yaml.org,2002:
	via          ast.Node // the alias being expanded, where errors point
}

// tooDeep returns the error for nesting past the limit at n, or at the
// alias that brought n in.
func (w *yamlWalker) tooDeep(n ast.Node) *Error {
	if w.via != nil {
		n = w.via
	}
	return yamlDepthError(n, w.lim)
}

func (w *yamlWalker) value(n ast.Node) (any, error) {
	switch n := n.(type) {
	case nil:
		return nil, nil
	case *ast.MappingNode:
		return w.mapping(n, n.Values)
	case *ast.MappingValueNode:
		return w.mapping(n, []*ast.MappingValueNode{n})
	case *ast.SequenceNode:
		if w.depth++; w.depth > w.lim.MaxDepth {
			return nil, w.tooDeep(n)
		}
		list := make([]any, len(n.Values))
		for i, item := range n.Values {
			v, err := w.value(item)
			if err != nil {
				return nil, err
			}
			list[i] = v
		}
		w.depth--
		return list, nil
	case *ast.AnchorNode:
		return w.value(n.Value)
	case *ast.AliasNode:
		if w.via == nil {
			w.via = n
			defer func() { w.via = nil }()
		}
		return w.value(w.aliases[n])
	case *ast.TagNode:
		return w.tagged(n)
	case *ast.LiteralNode:
		return yamlText(n), nil
	case *ast.StringNode:
		if n.Token.Type == token.SingleQuoteType || n.Token.Type == token.DoubleQuoteType {
			return n.Value, nil
		}
		return w.plain(n, n.Value)
	case *ast.NullNode:
		return nil, nil
	case ast.ScalarNode:
		// Numbers, booleans, .inf, .nan and "<<" as a value: read the
		// text again by the core schema, which keeps numbers exact.
		return w.plain(n, yamlText(n))
	}
	return nil, yamlNodeError(n, fmt.Sprintf("unsupported YAML node %s", n.Type()))
}

// plain resolves an untagged plain scalar by the YAML 1.2 core schema.
func (w *yamlWalker) plain(n ast.Node, s string) (any, error) {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil, nil
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	}
	if isYAMLInfNaN(s) {
		return nil, yamlNodeError(n, fmt.Sprintf("%s cannot be represented as a JSON number", s))
	}
	if num, ok := yamlNumber(s); ok {
		return num, nil
	}
	return s, nil
}

// isYAMLInfNaN reports whether s is one of the core schema's infinities or
// not-a-numbers, which JSON numbers can't hold.
func isYAMLInfNaN(s string) bool {
	switch s {
	case ".nan", ".NaN", ".NAN":
		return true
	}
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	switch s {
	case ".inf", ".Inf", ".INF":
		return true
	}
	return false
}

// yamlNumber reads an int or float of the core schema and returns it as
// JSON number text, exact: no trip through float64.
func yamlNumber(s string) (Number, bool) {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o') {
		base := 16
		if s[1] == 'o' {
			base = 8
		}
		i, ok := new(big.Int).SetString(s[2:], base)
		if !ok {
			return "", false
		}
		return Number(i.String()), true
	}
	// [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
	i := 0
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	frac, hasDot := "", false
	if i < len(s) && s[i] == '.' {
		hasDot = true
		i++
		fracStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[fracStart:i]
	}
	if intPart == "" && frac == "" {
		return "", false
	}
	exp := ""
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		expStart := i
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		digits := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == digits {
			return "", false
		}
		exp = s[expStart:i]
	}
	if i != len(s) {
		return "", false
	}
	// JSON wants no "+", no leading zeros, and digits on both sides of ".".
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(intPart)
	if hasDot {
		if frac == "" {
			frac = "0"
		}
		b.WriteByte('.')
		b.WriteString(frac)
	}
	b.WriteString(exp)
	return Number(b.String()), true
}

// yamlText is the text of a scalar node: as written for plain scalars, and
// unescaped for quoted ones.
func yamlText(n ast.Node) string {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value
	case *ast.LiteralNode:
		if n.Value == nil {
			return ""
		}
		return n.Value.Value
	case *ast.NullNode:
		if n.Token.Type == token.ImplicitNullType {
			return ""
		}
	case *ast.MergeKeyNode:
		// goccy's lexer takes "a<<" for a merge key too.
		return strings.TrimSpace(n.Token.Origin)
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// yamlIsMerge reports whether a mapping key is the merge key, a plain <<.
func yamlIsMerge(k ast.MapKeyNode) bool {
	m, ok := k.(*ast.MergeKeyNode)
	return ok && yamlText(m) == "<<"
}

// tagged applies the standard tags to a scalar; other tags, and tags on
// collections, leave the value as it would be without them.
func (w *yamlWalker) tagged(n *ast.TagNode) (any, error) {
	inner := n.Value
	for {
		a, ok := inner.(*ast.AnchorNode)
		if !ok {
			break
		}
		inner = a.Value
	}
	if !yamlIsScalar(inner) {
		return w.value(n.Value)
	}
	text := yamlText(inner)
	tag := yamlTagName(n.Start.Value)
	if w.ownSecondary && strings.HasPrefix(n.Start.Value, "!!") {
		tag = ""
	}
	switch tag {
	case "!", "str", "binary", "timestamp":
		return text, nil
	case "int", "float":
		if isYAMLInfNaN(text) {
			return nil, yamlNodeError(n, fmt.Sprintf("%s cannot be represented as a JSON number", text))
		}
		if num, ok := yamlNumber(text); ok {
			return num, nil
		}
		return nil, yamlNodeError(n, fmt.Sprintf("!!%s value %q is not a number", tag, text))
	case "bool":
		v, _ := w.plain(n, text)
		if _, ok := v.(bool); !ok {
			return nil, yamlNodeError(n, fmt.Sprintf("!!bool value %q is not true or false", text))
		}
		return v, nil
	case "null":
		return nil, nil
	}
	return w.value(n.Value)
}

// yamlTagName returns the name of a tag of the YAML schema ("str" for
// "!!str" or "!<tag:yaml.org,2002:str>"), "!" for the non-specific tag,
// and "" for any other tag.
func yamlTagName(tag string) string {
	switch {
	case tag == "!":
		return "!"
	case strings.HasPrefix(tag, "!!"):
		return tag[2:]
	case strings.HasPrefix(tag, "!<tag:yaml.org,2002:") && strings.HasSuffix(tag, ">"):
		return strings.TrimSuffix(strings.TrimPrefix(tag, "!<tag:yaml.org,2002:"), ">")
	}
	return ""
}

// yamlIsScalar reports whether n is a scalar itself, not a collection and
// not an alias or tag around something.
func yamlIsScalar(n ast.Node) bool {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode, *ast.AliasNode, *ast.TagNode, nil:
		return false
	}
	_, ok := n.(ast.ScalarNode)
	return ok
}

// mapping builds an object. Merge keys ("<<") bring in the fields of other
// mappings where they stand, unless the mapping sets them itself.
func (w *yamlWalker) mapping(n ast.Node, values []*ast.MappingValueNode) (any, error) {
	if w.depth++; w.depth > w.lim.MaxDepth {
		return nil, w.tooDeep(n)
	}
	keys := make([]string, len(values))
	explicit := make(map[string]bool, len(values))
	merges := false
	for i, mv := range values {
		if yamlIsMerge(mv.Key) {
			merges = true
			continue
		}
		k, err := w.key(mv.Key)
		if err != nil {
			return nil, err
		}
		if explicit[k] {
			return nil, yamlNodeError(mv.Key, fmt.Sprintf("duplicate key %q", k))
		}
		explicit[k] = true
		keys[i] = k
	}
	obj := &Object{}
	if len(values) > 0 {
		obj.Fields = make([]Field, 0, len(values))
	}
	var merged map[string]bool
	if merges {
		merged = map[string]bool{}
	}
	for i, mv := range values {
		v, err := w.value(mv.Value)
		if err != nil {
			return nil, err
		}
		if !yamlIsMerge(mv.Key) {
			obj.Fields = append(obj.Fields, Field{keys[i], v})
			continue
		}
		srcs := []any{v}
		if list, ok := v.([]any); ok {
			srcs = list
		}
		for _, src := range srcs {
			o, ok := src.(*Object)
			if !ok {
				return nil, yamlNodeError(mv.Value, "the merge key << needs a mapping or a list of mappings")
			}
			// The first mapping to set a key wins, and the mapping's own
			// keys win over all of them.
			for _, f := range o.Fields {
				if !explicit[f.Key] && !merged[f.Key] {
					merged[f.Key] = true
					obj.Fields = append(obj.Fields, f)
				}
			}
		}
	}
	w.depth--
	return obj, nil
}

// key returns the text of a mapping key. Scalars of any type give their
// text; collections can't be object keys.
func (w *yamlWalker) key(n ast.Node) (string, error) {
	for {
		switch k := n.(type) {
		case *ast.MappingKeyNode:
			n = k.Value
			continue
		case *ast.AnchorNode:
			n = k.Value
			continue
		case *ast.TagNode:
			n = k.Value
			continue
		case *ast.AliasNode:
			n = w.aliases[k]
			continue
		}
		break
	}
	if n == nil {
		return "", nil
	}
	if !yamlIsScalar(n) {
		return "", yamlNodeError(n, "complex mapping keys are not supported")
	}
	return yamlText(n), nil
}

// yamlLocate finds the node at path (object keys and list indexes) and
// returns where it starts.
func yamlLocate(n ast.Node, aliases map[*ast.AliasNode]ast.Node, path []string) (int, int, bool) {
	w := yamlWalker{aliases: aliases}
	for _, p := range path {
		n = yamlDeref(n, aliases)
		switch m := n.(type) {
		case *ast.MappingNode:
			n = yamlFindKey(&w, m.Values, p)
		case *ast.MappingValueNode:
			n = yamlFindKey(&w, []*ast.MappingValueNode{m}, p)
		case *ast.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(m.Values) {
				return 0, 0, false
			}
			n = m.Values[i]
		default:
			return 0, 0, false
		}
		if n == nil {
			return 0, 0, false
		}
	}
	pos := yamlPos(n)
	return pos.Line, pos.Column, pos.Line > 0
}

// yamlDeref looks through anchors, tags and aliases to the node itself.
func yamlDeref(n ast.Node, aliases map[*ast.AliasNode]ast.Node) ast.Node {
	for {
		switch m := n.(type) {
		case *ast.AnchorNode:
			n = m.Value
		case *ast.TagNode:
			n = m.Value
		case *ast.AliasNode:
			n = aliases[m]
		default:
			return n
		}
	}
}

// yamlFindKey returns the value of key in a mapping, looking into the
// mappings merged with "<<" when the mapping doesn't set it itself.
func yamlFindKey(w *yamlWalker, values []*ast.MappingValueNode, key string) ast.Node {
	for _, mv := range values {
		if !yamlIsMerge(mv.Key) {
			if k, err := w.key(mv.Key); err == nil && k == key {
				return mv.Value
			}
		}
	}
	for _, mv := range values {
		if !yamlIsMerge(mv.Key) {
			continue
		}
		srcs := []ast.Node{mv.Value}
		if seq, ok := yamlDeref(mv.Value, w.aliases).(*ast.SequenceNode); ok {
			srcs = seq.Values
		}
		for _, src := range srcs {
			if m, ok := yamlDeref(src, w.aliases).(*ast.MappingNode); ok {
				if v := yamlFindKey(w, m.Values, key); v != nil {
					return v
				}
			}
		}
	}
	return nil
}

// appendYAML appends v as one YAML document in block style, ending with a
// newline. Strings are quoted wherever a plain scalar would read back as
// something else, so decoding the output gives v again.
func appendYAML(dst []byte, v any) ([]byte, error) {
	return appendYAMLBlock(dst, v, 0, false)
}

// appendYAMLBlock appends v's lines at indent. With inline set, the first
// line goes on after a "- " already written. A scalar or an empty
// collection, which only comes here at the top, takes one line.
func appendYAMLBlock(dst []byte, v any, indent int, inline bool) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case *Object:
		if v == nil || len(v.Fields) == 0 {
			break
		}
		for i, f := range v.Fields {
			if i > 0 || !inline {
				dst = appendYAMLSpaces(dst, indent)
			}
			dst = appendYAMLString(dst, f.Key)
			dst = append(dst, ':')
			if yamlIsBlock(f.Value) {
				dst = append(dst, '\n')
				dst, err = appendYAMLBlock(dst, f.Value, indent+2, false)
			} else {
				dst = append(dst, ' ')
				dst, err = appendYAMLScalar(dst, f.Value)
				dst = append(dst, '\n')
			}
			if err != nil {
				return dst, err
			}
		}
		return dst, nil
	case []any:
		if len(v) == 0 {
			break
		}
		for i, item := range v {
			if i > 0 || !inline {
				dst = appendYAMLSpaces(dst, indent)
			}
			dst = append(dst, "- "...)
			if yamlIsBlock(item) {
				dst, err = appendYAMLBlock(dst, item, indent+2, true)
			} else {
				dst, err = appendYAMLScalar(dst, item)
				dst = append(dst, '\n')
			}
			if err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	dst, err = appendYAMLScalar(dst, v)
	return append(dst, '\n'), err
}

// yamlIsBlock reports whether v is written on lines of its own: a
// collection that isn't empty.
func yamlIsBlock(v any) bool {
	switch v := v.(type) {
	case *Object:
		return v != nil && len(v.Fields) > 0
	case []any:
		return len(v) > 0
	}
	return false
}

func appendYAMLSpaces(dst []byte, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, ' ')
	}
	return dst
}

// appendYAMLScalar appends a value that takes no lines of its own.
func appendYAMLScalar(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case Number:
		if !ValidNumber(string(v)) {
			return dst, fmt.Errorf("invalid number %q", string(v))
		}
		return append(dst, v...), nil
	case string:
		return appendYAMLString(dst, v), nil
	case *Object:
		if v == nil {
			return append(dst, "null"...), nil
		}
		return append(dst, "{}"...), nil
	case []any:
		return append(dst, "[]"...), nil
	}
	return dst, fmt.Errorf("cannot encode a value of type %T as YAML", v)
}

// appendYAMLString appends s plain when it reads back as the same string,
// and double-quoted otherwise.
func appendYAMLString(dst []byte, s string) []byte {
	if !yamlNeedsQuotes(s) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == utf8.RuneError && size == 1:
			// A byte that isn't UTF-8 can't be written in YAML; like
			// encoding/json, write the replacement character.
			dst = append(dst, `\uFFFD`...)
		case r < 0x20 || r == 0x7f:
			dst = fmt.Appendf(dst, `\x%02X`, r)
		case !yamlPrintable(r):
			dst = fmt.Appendf(dst, `\u%04X`, r)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// yamlPrintable reports whether r may stand as itself in a YAML scalar.
// Line and paragraph separators, NEL and the BOM are escaped too, since
// YAML 1.1 readers break lines at them.
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t':
		return true
	case r < 0x20 || r == 0x7f:
		return false
	case r >= 0x80 && r <= 0x9f, r == 0x2028, r == 0x2029, r == 0xFEFF, r == 0xFFFE, r == 0xFFFF:
		return false
	}
	return r != utf8.RuneError
}

// yamlNeedsQuotes reports whether s written plain would read back as
// another value or string, under YAML 1.2 or the YAML 1.1 rules that many
// readers still follow.
func yamlNeedsQuotes(s string) bool {
	if s == "" || strings.HasPrefix(s, "...") || !utf8.ValidString(s) {
		return true
	}
	switch strings.ToLower(s) {
	case "true", "false", "null", "~", "yes", "no", "on", "off", "y", "n",
		".inf", "-.inf", "+.inf", ".nan", "<<", "=":
		return true
	}
	// Anything that starts like a number: 1, 1.0, .5, 0x1f, 1e3, 1_000,
	// 12:30 (sexagesimal in YAML 1.1), 2001-12-14 (a timestamp).
	if isDigit(s[0]) || s[0] == '.' && len(s) > 1 && isDigit(s[1]) {
		return true
	}
	if strings.IndexByte("-?:,[]{}#&*!|>'\"%@`+ ", s[0]) >= 0 || s[len(s)-1] == ' ' || s[len(s)-1] == ':' {
		return true
	}
	// goccy's lexer reads a plain "a<<" as a merge key.
	if strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.Contains(s, "<<") {
		return true
	}
	for _, r := range s {
		if r == '\t' || !yamlPrintable(r) {
			return true
		}
	}
	return false
}
