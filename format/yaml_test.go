package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// yamlObj builds an Object from alternating keys and values.
func yamlObj(kv ...any) *Object {
	o := &Object{}
	for i := 0; i < len(kv); i += 2 {
		o.Fields = append(o.Fields, Field{kv[i].(string), kv[i+1]})
	}
	return o
}

// readYAML decodes every record of src, stopping at the first error.
func readYAML(t *testing.T, src string, lim Limits) ([]Record, error) {
	t.Helper()
	d, err := newYAMLDecoder(strings.NewReader(src), lim)
	if err != nil {
		return nil, err
	}
	var recs []Record
	for {
		rec, err := d.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
}

func yamlValues(recs []Record) []any {
	vals := []any{}
	for _, r := range recs {
		vals = append(vals, r.Value)
	}
	return vals
}

// yamlDecodeCases are documents and the values they decode to.
var yamlDecodeCases = []struct {
	name string
	src  string
	want []any
}{
	{"a stream of documents gives one record each",
		"a: 1\n---\nb: 2\n...\n---\n- x\n", []any{yamlObj("a", Number("1")), yamlObj("b", Number("2")), []any{"x"}}},
	{"a top-level list is one record",
		"- 1\n- 2\n", []any{[]any{Number("1"), Number("2")}}},
	{"keys keep their order",
		"z: 1\na: 2\nm: {y: 3, b: 4}\n", []any{yamlObj("z", Number("1"), "a", Number("2"), "m", yamlObj("y", Number("3"), "b", Number("4")))}},
	{"big integers stay exact",
		"n: 12345678901234567890123\nm: -98765432109876543210\n", []any{yamlObj("n", Number("12345678901234567890123"), "m", Number("-98765432109876543210"))}},
	{"decimals stay exact",
		"d: 0.10000000000000000001\ne: 450.00\nf: 1.5e-400\n", []any{yamlObj("d", Number("0.10000000000000000001"), "e", Number("450.00"), "f", Number("1.5e-400"))}},
	{"core schema numbers are written in JSON syntax",
		"[+1, 007, 0x1F, 0o17, .5, -.5e3, 1., 1e3, -0, 0xFFFFFFFFFFFFFFFFFF]\n",
		[]any{[]any{Number("1"), Number("7"), Number("31"), Number("15"), Number("0.5"), Number("-0.5e3"), Number("1.0"), Number("1e3"), Number("-0"), Number("4722366482869645213695")}}},
	{"YAML 1.1 spellings stay strings",
		"[yes, No, on, OFF, y, 1_000, 0b11, 12:30, 2001-12-14, 1.2.3, 0x, .]\n",
		[]any{[]any{"yes", "No", "on", "OFF", "y", "1_000", "0b11", "12:30", "2001-12-14", "1.2.3", "0x", "."}}},
	{"core schema booleans and nulls are read",
		"[true, False, TRUE, null, Null, ~, '']\n---\nk:\n", []any{[]any{true, false, true, nil, nil, nil, ""}, yamlObj("k", nil)}},
	{"quoted scalars are strings",
		"['1', \"true\", \"a\\tb\\u00e9\", 'it''s', \"~\"]\n", []any{[]any{"1", "true", "a\tbé", "it's", "~"}}},
	{"block scalars keep their text",
		"lit: |\n  a\n   b\n\nfold: >-\n  c\n  d\n\n  e\nkeep: |+\n  f\n\n", []any{yamlObj("lit", "a\n b\n", "fold", "c d\ne", "keep", "f\n\n")}},
	{"multi-line plain scalars fold",
		"k: one\n  two\n\n  three\n", []any{yamlObj("k", "one two\nthree")}},
	{"standard tags choose the type",
		"[!!str 123, !!int '7', !!float 1, !!str true, ! 12, !!bool 'true', !!null x, !!binary aGk=]\n",
		[]any{[]any{"123", Number("7"), Number("1"), "true", "12", true, nil, "aGk="}}},
	{"other tags leave the value alone",
		"--- !shape\n- !circle {r: 7}\n- !<tag:example.com:x> 5\n", []any{[]any{yamlObj("r", Number("7")), Number("5")}}},
	{"aliases expand to the anchored value",
		"a: &x {k: [1, 2]}\nb: *x\nc: &s str\nd: *s\n", []any{yamlObj("a", yamlObj("k", []any{Number("1"), Number("2")}), "b", yamlObj("k", []any{Number("1"), Number("2")}), "c", "str", "d", "str")}},
	{"an alias takes the latest anchor of its name",
		"- &a 1\n- *a\n- &a 2\n- *a\n", []any{[]any{Number("1"), Number("1"), Number("2"), Number("2")}}},
	{"merge keys bring fields in, and the mapping's own keys win",
		"b: &b {x: 1, y: 2}\no: &o {y: 3, z: 4}\nm:\n  <<: [*b, *o]\n  x: 9\nn:\n  w: 0\n  <<: *o\n",
		[]any{yamlObj("b", yamlObj("x", Number("1"), "y", Number("2")), "o", yamlObj("y", Number("3"), "z", Number("4")),
			"m", yamlObj("y", Number("2"), "z", Number("4"), "x", Number("9")), "n", yamlObj("w", Number("0"), "y", Number("3"), "z", Number("4")))}},
	{"a key that ends in << is an ordinary key",
		"A<<: null\n", []any{yamlObj("A<<", nil)}},
	{"a quoted << is an ordinary key",
		"\"<<\": {a: 1}\n", []any{yamlObj("<<", yamlObj("a", Number("1")))}},
	{"scalar keys become their text",
		"1: a\ntrue: b\nnull: c\n1.50: d\n0x10: e\n? |\n  f\n: g\n", []any{yamlObj("1", "a", "true", "b", "null", "c", "1.50", "d", "0x10", "e", "f\n", "g")}},
	{"an explicitly empty document is null",
		"---\n--- # nothing\n...\n---\na: 1\n", []any{nil, nil, yamlObj("a", Number("1"))}},
	{"a stream of only comments has no records",
		"# just a comment\n\n   \n# another\n", []any{}},
	{"an empty stream has no records", "", []any{}},
	{"a document end marker alone makes no document", "...\n", []any{}},
	{"a byte order mark is skipped",
		"\uFEFFa: 1\n", []any{yamlObj("a", Number("1"))}},
	{"directives belong to the document that follows",
		"%YAML 1.2\n---\na: 1\n...\n%YAML 1.2\n%TAG !e! tag:example.com,2000:\n--- !e!x\nb: 2\n", []any{yamlObj("a", Number("1")), yamlObj("b", Number("2"))}},
	{"CRLF line breaks are read",
		"a: 1\r\nb: |\r\n  x\r\n---\r\nc: 2\r\n", []any{yamlObj("a", Number("1"), "b", "x\n"), yamlObj("c", Number("2"))}},
	{"a line of a tab between entries is blank",
		"a: 1\n\t\nb: 2\n", []any{yamlObj("a", Number("1"), "b", Number("2"))}},
	{"a document marker needs white space after it",
		"---word\n", []any{"---word"}},
}

func TestYAMLDecode(t *testing.T) {
	for _, tt := range yamlDecodeCases {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := readYAML(t, tt.src, DefaultLimits)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := yamlValues(recs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %s\nwant %s", yamlShow(got), yamlShow(tt.want))
			}
		})
	}
}

// yamlBomb is a document of ten values that expands to ten billion.
func yamlBomb() string {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for c := 'b'; c <= 'j'; c++ {
		p := string(c - 1)
		bomb += fmt.Sprintf("%c: &%c [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", c, c, p, p, p, p, p, p, p, p, p, p)
	}
	return bomb
}

// yamlErrorCases are documents and the errors they fail with.
var yamlErrorCases = []struct {
	name string
	src  string
	lim  Limits
	want string
}{
	{"a duplicate key names the key", "name: a\nname: b\n", DefaultLimits, `2:1: duplicate key "name"`},
	{"keys that read as the same text are duplicates", "1: a\n\"1\": b\n", DefaultLimits, `2:1: duplicate key "1"`},
	{"a duplicate key in a nested mapping is found", "a:\n  b: 1\n  c: 2\n  b: 3\n", DefaultLimits, `4:3: duplicate key "b"`},
	{"a syntax error gives goccy's message on one line", "a: [1, 2\n", DefaultLimits, "1:4: sequence end token ']' not found"},
	{"a bad indentation is a syntax error", "a:\n  b: 1\n c: 2\n", DefaultLimits, "3:2: value is not allowed in this context"},
	{"invalid UTF-8 is positioned", "a: 1\nb: é\xff\n", DefaultLimits, "2:5: invalid UTF-8 byte 0xff"},
	{"infinity is not a JSON number", "x: -.inf\n", DefaultLimits, "1:4: -.inf cannot be represented as a JSON number"},
	{"not-a-number is not a JSON number", "- .NaN\n", DefaultLimits, "1:3: .NaN cannot be represented as a JSON number"},
	{"a mapping as a key is refused", "? {a: 1}\n: b\n", DefaultLimits, "1:3: complex mapping keys are not supported"},
	{"a list as a key is refused", "[a, b]: c\n", DefaultLimits, "1:1: complex mapping keys are not supported"},
	{"an alias to a list as a key is refused", "- &k [a]\n- {*k : b}\n", DefaultLimits, "1:6: complex mapping keys are not supported"},
	{"an unknown alias is named", "a: *nope\n", DefaultLimits, `1:4: unknown alias "nope"`},
	{"an anchor can't hold an alias to itself", "a: &a [*a]\n", DefaultLimits, `1:8: unknown alias "a"`},
	{"a merge of a scalar is refused", "<<: 1\n", DefaultLimits, "1:5: the merge key << needs a mapping or a list of mappings"},
	{"a tag that can't hold the value is refused", "n: !!int twelve\n", DefaultLimits, `1:4: !!int value "twelve" is not a number`},
	{"a directive needs a document marker", "%YAML 1.2\na: 1\n", DefaultLimits, `1:1: a directive must be followed by a document start marker "---"`},
	{"an undeclared tag handle is refused", "--- !e!x 1\n", DefaultLimits, "1:5: tag handle !e! is not declared by a %TAG directive"},
	{"a comment needs space before it", "a: [1]#c\n", DefaultLimits, "1:7: a comment needs white space before the #"},
	{"nesting past the limit is refused", strings.Repeat("[", 6) + strings.Repeat("]", 6), Limits{MaxDepth: 5, MaxNodes: 100}, "1:6: nesting deeper than 5 levels"},
	{"block nesting past the limit is refused", "- - - x\n", Limits{MaxDepth: 2, MaxNodes: 100}, "1:5: nesting deeper than 2 levels"},
	{"nesting through an alias past the limit is refused", "a: &a [[1]]\nb: [[*a]]\n", Limits{MaxDepth: 3, MaxNodes: 100}, "2:6: nesting deeper than 3 levels"},
	{"an alias bomb fails at once", yamlBomb(), DefaultLimits, "6:36: document expands to more than 1000000 values through aliases"},
	{"the alias limit counts expanded values", "a: &a [1, 2, 3]\nb: [*a, *a]\n", Limits{MaxDepth: 10, MaxNodes: 7}, "2:9: document expands to more than 7 values through aliases"},
}

func TestYAMLDecodeErrors(t *testing.T) {
	for _, tt := range yamlErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := readYAML(t, tt.src, tt.lim)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v (%T), want a *Error", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("got error %q\nwant      %q", err.Error(), tt.want)
			}
			if e.Record == 0 {
				t.Errorf("the error names no record")
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v to fail", d)
			}
		})
	}
}

func TestYAMLErrorsLetReadingGoOn(t *testing.T) {
	d, err := newYAMLDecoder(strings.NewReader("a: 1\n---\nb: [\n---\nc: 3\n"), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := d.Next(); err != nil || rec.Index != 1 {
		t.Fatalf("first document: %+v, %v", rec, err)
	}
	_, err = d.Next()
	var e *Error
	if !errors.As(err, &e) || !e.Recoverable || e.Record != 2 || e.Line != 3 {
		t.Fatalf("second document: got %#v, want a recoverable error in record 2 on line 3", err)
	}
	rec, err := d.Next()
	if err != nil || rec.Index != 3 || !reflect.DeepEqual(rec.Value, yamlObj("c", Number("3"))) {
		t.Fatalf("third document: %+v, %v", rec, err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("after the last document: %v, want io.EOF", err)
	}
}

func TestYAMLRecordPositions(t *testing.T) {
	src := "# head\n---\nfirst: 1\n--- \n  a:\n    b:\n      - x\n      - c: deep\n        d: [1, {e: 2}]\n    base: &base {f: 3}\n    m:\n      <<: *base\n      g: *base\n"
	recs, err := readYAML(t, src, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("got %d records", len(recs))
	}
	if r := recs[0]; r.Index != 1 || r.Line != 3 || r.Col != 1 {
		t.Errorf("first record at %d:%d index %d, want 3:1 index 1", r.Line, r.Col, r.Index)
	}
	r := recs[1]
	if r.Index != 2 || r.Line != 5 || r.Col != 3 {
		t.Errorf("second record at %d:%d index %d, want 5:3 index 2", r.Line, r.Col, r.Index)
	}
	tests := []struct {
		name      string
		path      []string
		line, col int
	}{
		{"a key of the top mapping is found", []string{"a"}, 6, 5},
		{"a list item is found by its index", []string{"a", "b", "0"}, 7, 9},
		{"a nested path is found", []string{"a", "b", "1", "c"}, 8, 12},
		{"a path into a flow collection is found", []string{"a", "b", "1", "d", "1", "e"}, 9, 20},
		{"a merged key is found where it is defined", []string{"a", "m", "f"}, 10, 21},
		{"a path through an alias is found in the anchored value", []string{"a", "m", "g", "f"}, 10, 21},
		{"a missing key falls back to its mapping", []string{"a", "nope"}, 6, 5},
		{"an index out of range falls back to its list", []string{"a", "b", "5"}, 7, 7},
		{"a path absent from the record falls back to the record", []string{"first", "x"}, 5, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if l, c := r.Locate(tt.path); l != tt.line || c != tt.col {
				t.Errorf("Locate(%q) = %d:%d, want %d:%d", tt.path, l, c, tt.line, tt.col)
			}
		})
	}
	empty, err := readYAML(t, "a: 1\n---\n", DefaultLimits)
	if err != nil || len(empty) != 2 || empty[1].Line != 2 || empty[1].Col != 1 {
		t.Errorf("an empty document should be a record at its marker: %+v %v", empty, err)
	}
}

func TestYAMLEncode(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"a scalar is one line", "hello", "hello\n"},
		{"null, booleans and numbers are plain", []any{nil, true, false, Number("-1.50e3")}, "- null\n- true\n- false\n- -1.50e3\n"},
		{"empty collections are written in flow style", yamlObj("a", []any{}, "b", &Object{}), "a: []\nb: {}\n"},
		{"nested mappings are indented by two", yamlObj("a", yamlObj("b", yamlObj("c", "d")), "e", "f"), "a:\n  b:\n    c: d\ne: f\n"},
		{"lists under keys are indented by two", yamlObj("a", []any{"x", "z"}), "a:\n  - x\n  - z\n"},
		{"mappings in lists start on the dash line", []any{yamlObj("a", Number("1"), "b", yamlObj("c", Number("2"))), yamlObj("d", []any{Number("3")})},
			"- a: 1\n  b:\n    c: 2\n- d:\n    - 3\n"},
		{"lists in lists start on the dash line", []any{[]any{"a", []any{"b", "c"}}, "d"}, "- - a\n  - - b\n    - c\n- d\n"},
		{"strings that would read as something else are quoted", []any{"", "true", "No", "1", "0x1f", " x", "a: b", "a #b", "- x", "line\nbreak", "tab\tx", "\x00", "\u2028"},
			"- \"\"\n- \"true\"\n- \"No\"\n- \"1\"\n- \"0x1f\"\n- \" x\"\n- \"a: b\"\n- \"a #b\"\n- \"- x\"\n- \"line\\nbreak\"\n- \"tab\\tx\"\n- \"\\x00\"\n- \"\\u2028\"\n"},
		{"keys are quoted when they need it", yamlObj("", Number("1"), "1", Number("2"), "<<", Number("3"), "a b", Number("4")), "\"\": 1\n\"1\": 2\n\"<<\": 3\na b: 4\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendYAML(nil, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	t.Run("a value outside the model is refused", func(t *testing.T) {
		if _, err := appendYAML(nil, 1.5); err == nil || err.Error() != "cannot encode a value of type float64 as YAML" {
			t.Errorf("got %v", err)
		}
		if _, err := appendYAML(nil, Number("01")); err == nil || err.Error() != `invalid number "01"` {
			t.Errorf("got %v", err)
		}
	})
}

func TestYAMLLargeMappings(t *testing.T) {
	var b strings.Builder
	want := &Object{}
	for i := 0; i < 30000; i++ {
		switch {
		case i == 3:
			b.WriteString("k3: &x {a: [1, 2]}\n")
			want.Fields = append(want.Fields, Field{"k3", yamlObj("a", []any{Number("1"), Number("2")})})
		case i%1000 == 999:
			fmt.Fprintf(&b, "k%d:\n  <<: *x\n  b: |\n    text\n", i)
			want.Fields = append(want.Fields, Field{fmt.Sprintf("k%d", i), yamlObj("a", []any{Number("1"), Number("2")}, "b", "text\n")})
		default:
			fmt.Fprintf(&b, "k%d: v%d # comment\n", i, i)
			want.Fields = append(want.Fields, Field{fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)})
		}
	}
	src := b.String()
	t.Run("a mapping of many keys reads in linear time, anchors and all", func(t *testing.T) {
		recs, problem, err := decodeYAMLGuarded([]byte(src), 10*time.Second)
		if problem != "" || err != nil {
			t.Fatalf("%s %v", problem, err)
		}
		if len(recs) != 1 || !reflect.DeepEqual(recs[0].Value, want) {
			t.Fatalf("the mapping differs from what was written")
		}
		if l, c := recs[0].Locate([]string{"k29998"}); l != 29999+29*3 || c != 9 {
			t.Errorf("Locate(k29998) = %d:%d, want %d:9", l, c, 29999+29*3)
		}
	})
	t.Run("a duplicate key far from the first is found", func(t *testing.T) {
		_, err := readYAML(t, src+"k7: again\n", DefaultLimits)
		if want := fmt.Sprintf(`%d:1: duplicate key "k7"`, 30000+30*3+1); err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
	t.Run("a syntax error in a large mapping is positioned", func(t *testing.T) {
		_, err := readYAML(t, src+"bad: [\n", DefaultLimits)
		if want := fmt.Sprintf("%d:6: sequence end token ']' not found", 30000+30*3+1); err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
}

// yamlTrickyStrings are strings that a careless YAML writer gets wrong.
var yamlTrickyStrings = []string{
	"", " ", "  ", "plain", "two words", "true", "False", "TRUE", "null", "Null", "~", "yes", "NO", "on", "Off", "y", "n",
	"1", "-1", "+1", "1.0", "0x1f", "0o17", "0b11", "1e3", "1_000", "007", ".5", ".inf", "-.Inf", ".NaN", "12:30", "2001-12-14",
	" lead", "trail ", "- dash", "-", "--", "---", "...", "....x", "? q", "?", ": c", ":", "a:", "a: b", "a:b", "a #b", "a#b", "#c",
	",", "[", "]", "{", "}", "[a]", "{a: b}", "a[b]", "x,y", "&a", "*a", "!t", "!!str", "|", ">", "'", "\"", "%", "@", "`",
	"<<", "=", "line\nbreak", "trailing\n", "\n", "\r\n", "cr\rx", "tab\there", "\t", "\x00\x01\x1f\x7f", "\u0085\u2028\u2029\ufeff",
	"\u00a0nbsp", "é", "日本語", "emoji 😀", "back\\slash", "a'b", "a\"b", "'quoted'", "\"dq\"", "# not a comment", "key: value\n- item",
	"%YAML 1.2", "--- x", "... x", "a\n---\nb", "\\", "\\n", "\u00e9\u0301",
}

func TestYAMLRoundTrip(t *testing.T) {
	check := func(t *testing.T, v any) {
		t.Helper()
		out, err := appendYAML(nil, v)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		recs, err := readYAML(t, string(out), DefaultLimits)
		if err != nil {
			t.Fatalf("decode of %q: %v", out, err)
		}
		if len(recs) != 1 || !reflect.DeepEqual(recs[0].Value, v) {
			t.Fatalf("encoded as %q, read back as %s, want %s", out, yamlShow(yamlValues(recs)), yamlShow(v))
		}
	}
	t.Run("tricky strings survive as values, keys and list items", func(t *testing.T) {
		for _, s := range yamlTrickyStrings {
			check(t, s)
			check(t, yamlObj(s, s))
			check(t, []any{s, yamlObj(s, []any{s})})
		}
	})
	t.Run("all tricky strings survive in one document", func(t *testing.T) {
		o := &Object{}
		for i, s := range yamlTrickyStrings {
			o.Fields = append(o.Fields, Field{s, []any{s, Number(fmt.Sprint(i))}})
		}
		check(t, o)
	})
	t.Run("numbers keep their text", func(t *testing.T) {
		check(t, []any{Number("12345678901234567890123"), Number("0.10000000000000000001"), Number("-0"), Number("1E-7"), Number("450.00")})
	})
	t.Run("nested and empty collections keep their shape", func(t *testing.T) {
		check(t, []any{[]any{}, &Object{}, []any{[]any{[]any{}}}, yamlObj("a", []any{yamlObj("b", &Object{}, "c", []any{nil, false})})})
		check(t, yamlObj("list", []any{[]any{"a", "b"}, []any{yamlObj("x", Number("1"))}}, "z", nil))
		check(t, nil)
		check(t, &Object{})
		check(t, []any{})
	})
}

// yamlSeedDir holds the fuzz seeds, kept at the repo root with the other
// formats' seeds.
var yamlSeedDir = filepath.Join("..", "testdata", "fuzz", "FuzzYAMLDecode")

func FuzzYAMLDecode(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(yamlSeedDir, "*"))
	for _, path := range seeds {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	for _, s := range yamlTrickyStrings {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// However the reads fall, the documents are cut the same.
		if a, b := yamlAll(bytes.NewReader(in)), yamlAll(iotest.OneByteReader(bytes.NewReader(in))); a != b {
			t.Fatalf("read whole:\n%s\nread a byte at a time:\n%s", a, b)
		}
		d, err := newYAMLDecoder(bytes.NewReader(in), DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		for {
			rec, err := d.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Line == 0 || e.Msg == "" {
					t.Fatalf("error without a position: %v", err)
				}
				if e.Recoverable {
					continue
				}
				return
			}
			out, err := appendYAML(nil, rec.Value)
			if err != nil {
				t.Fatalf("encode %s: %v", yamlShow(rec.Value), err)
			}
			if len(out) > 1<<20 {
				continue // aliases made it large: reading it back is slow
			}
			back, err := readYAML(t, string(out), DefaultLimits)
			if err != nil {
				t.Fatalf("decode of encoded %q: %v", out, err)
			}
			if len(back) != 1 || !reflect.DeepEqual(back[0].Value, rec.Value) {
				t.Fatalf("encoded as %q, read back as %s, want %s", out, yamlShow(yamlValues(back)), yamlShow(rec.Value))
			}
		}
	})
}

// LocateKey places a field at its key: a block value starts on the next
// line, where a message about the field itself would mislead. Both yaml
// readers say the same (a directive sends a document to goccy's).
func TestYAMLLocateKey(t *testing.T) {
	doc := "a: 1\nstagez:\n  s:\n    sourc: {paths: [x]}\nflow: {k: 1}\n"
	for _, src := range []string{doc, "%YAML 1.2\n---\n" + doc} {
		shift := strings.Count(src, "\n") - strings.Count(doc, "\n")
		recs, errs := decodeAll(t, YAML, src)
		if errs != nil {
			t.Fatal(errs)
		}
		for _, tt := range []struct {
			path      []string
			line, col int
		}{
			{[]string{"a"}, 1, 1},
			{[]string{"stagez"}, 2, 1},
			{[]string{"stagez", "s", "sourc"}, 4, 5},
			{[]string{"flow", "k"}, 5, 8},
			{[]string{"stagez", "missing"}, 3, 3}, // Locate's nearest parent
		} {
			if line, col := recs[0].LocateKey(tt.path); line != tt.line+shift || col != tt.col {
				t.Errorf("%q: LocateKey(%q) = %d:%d, want %d:%d", src[:4], tt.path, line, col, tt.line+shift, tt.col)
			}
		}
	}
}
