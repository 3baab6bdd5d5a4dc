package format

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// yamlFastAgrees checks that, for a document the fast path takes, it gives
// the records goccy's path gives: values, positions, and where every path
// in them is, or isn't. It reports whether the fast path took it.
func yamlFastAgrees(t testing.TB, c yamlChunk, lim Limits) bool {
	t.Helper()
	fast, ok := yamlFastParse(c, lim)
	if !ok {
		return false
	}
	d := &yamlDecoder{lim: lim}
	slow, err := d.decodeGoccy(c)
	if err != nil {
		t.Fatalf("document %q: the fast path read %s, goccy's path fails: %v", c.text, yamlShowRecs(fast), err)
	}
	if len(fast) != len(slow) {
		t.Fatalf("document %q: the fast path read %s, goccy's path %s", c.text, yamlShowRecs(fast), yamlShowRecs(slow))
	}
	for i := range slow {
		f, s := fast[i], slow[i]
		if !reflect.DeepEqual(f.Value, s.Value) || f.Line != s.Line || f.Col != s.Col || f.Index != s.Index || f.Untyped != s.Untyped {
			t.Fatalf("document %q: the fast path read %s, goccy's path %s", c.text, yamlShowRecs(fast), yamlShowRecs(slow))
		}
		if (f.locate == nil) != (s.locate == nil) {
			t.Fatalf("document %q: the fast path's locate is nil: %v, goccy's: %v", c.text, f.locate == nil, s.locate == nil)
		}
		if s.locate == nil {
			continue
		}
		for _, path := range yamlFastPaths(s.Value, nil, nil) {
			fl, fc, fok := f.locate(path, nil)
			sl, sc, sok := s.locate(path, nil)
			if fl != sl || fc != sc || fok != sok {
				t.Fatalf("document %q, path %q: the fast path locates %d:%d %v, goccy's path %d:%d %v", c.text, path, fl, fc, fok, sl, sc, sok)
			}
		}
	}
	return true
}

// yamlFastPaths lists the paths into v, and paths just beside them that
// are not there: a missing key, indexes out of range or spelled oddly, a
// step into a scalar.
func yamlFastPaths(v any, prefix []string, paths [][]string) [][]string {
	at := func(k string) []string { return append(slices.Clone(prefix), k) }
	paths = append(paths, slices.Clone(prefix))
	switch v := v.(type) {
	case *Object:
		paths = append(paths, at("nope"), at(""), at("0"))
		for _, f := range v.Fields {
			paths = yamlFastPaths(f.Value, at(f.Key), paths)
		}
	case []any:
		paths = append(paths, at(strconv.Itoa(len(v))), at("-1"), at("+0"), at("01"), at("x"))
		for i, x := range v {
			paths = yamlFastPaths(x, at(strconv.Itoa(i)), paths)
		}
	default:
		paths = append(paths, at("0"), at("x"))
	}
	return paths
}

func yamlShowRecs(recs []Record) string {
	var b strings.Builder
	for _, r := range recs {
		v, err := AppendJSON(nil, r.Value)
		if err != nil {
			v = []byte(err.Error())
		}
		fmt.Fprintf(&b, "[record %d at %d:%d: %s]", r.Index, r.Line, r.Col, v)
	}
	return b.String()
}

// yamlFastStream runs yamlFastAgrees over every document of a stream, with
// the default limits and with tight ones. It counts into n, if not nil.
func yamlFastStream(t testing.TB, in []byte, n *yamlFastCount) {
	t.Helper()
	s := newYAMLSplitter(bytes.NewReader(in))
	for {
		c, err := s.next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		taken := yamlFastAgrees(t, c, DefaultLimits)
		yamlFastAgrees(t, c, Limits{MaxDepth: 3, MaxNodes: 10})
		if n != nil {
			n.add(c, taken)
		}
	}
}

// yamlFastCount counts documents: all, those goccy's path reads without
// an error, and those the fast path takes.
type yamlFastCount struct{ docs, readable, taken int }

func (n *yamlFastCount) add(c yamlChunk, taken bool) {
	n.docs++
	if taken {
		n.taken++
		n.readable++ // yamlFastAgrees saw goccy's path read it
		return
	}
	d := &yamlDecoder{lim: DefaultLimits}
	if _, err := d.decodeGoccy(c); err == nil {
		n.readable++
	}
}

func (n yamlFastCount) String() string {
	return fmt.Sprintf("the fast path took %d of %d documents, of the %d that goccy's path reads without an error (%.0f%%)",
		n.taken, n.docs, n.readable, 100*float64(n.taken)/float64(max(n.readable, 1)))
}

func TestYAMLFastAgreesOnTheSuite(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(yamlSuiteDir, "*", "in.yaml"))
	more, _ := filepath.Glob(filepath.Join(yamlSuiteDir, "*", "*", "in.yaml"))
	files = append(files, more...)
	if len(files) == 0 {
		t.Skipf("yaml-test-suite is not at %s", yamlSuiteDir)
	}
	var n yamlFastCount
	for _, p := range files {
		in, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		yamlFastStream(t, in, &n)
	}
	t.Logf("yaml-test-suite, %d files: %v", len(files), n)
}

func TestYAMLFastAgreesOnTheTests(t *testing.T) {
	var n yamlFastCount
	count := func(in string) { yamlFastStream(t, []byte(in), &n) }
	for _, tt := range yamlDecodeCases {
		count(tt.src)
	}
	for _, tt := range yamlErrorCases {
		count(tt.src)
	}
	for _, s := range yamlTrickyStrings {
		for _, v := range []any{s, yamlObj(s, s), []any{s, yamlObj(s, []any{s})}} {
			out, err := appendYAML(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			count(string(out))
		}
	}
	t.Logf("the tests' documents: %v", n)
}

func TestYAMLFastAgreesOnGenerated(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	r := rand.New(rand.NewPCG(1, 2))
	var common, odd, mutated yamlFastCount
	for range n {
		g := &yamlGen{r: r, common: r.IntN(2) == 0}
		in := g.stream()
		switch {
		case r.IntN(4) == 0:
			yamlFastStream(t, []byte(g.mutate(in)), &mutated)
		case g.common:
			yamlFastStream(t, []byte(in), &common)
		default:
			yamlFastStream(t, []byte(in), &odd)
		}
	}
	t.Logf("generated of common scalars: %v", common)
	t.Logf("generated of odd scalars too: %v", odd)
	t.Logf("generated and mutated: %v", mutated)
}

// goccy's path parses a mapping of many keys in parts; the fast path
// must agree with the parts put together.
func TestYAMLFastLargeMappings(t *testing.T) {
	for _, null := range []bool{false, true} {
		var b strings.Builder
		for i := range 700 {
			switch {
			case null && i%100 == 55:
				fmt.Fprintf(&b, "k%d:\n", i)
			case i%5 == 1:
				fmt.Fprintf(&b, "k%d:\n  a: %d  \n  b:\n  - x\n  - [y]\n", i, i)
			case i%5 == 2:
				fmt.Fprintf(&b, "\"k%d\":\n- {a: 'b'}\n-   c: d # e\n    f: g   \n", i)
			default:
				fmt.Fprintf(&b, "k%d: {a: [%d, x]}\n", i, i)
			}
		}
		var n yamlFastCount
		yamlFastStream(t, []byte(b.String()), &n)
		if !null && n.taken != 1 {
			t.Errorf("%v", n)
		}
	}
}

// yamlFastTakes lists documents the fast path must take: if it stops, the
// subset has shrunk by mistake.
var yamlFastTakes = []string{
	"---\nid: 1\nname: \"user 1\"\nemail: \"user1@example.com\"\nage: 18\ntags: [\"dev\", \"admin\"]\naddress:\n  city: \"Oslo\"\n  zip: \"59826\"\n",
	"a:\n- x\n- y: 1\n  z: [1, {b: c}]\nb: 'it''s'\n",
	"- - a\n  - b\n-\n- c: \"\\u00e9\\t\"\n",
	"k: v\r\nl:\r\n  m: ~\r\n...\r\n",
	"k: v # comment\n# more\nl:\n  m: ~\n...\n",
	"# head\n--- # marker\n[1, 2, {a: b}]\n",
	"plain text\n",
	"---\n",
	"--- # nothing\n...\n",
	"{\"id\":1,\"tags\":[\"C#\",\"F#\"],\"n\":null}\n",
}

func TestYAMLFastTakesTheCommonSubset(t *testing.T) {
	for _, in := range yamlFastTakes {
		var n yamlFastCount
		if yamlFastStream(t, []byte(in), &n); n.docs != 1 || n.taken != 1 {
			t.Errorf("%q: %v", in, n)
		}
	}
}

// A record's locate reads its document again the first time it is asked,
// from whichever goroutine asks.
func TestYAMLFastLocateConcurrently(t *testing.T) {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "k%d:\n  v: [%d, {w: x}]\n", i, i)
	}
	recs, err := readYAML(t, b.String(), DefaultLimits)
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				k := fmt.Sprint("k", (i+g)%40)
				if l, c := recs[0].Locate([]string{k, "v", "1", "w"}); l != 2*((i+g)%40)+2 || c != 12+len(k) {
					t.Errorf("%s.v.1.w at %d:%d", k, l, c)
				}
			}
		})
	}
	wg.Wait()
}

// FuzzYAMLFastAgrees checks the fast path against goccy's on any input. Its
// findings belong in ../testdata/fuzz/FuzzYAMLFastAgrees, with the other
// formats' seeds; FuzzYAMLDecode's seeds are used too.
func FuzzYAMLFastAgrees(f *testing.F) {
	for _, dir := range []string{yamlSeedDir, filepath.Join("..", "testdata", "fuzz", "FuzzYAMLFastAgrees")} {
		seeds, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, path := range seeds {
			if b, err := os.ReadFile(path); err == nil {
				f.Add(b)
			}
		}
	}
	for _, in := range yamlFastTakes {
		f.Add([]byte(in))
	}
	for _, tt := range yamlDecodeCases {
		f.Add([]byte(tt.src))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		g := &yamlGen{r: r, common: r.IntN(2) == 0}
		f.Add([]byte(g.stream()))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// An input that gets stuck fails with its text, where the
		// fuzzer would only stall.
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				panic(fmt.Sprintf("stuck on %q", in))
			}
		}()
		yamlFastStream(t, in, nil)
	})
}

// BenchmarkYAMLDecode reads a stream of small documents like the ones
// issue 12 measures.
func BenchmarkYAMLDecode(b *testing.B) {
	const docs = 20000
	var buf bytes.Buffer
	for i := 1; i <= docs; i++ {
		fmt.Fprintf(&buf, "---\nid: %d\nname: \"user %d\"\nemail: \"user%d@example.com\"\nage: %d\ntags: [\"dev\", \"admin\"]\naddress:\n  city: \"Oslo\"\n  zip: \"%05d\"\n",
			i, i, i, 18+i%60, i*7919%100000)
	}
	benchDecode(b, YAML, buf.Bytes(), docs, nil)
}

// yamlGen writes random YAML documents near the fast path's subset: its
// structures in random layouts, with scalars of the kinds that are easy
// to get wrong.
type yamlGen struct {
	r      *rand.Rand
	b      strings.Builder
	depth  int
	common bool // only scalars of kinds common in data
}

// yamlGenCommon are plain scalars of kinds common in data, tricky ones
// among them.
var yamlGenCommon = []string{
	"yes", "no", "~", "null", "0x1F", "0o17", "1e3", "+1", "1_000", "012", "-3", "0.5", "-0.25e-3", "1.", "true", "True", "TRUE",
	"false", "2001-12-14", "12:30", "Oslo", "two words", "user1@example.com", "http://x.y/z?q=1", "it's", "C#", "a/b", "50%",
	"x-y_z", "(note)", "日本語", "é",
}

var yamlGenPlain = []string{
	"yes", "no", "~", "null", "Null", "NULL", "0x1F", "0o17", "0x", "0b11", "1e3", "1E-7", ".inf", "-.Inf", "+.INF", ".nan", ".NaN",
	"+1", "-1", "1_000", "012", "007", "0", "-0", "+0", "1.", ".5", "-.5e3", "1.0e+3", "12345678901234567890", "0.10", "450.00",
	"true", "True", "TRUE", "false", "tRUE", "2001-12-14", "12:30", "1.2.3",
	"a", "x y", "a  b", "long text with words", "a #b", "a#b", "a: b", "a:b", "http://x.y/z?q=1&r=2", "user1@example.com",
	"it's", "say \"hi\"", "x,y", "a[b]", "a{b}", "a]", "- x", "-x", "--x", "-", "? x", "?x", ":x", "!x", "&a", "*a", "%x", "@x",
	"`x", "|", ">", "a|b", "a>b", "é", "日本語", "\u00a0nbsp", "x\u00a0", "a<<b", "<<", "...", "---", ". x", "..", "x...", "~x",
	"=", "=x", "x\\y", "null x", "1 2", "a!", "a&b", "a*b", "(x)", "$x", "^x", "a;b", "a/b", "+", "+x", "'", "\"", "a'", "a\"",
}

var yamlGenKeys = []string{
	"a", "b", "id", "name", "key with spaces", "1", "007", "true", "null", "~", "0x1F", ".inf", "a:b", "-a", "é", "k-1", "k_2",
	"a.b", "x y z", "<<", "a<<", "it's", "a#b", "a b", "?", "-", "[a]", "{a}", "a,b", "12:30",
}

// stream writes a document with what may come around it: comments, a
// "---" marker, a "..." end, and CRLF line breaks.
func (g *yamlGen) stream() string {
	if g.r.IntN(5) == 0 {
		g.b.WriteString("# a comment\n\n")
	}
	if g.r.IntN(2) == 0 {
		g.b.WriteString([]string{"---\n", "--- # marker\n", "---  \n"}[g.r.IntN(3)])
	}
	switch g.r.IntN(10) {
	case 0:
		g.line(0, g.flowValue())
	case 1:
		g.line(0, g.scalar())
	case 2, 3:
		g.seq(g.r.IntN(2))
	default:
		g.mapping(g.r.IntN(2))
	}
	if g.r.IntN(6) == 0 {
		g.b.WriteString("...\n")
	}
	s := g.b.String()
	if g.r.IntN(6) == 0 && !(g.common && strings.Contains(s, "#")) {
		s = strings.ReplaceAll(s, "\n", "\r\n")
	}
	return s
}

// line writes a line at an indentation, perhaps with trailing spaces or a
// comment, and perhaps a blank or comment line after it.
func (g *yamlGen) line(indent int, text string) {
	g.b.WriteString(strings.Repeat(" ", indent))
	g.b.WriteString(text)
	switch g.r.IntN(12) {
	case 0:
		g.b.WriteString("  ")
	case 1:
		g.b.WriteString(" # note")
	}
	g.b.WriteByte('\n')
	switch g.r.IntN(15) {
	case 0:
		g.b.WriteString("\n")
	case 1:
		g.b.WriteString(strings.Repeat(" ", g.r.IntN(6)) + "# between\n")
	}
}

func (g *yamlGen) mapping(indent int) {
	g.depth++
	defer func() { g.depth-- }()
	n := 1 + g.r.IntN(4)
	keys := map[string]bool{}
	for range n {
		k := g.key()
		if keys[k] && g.r.IntN(4) != 0 {
			continue // a duplicate now and then
		}
		keys[k] = true
		g.entry(indent, k+g.colon(), true)
	}
}

func (g *yamlGen) seq(indent int) {
	g.depth++
	defer func() { g.depth-- }()
	for range 1 + g.r.IntN(4) {
		g.entry(indent, "-", false)
	}
}

// entry writes a key or "-" and its value: on the same line, on the lines
// below, or none.
func (g *yamlGen) entry(indent int, head string, inMap bool) {
	deeper := indent + 1 + g.r.IntN(3)
	sp := strings.Repeat(" ", 1+g.r.IntN(2))
	if g.depth > 4 {
		g.line(indent, head+sp+g.scalar())
		return
	}
	switch g.r.IntN(9) {
	case 0:
		g.line(indent, head)
	case 1:
		g.line(indent, head+sp+g.flowValue())
	case 2:
		g.line(indent, head)
		g.mapping(deeper)
	case 3:
		g.line(indent, head)
		if inMap && g.r.IntN(2) == 0 {
			deeper = indent // a sequence may stand at its key's column
		}
		g.seq(deeper)
	case 4:
		if inMap {
			g.line(indent, head+sp+g.scalar())
			return
		}
		// A mapping or a sequence that starts on the "-" line.
		g.b.WriteString(strings.Repeat(" ", indent) + head + sp)
		at := indent + len(head) + len(sp)
		g.depth++
		if g.r.IntN(2) == 0 {
			g.b.WriteString(g.key() + g.colon() + " " + g.scalar() + "\n")
			if g.r.IntN(2) == 0 {
				g.entry(at, g.key()+g.colon(), true)
			}
		} else {
			g.b.WriteString("- " + g.scalar() + "\n")
			if g.r.IntN(2) == 0 {
				g.entry(at, "-", false)
			}
		}
		g.depth--
	default:
		g.line(indent, head+sp+g.scalar())
	}
}

// colon is a key's ":", now and then aligned with spaces before it.
func (g *yamlGen) colon() string {
	if g.r.IntN(8) == 0 {
		return strings.Repeat(" ", 1+g.r.IntN(3)) + ":"
	}
	return ":"
}

func (g *yamlGen) key() string {
	switch g.r.IntN(6) {
	case 0:
		return g.double(g.text())
	case 1:
		return yamlGenSingle(g.text())
	}
	if g.common {
		return g.plain()
	}
	return yamlGenKeys[g.r.IntN(len(yamlGenKeys))]
}

func (g *yamlGen) flowValue() string {
	g.depth++
	defer func() { g.depth-- }()
	sep := []string{", ", ",", " , "}[g.r.IntN(3)]
	in := []string{"", " "}[g.r.IntN(2)]
	var items []string
	for range g.r.IntN(4) {
		var item string
		switch {
		case g.depth < 4 && g.r.IntN(5) == 0:
			item = g.flowValue()
		default:
			item = g.scalar()
		}
		items = append(items, item)
	}
	if g.r.IntN(2) == 0 {
		return "[" + in + strings.Join(items, sep) + in + "]"
	}
	for i := range items {
		items[i] = g.key() + g.colon() + []string{" ", "", "  "}[g.r.IntN(3)] + items[i]
	}
	return "{" + in + strings.Join(items, sep) + in + "}"
}

func (g *yamlGen) scalar() string {
	switch g.r.IntN(10) {
	case 0, 1:
		return g.double(g.text())
	case 2:
		return yamlGenSingle(g.text())
	case 3:
		return g.number()
	}
	return g.plain()
}

func (g *yamlGen) plain() string {
	if g.common {
		return yamlGenCommon[g.r.IntN(len(yamlGenCommon))]
	}
	return yamlGenPlain[g.r.IntN(len(yamlGenPlain))]
}

// text is a string for a quoted scalar.
func (g *yamlGen) text() string {
	if g.r.IntN(2) == 0 {
		return yamlTrickyStrings[g.r.IntN(len(yamlTrickyStrings))]
	}
	return g.plain()
}

func (g *yamlGen) double(s string) string {
	return yamlGenDouble(g.r, s, !g.common)
}

func (g *yamlGen) number() string {
	var b strings.Builder
	b.WriteString([]string{"", "", "-", "+"}[g.r.IntN(4)])
	for range g.r.IntN(4) {
		b.WriteByte("0123456789_"[g.r.IntN(11)])
	}
	if g.r.IntN(3) == 0 {
		b.WriteString(".")
		for range g.r.IntN(3) {
			b.WriteByte("0123456789"[g.r.IntN(10)])
		}
	}
	if g.r.IntN(4) == 0 {
		b.WriteString([]string{"e3", "E-2", "e+10", "e"}[g.r.IntN(4)])
	}
	if b.Len() == 0 {
		return "0"
	}
	return b.String()
}

// yamlGenDouble double-quotes s, writing some characters as escapes, and
// if odd, now and then an escape goccy may read its own way.
func yamlGenDouble(r *rand.Rand, s string, odd bool) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteString(`\` + string(c))
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString([]string{`\t`, "\t", `\x09`}[r.IntN(3)])
		case c < ' ' || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		case r.IntN(8) == 0:
			fmt.Fprintf(&b, []string{`\u%04x`, `\U%08X`, `\u%04X`}[r.IntN(3)], c)
		default:
			b.WriteRune(c)
		}
	}
	if odd && r.IntN(5) == 0 {
		b.WriteString([]string{`\/`, `\0`, `\e`, `\N`, `\_`, `\L`, `\P`, `\ `, `\q`, `\ud800`, `\x4`, `\u00e9`, `\U0001F600`, `\xff`, `\U00110000`}[r.IntN(15)])
	}
	b.WriteByte('"')
	return b.String()
}

// yamlGenSingle single-quotes s, on one line.
func yamlGenSingle(s string) string {
	s = strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// mutate changes a document a little, so that near misses of the subset
// are tried too.
func (g *yamlGen) mutate(s string) string {
	for range 1 + g.r.IntN(2) {
		if s == "" {
			return s
		}
		i := g.r.IntN(len(s))
		switch g.r.IntN(3) {
		case 0:
			s = s[:i] + s[i+1:]
		case 1:
			const chars = " :-#\t\"'[]{},\n&*!|>?%@`\\.~0"
			c := chars[g.r.IntN(len(chars))]
			s = s[:i] + string(c) + s[i:]
		default:
			lines := strings.SplitAfter(s, "\n")
			j := g.r.IntN(len(lines))
			lines = append(lines[:j], append([]string{lines[j]}, lines[j:]...)...)
			s = strings.Join(lines, "")
		}
	}
	return s
}
