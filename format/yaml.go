package format

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
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
		NewUnit:    yamlUnit,
		Frame:      Frame{Sep: "---\n"},
		Holds:      Objects | Lists | Nulls | EmptyStrings,
		Layout:     []string{"indent"},
		Weight:     WholeFileWeight,
	})
}

var yamlKey = regexp.MustCompile(`^("[^"]*"|'[^']*'|[^\s#:][^:#]*):(\s|$)`)

// yamlDecoder reads a YAML stream a batch of documents at a time: it cuts
// the documents out by their markers as it reads, parses a batch's
// documents on every core, and hands out their records in order. Parsing
// each document on its own keeps the cost per document flat, where goccy's
// streaming decoder slows down as a file grows; reading a batch at a time
// keeps memory flat too. No goroutine outlives a call to Next, so a
// decoder dropped half read leaves nothing running.
type yamlDecoder struct {
	split   *yamlSplitter
	lim     Limits
	index   int          // records handed out or skipped so far
	batch   []yamlParsed // parsed documents not yet handed out, in order
	pending []Record     // records of the document being handed out
}

// yamlChunk is one document: its directives, its "---" line, its content
// and its "..." line.
type yamlChunk struct {
	text       []byte
	line       int // line number of the first line
	marker     bool
	markerLine int // line of "---", when marker is set
	directives int // line of the first directive, or 0
}

// yamlParsed is what one document parsed into.
type yamlParsed struct {
	recs []Record
	err  error
}

// yamlBatchDocs and yamlBatchBytes bound a batch: enough documents to keep
// every core busy, few enough to keep memory flat.
const (
	yamlBatchDocs  = 256
	yamlBatchBytes = 1 << 20
)

func newYAMLDecoder(r io.Reader, lim Limits) (Decoder, error) {
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultLimits.MaxDepth
	}
	if lim.MaxNodes <= 0 {
		lim.MaxNodes = DefaultLimits.MaxNodes
	}
	return &yamlDecoder{split: newYAMLSplitter(r), lim: lim}, nil
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

// yamlSplitter cuts a stream into documents as it reads. A line starting
// with "---" or "..." is a marker wherever it is, because YAML forbids such
// lines inside any scalar or collection. Directives ("%") belong to the
// document whose "---" follows them; comments and blank lines alone make
// no document.
type yamlSplitter struct {
	r *bufio.Reader
	// text is the stream from the start of cur on; pos is where the next
	// line starts in it, scanned how far a line break was looked for.
	text         []byte
	pos, scanned int
	cur          yamlChunk
	bufSize      int // of the last buffer made, see reserve
	line         int // lines taken
	// open: cur has a marker or content; prefix: at the stream start or
	// after "...", where directives may come.
	open, prefix bool
	started, eof bool
	err          error
}

func newYAMLSplitter(r io.Reader) *yamlSplitter {
	return &yamlSplitter{r: bufio.NewReaderSize(r, 64<<10), cur: yamlChunk{line: 1}, prefix: true}
}

// next returns the next document, or io.EOF after the last.
func (s *yamlSplitter) next() (yamlChunk, error) {
	for s.err == nil {
		off, textEnd, end, ok := s.nextLine()
		if !ok {
			break
		}
		if c, ok := s.take(off, textEnd, end); ok {
			return c, nil
		}
	}
	if s.err != nil {
		return yamlChunk{}, s.err
	}
	if s.open || s.cur.directives > 0 {
		c := s.cut(len(s.text), len(s.text), s.line+1)
		s.open = false
		return c, nil
	}
	return yamlChunk{}, io.EOF
}

// nextLine finds the next line in text, reading more as needed: its
// start, the end of its text and its end after the break ("\r\n", "\n" or
// a lone "\r", as YAML and goccy break lines). ok is false at the end of
// the stream or on a read error.
func (s *yamlSplitter) nextLine() (off, textEnd, end int, ok bool) {
	for {
		if i := bytes.IndexAny(s.text[s.scanned:], "\r\n"); i >= 0 {
			i += s.scanned
			e := i + 1
			if s.text[i] == '\r' {
				if e == len(s.text) && !s.eof {
					if !s.fill() {
						return 0, 0, 0, false
					}
					continue // a "\n" may follow
				}
				if e < len(s.text) && s.text[e] == '\n' {
					e++
				}
			}
			off = s.pos
			s.pos, s.scanned = e, e
			return off, i, e, true
		}
		s.scanned = len(s.text)
		if s.eof {
			if s.pos == len(s.text) {
				return 0, 0, 0, false
			}
			off = s.pos
			s.pos = len(s.text)
			return off, len(s.text), len(s.text), true
		}
		if !s.fill() {
			return 0, 0, 0, false
		}
	}
}

// fill reads up to the next "\n"; false means a read error, kept in err.
func (s *yamlSplitter) fill() bool {
	b, err := s.r.ReadSlice('\n')
	s.reserve(len(b))
	s.text = append(s.text, b...)
	if !s.started && (len(s.text) >= 3 || err != nil) {
		s.started = true
		if bytes.HasPrefix(s.text, []byte("\uFEFF")) {
			s.text = s.text[:copy(s.text, s.text[3:])]
		}
	}
	switch err {
	case nil, bufio.ErrBufferFull:
	case io.EOF:
		s.eof = true
	default:
		s.err = err
		return false
	}
	return true
}

// take looks at the line text[off:textEnd] and returns the document it
// ends, if it ends one.
func (s *yamlSplitter) take(off, textEnd, end int) (yamlChunk, bool) {
	s.line++
	text := s.text[off:textEnd]
	switch {
	case isYAMLMarker(text, "---"):
		var c yamlChunk
		ended := s.open
		if ended {
			c = s.cut(off, off, s.line)
		}
		s.open, s.prefix = true, false
		s.cur.marker, s.cur.markerLine = true, s.line
		return c, ended
	case isYAMLMarker(text, "..."):
		var c yamlChunk
		ended := s.open || s.cur.directives > 0
		if ended {
			c = s.cut(end, end, s.line+1)
		} else {
			s.cut(0, end, s.line+1) // comments alone: dropped
		}
		s.open, s.prefix = false, true
		return c, ended
	case s.prefix && len(text) > 0 && text[0] == '%':
		if s.cur.directives == 0 {
			s.cur.directives = s.line
		}
	case isYAMLBlank(text):
	default:
		s.open, s.prefix = true, false
	}
	return yamlChunk{}, false
}

// yamlSplitBuffer is the most a buffer of the splitter starts with: room
// for many small documents. The first buffers are smaller, for small inputs.
const yamlSplitBuffer = 64 << 10

// reserve makes room for n more bytes after text, in a new buffer if need
// be. The documents cut from a buffer share it: a buffer is only written
// past the end of text, and documents end before text starts.
func (s *yamlSplitter) reserve(n int) {
	if cap(s.text)-len(s.text) >= n {
		return
	}
	s.bufSize = min(max(2*s.bufSize, 4<<10), yamlSplitBuffer)
	b := make([]byte, len(s.text), max(2*(len(s.text)+n), s.bufSize))
	copy(b, s.text)
	s.text = b
}

// cut ends the current document at text[:end] and starts the next at
// text[next:], on line nextLine. The document keeps its text, which is
// never written again.
func (s *yamlSplitter) cut(end, next, nextLine int) yamlChunk {
	c := s.cur
	c.text = s.text[:end:end]
	s.text = s.text[next:]
	s.pos -= next
	s.scanned -= next
	s.cur = yamlChunk{line: nextLine}
	return c
}

// isYAMLBlank reports whether a line holds only spaces, tabs and a comment.
func isYAMLBlank(text []byte) bool {
	t := bytes.TrimLeft(text, " \t")
	return len(t) == 0 || t[0] == '#'
}

func (d *yamlDecoder) Next() (Record, error) {
	for len(d.pending) == 0 {
		if len(d.batch) == 0 {
			if err := d.parseBatch(); err != nil {
				return Record{}, err
			}
		}
		p := d.batch[0]
		d.batch = d.batch[1:]
		if p.err != nil {
			d.index++
			var e *Error
			if errors.As(p.err, &e) {
				e.Record = d.index
			}
			return Record{}, p.err
		}
		for i := range p.recs {
			d.index++
			p.recs[i].Index = d.index
		}
		d.pending = p.recs
	}
	rec := d.pending[0]
	d.pending = d.pending[1:]
	return rec, nil
}

// parseBatch reads the next batch of documents and parses them, on as
// many cores as there are. A read error comes after the documents read
// before it.
func (d *yamlDecoder) parseBatch() error {
	var docs []yamlChunk
	for size := 0; len(docs) < yamlBatchDocs && size < yamlBatchBytes; {
		c, err := d.split.next()
		if err != nil {
			if len(docs) == 0 {
				return err
			}
			break
		}
		docs = append(docs, c)
		size += len(c.text)
	}
	d.batch = make([]yamlParsed, len(docs))
	onEveryCore(len(docs), func(i int) {
		recs, err := d.decodeChunk(docs[i])
		d.batch[i] = yamlParsed{recs, err}
	})
	return nil
}

// onEveryCore calls f for each of 0 to n-1, on as many cores as there
// are, and returns when every call has.
func onEveryCore(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// decodeChunk parses one document: by the fast path when the document is
// in its subset of YAML, else by goccy's parser.
func (d *yamlDecoder) decodeChunk(c yamlChunk) ([]Record, error) {
	if recs, ok := yamlFastRecords(c, d.lim); ok {
		return recs, nil
	}
	return d.decodeGoccy(c)
}

// decodeGoccy parses one document with goccy's parser. goccy may still see
// more than one document in it (say, after a "..." followed by content),
// so it returns a list, numbered from 1. A malformed document is a
// recoverable error: the next document starts after a marker line, so
// reading can go on there.
func (d *yamlDecoder) decodeGoccy(c yamlChunk) (recs []Record, err error) {
	defer func() {
		// goccy can panic on odd input, and its trees may then be odd
		// too; a panic must not escape.
		if r := recover(); r != nil {
			recs, err = nil, &Error{Line: c.line, Col: 1, Msg: fmt.Sprintf("yaml parser failed: %v", r)}
		}
		var e *Error
		if errors.As(err, &e) {
			e.Recoverable, e.Raw = true, string(c.text)
		}
	}()
	if e := yamlCheckUTF8(c.text, c.line); e != nil {
		return nil, e
	}
	if c.directives > 0 && !c.marker {
		return nil, &Error{Line: c.directives, Col: 1, Msg: `a directive must be followed by a document start marker "---"`}
	}
	check := &yamlCheck{first: c.line, marker: c.markerLine, maxDepth: d.lim.MaxDepth}
	prepared := yamlPrepare(c.text, check)
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
		rec, err := d.record(doc, c, check, len(recs)+1)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
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
