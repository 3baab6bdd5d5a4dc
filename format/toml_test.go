package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	toml "github.com/pelletier/go-toml/v2"
)

// tomlDecodeAll decodes every record of doc, stopping at the first error.
func tomlDecodeAll(doc []byte, lim Limits) ([]Record, error) {
	d, err := newTOMLDecoder(bytes.NewReader(doc), lim)
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

// tomlShow renders a value compactly, keeping key order and the kind of
// each scalar visible: strings quoted, numbers bare.
func tomlShow(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case string:
		return strconv.Quote(v)
	case Number:
		return string(v)
	case []any:
		s := make([]string, len(v))
		for i, e := range v {
			s[i] = tomlShow(e)
		}
		return "[" + strings.Join(s, ",") + "]"
	case *Object:
		s := make([]string, len(v.Fields))
		for i, f := range v.Fields {
			s[i] = strconv.Quote(f.Key) + ":" + tomlShow(f.Value)
		}
		return "{" + strings.Join(s, ",") + "}"
	}
	return "?" + reflect.TypeOf(v).String()
}

func tomlShowRecords(recs []Record) string {
	s := make([]string, len(recs))
	for i, r := range recs {
		s[i] = tomlShow(r.Value)
	}
	return strings.Join(s, "\n")
}

// tomlObj builds an object from alternating keys and values.
func tomlObj(kv ...any) *Object {
	o := &Object{}
	for i := 0; i < len(kv); i += 2 {
		o.Fields = append(o.Fields, Field{kv[i].(string), kv[i+1]})
	}
	return o
}

func TestTOMLDecode(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // one rendered record per line
	}{
		{
			name: "key order is kept through dotted keys and tables",
			doc:  "z = 1\na.y = 2\na.b = 3\n[m]\nk = 4\n[a.c]\nd = 5\n",
			want: `{"z":1,"a":{"y":2,"b":3,"c":{"d":5}},"m":{"k":4}}`,
		},
		{
			name: "the 64-bit integer extremes are read exactly",
			doc:  "max = 9223372036854775807\nmin = -9223372036854775808\n",
			want: `{"max":9223372036854775807,"min":-9223372036854775808}`,
		},
		{
			name: "hex octal and binary integers become decimal",
			doc:  "h = 0xDEAD_beef\no = 0o755\nb = 0b1101\np = +1_000\nz = -0\nbig = 0x7FFFFFFFFFFFFFFF\n",
			want: `{"h":3735928559,"o":493,"b":13,"p":1000,"z":0,"big":9223372036854775807}`,
		},
		{
			name: "floats keep their exact text",
			doc:  "a = 0.1000000000000000055511151231257827\nb = 1e5\nc = -2.5E-3\nd = 1_000.5\ne = +3.14\nf = 1e+05\ng = -0.0\nh = 1e-400\n",
			want: `{"a":0.1000000000000000055511151231257827,"b":1e5,"c":-2.5E-3,"d":1000.5,"e":3.14,"f":1e+05,"g":-0.0,"h":1e-400}`,
		},
		{
			name: "dates and times become RFC 3339 strings",
			doc:  "odt = 1979-05-27T07:32:00Z\nspace = 1979-05-27 07:32:00.999999-07:00\nldt = 1979-05-27T07:32:00\nld = 1979-05-27\nlt = 07:32:00.5\n",
			want: `{"odt":"1979-05-27T07:32:00Z","space":"1979-05-27T07:32:00.999999-07:00","ldt":"1979-05-27T07:32:00","ld":"1979-05-27","lt":"07:32:00.5"}`,
		},
		{
			name: "lower-case t and z and times without seconds become RFC 3339 too",
			doc:  "lower = 1987-07-05t17:45:00.5z\nodt = 1979-05-27 07:32-07:00\nldt = 1979-05-27T07:32\nlt = 13:37\n",
			want: `{"lower":"1987-07-05T17:45:00.5Z","odt":"1979-05-27T07:32:00-07:00","ldt":"1979-05-27T07:32:00","lt":"13:37:00"}`,
		},
		{
			name: "strings of every kind are unescaped",
			doc:  "b = \"tab\\there \\u00e9\"\nl = 'C:\\path'\nml = \"\"\"\nline1\nline2\"\"\"\nmll = '''\nraw\\n'''\n",
			want: `{"b":"tab\there é","l":"C:\\path","ml":"line1\nline2","mll":"raw\\n"}`,
		},
		{
			name: "arrays and inline tables nest",
			doc:  "a = [1, [2, 3], {x = \"y\"}, []]\nt = {p.q = true, r = {}}\n",
			want: `{"a":[1,[2,3],{"x":"y"},[]],"t":{"p":{"q":true},"r":{}}}`,
		},
		{
			name: "arrays of tables collect their tables in order",
			doc:  "[[fruit]]\nname = \"apple\"\n[fruit.physical]\ncolor = \"red\"\n[[fruit.variety]]\nname = \"red delicious\"\n[[fruit]]\nname = \"banana\"\n",
			want: `{"fruit":[{"name":"apple","physical":{"color":"red"},"variety":[{"name":"red delicious"}]},{"name":"banana"}]}`,
		},
		{
			name: "a plain document is one record",
			doc:  "title = \"x\"\n[owner]\nname = \"Tom\"\n",
			want: `{"title":"x","owner":{"name":"Tom"}}`,
		},
		{
			name: "a records array of tables gives one record per table",
			doc:  "[[records]]\na = 1\n\n[[records]]\nb = 2\n[records.sub]\nc = 3\n",
			want: "{\"a\":1}\n{\"b\":2,\"sub\":{\"c\":3}}",
		},
		{
			name: "an inline records array of tables gives one record per table",
			doc:  "records = [{a = 1}, {a = 2}]\n",
			want: "{\"a\":1}\n{\"a\":2}",
		},
		{
			name: "records beside another key is one record",
			doc:  "x = 1\n[[records]]\na = 1\n",
			want: `{"x":1,"records":[{"a":1}]}`,
		},
		{
			name: "an empty records array is one record",
			doc:  "records = []\n",
			want: `{"records":[]}`,
		},
		{
			name: "a records array of scalars is one record",
			doc:  "records = [1, 2]\n",
			want: `{"records":[1,2]}`,
		},
		{
			name: "an empty document has no records",
			doc:  "# only a comment\n\n  \t\n",
			want: "",
		},
		{
			name: "a byte order mark is skipped",
			doc:  "\uFEFFa = 1\n",
			want: `{"a":1}`,
		},
		{
			name: "CRLF line ends are read",
			doc:  "a = 1\r\n[t]\r\nb = [\r\n  2,\r\n]\r\n",
			want: `{"a":1,"t":{"b":[2]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := tomlDecodeAll([]byte(tt.doc), DefaultLimits)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := tomlShowRecords(recs); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			for i, r := range recs {
				if r.Index != i+1 {
					t.Errorf("record %d has index %d", i+1, r.Index)
				}
			}
		})
	}
}

func TestTOMLDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		lim  Limits
		want string
	}{
		{
			name: "a duplicate key is reported where it is redefined",
			doc:  "a = 1\nb = 2\na = 3\n",
			want: "3:1: key a is already defined",
		},
		{
			name: "a redefined table is reported at its header",
			doc:  "[t]\nx = 1\n[t]\n",
			want: "3:2: table t already exists",
		},
		{
			name: "malformed TOML is reported at the bad character",
			doc:  "a = 1\nb = ?\n",
			want: "2:5: unexpected character U+003F '?' at start of value",
		},
		{
			name: "a missing value is reported at the end of the line",
			doc:  "ok = true\nkey =\n",
			want: "2:6: unexpected character U+000A at start of value",
		},
		{
			name: "an integer beyond 64 bits is go-toml's clean error",
			doc:  "n = 9223372036854775808\n",
			want: "1:5: decimal number is too large to fit in a 64-bit signed integer",
		},
		{
			name: "a float beyond float64 is go-toml's clean error",
			doc:  "x = 1e400\n",
			want: "1:5: unable to parse float: strconv.ParseFloat: parsing \"1e400\": value out of range",
		},
		{
			name: "an impossible date is rejected",
			doc:  "d = 1979-02-30\n",
			want: "1:13: impossible date",
		},
		{
			name: "inf cannot be a JSON number",
			doc:  "x = 1\ny = -inf\n",
			want: "2:5: -inf cannot be represented as a JSON number",
		},
		{
			name: "nan inside an array cannot be a JSON number",
			doc:  "[t]\nv = [1, nan]\n",
			want: "2:9: nan cannot be represented as a JSON number",
		},
		{
			name: "invalid UTF-8 is reported where it starts",
			doc:  "a = 1\nb = \"x\xff\"\n",
			want: "2:7: invalid UTF-8",
		},
		{
			name: "invalid UTF-8 in a comment is rejected too",
			doc:  "# caf\xe9\n",
			want: "1:6: invalid UTF-8",
		},
		{
			name: "nested arrays deeper than the limit are rejected",
			doc:  "ok = [[1]]\nbad = [[[1]]]\n",
			lim:  Limits{MaxDepth: 3},
			want: "2:9: nesting deeper than 3 levels",
		},
		{
			name: "dotted keys deeper than the limit are rejected",
			doc:  "a.b.c.d = 1\n",
			lim:  Limits{MaxDepth: 3},
			want: "1:5: nesting deeper than 3 levels",
		},
		{
			name: "arrays of tables count toward the depth",
			doc:  "[[a]]\n[[a.b]]\n",
			lim:  Limits{MaxDepth: 4},
			want: "2:1: nesting deeper than 4 levels",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim
			if lim == (Limits{}) {
				lim = DefaultLimits
			}
			recs, err := tomlDecodeAll([]byte(tt.doc), lim)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v (%T) and records %s, want *Error %q", err, err, tomlShowRecords(recs), tt.want)
			}
			if e.Error() != tt.want {
				t.Errorf("got error %q, want %q", e.Error(), tt.want)
			}
			if len(recs) != 0 {
				t.Errorf("got records %s before the error", tomlShowRecords(recs))
			}
		})
	}
}

// In a document of [[records]] tables, each table is one record: an error
// inside one is that record's, at its place in the document, and the
// records after it are read, as a bad line of ndjson is skipped.
func TestTOMLRecordTableErrors(t *testing.T) {
	doc := "# users\n[[records]]\nid = 1\n\n[[records]]\nid = 2\nid = 3\n[records.address]\ncity = \"Oslo\"\n\n[[records]]\nid = 4\nwhen = 1979-02-30\n\n[[records]]\nid = 5\n"
	d, err := newTOMLDecoder(strings.NewReader(doc), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		r, err := d.Next()
		if err == io.EOF {
			break
		}
		var e *Error
		switch {
		case errors.As(err, &e) && e.Recoverable:
			got = append(got, fmt.Sprintf("record %d: %v; raw %q", e.Record, e, e.Raw))
		case err != nil:
			t.Fatal(err)
		default:
			got = append(got, fmt.Sprintf("record %d at %d:%d: %s", r.Index, r.Line, r.Col, tomlShow(r.Value)))
		}
	}
	want := []string{
		`record 1 at 2:1: {"id":1}`,
		`record 2: 7:1: key id is already defined; raw "[[records]]\nid = 2\nid = 3\n[records.address]\ncity = \"Oslo\"\n\n"`,
		`record 3: 13:16: impossible date; raw "[[records]]\nid = 4\nwhen = 1979-02-30\n\n"`,
		`record 4 at 15:1: {"id":5}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTOMLRecordPositions(t *testing.T) {
	doc := "[[records]]\na = 1\n\n[[records]]\nb.c = [10, [20, 30], {d = \"x\"}]\n  [ records . t ]\nu = 2\n[[records.list]]\nv = 3\n"
	recs, err := tomlDecodeAll([]byte(doc), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	if r := recs[1]; r.Index != 2 || r.Line != 4 || r.Col != 1 {
		t.Errorf("second record is %d at %d:%d, want 2 at 4:1", r.Index, r.Line, r.Col)
	}
	tests := []struct {
		name string
		path string // slash-separated
		want string // line:col
	}{
		{"a dotted key's first part is at its key", "b", "5:1"},
		{"a key's value is where the value starts", "b/c", "5:7"},
		{"a list element is at its value", "b/c/0", "5:8"},
		{"a nested list is at its bracket", "b/c/1", "5:12"},
		{"an element of a nested list is at its value", "b/c/1/1", "5:17"},
		{"a key inside an inline table is at its value", "b/c/2/d", "5:27"},
		{"a table is at its header", "t", "6:3"},
		{"a key in a table is at its value", "t/u", "7:5"},
		{"a table of an array of tables is at its header", "list/0", "8:1"},
		{"a key in an array of tables is at its value", "list/0/v", "9:5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c := recs[1].Locate(strings.Split(tt.path, "/"))
			if got := strconv.Itoa(l) + ":" + strconv.Itoa(c); got != tt.want {
				t.Errorf("Locate(%s) = %s, want %s", tt.path, got, tt.want)
			}
		})
	}
	for _, path := range []string{"b/nope", "b/c/9", "t/u/0", "records"} {
		t.Run("the absent path "+path+" is not found", func(t *testing.T) {
			if l, c, ok := recs[1].locate(strings.Split(path, "/"), nil); ok {
				t.Errorf("locate(%s) = %d:%d, want not found", path, l, c)
			}
		})
	}
	t.Run("a plain document is one record at 1:1 that locates its keys", func(t *testing.T) {
		recs, err := tomlDecodeAll([]byte("\n\n[server]\nport = 8080\n"), DefaultLimits)
		if err != nil || len(recs) != 1 {
			t.Fatalf("got %d records and %v", len(recs), err)
		}
		if recs[0].Line != 1 || recs[0].Col != 1 {
			t.Errorf("record at %d:%d, want 1:1", recs[0].Line, recs[0].Col)
		}
		if l, c := recs[0].Locate([]string{"server", "port"}); l != 4 || c != 8 {
			t.Errorf("server.port at %d:%d, want 4:8", l, c)
		}
	})
}

func TestTOMLEncode(t *testing.T) {
	tests := []struct {
		name string
		rec  any
		want string
	}{
		{
			name: "scalars come before sub-tables",
			rec: tomlObj("id", Number("1"), "name", "a b", "user", tomlObj("tags", []any{"x", "y"}, "addr", tomlObj("city", "Oslo")),
				"items", []any{tomlObj("n", Number("1")), tomlObj("n", Number("2"))}),
			want: "[[records]]\nid = 1\nname = \"a b\"\n\n[records.user]\ntags = [\"x\", \"y\"]\n\n[records.user.addr]\ncity = \"Oslo\"\n\n[[records.items]]\nn = 1\n\n[[records.items]]\nn = 2\n",
		},
		{
			name: "a table before a scalar is written inline to keep key order",
			rec:  tomlObj("meta", tomlObj("v", Number("2"), "e", tomlObj()), "ok", true, "tail", tomlObj("z", false)),
			want: "[[records]]\nmeta = { v = 2, e = {} }\nok = true\n\n[records.tail]\nz = false\n",
		},
		{
			name: "mixed arrays hold inline tables",
			rec:  tomlObj("m", []any{Number("1"), tomlObj("a", Number("1")), "s", []any{tomlObj("b", Number("2"))}, []any{}}),
			want: "[[records]]\nm = [1, { a = 1 }, \"s\", [{ b = 2 }], []]\n",
		},
		{
			name: "keys that are not bare are quoted",
			rec:  tomlObj("", Number("1"), "a.b", Number("2"), "with space", Number("3"), "ü", Number("4"), "q\"", Number("5"), "ok-_9", Number("6")),
			want: "[[records]]\n\"\" = 1\n\"a.b\" = 2\n\"with space\" = 3\n\"ü\" = 4\n\"q\\\"\" = 5\nok-_9 = 6\n",
		},
		{
			name: "strings escape quotes backslashes and control characters",
			rec:  tomlObj("s", "q\" b\\ \b\t\n\f\r \x00\x1f\x7f é\xff"),
			want: "[[records]]\ns = \"q\\\" b\\\\ \\b\\t\\n\\f\\r \\u0000\\u001F\\u007F é\\uFFFD\"\n",
		},
		{
			name: "an empty record is just its header",
			rec:  tomlObj(),
			want: "[[records]]\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendTOML([]byte("prefix:"), tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix:"+tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, "prefix:"+tt.want)
			}
		})
	}
}

func TestTOMLEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		rec  any
		want string
	}{
		{"null is named with its field path", tomlObj("a", tomlObj("b", nil)), `toml cannot hold null (at field "a.b")`},
		{"null in a list names its index", tomlObj("l", []any{Number("1"), nil}), `toml cannot hold null (at field "l.1")`},
		{"null in an array of tables names the table", tomlObj("t", []any{tomlObj(), tomlObj("x", nil)}), `toml cannot hold null (at field "t.1.x")`},
		{"a list record is refused", []any{tomlObj()}, "toml records must be objects"},
		{"a string record is refused", "x", "toml records must be objects"},
		{"a null record is refused", nil, "toml records must be objects"},
		{"an integer beyond 64 bits is refused", tomlObj("n", Number("9223372036854775808")), `toml cannot hold the integer 9223372036854775808: toml integers are 64-bit (at field "n")`},
		{"a float beyond float64 is refused", tomlObj("f", Number("-1e400")), `toml cannot hold the number -1e400: it is out of range (at field "f")`},
		{"an invalid number is refused", tomlObj("f", Number("1.")), `invalid number "1." (at field "f")`},
		{"a value outside the model is refused", tomlObj("f", 3), `toml cannot hold a value of type int (at field "f")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := appendTOML(nil, tt.rec)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got error %v, want %q", err, tt.want)
			}
		})
	}
}

// tomlFrame encodes records as the encoder does: units joined by "\n".
func tomlFrame(t testing.TB, recs []any) []byte {
	var buf bytes.Buffer
	for i, r := range recs {
		if i > 0 {
			buf.WriteString(codecs[TOML].Frame.Sep)
		}
		b, err := appendTOML(nil, r)
		if err != nil {
			t.Fatalf("encoding %s: %v", tomlShow(r), err)
		}
		buf.Write(b)
	}
	return buf.Bytes()
}

func TestTOMLRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		recs []any
	}{
		{
			name: "nested objects come back in key order",
			recs: []any{
				tomlObj("a", tomlObj("b", tomlObj("c", Number("1")), "d", "x"), "e", Number("2"), "f", tomlObj("g", tomlObj())),
				tomlObj("only", tomlObj("deep", tomlObj("deeper", tomlObj("x", true)))),
			},
		},
		{
			name: "arrays of tables with their own sub-tables come back",
			recs: []any{
				tomlObj("items", []any{
					tomlObj("n", Number("1"), "sub", tomlObj("k", "v"), "more", []any{tomlObj("z", Number("1")), tomlObj()}),
					tomlObj("n", Number("2"), "list", []any{tomlObj("inner", []any{tomlObj("q", Number("3"))})}),
				}, "after", "yes"),
				tomlObj("records", []any{tomlObj("a", Number("1"))}),
				tomlObj("records", Number("5")),
			},
		},
		{
			name: "mixed and nested arrays come back",
			recs: []any{tomlObj("m", []any{Number("1"), tomlObj("a", []any{tomlObj("b", Number("2"))}), "s", []any{[]any{}}, []any{}})},
		},
		{
			name: "tricky strings and keys come back",
			recs: []any{
				tomlObj("", "", "a.b", "q\" b\\ \b\t\n\f\r \x00\x1f\x7f é 😀 \u2028", "with space", tomlObj("\"", tomlObj("'", "'''\"\"\"")), "[x]", []any{tomlObj("#", "# not a comment")}),
			},
		},
		{
			name: "numbers keep their text",
			recs: []any{tomlObj("i", []any{Number("0"), Number("-7"), Number("9223372036854775807"), Number("-9223372036854775808")},
				"f", []any{Number("-0.0"), Number("1E5"), Number("0.5"), Number("1e-400"), Number("-2.5e+10"), Number("0.1000000000000000055511151231257827")})},
		},
		{
			name: "empty records come back",
			recs: []any{tomlObj(), tomlObj(), tomlObj("a", Number("1"))},
		},
		{
			name: "no records give an empty document",
			recs: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tomlFrame(t, tt.recs)
			recs, err := tomlDecodeAll(doc, DefaultLimits)
			if err != nil {
				t.Fatalf("decoding\n%s\n: %v", doc, err)
			}
			want := make([]Record, len(tt.recs))
			for i, r := range tt.recs {
				want[i].Value = r
			}
			if got, w := tomlShowRecords(recs), tomlShowRecords(want); got != w {
				t.Errorf("document\n%s\ngave\n%s\nwant\n%s", doc, got, w)
			}
		})
	}
	t.Run("a record as deep as the limit reads back, and one level more does not", func(t *testing.T) {
		deep := func(levels int) any {
			var v any = Number("1")
			for range levels {
				v = tomlObj("a", v)
			}
			return v
		}
		// A low limit: each [header] repeats the path, so the document grows
		// with the square of the depth.
		lim := Limits{MaxDepth: 40}
		ok := tomlFrame(t, []any{deep(lim.MaxDepth)})
		if _, err := tomlDecodeAll(ok, lim); err != nil {
			t.Errorf("%d levels: %v", lim.MaxDepth, err)
		}
		_, err := tomlDecodeAll(tomlFrame(t, []any{deep(lim.MaxDepth + 1)}), lim)
		if err == nil || !strings.Contains(err.Error(), "nesting deeper than 40 levels") {
			t.Errorf("%d levels: %v", lim.MaxDepth+1, err)
		}
	})
	t.Run("the encoder writes records that read back", func(t *testing.T) {
		var buf bytes.Buffer
		enc, err := NewEncoder(TOML, &buf, EncodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		in := []any{tomlObj("a", Number("1")), tomlObj("b", tomlObj("c", "d"))}
		for _, r := range in {
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		want := "[[records]]\na = 1\n\n[[records]]\n\n[records.b]\nc = \"d\"\n"
		if buf.String() != want {
			t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
		}
		recs, err := ReadAll(TOML, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := tomlShowRecords(recs); got != "{\"a\":1}\n{\"b\":{\"c\":\"d\"}}" {
			t.Errorf("read back %s", got)
		}
	})
}

// tomlSameAsGoTOML reports whether the ordered value v holds what go-toml
// decodes into m, so the fuzzer checks the builder against go-toml itself.
func tomlSameAsGoTOML(v, m any) bool {
	switch m := m.(type) {
	case map[string]any:
		o, ok := v.(*Object)
		if !ok || len(o.Fields) != len(m) {
			return false
		}
		for _, f := range o.Fields {
			mv, ok := m[f.Key]
			if !ok || !tomlSameAsGoTOML(f.Value, mv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := v.([]any)
		if !ok || len(l) != len(m) {
			return false
		}
		for i := range l {
			if !tomlSameAsGoTOML(l[i], m[i]) {
				return false
			}
		}
		return true
	case int64:
		n, ok := v.(Number)
		return ok && string(n) == strconv.FormatInt(m, 10)
	case float64:
		n, ok := v.(Number)
		f, err := strconv.ParseFloat(string(n), 64)
		return ok && err == nil && (f == m || math.IsNaN(m) && math.IsNaN(f))
	case time.Time, toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		_, ok := v.(string)
		return ok
	}
	return reflect.DeepEqual(v, m)
}

// tomlCheckLocate checks that every value inside rec is located, at a
// byte that can start it.
func tomlCheckLocate(t *testing.T, data []byte, lines tomlLines, rec Record, v any, path []string) {
	if len(path) > 0 {
		l, c, ok := rec.locate(path, nil)
		if !ok {
			t.Fatalf("%q is not located", path)
		}
		off := lines[l-1] + c - 1
		if off >= len(data) {
			t.Fatalf("%q is located at %d:%d, past the end", path, l, c)
		}
		first := data[off]
		var starts string
		switch v.(type) {
		case []any:
			if !tomlIsTable(v) {
				starts = "["
			}
		case string:
			starts = "\"'0123456789"
		case Number:
			starts = "+-0123456789"
		case bool:
			starts = "tf"
		}
		if starts != "" && !strings.ContainsRune(starts, rune(first)) {
			t.Fatalf("%q is located at %d:%d, at %q", path, l, c, first)
		}
	}
	switch v := v.(type) {
	case *Object:
		for _, f := range v.Fields {
			tomlCheckLocate(t, data, lines, rec, f.Value, tomlAppendPath(path, f.Key))
		}
	case []any:
		for i, e := range v {
			tomlCheckLocate(t, data, lines, rec, e, tomlAppendPath(path, strconv.Itoa(i)))
		}
	}
}

func FuzzTOMLDecode(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/fuzz/FuzzTOMLDecode/*.toml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := tomlDecodeAll(data, DefaultLimits)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is a %T, not an *Error", err, err)
			}
			if strings.HasPrefix(e.Msg, "toml parser failed") {
				t.Fatalf("recovered a panic: %v", e)
			}
			// Beyond go-toml's errors, only the decoder's own may occur.
			var m map[string]any
			if toml.Unmarshal(bytes.TrimPrefix(data, []byte("\uFEFF")), &m) == nil &&
				!strings.Contains(e.Msg, "cannot be represented as a JSON number") &&
				!strings.HasPrefix(e.Msg, "nesting deeper than") && e.Msg != "invalid UTF-8" {
				t.Fatalf("go-toml accepts the document, but: %v", e)
			}
			return
		}
		// The builder must agree with go-toml on what the document holds.
		data = bytes.TrimPrefix(data, []byte("\uFEFF"))
		var m map[string]any
		if err := toml.Unmarshal(data, &m); err != nil {
			t.Fatalf("decoded, but go-toml says %v", err)
		}
		b := &tomlBuilder{data: data, lim: DefaultLimits, pos: map[string]int{}}
		root, err := b.build()
		if err != nil {
			t.Fatal(err)
		}
		if !tomlSameAsGoTOML(root, m) {
			t.Fatalf("built %s, go-toml has %v", tomlShow(root), m)
		}
		lines := tomlLineStarts(data)
		for _, r := range recs {
			tomlCheckLocate(t, data, lines, r, r.Value, nil)
		}
		// The records must survive the encoder; framing adds two levels.
		vals := make([]any, len(recs))
		for i, r := range recs {
			vals[i] = r.Value
		}
		doc := tomlFrame(t, vals)
		lim := DefaultLimits
		lim.MaxDepth += 2
		back, err := tomlDecodeAll(doc, lim)
		if err != nil {
			t.Fatalf("re-decoding\n%s\nfailed: %v", doc, err)
		}
		if got, want := tomlShowRecords(back), tomlShowRecords(recs); got != want {
			t.Fatalf("round trip through\n%s\ngave\n%s\nwant\n%s", doc, got, want)
		}
	})
}

// tomlTrace writes down a document's records as a caller sees them: each
// record's index, position and value, and where each of its values is.
func tomlTrace(recs []Record) string {
	var b strings.Builder
	var walk func(r Record, v any, path []string)
	walk = func(r Record, v any, path []string) {
		l, c := r.Locate(path)
		fmt.Fprintf(&b, " %s@%d:%d", strings.Join(path, "."), l, c)
		switch v := v.(type) {
		case *Object:
			for _, f := range v.Fields {
				walk(r, f.Value, tomlAppendPath(path, f.Key))
			}
		case []any:
			for i, e := range v {
				walk(r, e, tomlAppendPath(path, strconv.Itoa(i)))
			}
		}
	}
	for _, r := range recs {
		fmt.Fprintf(&b, "%d %d:%d %s", r.Index, r.Line, r.Col, tomlShow(r.Value))
		walk(r, r.Value, nil)
		b.WriteByte('\n')
	}
	return b.String()
}

// FuzzTOMLSections holds a document of [[records]] tables, read a table at
// a time, to decoding it whole: the same records at the same positions,
// and an error wherever decoding it whole fails.
func FuzzTOMLSections(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/fuzz/FuzzTOML*/*.toml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("[[records]]\nid = 1\nid = 2\n[[records]]\nid = 3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		text := bytes.TrimPrefix(data, []byte("\uFEFF"))
		if _, ok := tomlSections(text); !ok || !utf8.Valid(text) {
			return
		}
		whole, werr := decodeTOML(data, DefaultLimits, 2) // [[records]] tables, as sections are read
		d, err := newTOMLDecoder(bytes.NewReader(data), DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		var got []Record
		var errs []string
		for {
			r, err := d.Next()
			if err == io.EOF {
				break
			}
			var e *Error
			if errors.As(err, &e) && e.Recoverable {
				errs = append(errs, err.Error())
				continue
			}
			if err != nil {
				t.Fatalf("a table at a time: %v", err)
			}
			got = append(got, r)
		}
		switch {
		case werr != nil && len(errs) == 0:
			t.Fatalf("whole: %v; a table at a time, no error", werr)
		case werr == nil && len(errs) > 0:
			t.Fatalf("whole: no error; a table at a time: %s", strings.Join(errs, "; "))
		case werr == nil:
			if w, g := tomlTrace(whole), tomlTrace(got); w != g {
				t.Fatalf("whole:\n%s\na table at a time:\n%s", w, g)
			}
		}
	})
}
