package schema

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/format"
)

// BenchmarkCheckFast measures one valid #User record through the native
// fast path; BenchmarkCheckCUE measures it through CUE's evaluator.
func BenchmarkCheckFast(b *testing.B) {
	sch, err := Compile("user.cue", []byte(benchSchema), "User")
	if err != nil {
		b.Fatal(err)
	}
	if ok, why := sch.FastPath(); !ok {
		b.Fatal(why)
	}
	recs, err := format.ReadAll(format.JSON, strings.NewReader(benchRecord))
	if err != nil {
		b.Fatal(err)
	}
	v := sch.Validator()
	benchCheck(b, v, recs[0].Value)
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

// TestRegexDFA compares the DFA with Go's regexp on strings built from the
// pattern's own characters, where mistakes would show.
func TestRegexDFA(t *testing.T) {
	patterns := []string{
		`^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$`, `^[0-9]{5}$`, `x`, `^$`, `$`, `^`, ``, `a|b$`, `^a|b`, `(a|ab)(c|bcd)(d*)`,
		`a*`, `^a*$`, `.`, `^.$`, `(?s).`, `[^a]`, `é+`, `^[à-ÿ]{2,3}$`, `a$^b`, `^$|x`, `\d+\.\d*`, `[[:alpha:]]+`,
		`^(foo|bar)-[0-9]{1,3}$`, `\x{10FFFF}`, `[\x{80}-\x{10FFFF}]`, `\p{Greek}`, `(?i)abc`, `\bfoo\b`, `(?m)^a$`, `a{2,5}?b`,
		`(?U)a+`, `\Aa\z`, `^(a*)*$`, `[^\x00-\x{10FFFF}]`,
	}
	alphabet := []string{"a", "b", "c", "d", "x", "@", ".", " ", "\n", "0", "5", "9", "é", "à", "ÿ", "Ω", "\U0010FFFF", "\x80", "foo", "bar", "-", "A", "Z"}
	r := newRand(1)
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		d := compileDFA(p)
		if d == nil {
			t.Logf("%q: left to regexp", p)
			continue
		}
		for i := 0; i < 3000; i++ {
			var b strings.Builder
			for n := r.IntN(8); n > 0; n-- {
				b.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			s := b.String()
			if i%3 == 0 {
				s = []string{"a@b.cc", "user12@example.com", "01234", "0123", "", "foo-12", "ab", "abcd"}[i%8] + s[:len(s)/3]
			}
			if got, want := d.match(s), re.MatchString(s); got != want {
				t.Errorf("%q on %q: dfa %v, regexp %v", p, s, got, want)
			}
		}
	}
}

// BenchmarkCheckCUE is BenchmarkCheckFast with the fast path switched off:
// the evaluator's cost, for comparison.
func BenchmarkCheckCUE(b *testing.B) {
	b.Run("in process", func(b *testing.B) { benchCUE(b, 1) })
	b.Run("isolated", func(b *testing.B) { benchCUE(b, 1, Isolated()) })
	b.Run("isolated, 256 a batch", func(b *testing.B) { benchCUE(b, 256, Isolated()) })
}

func benchCUE(b *testing.B, batch int, opts ...Option) {
	sch, err := Compile("user.cue", []byte(benchSchema), "User", opts...)
	if err != nil {
		b.Fatal(err)
	}
	recs, err := format.ReadAll(format.JSON, strings.NewReader(benchRecord))
	if err != nil {
		b.Fatal(err)
	}
	defer sch.Close()
	v := sch.Validator()
	v.fast = nil
	v.Check(recs[0].Value, false) // start the evaluator
	b.ReportAllocs()
	b.ResetTimer()
	in := make([]any, batch)
	for i := 0; i < b.N; i += batch {
		for k := range in {
			in[k] = recs[0].Value
		}
		res, err := v.CheckBatch(context.Background(), in[:min(batch, b.N-i)], false)
		if err != nil || res[0].Violations != nil {
			b.Fatal(err, res[0].Violations)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func TestFastPathAcceptsWithoutCUE(t *testing.T) {
	sch, err := Compile("user.cue", []byte(benchSchema), "User")
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := format.ReadAll(format.JSON, strings.NewReader(benchRecord))
	v := sch.Validator()
	defer sch.Put(v)
	// The evaluator allocates on every call; the fast path never does.
	if n := testing.AllocsPerRun(100, func() { v.Check(recs[0].Value, false) }); n != 0 {
		t.Errorf("a valid record costs %v allocations", n)
	}
}

func TestFastPathRejectsWithCUEsMessages(t *testing.T) {
	s := load(t)
	if ok, why := s.FastPath(); !ok {
		t.Fatal(why)
	}
	for _, in := range []string{
		`{"id":0,"name":"Ada","email":"nope","age":151}`,
		`{"id":1,"name":"A","email":"a@b","rolee":"admin"}`,
		`{"id":1.0,"name":"A","email":"a@b"}`,
		`{"id":1,"name":"A","email":"a@b","role":"root"}`,
	} {
		recs, _ := format.ReadAll(format.JSON, strings.NewReader(in))
		v := s.Validator()
		_, fast := v.Check(recs[0].Value, false)
		_, slow := cueOnly(v, recs[0].Value, false)
		s.Put(v)
		if fast == nil || show(fast) != show(slow) {
			t.Errorf("%s: %v, CUE alone says %v", in, fast, slow)
		}
	}
}

func TestFastPathReasons(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/schemas/user.cue"
	os.MkdirAll(dir+"/schemas", 0o755)
	os.WriteFile(p, []byte("#User: {\n\tid: int\n\tfor k in [\"a\"] {\n\t\t(k): string\n\t}\n}\n\n#Out: {in: #User, id: in.id}\n"), 0o644)
	s, err := Load(Spec{File: p, Def: "User"}, WithDisplayPath(DisplayRel(dir)))
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := s.FastPath(); ok || why != "schemas/user.cue:3:2: comprehension" {
		t.Errorf("FastPath() = %v, %q", ok, why)
	}
	s, err = Load(Spec{File: p, Def: "Out"}, WithTransform(Spec{File: p, Def: "Out"}))
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := s.FastPath(); ok || !strings.Contains(why, "transform") {
		t.Errorf("with a transform: FastPath() = %v, %q", ok, why)
	}
}

// A definition whose values CUE checks (a disjunction's fallback, a value
// left to CUE), used at many sites, is built once for all the bare ones:
// built at each, it would pass fastMaxNodes, as renovate's schemas did.
func TestFastPathSharesBareSiteExpansions(t *testing.T) {
	var body, def, sites strings.Builder
	for i := range 10 {
		fmt.Fprintf(&body, "\ta%d?: null | [...string]\n", i)
	}
	for i := range 500 {
		fmt.Fprintf(&def, "\tf%d?: #D\n", i)
		fmt.Fprintf(&sites, "\tf%d?: _schema\n", i)
	}
	for _, tc := range []struct {
		name, src, def string
		fallbacks      int
	}{
		{"definition", "#D: {\n" + body.String() + "\tn?: int64\n}\n#T: {\n" + def.String() + "}\n", "T", 500},
		// As CUE's translation of a JSON Schema whose $ref "#" points
		// back at its root.
		{"hidden root", "_schema\n_schema: {\n" + body.String() + sites.String() + "}\n", "", 0},
	} {
		sch, err := Compile("t.cue", []byte(tc.src), tc.def)
		if err != nil {
			t.Fatal(tc.name, err)
		}
		if ok, why := sch.FastPath(); !ok || len(sch.Fallbacks()) != tc.fallbacks {
			t.Errorf("%s: FastPath() = %v, %q; %d values left to CUE, want %d", tc.name, ok, why, len(sch.Fallbacks()), tc.fallbacks)
			continue
		}
		if fb := sch.Fallbacks(); tc.fallbacks > 0 && fb[len(fb)-1].Path != "f499.n" {
			t.Errorf("%s: the last value left to CUE is %s, want f499.n", tc.name, fb[len(fb)-1].Path)
		}
		d := diffSchema{name: tc.name, want: "fast", sch: sch}
		v := sch.Validator()
		for _, in := range []string{
			`{"f0":{"a0":null},"f7":{"a1":["x"],"n":1},"f499":{"a9":null}}`,
			`{"f3":{"a0":[1]}}`, `{"f5":{"a2":{}}}`, `{"f499":{"n":"x"}}`, `{"f2":{"a3":null,"z":1}}`,
			`{"f1":{"f2":{"f3":{"a4":["y"]}}}}`, `{"f1":{"f2":{"a4":[null]}}}`,
		} {
			for _, rec := range decodeAll([]byte(in)) {
				agree(t, d, v, rec, false)
			}
		}
		sch.Put(v)
	}
}

// A schema without a definition is the whole file: open at the top.
func TestFastPathWholeFile(t *testing.T) {
	src := "package cfg\n\nimport \"strings\"\n\n#Port: int & >0 & <65536\nname: strings.MinRunes(1)\nport: *8080 | #Port\ntags?: [...string]\nlimits: {cpu: *1 | number, mem?: string}\n"
	s, err := Compile("cfg.cue", []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := s.FastPath(); !ok {
		t.Fatal(why)
	}
	d := diffSchema{name: "cfg", want: "fast", sch: s}
	v := s.Validator()
	defer s.Put(v)
	for _, in := range []string{
		`{"name":"a"}`, `{"name":"a","port":80,"x":1}`, `{"name":"","port":80}`, `{"limits":{"mem":"1G","y":2},"name":"b"}`,
		`{"port":65536,"name":"a"}`, `{"name":"a","tags":["x",1]}`, `{"name":"a","limits":{"cpu":0.5}}`,
	} {
		for _, rec := range decodeAll([]byte(in)) {
			agree(t, d, v, rec, false)
		}
	}
}

// A file whose value is close({...}), as CUE's translation of a JSON
// Schema writes: close is shallow (nested structs stay open) and "..."
// keeps it open. The fast path and CUE agree on each record.
func TestFastPathClosedFile(t *testing.T) {
	for _, src := range []string{
		"@jsonschema(schema=\"x\")\nclose({\n\ta!: {b: int}\n\tc?: int\n})\n",
		"close({\n\ta!: {b: int}\n\t...\n})\n#unused: string\n",
	} {
		s, err := Compile("closed.cue", []byte(src), "")
		if err != nil {
			t.Fatal(err)
		}
		if ok, why := s.FastPath(); !ok {
			t.Fatalf("%q: %s", src, why)
		}
		d := diffSchema{name: "closed", want: "fast", sch: s}
		v := s.Validator()
		for _, in := range []string{
			`{"a":{"b":1}}`, `{"a":{"b":1,"x":2}}`, `{"a":{"b":1},"y":1}`, `{"a":{"b":1},"c":2}`, `{"c":2}`, `{"a":{"b":"no"}}`,
		} {
			for _, rec := range decodeAll([]byte(in)) {
				agree(t, d, v, rec, false)
			}
		}
		s.Put(v)
	}
}

// BenchmarkCheckFastDefaults measures a record that lacks fields with
// defaults, which the fast path fills in.
func BenchmarkCheckFastDefaults(b *testing.B) {
	sch, err := Compile("d.cue", []byte(`#T: {
	id:   int
	name: string
	role: *"member" | "admin"
	opts: {level: *3 | int, format: *"json" | "yaml"}
}`), "T")
	if err != nil {
		b.Fatal(err)
	}
	recs, err := format.ReadAll(format.JSON, strings.NewReader(`{"name":"a","id":1,"opts":{"format":"yaml"}}`))
	if err != nil {
		b.Fatal(err)
	}
	v := sch.Validator()
	benchCheck(b, v, recs[0].Value)
}

// BenchmarkCheckFastParallel checks records on every core, a Validator
// per goroutine, as a run does.
func BenchmarkCheckFastParallel(b *testing.B) {
	sch, err := Compile("user.cue", []byte(benchSchema), "User")
	if err != nil {
		b.Fatal(err)
	}
	recs, err := format.ReadAll(format.JSON, strings.NewReader(benchRecord))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := sch.Validator()
		defer sch.Put(v)
		for pb.Next() {
			if _, vs := v.Check(recs[0].Value, false); vs != nil {
				b.Error(vs)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// Validators share the schema but nothing they write: the race detector
// watches goroutines filling in defaults at once.
func TestFastPathParallel(t *testing.T) {
	s := load(t)
	recs := decodeAll([]byte(`{"name":"Ada","id":1,"email":"a@b","address":{"city":"Delft"}}` + "\n" + `{"id":2,"name":"B","email":"b@c","role":"admin"}`))
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- true }()
			v := s.Validator()
			defer s.Put(v)
			for i := 0; i < 50; i++ {
				for _, r := range recs {
					if _, vs := v.Check(r, false); vs != nil {
						t.Error(vs)
						return
					}
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

// benchCheck checks one valid record b.N times and reports records/s.
func benchCheck(b *testing.B, v *Validator, rec any) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, vs := v.Check(rec, false); vs != nil {
			b.Fatal(vs)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
