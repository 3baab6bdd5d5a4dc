package format

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/token"
)

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
	w := &yamlTokenWalk{c: c}
	for _, tk := range tks {
		if e := w.step(tk); e != nil {
			return e
		}
	}
	if w.scalarLine > 0 {
		return c.tabInScalar(w.scalarLine, c.first+len(c.lines))
	}
	return nil
}

// yamlTokenWalk is where check is in the token stream.
type yamlTokenWalk struct {
	c          *yamlCheck
	block      []int // columns of the open block collections
	flow       int
	prev       *token.Token
	scalarLine int            // line of the last block scalar's header
	opens      []*token.Token // starts of the open flow collections
	closed     *token.Token   // start of the flow collection prev ended
	key        yamlKeyWatch
}

// step checks one token.
func (w *yamlTokenWalk) step(tk *token.Token) *Error {
	c, pos := w.c, tk.Position
	firstOnLine := w.prev == nil || w.prev.Position.Line != pos.Line
	// A block scalar's content is one token after its header; the next
	// token's line is where the scalar has surely ended.
	content := w.prev != nil && (w.prev.Type == token.LiteralType || w.prev.Type == token.FoldedType)
	if w.scalarLine > 0 && !content {
		if e := c.tabInScalar(w.scalarLine, pos.Line); e != nil {
			return e
		}
		w.scalarLine = 0
	}
	switch tk.Type {
	case token.CommentType:
		// "#" only starts a comment after white space.
		return c.commentSpace(tk)
	case token.SequenceEndType, token.MappingEndType:
		if w.flow > 0 {
			w.flow--
		}
		if len(w.opens) > 0 {
			w.prev, w.closed = tk, w.opens[len(w.opens)-1]
			w.opens = w.opens[:len(w.opens)-1]
			return nil
		}
	default:
		if e := w.structure(tk, firstOnLine); e != nil {
			return e
		}
	}
	if bad := w.key.next(tk, w.flow > 0); bad != nil {
		return yamlTokenError(bad, "complex mapping keys are not supported", c.first)
	}
	w.closed = nil
	if len(w.block)+w.flow > c.maxDepth {
		return yamlTokenError(tk, fmt.Sprintf("nesting deeper than %d levels", c.maxDepth), c.first)
	}
	// Lines that go on inside a block collection, within a flow
	// collection or a multi-line scalar, must be indented past it.
	if len(w.block) > 0 {
		top := w.block[len(w.block)-1]
		if w.flow > 0 && firstOnLine && c.indent(pos.Line) < top {
			return yamlTokenError(tk, "a flow collection's lines must be indented more than its parent", c.first)
		}
		if line := c.badContinuation(tk, top); line > 0 {
			return &Error{Line: line, Col: 1, Msg: "a multi-line scalar's lines must be indented more than its parent"}
		}
	}
	w.prev = tk
	return nil
}

// structure follows what a token opens, and checks the tokens YAML
// restricts: block entries and keys, a bare "-", tags.
func (w *yamlTokenWalk) structure(tk *token.Token, firstOnLine bool) *Error {
	c, pos := w.c, tk.Position
	switch tk.Type {
	case token.LiteralType, token.FoldedType:
		w.scalarLine = pos.Line
	case token.SequenceStartType, token.MappingStartType:
		w.flow++
		w.opens = append(w.opens, tk)
	case token.SequenceEntryType, token.MappingKeyType, token.MappingValueType:
		if tk.Type == token.MappingValueType && w.closed != nil {
			return yamlTokenError(w.closed, "complex mapping keys are not supported", c.first)
		}
		if w.flow > 0 {
			break
		}
		col := pos.Column
		if tk.Type == token.MappingValueType && !firstOnLine {
			col = w.prev.Position.Column // a mapping starts at its key
		}
		for len(w.block) > 0 && w.block[len(w.block)-1] > col {
			w.block = w.block[:len(w.block)-1]
		}
		if len(w.block) == 0 || w.block[len(w.block)-1] < col {
			w.block = append(w.block, col)
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
