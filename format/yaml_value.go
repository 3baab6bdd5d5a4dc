package format

import (
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

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
	loc := &yamlLocator{body: doc.Body, aliases: p.aliases}
	rec.locate = func(path []string, _ *locateCache) (line, col int, ok bool) {
		defer func() {
			if recover() != nil {
				ok = false // an odd tree: fall back to the record
			}
		}()
		return loc.locate(path)
	}
	rec.locateKey = func(path []string) (line, col int, ok bool) {
		defer func() {
			if recover() != nil {
				ok = false
			}
		}()
		return loc.locateKey(path)
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
	v, ok := yamlPlain(s)
	if !ok {
		return nil, yamlNodeError(n, fmt.Sprintf("%s cannot be represented as a JSON number", s))
	}
	return v, nil
}

// yamlPlain resolves the text of an untagged plain scalar by the YAML 1.2
// core schema. ok is false for the infinities and not-a-numbers, which
// JSON numbers can't hold.
func yamlPlain(s string) (v any, ok bool) {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil, true
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	if isYAMLInfNaN(s) {
		return nil, false
	}
	if num, ok := yamlNumber(s); ok {
		return num, true
	}
	return s, true
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
	neg, plus := false, false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg, plus = s[i] == '-', s[i] == '+'
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
	if !plus && (intPart == "0" || intPart != "" && intPart[0] != '0') && (!hasDot || frac != "") {
		return Number(s), true // JSON already
	}
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

// locate finds the node at path (object keys and list indexes) and
// returns where it starts.
func (l *yamlLocator) locate(path []string) (int, int, bool) {
	n := l.node(path)
	if n == nil {
		return 0, 0, false
	}
	pos := yamlPos(n)
	return pos.Line, pos.Column, pos.Line > 0
}

// node is the node at path, or nil.
func (l *yamlLocator) node(path []string) ast.Node {
	n, aliases := l.body, l.aliases
	w := yamlWalker{aliases: aliases}
	for _, p := range path {
		n = yamlDeref(n, aliases)
		switch m := n.(type) {
		case *ast.MappingNode:
			if v := l.indexed(&w, m, p); v != nil {
				n = v
			} else {
				n = yamlFindKey(&w, m.Values, p)
			}
		case *ast.MappingValueNode:
			n = yamlFindKey(&w, []*ast.MappingValueNode{m}, p)
		case *ast.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(m.Values) {
				return nil
			}
			n = m.Values[i]
		default:
			return nil
		}
		if n == nil {
			return nil
		}
	}
	return n
}

// locateKey finds the key of the field at path, in the mapping that
// holds it directly (a key merged in with << is found by locate alone).
func (l *yamlLocator) locateKey(path []string) (int, int, bool) {
	parent := l.node(path[:len(path)-1])
	w := yamlWalker{aliases: l.aliases}
	var values []*ast.MappingValueNode
	switch m := yamlDeref(parent, l.aliases).(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	}
	for _, mv := range values {
		if k, err := w.key(mv.Key); err == nil && k == path[len(path)-1] && !yamlIsMerge(mv.Key) {
			pos := yamlPos(mv.Key)
			return pos.Line, pos.Column, pos.Line > 0
		}
	}
	return 0, 0, false
}

// yamlLocator finds where values are in one document. It indexes the
// keys of each large mapping it looks into, so that finding every field
// of a mapping of many keys (a manifest of 10,000 stages, say) is not
// quadratic.
type yamlLocator struct {
	body    ast.Node
	aliases map[*ast.AliasNode]ast.Node
	mu      sync.Mutex
	index   map[*ast.MappingNode]map[string]ast.Node
}

// indexed returns the value of m's own key, the first when it is
// repeated, for a large m; nil sends the caller to yamlFindKey.
func (l *yamlLocator) indexed(w *yamlWalker, m *ast.MappingNode, key string) ast.Node {
	if len(m.Values) <= 16 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	keys, ok := l.index[m]
	if !ok {
		keys = make(map[string]ast.Node, len(m.Values))
		for _, mv := range m.Values {
			if yamlIsMerge(mv.Key) {
				continue
			}
			if k, err := w.key(mv.Key); err == nil {
				if _, dup := keys[k]; !dup {
					keys[k] = mv.Value
				}
			}
		}
		if l.index == nil {
			l.index = map[*ast.MappingNode]map[string]ast.Node{}
		}
		l.index[m] = keys
	}
	return keys[key]
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
