package schema

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/format"
)

// A value the fast path leaves to CUE costs only that value: the record
// is still decided by the fast path, with CUE's verdict and output.
func TestFallbackPerValue(t *testing.T) {
	const src = `import "strings"

#T: {
	id:   int & >0
	name: int32 | strings.HasPrefix("A")
	range?: {
		min: int
		max: int & >=min
	}
	opt?: {a: int, b: *5 | int} | {c: string}
}
`
	sch, err := Compile("t.cue", []byte(src), "T")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range sch.Fallbacks() {
		got = append(got, f.String())
	}
	want := []string{
		"name: t.cue:5:8: predeclared identifier int32",
		"range: t.cue:8:16: reference to min",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Fallbacks() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	v := sch.Validator()
	defer sch.Put(v)
	for _, tc := range []struct {
		in, out string // out "": invalid, left to CUE
	}{
		{`{"id":1,"name":"Ada"}`, `{"id":1,"name":"Ada"}`},
		{`{"id":1,"name":"Bob"}`, ``},
		{`{"id":1,"name":"Ada","range":{"min":1,"max":2}}`, `{"id":1,"name":"Ada","range":{"min":1,"max":2}}`},
		{`{"id":1,"name":"Ada","range":{"min":3,"max":2}}`, ``},
		{`{"id":1,"name":"Ada","opt":{"a":1}}`, `{"id":1,"name":"Ada","opt":{"a":1,"b":5}}`},
		{`{"id":1,"name":"Ada","opt":{"c":"x"}}`, `{"id":1,"name":"Ada","opt":{"c":"x"}}`},
		{`{"id":1,"name":"Ada","opt":{"c":1}}`, ``},
	} {
		recs, err := format.ReadAll(format.JSON, strings.NewReader(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		out, ok := v.fast.run(recs[0].Value)
		if ok != (tc.out != "") {
			t.Errorf("%s: the fast path says valid=%v", tc.in, ok)
			continue
		}
		if ok {
			b, _ := format.AppendJSON(nil, out)
			if string(b) != tc.out {
				t.Errorf("%s: the fast path writes %s, want %s", tc.in, b, tc.out)
			}
		}
	}
}

// An isolated schema checks a recursive value, whose cost the data can
// blow up, in the evaluator's process, and the rest of the record here:
// the verdicts, messages and defaults are those of the schema checked in
// process, batch by batch and one record at a time.
func TestFallbackRecursionIsolated(t *testing.T) {
	const src = "#R: {\n\tn: int\n\tsub?: [...#R]\n\tif n > 0 {pos: true}\n}\n#T: {r: #R, name: string}\n"
	in, err := Compile("t.cue", []byte(src), "T")
	if err != nil {
		t.Fatal(err)
	}
	iso, err := Compile("t.cue", []byte(src), "T", Isolated())
	if err != nil {
		t.Fatal(err)
	}
	defer iso.Close()
	for _, s := range []*Schema{in, iso} {
		if fb := s.Fallbacks(); len(fb) != 1 || fb[0].String() != "r: t.cue:4:2: if field" || fb[0].Apart != s.isolated {
			t.Errorf("isolated %v: Fallbacks() = %#v, want r", s.isolated, fb)
		}
	}
	recs := []string{
		`{"r":{"n":0},"name":"a"}`,
		`{"r":{"n":1,"sub":[{"n":2},{"n":0}]},"name":"b"}`,
		`{"r":{"n":"x"},"name":"c"}`,
		`{"r":{"n":0,"sub":[{"n":1,"z":1}]},"name":"d"}`,
		`{"r":{"n":0},"name":5}`,
		`{"r":{"n":3},"name":"e"}`,
	}
	want := []string{
		`{"r":{"n":0},"name":"a"}`,
		`{"r":{"n":1,"sub":[{"n":2,"pos":true},{"n":0}],"pos":true},"name":"b"}`,
		`r.n: conflicting values "x" and int (mismatched types string and int) (t.cue:2:5)`,
		`r.sub[0].z: field not allowed`,
		`name: conflicting values 5 and string (mismatched types int and string) (t.cue:6:19)`,
		`{"r":{"n":3,"pos":true},"name":"e"}`,
	}
	show := func(r Result) string {
		if r.Violations != nil {
			var msgs []string
			for _, v := range r.Violations {
				msgs = append(msgs, v.String())
			}
			return strings.Join(msgs, "; ")
		}
		b, _ := format.AppendJSON(nil, r.Out)
		return string(b)
	}
	parse := func() []any {
		var out []any
		for _, r := range recs {
			v, err := format.ParseJSON([]byte(r))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	for _, s := range []*Schema{in, iso} {
		v := s.Validator()
		res, err := v.CheckBatch(context.Background(), parse(), false)
		if err != nil {
			t.Fatal(err)
		}
		for i, rec := range parse() {
			out, vs := v.Check(rec, false)
			if got := show(Result{out, vs}); got != want[i] {
				t.Errorf("isolated %v: Check(%s) = %s, want %s", s.isolated, recs[i], got, want[i])
			}
			if got := show(res[i]); got != want[i] {
				t.Errorf("isolated %v: CheckBatch: %s = %s, want %s", s.isolated, recs[i], got, want[i])
			}
		}
		// Here, not in the evaluator's process: what is not recursive.
		if _, ok := v.fast.run(parse()[1]); ok == s.isolated || v.fast.asked != s.isolated {
			t.Errorf("isolated %v: the fast path says valid=%v, asked=%v", s.isolated, ok, v.fast.asked)
		}
		if s.isolated && len(v.fast.asks) != 1 {
			t.Errorf("isolated: %d values asked of the evaluator, want r alone", len(v.fast.asks))
		}
		s.Put(v)
	}
}

// A valid record waits for the evaluator's verdict on its recursive values
// alone, however the schema's file is shown, and whatever else it fills
// in; a record the evaluator finds invalid there is checked there whole.
func TestRecursiveValuesAlone(t *testing.T) {
	const r = "#R: {\n\tn: int\n\tsub?: [...#R]\n\tif n > 0 {pos: true}\n}\n"
	for _, tc := range []struct {
		src   string
		recs  []string
		whole int // records checked whole in the evaluator's process
	}{
		{r + "#T: {r: #R | string | int, d: *7 | int}\n", []string{`{"r":"x"}`, `{"r":{"n":1}}`, `{"r":{"n":1},"d":2}`, `{"r":true}`}, 1},
		{r + "#T: {rs: [...(#R | int)], d: *7 | int}\n", []string{`{"rs":[5,{"n":1}]}`, `{"rs":[{"n":0,"sub":[{"n":"y"}]}]}`}, 1},
		{"#R: {n: int, sub?: [...#R], p: *1 | int}\n#T: {a: #R | {b: int, q: *2 | int}, d: *7 | int}\n", []string{`{"a":{"n":1,"sub":[{"n":2}]}}`, `{"a":{"b":1}}`, `{"a":{"n":1,"sub":[{"n":"x"}]}}`}, 1},
		// An alternative that refers back to the definition holding the
		// disjunction: a value it does not tell apart goes whole to the
		// evaluator's process, not to CUE in this one.
		{"#A: {a?: {q!: string, c?: #A} | {b: *\"x\" | string, ...}, ...}\n#T: {r?: #A, d: *7 | int}\n", []string{`{"r":{"a":{"q":"s","c":{}}}}`, `{"r":{"a":{"b":"y"}}}`, `{"d":1}`}, 2},
	} {
		dir := t.TempDir()
		file := filepath.Join(dir, "t.cue")
		if err := os.WriteFile(file, []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		in, err := Load(Spec{File: file, Def: "T"}, WithDisplayPath(DisplayRel(dir)))
		if err != nil {
			t.Fatal(err)
		}
		iso, err := Load(Spec{File: file, Def: "T"}, Isolated(), WithDisplayPath(DisplayRel(dir)))
		if err != nil {
			t.Fatal(err)
		}
		var recs []any
		for _, r := range tc.recs {
			rec, err := format.ParseJSON([]byte(r))
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, rec)
		}
		vi, vp := in.Validator(), iso.Validator()
		want, err1 := vi.CheckBatch(context.Background(), slices.Clone(recs), false)
		got, err2 := vp.CheckBatch(context.Background(), slices.Clone(recs), false)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		for i := range recs {
			g, _ := format.AppendJSON(nil, got[i].Out)
			w, _ := format.AppendJSON(nil, want[i].Out)
			if !bytes.Equal(g, w) || !reflect.DeepEqual(got[i].Violations, want[i].Violations) {
				t.Errorf("%s: on %s isolated writes %s %v, in process %s %v", tc.src, tc.recs[i], g, got[i].Violations, w, want[i].Violations)
			}
		}
		if vp.wholeInChild != tc.whole {
			t.Errorf("%s: %d records checked whole in the evaluator's process, want %d", tc.src, vp.wholeInChild, tc.whole)
		}
		iso.Close()
	}
}

// benchSchemaOneByCUE is #User whose name may also be an int32, which the
// fast path leaves to CUE: one value of the record.
var benchSchemaOneByCUE = strings.Replace(benchSchema, "name:  string", "name:  int32 | string", 1)

// benchSchemaStructByCUE is #User whose address has a field that refers
// to another, which leaves the address to CUE: a struct of the record.
var benchSchemaStructByCUE = strings.Replace(benchSchema, "\taddress: {", "\taddress: {\n\t\tlabel?: city", 1)

// BenchmarkCheckOneValueByCUE measures #User records of which CUE checks
// one value, against the same schemas checked by CUE whole and the plain
// #User on the fast path. Every record has a name of its own, as in the
// benchmark data, unless the names repeat (from 50 here): CUE's verdict
// on a scalar is kept.
func BenchmarkCheckOneValueByCUE(b *testing.B) {
	for _, bc := range []struct {
		name, src string
		noFast    bool
		byCUE     int // values the fast path leaves to CUE, before noFast
		names     int // distinct names; 0: every record its own
	}{
		{"plain #User, fast path", benchSchema, false, 0, 0},
		{"name by CUE", benchSchemaOneByCUE, false, 1, 0},
		{"name by CUE, 50 names", benchSchemaOneByCUE, false, 1, 50},
		{"name variant, all by CUE", benchSchemaOneByCUE, true, 1, 0},
		{"address by CUE", benchSchemaStructByCUE, false, 1, 0},
		{"address variant, all by CUE", benchSchemaStructByCUE, true, 1, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sch, err := Compile("user.cue", []byte(bc.src), "User")
			if err != nil {
				b.Fatal(err)
			}
			recs, err := format.ReadAll(format.JSON, strings.NewReader(benchRecord))
			if err != nil {
				b.Fatal(err)
			}
			v := sch.Validator()
			if len(v.fast.fallbacks) != bc.byCUE {
				b.Fatalf("fallbacks %v", v.fast.fallbacks)
			}
			if bc.noFast {
				v.fast = nil
			}
			rec := recs[0].Value.(*format.Object)
			name := &rec.Fields[1]
			if name.Key != "name" {
				b.Fatalf("field 1 is %s", name.Key)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				n := i
				if bc.names > 0 {
					n %= bc.names
				}
				name.Value = "user " + strconv.Itoa(n)
				if _, vs := v.Check(rec, false); vs != nil {
					b.Fatal(vs)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// benchSchemaRecursiveByCUE is #User with a recursive field the fast
// path leaves to CUE: an isolated schema checks it in the evaluator's
// process.
var benchSchemaRecursiveByCUE = strings.Replace(benchSchema, "\ttags: [...string]", "\ttags: [...string]\n\ttree?: #R", 1) +
	"\n#R: {\n\tn: int\n\tsub?: [...#R]\n\tif n > 0 {pos: true}\n}\n"

// BenchmarkCheckRecursiveIsolated measures isolated #User records with a
// recursive value, 256 a batch as the engine sends them: the value
// checked in the evaluator's process and the rest by the fast path,
// against the whole record checked there.
func BenchmarkCheckRecursiveIsolated(b *testing.B) {
	tree := strings.Replace(benchRecord, `"tags"`, `"tree":{"n":0,"sub":[{"n":0},{"n":0}]},"tags"`, 1)
	for _, bc := range []struct {
		name  string
		rec   string
		whole bool
	}{
		{"tree by the evaluator", tree, false},
		{"whole record by the evaluator", tree, true},
		{"no tree, fast path", benchRecord, false},
		{"no tree, whole record by the evaluator", benchRecord, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sch, err := Compile("user.cue", []byte(benchSchemaRecursiveByCUE), "User", Isolated())
			if err != nil {
				b.Fatal(err)
			}
			defer sch.Close()
			recs, err := format.ReadAll(format.JSON, strings.NewReader(bc.rec))
			if err != nil {
				b.Fatal(err)
			}
			v := sch.Validator()
			if len(v.fast.cyclic) != 1 {
				b.Fatalf("fallbacks %v", v.fast.fallbacks)
			}
			if bc.whole {
				v.fast = nil
			}
			obj := recs[0].Value.(*format.Object)
			name := &obj.Fields[1]
			in := make([]any, 256)
			b.ReportAllocs()
			for i := 0; b.Loop(); i += len(in) {
				for k := range in {
					name.Value = "user " + strconv.Itoa(i+k)
					in[k] = &format.Object{Fields: slices.Clone(obj.Fields)}
				}
				res, err := v.CheckBatch(context.Background(), in, false)
				if err != nil || res[0].Violations != nil {
					b.Fatal(err, res[0].Violations)
				}
			}
			b.ReportMetric(float64(b.N*len(in))/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// CUE fills defaults at every level of a recursive schema; so must the
// record CUE's path writes, though the schema's value shows its inner
// levels unevaluated.
func TestCUEPathFillsRecursiveDefaults(t *testing.T) {
	sch, err := Compile("t.cue", []byte("#T: {\n\tname: string\n\tkind: *\"leaf\" | \"branch\"\n\tkids?: [...#T]\n}\n"), "T")
	if err != nil {
		t.Fatal(err)
	}
	v := sch.Validator()
	defer sch.Put(v)
	rec := decodeAll([]byte(`{"name":"a","kind":"branch","kids":[{"name":"b","kids":[{"name":"c"}]}]}` + "\n"))[0]
	const want = `{"name":"a","kind":"branch","kids":[{"name":"b","kids":[{"name":"c","kind":"leaf"}],"kind":"leaf"}]}`
	for _, path := range []string{"fast", "CUE"} {
		var out any
		var vs []Violation
		if path == "CUE" {
			out, vs = cueOnly(v, rec, false)
		} else {
			out, vs = v.Check(rec, false)
		}
		if b, _ := format.AppendJSON(nil, out); vs != nil || string(b) != want {
			t.Errorf("%s path: %s %v, want %s", path, b, vs, want)
		}
	}
}

// A disjunction of structs that the value tells apart is checked without
// CUE: by a field fixed to a literal, or by kind.
func TestStructDisjunctionWithoutCUE(t *testing.T) {
	sch, err := Compile("t.cue", []byte(`#T: {
	shape: {kind: "circle", r: number} | {kind: "rect", w: number, h: number}
	owner?: null | {name: string}
}`), "T")
	if err != nil {
		t.Fatal(err)
	}
	if fb := sch.Fallbacks(); len(fb) > 0 {
		t.Fatalf("Fallbacks() = %v", fb)
	}
	v := sch.Validator()
	defer sch.Put(v)
	for _, in := range []string{
		`{"shape":{"kind":"rect","w":1,"h":2},"owner":{"name":"a"}}`,
		`{"shape":{"kind":"circle","r":1},"owner":null}`,
	} {
		rec := decodeAll([]byte(in + "\n"))[0]
		if _, vs := v.Check(rec, false); vs != nil {
			t.Fatalf("%s: %v", in, vs)
		}
		// CUE's evaluator allocates on every call; the fast path does not.
		if n := testing.AllocsPerRun(50, func() { v.Check(rec, false) }); n != 0 {
			t.Errorf("%s: %v allocations a check", in, n)
		}
	}
}

// A matchN alternative that the fast check is unsure of, because of a
// repeated key or invalid UTF-8 that CUE reads otherwise, is not counted
// as "does not match": the record goes to CUE, which rejects these.
func TestMatchNLeavesUnsureAlternativesToCUE(t *testing.T) {
	sch, err := Compile("t.cue", []byte("#T: {x?: matchN(0, [{a!: !=\"x\"}]), y?: matchN(1, [{a!: \"x\"}, {b!: int}])}\n"), "T")
	if err != nil {
		t.Fatal(err)
	}
	v := sch.Validator()
	defer sch.Put(v)
	obj := func(fs ...format.Field) *format.Object { return &format.Object{Fields: fs} }
	for _, rec := range []*format.Object{
		obj(format.Field{Key: "x", Value: obj(format.Field{Key: "a", Value: "\xff"})}),
		obj(format.Field{Key: "x", Value: obj(format.Field{Key: "a", Value: "x"}, format.Field{Key: "a", Value: "y"})}),
		obj(format.Field{Key: "y", Value: obj(format.Field{Key: "a", Value: "y"}, format.Field{Key: "a", Value: "x"}, format.Field{Key: "b", Value: format.Number("1")})}),
	} {
		if _, ok := v.fast.run(rec); ok {
			t.Errorf("%s: the fast path accepts it", show(rec))
		}
		if _, vs := v.Check(rec, false); len(vs) == 0 {
			t.Errorf("%s: Check accepts it", show(rec))
		}
	}
}

// The shapes CUE's translation of a JSON Schema gives a file: a top-level
// conjunction of validators and a closed struct beside definitions, and a
// hidden field that holds the schema, embedded.
func TestFastPathTakesTranslatedFileShapes(t *testing.T) {
	for name, src := range map[string]string{
		"conjunction": "matchN(0, [{\"a\"!: true, ...}]) & close({\n\t\"a\"?: bool\n\t\"b\"?: #list\n})\n#list: [...string]\n",
		"hidden":      "_schema\n_schema: {\n\t\"a\"?: bool\n\t\"b\"?: #list\n\t...\n}\n#list: [...string]\n",
	} {
		sch, err := Compile("t.cue", []byte(src), "")
		if err != nil {
			t.Fatal(name, err)
		}
		if ok, why := sch.FastPath(); !ok || len(sch.Fallbacks()) > 0 {
			t.Errorf("%s: FastPath() = %v, %q; Fallbacks() = %v", name, ok, why, sch.Fallbacks())
			continue
		}
		v := sch.Validator()
		for _, in := range []string{`{"a":false,"b":["x"]}`, `{"a":true}`, `{"b":[1]}`, `{"c":1}`} {
			rec := decodeAll([]byte(in + "\n"))[0]
			_, fastOK := v.fast.run(rec)
			if _, vs := cueOnly(v, rec, false); fastOK != (vs == nil) {
				t.Errorf("%s: %s: fast path %v, CUE %v", name, in, fastOK, vs)
			}
		}
		sch.Put(v)
	}
}

// A file whose value is a field of a hidden definition, as the translation
// writes when the root schema is itself a $ref.
func TestFastPathTakesAnEmbeddedDefinitionField(t *testing.T) {
	src := "_#defs.\"/definitions/root\"\n_#defs: \"/definitions/root\": close({\n\t\"a\"?: _#defs.\"/definitions/n\"\n})\n_#defs: \"/definitions/n\": int & >0\n"
	sch, err := Compile("t.cue", []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := sch.FastPath(); !ok || len(sch.Fallbacks()) > 0 {
		t.Fatalf("FastPath() = %v, %q; Fallbacks() = %v", ok, why, sch.Fallbacks())
	}
	v := sch.Validator()
	defer sch.Put(v)
	for _, in := range []string{`{"a":1}`, `{"a":0}`, `{"b":1}`, `{}`} {
		rec := decodeAll([]byte(in + "\n"))[0]
		_, fastOK := v.fast.run(rec)
		if _, vs := cueOnly(v, rec, false); fastOK != (vs == nil) {
			t.Errorf("%s: fast path %v, CUE %v", in, fastOK, vs)
		}
	}
}

// Cases a review found where the fast path accepted what CUE rejects, or
// wrote another record: each must now agree with CUE.
func TestFastPathReviewCases(t *testing.T) {
	for _, tc := range []struct {
		src, recs string
		def       string // "T" unless set; "-" for the file's value
		anyPath   bool   // the fast path may not run at all
	}{
		// A definition's CUE fallback built at one use site, shared with
		// another whose value differs.
		{src: "#D: *{k?: \"a\", ...} | {k?: \"b\", ...}\n#T: {\n\ty: #D & {c: *1 | int, ...}\n\tx: #D\n}\n",
			recs: `{"y":{},"x":{}}` + "\n" + `{"y":{"k":"b"},"x":{"z":1}}`},
		// Defaults that a disjunction's branch fills in count for
		// list.UniqueItems and struct.MaxFields.
		{src: "import \"list\"\n#T: x: list.UniqueItems() & ([...{a: *1 | int}] | string)\n", recs: `{"x":[{},{"a":1}]}`},
		{src: "import \"struct\"\n#T: x: struct.MaxFields(1) & ({a: *1 | int, ...} | string)\n", recs: `{"x":{"b":1}}`},
		// -0 is 0 to list.UniqueItems.
		{src: "import \"list\"\n#T: x: list.UniqueItems()\n", recs: `{"x":[0,-0]}` + "\n" + `{"x":[0.0,-0.0]}` + "\n" + `{"x":[1,-1]}`},
		// -0 is the integer 0 (literal.ParseNum reads it as NaN).
		{src: "import \"math\"\n#T: {x?: >-0.5 & <0.5, y?: math.MultipleOf(0.5), z?: <0.5}\n", recs: `{"x":-0}` + "\n" + `{"y":-0}` + "\n" + `{"z":-0}` + "\n" + `{"z":-1}`},
		// A unification of structs: a field only an open part declares
		// is not allowed by the closed one (CUE's Allows says it is).
		{src: "#A: {a: int}\n#T: {x: #A & {b?: int, ...}}\n", recs: `{"x":{"a":1,"b":1}}`},
		{src: "#A: {a: int}\n#B: {b?: int, ...}\n#T: {x: #A & #B}\n", recs: `{"x":{"a":1,"b":1}}`},
		{src: "#A: {a: int}\n#B: {#A, b?: int}\n#C: {c?: int, ...}\n#T: #B & #C\n", recs: `{"a":1,"c":2}`, anyPath: true},
		{src: "#A: {a: int}\nx: #A & {b?: int}\n", recs: `{"x":{"a":1,"b":1}}`, def: "-", anyPath: true},
		// Outside a definition, a definition's nested structs stay closed.
		{src: "#A: {a: int, b?: {c: int}}\nx: #A & {b?: {d?: int}}\n", recs: `{"x":{"a":1,"b":{"c":1,"e":2}}}`, def: "-", anyPath: true},
		{src: "#A: {a: int, l: [...{c: int}]}\nx: #A & {b?: int}\n", recs: `{"x":{"a":1,"l":[{"c":1,"z":1}]}}`, def: "-", anyPath: true},
		// A struct default takes part in unification: *{x: int} | _.
		{src: "#T: {a: *{x: int} | _}\n", recs: `{"a":{}}`, anyPath: true},
		{src: "#T: {a: *{x!: int} | _}\n", recs: `{"a":{}}`, anyPath: true},
		{src: "#T: {a: *{x: int, ...} | _}\n", recs: `{"a":{"y":1}}`, anyPath: true},
		{src: "#T: {a: *\"n\" | _, b: *false | _}\n", recs: `{"a":{}}` + "\n" + `{}` + "\n" + `{"b":[1]}`},
	} {
		def := tc.def
		switch def {
		case "":
			def = "T"
		case "-":
			def = ""
		}
		sch, err := Compile("t.cue", []byte(tc.src), def)
		if err != nil {
			t.Fatal(err)
		}
		v := sch.Validator()
		for _, line := range strings.Split(tc.recs, "\n") {
			if _, ok := v.Passes([]byte(line), 1000); ok {
				if _, vs := cueOnly(v, decodeAll([]byte(line + "\n"))[0], false); vs != nil {
					t.Errorf("%s: Passes vouches for %s, CUE says %v", tc.src, line, vs)
				}
			}
		}
		if v.fast == nil && !tc.anyPath {
			t.Errorf("%s: no fast path: %s", tc.src, v.fastWhy)
		}
		for _, rec := range decodeAll([]byte(tc.recs + "\n")) {
			if v.fast == nil {
				break
			}
			fastOut, fastOK := v.fast.run(rec)
			cueOut, vs := cueOnly(v, rec, false)
			if !fastOK && vs == nil && !v.fast.unsure {
				t.Errorf("%s: %s: the fast path rejects it for sure, CUE accepts it", tc.src, show(rec))
			}
			if fastOK && vs != nil {
				t.Errorf("%s: %s: the fast path accepts it, CUE says %v", tc.src, show(rec), vs)
			}
			if fastOK && vs == nil && show(fastOut) != show(cueOut) {
				t.Errorf("%s: %s: the fast path writes %s, CUE %s", tc.src, show(rec), show(fastOut), show(cueOut))
			}
		}
		sch.Put(v)
	}
}
