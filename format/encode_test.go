package format

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func obj(kv ...any) *Object {
	o := &Object{}
	for i := 0; i < len(kv); i += 2 {
		o.Fields = append(o.Fields, Field{kv[i].(string), kv[i+1]})
	}
	return o
}

func TestEncode(t *testing.T) {
	recs := []any{
		obj("id", Number("1"), "name", "Ada", "tags", []any{"x"}, "big", Number("12345678901234567890")),
		obj("id", Number("2"), "name", "Alan \"A\"", "tags", []any{}, "big", Number("0.10")),
	}
	tests := []struct {
		f    Format
		opts EncodeOptions
		want string
	}{
		{JSON, EncodeOptions{}, `[
  {
    "id": 1,
    "name": "Ada",
    "tags": [
      "x"
    ],
    "big": 12345678901234567890
  },
  {
    "id": 2,
    "name": "Alan \"A\"",
    "tags": [],
    "big": 0.10
  }
]
`},
		{NDJSON, EncodeOptions{}, `{"id":1,"name":"Ada","tags":["x"],"big":12345678901234567890}
{"id":2,"name":"Alan \"A\"","tags":[],"big":0.10}
`},
	}
	for _, tt := range tests {
		t.Run(string(tt.f), func(t *testing.T) {
			var b bytes.Buffer
			e, err := NewEncoder(tt.f, &b, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if err := e.Encode(r); err != nil {
					t.Fatal(err)
				}
			}
			e.Close()
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestCSVEncode(t *testing.T) {
	t.Run("columns come from the options and missing fields are empty", func(t *testing.T) {
		var b bytes.Buffer
		e, _ := NewEncoder(CSV, &b, EncodeOptions{Columns: []string{"id", "name", "note"}})
		e.Encode(obj("name", "Ada, L", "id", Number("1")))
		e.Close()
		if want := "id,name,note\n1,\"Ada, L\",\n"; b.String() != want {
			t.Errorf("got %q, want %q", b.String(), want)
		}
	})
	t.Run("a nested value is an error that names the field and writes nothing", func(t *testing.T) {
		var b bytes.Buffer
		e, _ := NewEncoder(CSV, &b, EncodeOptions{})
		err := e.Encode(obj("id", Number("1"), "address", obj("city", "x")))
		if err == nil || err.Error() != `field "address": csv cannot hold a nested object` {
			t.Fatalf("err = %v", err)
		}
		e.Encode(obj("id", Number("2"), "address", "here"))
		e.Close()
		if want := "id,address\n2,here\n"; b.String() != want {
			t.Errorf("got %q, want %q", b.String(), want)
		}
	})
}

func TestJoin(t *testing.T) {
	part := func(f Format, recs ...any) io.Reader {
		var b bytes.Buffer
		e, _ := NewEncoder(f, &b, EncodeOptions{Part: true})
		for _, r := range recs {
			e.Encode(r)
		}
		e.Close()
		return &b
	}
	a, b2 := obj("a", Number("1")), obj("a", Number("2"))
	tests := []struct {
		f     Format
		parts []io.Reader
		want  string
	}{
		{JSON, []io.Reader{part(JSON, a), part(JSON), part(JSON, b2)}, "[\n  {\n    \"a\": 1\n  },\n  {\n    \"a\": 2\n  }\n]\n"},
		{JSON, nil, "[]\n"},
		{CSV, []io.Reader{part(CSV, a), part(CSV), part(CSV, b2)}, "a\n1\n2\n"},
		{NDJSON, []io.Reader{part(NDJSON, a, b2), part(NDJSON, a)}, "{\"a\":1}\n{\"a\":2}\n{\"a\":1}\n"},
	}
	for _, tt := range tests {
		t.Run(string(tt.f), func(t *testing.T) {
			var out bytes.Buffer
			if err := Join(tt.f, &out, tt.parts...); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got %q, want %q", out.String(), tt.want)
			}
		})
	}
	t.Run("csv parts with other columns are an error", func(t *testing.T) {
		err := Join(CSV, io.Discard, part(CSV, a), part(CSV, obj("b", Number("1"))))
		if err == nil || !strings.Contains(err.Error(), `part 2 has the columns "b"`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a sequence is read a part at a time", func(t *testing.T) {
		// JoinSeq is done with a part when it asks for the next: the
		// engine closes each then, so a million parts are never open
		// at once.
		var out bytes.Buffer
		made, stopped := 0, false
		parts := func(yield func(io.Reader) bool) {
			for range 3 {
				made++
				p := part(CSV, a).(*bytes.Buffer)
				if !yield(p) {
					stopped = true
					return
				}
				if p.Len() != 0 {
					t.Errorf("part %d was not read to its end before the next was asked for", made)
				}
			}
		}
		if err := JoinSeq(CSV, &out, parts); err != nil {
			t.Fatal(err)
		}
		if out.String() != "a\n1\n1\n1\n" || made != 3 || stopped {
			t.Errorf("got %q from %d parts (stopped early: %v)", out.String(), made, stopped)
		}
	})
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name, content string
		want          Format
	}{
		{"x.json", "", JSON},
		{"x.JSONL", "", NDJSON},
		{"x.yml", "", YAML},
		{"x.tab", "", TSV},
		{"x", "{\"a\":1}\n{\"a\":2}\n", NDJSON},
		{"x", "{\n \"a\": 1\n}\n", JSON},
		{"x", "[1, 2]", JSON},
		{"x", "# comment\n[server]\nport = 80\n", TOML},
		{"x", "title = \"x\"\n", TOML},
		{"x", "[[records]]\nid = 1\n", TOML},
		{"x", "---\na: 1\n", YAML},
		{"x", "name: Ada\nage: 3\n", YAML},
		{"x", "- a\n- b\n", YAML},
		{"x", "id,name\n1,Ada\n", CSV},
		{"x", "id\tname\n1\tAda\n", TSV},
		{"x", "[\"a\"]\n", JSON},
		{"x", "[\"a\"]\n[\"b\"]\n", NDJSON},
		{"x", "[a]\n[\"b\"]\n", TOML},
		{"x", "{a: 1}\n", JSON},
		{"x", "-a = 1\n", YAML},
		{"x", "a\tb: c\n", YAML},
		{"x", "a\tb,c\n", TSV},
		{"x", "\xEF\xBB\xBF\n# header\nid,name\n", CSV},
	}
	for _, tt := range tests {
		got, ok := Detect(tt.name, []byte(tt.content))
		if !ok || got != tt.want {
			t.Errorf("Detect(%q, %q) = %s, %v; want %s", tt.name, tt.content, got, ok, tt.want)
		}
	}
	for _, content := range []string{"just some words", "", "# only a comment\n\n"} {
		if f, ok := Detect("x", []byte(content)); ok {
			t.Errorf("Detect(%q) = %s; want no format", content, f)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	const records = 1000
	rec := obj("id", Number("12345"), "name", "Ada Lovelace", "email", "ada@example.com", "age", Number("36"), "active", true)
	for _, f := range []Format{JSON, NDJSON, YAML, TOML, CSV} {
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e, err := NewEncoder(f, io.Discard, EncodeOptions{})
				if err != nil {
					b.Fatal(err)
				}
				for range records {
					if err := e.Encode(rec); err != nil {
						b.Fatal(err)
					}
				}
				e.Close()
			}
			b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func TestEncodeOptionsShapeJSONAndYAML(t *testing.T) {
	rec := &Object{Fields: []Field{
		{Key: "id", Value: Number("1")},
		{Key: "address", Value: &Object{Fields: []Field{{Key: "city", Value: "Delft"}}}},
		{Key: "tags", Value: []any{"a", &Object{Fields: []Field{{Key: "k", Value: "v"}, {Key: "w", Value: true}}}}},
	}}
	tests := []struct {
		name string
		f    Format
		opts EncodeOptions
		want string
	}{
		{"json as it is", JSON, EncodeOptions{}, "[\n  {\n    \"id\": 1,\n    \"address\": {\n      \"city\": \"Delft\"\n    },\n    \"tags\": [\n      \"a\",\n      {\n        \"k\": \"v\",\n        \"w\": true\n      }\n    ]\n  }\n]\n"},
		{"json with indent 4", JSON, EncodeOptions{Indent: 4}, "[\n    {\n        \"id\": 1,\n        \"address\": {\n            \"city\": \"Delft\"\n        },\n        \"tags\": [\n            \"a\",\n            {\n                \"k\": \"v\",\n                \"w\": true\n            }\n        ]\n    }\n]\n"},
		{"compact json, a record a line", JSON, EncodeOptions{Compact: true}, "[\n{\"id\":1,\"address\":{\"city\":\"Delft\"},\"tags\":[\"a\",{\"k\":\"v\",\"w\":true}]}\n]\n"},
		{"yaml as it is", YAML, EncodeOptions{}, "id: 1\naddress:\n  city: Delft\ntags:\n  - a\n  - k: v\n    w: true\n"},
		{"yaml with indent 4", YAML, EncodeOptions{Indent: 4}, "id: 1\naddress:\n    city: Delft\ntags:\n    - a\n    - k: v\n      w: true\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			enc, err := NewEncoder(tt.f, &b, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := enc.Encode(rec); err != nil {
				t.Fatal(err)
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
			recs, err := ReadAll(tt.f, strings.NewReader(b.String()))
			if err != nil || len(recs) != 1 || !Equal(recs[0].Value, rec) {
				t.Errorf("does not read back as written: %v", err)
			}
		})
	}
}

// An encoder hands its buffer on when closed, so using it afterwards must
// fail rather than write into another encoder's output.
func TestEncoderAfterClose(t *testing.T) {
	var a, b bytes.Buffer
	enc, _ := NewEncoder(NDJSON, &a, EncodeOptions{})
	if err := enc.Encode("x"); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	other, _ := NewEncoder(NDJSON, &b, EncodeOptions{})
	if err := enc.Encode("late"); err == nil {
		t.Error("Encode after Close succeeded")
	}
	if err := enc.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	other.Encode("y")
	other.Close()
	if a.String() != "\"x\"\n" || b.String() != "\"y\"\n" {
		t.Errorf("outputs %q and %q", a.String(), b.String())
	}
}
