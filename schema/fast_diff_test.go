package schema

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zpipe/zpipe/format"
)

// The differential test holds the fast path to CUE: for every record both
// must agree on valid or not and, when valid, on the exact record written.
// The corpus is testdata/diff/*.cue, each with a definition #T (or checked
// as its whole value when it has none) and a first
// line "// want: fast", "// want: fallback <reason>" or "// want: partial
// <path>: <reason>; ...", which lists the values CUE checks.

type diffSchema struct {
	name string
	want string // "fast" or "fallback <part of the reason>"
	sch  *Schema
	// lenient counts a false reject instead of failing on it: generated
	// schemas meet the known ones, which cost speed, never a verdict.
	lenient bool
}

var (
	corpusOnce sync.Once
	corpus     []diffSchema
	corpusErr  error
)

func loadCorpus(tb testing.TB) []diffSchema {
	tb.Helper()
	corpusOnce.Do(func() {
		files, _ := filepath.Glob("testdata/diff/*.cue")
		for _, p := range files {
			src, err := os.ReadFile(p)
			if err != nil {
				corpusErr = err
				return
			}
			first, _, _ := strings.Cut(string(src), "\n")
			want, ok := strings.CutPrefix(first, "// want: ")
			if !ok {
				corpusErr = errors.New(p + ": the first line must say // want: fast, // want: fallback <reason> or // want: partial <path>: <reason>")
				return
			}
			// A file without #T is checked as its whole value, where
			// definitions meet literals outside any definition.
			def := "T"
			if !strings.Contains(string(src), "\n#T:") {
				def = ""
			}
			sch, err := Compile(filepath.Base(p), src, def)
			if err != nil {
				corpusErr = err
				return
			}
			corpus = append(corpus, diffSchema{name: strings.TrimSuffix(filepath.Base(p), ".cue"), want: want, sch: sch})
		}
	})
	if corpusErr != nil {
		tb.Fatal(corpusErr)
	}
	if len(corpus) < 30 {
		tb.Fatalf("the corpus has %d schemas, want at least 30", len(corpus))
	}
	return corpus
}

// fastCorpus is the part of the corpus the fast path takes.
func fastCorpus(tb testing.TB) []diffSchema {
	var out []diffSchema
	for _, d := range loadCorpus(tb) {
		if d.want == "fast" || strings.HasPrefix(d.want, "partial ") {
			out = append(out, d)
		}
	}
	return out
}

func TestFastPathCoverage(t *testing.T) {
	for _, d := range loadCorpus(t) {
		ok, why := d.sch.FastPath()
		var got []string
		for _, f := range d.sch.Fallbacks() {
			got = append(got, f.String())
		}
		if partial, isPartial := strings.CutPrefix(d.want, "partial "); isPartial {
			wants := strings.Split(partial, "; ")
			if !ok || len(got) != len(wants) {
				t.Errorf("%s: fast path %v (%s), values left to CUE %q; want %q", d.name, ok, why, got, wants)
				continue
			}
			for i, w := range wants {
				path, reason, _ := strings.Cut(w, ": ")
				if !strings.HasPrefix(got[i], path+": "+d.name+".cue:") || !strings.Contains(got[i], reason) {
					t.Errorf("%s: value left to CUE %q, want %q (with the position)", d.name, got[i], w)
				}
			}
			continue
		}
		if len(got) > 0 {
			t.Errorf("%s: leaves %q to CUE, want %s", d.name, got, d.want)
		}
		switch {
		case d.want == "fast" && !ok:
			t.Errorf("%s: falls back: %s", d.name, why)
		case d.want != "fast" && ok:
			t.Errorf("%s: takes the fast path, want %s", d.name, d.want)
		case d.want != "fast" && !strings.Contains(why, strings.TrimPrefix(d.want, "fallback ")):
			t.Errorf("%s: falls back because %q, want %q", d.name, why, d.want)
		case !ok && !strings.HasPrefix(why, d.name+".cue:"):
			t.Errorf("%s: the reason %q has no position", d.name, why)
		}
	}
}

// cueOnly checks a record with the fast path switched off.
func cueOnly(v *Validator, rec any, untyped bool) (any, []Violation) {
	fast := v.fast
	v.fast = nil
	defer func() { v.fast = fast }()
	return v.Check(rec, untyped)
}

// cueWalked is cueOnly without the shape shortcut: what CUE writes, taken
// from a walk of the unified value every time.
func cueWalked(v *Validator, rec any, untyped bool) (any, []Violation) {
	sh := v.shape
	v.shape = nil
	defer func() { v.shape = sh }()
	return cueOnly(v, rec, untyped)
}

// agree fails the test when the fast path and CUE differ on rec; it
// reports whether CUE found the record valid.
func agree(t *testing.T, d diffSchema, v *Validator, rec any, untyped bool) bool {
	t.Helper()
	in := rec
	if untyped {
		in = v.typeCells(rec)
	}
	fastOut, fastOK := v.fast.run(in)
	unsure := v.fast.unsure
	cueOut, vs := cueOnly(v, rec, untyped)
	// A false the fast path marks unsure only defers to CUE: fine.
	if unsure && !fastOK && vs == nil {
		deferred.Add(1)
	}
	if fastOK != (vs == nil) && !(unsure && !fastOK) {
		if d.lenient && !fastOK {
			falseRejects.Add(1)
			return vs == nil
		}
		t.Errorf("%s: on %s (untyped %v) the fast path says valid=%v, CUE says %v", d.name, show(rec), untyped, fastOK, vs)
		return vs == nil
	}
	if !fastOK && vs != nil {
		// A record blamed on one scalar has CUE's violations, from
		// CUE's look at that scalar alone.
		if blamed, ok := v.blamed(in); ok {
			blamedCount.Add(1)
			if !reflect.DeepEqual(blamed, vs) {
				t.Errorf("%s: on %s (untyped %v) the violations blamed on one value are\n%#v\nCUE's are\n%#v", d.name, show(rec), untyped, blamed, vs)
			}
		}
	}
	if vs == nil && v.shape != nil && !v.shape.adds(rec) {
		// The shortcut said nothing is added: hold it to a walk.
		walked, _ := cueWalked(v, rec, untyped)
		got, err1 := format.AppendJSON(nil, cueOut)
		want, err2 := format.AppendJSON(nil, walked)
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: on %s the CUE path's shape shortcut writes\n%s\nCUE writes\n%s", d.name, show(rec), got, want)
		}
		cueOut = walked
	}
	if fastOK {
		got, err1 := format.AppendJSON(nil, fastOut)
		want, err2 := format.AppendJSON(nil, cueOut)
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: on %s the fast path writes\n%s\nCUE writes\n%s", d.name, show(rec), got, want)
		}
	}
	return vs == nil
}

// agreesIsolated holds a schema with recursive values that CUE checks,
// loaded isolated, to its verdicts, messages and outputs in process: the
// evaluator's process checks those values, and the fast path the rest.
func agreesIsolated(t *testing.T, name string, in *Schema, src []byte, def string, recs []any) {
	t.Helper()
	isolatedRuns.Add(1)
	iso, err := Compile(in.spec.File, src, def, Isolated())
	if err != nil {
		t.Errorf("%s: isolated: %v", name, err)
		return
	}
	defer iso.Close()
	vi, vp := in.Validator(), iso.Validator()
	defer in.Put(vi)
	defer iso.Put(vp)
	want, err1 := vi.CheckBatch(context.Background(), slices.Clone(recs), false)
	got, err2 := vp.CheckBatch(context.Background(), slices.Clone(recs), false)
	if err1 != nil || err2 != nil {
		t.Errorf("%s: in process: %v; isolated: %v", name, err1, err2)
		return
	}
	for i := range recs {
		g, _ := format.AppendJSON(nil, got[i].Out)
		w, _ := format.AppendJSON(nil, want[i].Out)
		if !bytes.Equal(g, w) || !reflect.DeepEqual(got[i].Violations, want[i].Violations) {
			t.Errorf("%s: on %s isolated writes %s %v, in process %s %v", name, show(recs[i]), g, got[i].Violations, w, want[i].Violations)
		}
	}
}

// isolatedRuns counts the schemas agreesIsolated checked.
var isolatedRuns atomic.Int64

// deferred counts valid records the fast path left to CUE, unsure;
// blamedCount the invalid ones whose message came from one value.
var deferred, blamedCount, falseRejects atomic.Int64

// decodeAll reads ndjson records, skipping lines that are not JSON.
func decodeAll(data []byte) []any {
	dec, _ := format.NewDecoder(format.NDJSON, bytes.NewReader(data), format.Limits{MaxDepth: 200, MaxLine: 1 << 20, MaxNodes: 1 << 16})
	var out []any
	for {
		r, err := dec.Next()
		if err == io.EOF {
			return out
		}
		var fe *format.Error
		if errors.As(err, &fe) && fe.Recoverable {
			continue
		}
		if err != nil {
			return out
		}
		out = append(out, r.Value)
	}
}

// records generates n records for a schema: valid ones and mutants, as
// ndjson, deterministically.
func records(d diffSchema, seed uint64, n int) []byte {
	v := d.sch.Validator()
	defer d.sch.Put(v)
	if v.fast == nil {
		return nil
	}
	g := &recordGen{r: newRand(seed), lits: schemaLiterals([]byte(d.sch.sources[d.sch.spec.File]))}
	// A third come from CUE's view of the schema, the rest from the
	// fast path's.
	cs := cueShapeOf(v.schema, 0)
	var b []byte
	for i := 0; i < n; i++ {
		g.nodes = 0
		rec := g.value(v.fast.root, 0)
		if i%3 == 2 {
			rec = g.fromCUE(cs, 0)
		}
		for m := 0; g.chance(0.6) && m < 3; m++ {
			rec = g.mutate(rec)
		}
		line, err := format.AppendJSON(nil, rec)
		if err != nil {
			panic(err)
		}
		b = append(append(b, line...), '\n')
	}
	return b
}

// A longer run: go test -run FastPathAgrees -diff.records 5000 -diff.seed 7
var (
	diffRecords = flag.Int("diff.records", 100, "records per schema in the differential test")
	diffSeed    = flag.Uint64("diff.seed", 0, "seed of the differential test")
)

func TestFastPathAgreesWithCUE(t *testing.T) {
	total, valid := 0, 0
	deferred.Store(0)
	blamedCount.Store(0)
	isolatedRuns.Store(0)
	for i, d := range fastCorpus(t) {
		t.Run(d.name, func(t *testing.T) {
			v := d.sch.Validator()
			defer d.sch.Put(v)
			if v.fast == nil {
				t.Skip("no fast path")
			}
			recs := decodeAll(records(d, *diffSeed*1000+uint64(i+1), *diffRecords))
			for _, rec := range recs {
				total++
				if agree(t, d, v, rec, false) {
					valid++
				}
				if cells, ok := asCells(rec); ok {
					agree(t, d, v, cells, true)
				}
			}
			if len(v.fast.cyclic) > 0 {
				agreesIsolated(t, d.name, d.sch, d.sch.sources[d.sch.spec.File], d.sch.spec.Def, recs)
			}
		})
	}
	t.Logf("%d records, %d of them valid, %d valid ones left to CUE by an unsure fast check, %d invalid ones blamed on one value; %d schemas checked isolated too", total, valid, deferred.Load(), blamedCount.Load(), isolatedRuns.Load())
	if valid < total/5 || valid > total*9/10 {
		t.Errorf("%d of %d records are valid: the generator has lost its balance", valid, total)
	}
}

// asCells turns a record into what a csv decoder gives: every top-level
// value a string cell.
func asCells(rec any) (any, bool) {
	obj, ok := rec.(*format.Object)
	if !ok {
		return nil, false
	}
	out := &format.Object{}
	for _, f := range obj.Fields {
		var cell string
		switch x := f.Value.(type) {
		case nil:
			cell = "null"
		case bool:
			cell = strconv.FormatBool(x)
		case string:
			cell = x
		case format.Number:
			cell = string(x)
		default:
			return nil, false
		}
		out.Fields = append(out.Fields, format.Field{Key: f.Key, Value: cell})
	}
	return out, true
}

// FuzzFastPathAgreesWithCUE checks arbitrary ndjson records against a
// schema of the corpus chosen by index.
func FuzzFastPathAgreesWithCUE(f *testing.F) {
	ds := fastCorpus(f)
	for i, d := range ds {
		for _, line := range bytes.Split(records(d, uint64(1000+i), 8), []byte("\n")) {
			f.Add(uint(i), line)
		}
	}
	// Raw seeds at the project root: NAME--what.ndjson is for schema NAME,
	// any other file for every schema.
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "fuzz", "FuzzFastPathAgreesWithCUE", "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		name, _, scoped := strings.Cut(filepath.Base(p), "--")
		for i, d := range ds {
			if !scoped || d.name == name {
				f.Add(uint(i), b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, idx uint, data []byte) {
		d := ds[idx%uint(len(ds))]
		v := d.sch.Validator()
		defer d.sch.Put(v)
		for _, rec := range decodeAll(data) {
			agree(t, d, v, rec, false)
			if cells, ok := asCells(rec); ok {
				agree(t, d, v, cells, true)
			}
		}
	})
}

// TestSeedsAgreeWithCUE holds every schema of the corpus that takes the
// fast path to CUE on its own fuzz seeds (NAME--what.ndjson), whatever
// its want line says: the fuzz test only takes the schemas meant to be
// fast, and a schema meant to fall back that takes the fast path after
// all is to agree with CUE too, above all on the records that show why
// it must fall back.
func TestSeedsAgreeWithCUE(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "fuzz", "FuzzFastPathAgreesWithCUE", "*--*"))
	for _, d := range loadCorpus(t) {
		var seeds [][]byte
		for _, p := range files {
			if name, _, _ := strings.Cut(filepath.Base(p), "--"); name == d.name {
				if b, err := os.ReadFile(p); err == nil {
					seeds = append(seeds, b)
				}
			}
		}
		if len(seeds) == 0 {
			continue
		}
		v := d.sch.Validator()
		if v.fast != nil {
			for _, b := range seeds {
				for _, rec := range decodeAll(b) {
					agree(t, d, v, rec, false)
				}
			}
		}
		d.sch.Put(v)
	}
}

// What CUE adds to a record, the whole-record CUE path writes, shortcut
// or not: a comprehension's fields, a list's leading elements' defaults,
// a pattern's defaults. Each case failed before its fix.
func TestShapeShortcutWritesWhatCUEAdds(t *testing.T) {
	for _, tc := range []struct{ schema, rec, want string }{
		{`#T: {a?: int, if a != _|_ {b: 2}}`, `{"a":1}`, `{"a":1,"b":2}`},
		{`#T: {l?: [{x: *1 | int}, ...{}]}`, `{"l":[{},{}]}`, `{"l":[{"x":1},{}]}`},
		{`#T: {[=~"^q"]: {a: *1 | int}}`, `{"q":{}}`, `{"q":{"a":1}}`},
		// A field's own _ meets a pattern's disjunction: its value may
		// be a struct or a list (generated schema 6000773; 6000807 and
		// 20001091 are of the kind too).
		{"#T: {b!: _, [string]: [...int] | #A}\n#A: {port: [...int], p: {}, ...}", `{"b":{}}`, `{"b":{"port":[],"p":{}}}`},
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, "s.cue")
		os.WriteFile(p, []byte(tc.schema), 0o644)
		s, err := Load(Spec{File: p, Def: "T"})
		if err != nil {
			t.Fatal(err)
		}
		v := s.Validator()
		out, vs := cueOnly(v, decodeAll([]byte(tc.rec + "\n"))[0], false)
		got, _ := format.AppendJSON(nil, out)
		if vs != nil || string(got) != tc.want {
			t.Errorf("%s on %s: wrote %s (%v), want %s", tc.schema, tc.rec, got, vs, tc.want)
		}
		s.Put(v)
	}
}

// The CUE path's verdict is cue vet's: Validate, and the unified value's
// own error, which Validate (v0.17) leaves out when it comes from a
// definition declared in the record's structs. Each case was accepted
// before (the fast path takes none of them).
func TestCUEPathRejectsWhatCUEVetRejects(t *testing.T) {
	for _, tc := range []struct{ schema, rec, want string }{
		{"#T: {a?: {#x: {q!: bool, [string]: number}}}", `{"a":{}}`,
			`a.#x.q: conflicting values bool and number (mismatched types bool and number) (s.cue:1:20)`},
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, "s.cue")
		os.WriteFile(p, []byte(tc.schema), 0o644)
		s, err := Load(Spec{File: p, Def: "T"}, WithDisplayPath(DisplayRel(dir)))
		if err != nil {
			t.Fatal(err)
		}
		v := s.Validator()
		if ok, _ := s.FastPath(); ok {
			t.Errorf("%s: takes the fast path", tc.schema)
		}
		_, vs := v.Check(decodeAll([]byte(tc.rec + "\n"))[0], false)
		var got []string
		for _, vi := range vs {
			got = append(got, vi.String())
		}
		if strings.Join(got, "\n") != tc.want {
			t.Errorf("%s on %s: %q, want %q", tc.schema, tc.rec, got, tc.want)
		}
		s.Put(v)
	}
}
