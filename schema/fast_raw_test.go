package schema

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/zpipe/zpipe/format"
)

// passAgrees fails the test when Passes vouches for a line that the usual
// path (decode, check) rejects or writes differently; it reports whether
// Passes vouched.
func passAgrees(t *testing.T, name string, v *Validator, line []byte) bool {
	t.Helper()
	out, ok := v.Passes(line, format.DefaultLimits.MaxDepth)
	if !ok {
		return false
	}
	dec := format.NewNDJSONChunkDecoder(bytes.NewReader(line), 1, 1, format.DefaultLimits)
	rec, err := dec.Next()
	if err != nil {
		t.Errorf("%s: Passes vouches for %q, which does not decode: %v", name, line, err)
		return true
	}
	got, vs := v.Check(rec.Value, false)
	if vs != nil {
		t.Errorf("%s: Passes vouches for %q, which the schema rejects: %v", name, line, vs)
		return true
	}
	want, err := format.AppendJSON(nil, got)
	if err != nil || !bytes.Equal(out, want) {
		t.Errorf("%s: Passes gives %q for %q, the usual path writes %q (%v)", name, out, line, want, err)
	}
	return true
}

// spaced puts a blank after every comma and colon outside strings, which
// keeps the value and changes its text.
func spaced(line []byte) []byte {
	var b []byte
	in := false
	for i, c := range line {
		b = append(b, c)
		switch {
		case c == '"' && (i == 0 || line[i-1] != '\\'):
			in = !in
		case !in && (c == ',' || c == ':'):
			b = append(b, ' ')
		}
	}
	return b
}

func TestPassesAgreesWithTheUsualPath(t *testing.T) {
	lines, passed := 0, 0
	for i, d := range fastCorpus(t) {
		t.Run(d.name, func(t *testing.T) {
			v := d.sch.Validator()
			defer d.sch.Put(v)
			for _, line := range bytes.Split(records(d, *diffSeed*1000+uint64(i+1), *diffRecords), []byte("\n")) {
				if len(line) == 0 {
					continue
				}
				lines++
				if passAgrees(t, d.name, v, line) {
					passed++
				}
				padded := append(append([]byte(" \t"), line...), " \r"...)
				passAgrees(t, d.name, v, padded)
				if s := spaced(line); !bytes.Equal(s, line) && passAgrees(t, d.name, v, s) {
					t.Errorf("%s: Passes vouches for %q, which the encoder would write without blanks", d.name, s)
				}
			}
		})
	}
	t.Logf("Passes vouched for %d of %d lines", passed, lines)
	if passed < lines/10 {
		t.Errorf("Passes vouched for only %d of %d lines", passed, lines)
	}
}

func TestPassesCases(t *testing.T) {
	const src = `
#T: {
	id!:   int & >=1
	name:  string & =~"^[a-z ]+$"
	score?: number & <=10
	kind?: "a" | "b"
	tags?: [...string]
	pair?: [int, string]
	extra?: _
	dflt?: {x?: int, y: *1 | int}
}`
	sch, err := Compile("t.cue", []byte(src), "T")
	if err != nil {
		t.Fatal(err)
	}
	v := sch.Validator()
	defer sch.Put(v)
	for _, tc := range []struct {
		line string
		want string // "" when Passes must not vouch
	}{
		{`{"id":1,"name":"ann"}`, `{"id":1,"name":"ann"}`},
		{`  {"id":1,"name":"ann"}` + "\r", `{"id":1,"name":"ann"}`},
		{`{"id":1,"name":"ann","score":9.5,"kind":"b","tags":["x","é"],"pair":[1,"a"],"extra":{"q":[null,true,false,-0.5e3]}}`,
			`{"id":1,"name":"ann","score":9.5,"kind":"b","tags":["x","é"],"pair":[1,"a"],"extra":{"q":[null,true,false,-0.5e3]}}`},
		{`{"id":1, "name":"ann"}`, ""},             // a blank the encoder drops
		{`{"id":1,"name":"a\u006e"}`, ""},          // an escape the encoder writes otherwise
		{`{"id":1,"name":"ann","name":"ann"}`, ""}, // a repeated key
		{`{"id":1,"name":"ann","extra":{"a":1,"a":1}}`, ""},
		{`{"id":0,"name":"ann"}`, ""},           // invalid: the usual path says why
		{`{"name":"ann"}`, ""},                  // a required field missing
		{`{"id":1,"name":"ann","other":1}`, ""}, // not allowed in a closed struct
		{`{"id":1,"name":"ann","score":11}`, ""},
		{`{"id":1,"name":"ann","kind":"c"}`, ""},
		{`{"id":1,"name":"ann","pair":[1,"a",2]}`, ""},
		{`{"id":1,"name":"ann","pair":[1]}`, ""},
		{`{"id":1,"name":"ann","dflt":{}}`, ""}, // y is filled in
		{`{"id":1,"name":"ann","dflt":{"y":2}}`, `{"id":1,"name":"ann","dflt":{"y":2}}`},
		{`{"id":01,"name":"ann"}`, ""},
		{`{"id":1,"name":"ann"}x`, ""},
		{`{"id":1,"name":"ann",}`, ""},
		{`{"id":1,"name":"an` + "\xff" + `"}`, ""},
		{`{"id":1,"name":"ann","extra":` + deep(70) + `}`, ""}, // deeper than Passes reads
		{`{"id":1,"name":"ann","extra":` + deep(20) + `}`, `{"id":1,"name":"ann","extra":` + deep(20) + `}`},
	} {
		out, ok := v.Passes([]byte(tc.line), format.DefaultLimits.MaxDepth)
		if got := string(out); ok != (tc.want != "") || got != tc.want {
			t.Errorf("Passes(%s) = %q, %v; want %q", tc.line, got, ok, tc.want)
		}
		passAgrees(t, "t", v, []byte(tc.line))
	}
}

// Passes reads no deeper than the decoder lets a value nest.
func TestPassesKeepsToTheDecodersDepth(t *testing.T) {
	sch, err := Compile("t.cue", []byte("#T: {a?: _}"), "T")
	if err != nil {
		t.Fatal(err)
	}
	v := sch.Validator()
	defer sch.Put(v)
	line := []byte(`{"a":[[1]]}`) // three levels
	for depth, want := range map[int]bool{2: false, 3: true} {
		if _, ok := v.Passes(line, depth); ok != want {
			t.Errorf("Passes(%s, %d) = %v, want %v", line, depth, ok, want)
		}
		_, err := format.NewNDJSONChunkDecoder(bytes.NewReader(line), 1, 1, format.Limits{MaxDepth: depth, MaxLine: 100}).Next()
		if (err == nil) != want {
			t.Errorf("the decoder at depth %d: %v", depth, err)
		}
	}
}

func deep(n int) string {
	s := "1"
	for range n {
		s = "[" + s + "]"
	}
	return s
}

// A transform rewrites records, so no line passes as it stands.
func TestPassesNotWithATransform(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.cue"), []byte("#T: {a: int}\n#X: {in: #T, out: {b: in.a}}\n"), 0o644)
	sch, err := Load(Spec{File: filepath.Join(dir, "s.cue"), Def: "T"}, WithTransform(Spec{File: filepath.Join(dir, "s.cue"), Def: "X"}))
	if err != nil {
		t.Fatal(err)
	}
	defer sch.Close()
	v := sch.Validator()
	defer sch.Put(v)
	if _, ok := v.Passes([]byte(`{"a":1}`), 100); ok || v.PassesLines() {
		t.Error("Passes vouches for a record that a transform rewrites")
	}
}

// FuzzPasses holds Passes to the usual path on arbitrary lines.
func FuzzPasses(f *testing.F) {
	ds := fastCorpus(f)
	for i, d := range ds {
		for _, line := range bytes.Split(records(d, uint64(2000+i), 4), []byte("\n")) {
			f.Add(uint(i), line)
		}
	}
	f.Fuzz(func(t *testing.T, idx uint, line []byte) {
		d := ds[idx%uint(len(ds))]
		v := d.sch.Validator()
		defer d.sch.Put(v)
		passAgrees(t, fmt.Sprint(d.name), v, line)
	})
}
