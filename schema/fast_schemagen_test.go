package schema

import (
	"flag"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// The corpus of testdata/diff holds the schemas someone thought of. Each
// false accept found so far was in a schema no one had written down: a
// definition declared twice, or unified at its use, or embedded beside
// definitions. schemaGen writes such schemas at random, from the
// constructs the fast path compiles, so that the differential test meets
// the combinations too.
type schemaGen struct {
	r    *rand.Rand
	b    strings.Builder
	defs []string // the file's definitions
	// later are the file's definitions after the one being written: a
	// definition refers to and embeds only those, and to itself only
	// through an optional field, so that no reference makes a cycle
	// (some send CUE v0.17's evaluator into a stack overflow, which no
	// test can recover from). cur is the one being written.
	later   []string
	cur     string
	imports map[string]bool
}

var fileDefs = []string{"#A", "#B", "#C"}

// genSchema writes a schema: #T or a hidden root the file embeds, and the
// file's definitions, some of them declared twice.
func genSchema(r *rand.Rand) (src, def string) {
	g := &schemaGen{r: r, imports: map[string]bool{}}
	g.defs = fileDefs[:1+g.pick(len(fileDefs))]
	var body strings.Builder
	def = "T"
	g.later = g.defs
	if g.chance(0.2) {
		// The form cue import writes for a JSON Schema with an $id.
		def = ""
		body.WriteString("_s\n_s: " + g.structLit(0, true) + "\n")
	} else {
		body.WriteString("#T: " + g.value(0, nil) + "\n")
	}
	for i, d := range g.defs {
		g.later, g.cur = g.defs[i+1:], d
		body.WriteString(d + ": " + g.structLit(1, false) + "\n")
		if g.chance(0.3) {
			body.WriteString(d + ": " + g.structLit(1, false) + "\n")
		}
	}
	for imp := range g.imports {
		g.b.WriteString("import \"" + imp + "\"\n")
	}
	g.b.WriteString(body.String())
	return g.b.String(), def
}

func (g *schemaGen) pick(n int) int { return g.r.IntN(n) }

func (g *schemaGen) chance(p float64) bool { return g.r.Float64() < p }

func (g *schemaGen) oneOf(s ...string) string { return s[g.pick(len(s))] }

// value is a CUE expression; inner are the definitions the enclosing
// structs declare, which it may refer to by name.
func (g *schemaGen) value(depth int, inner []string) string {
	if depth > 3 {
		return g.scalar()
	}
	switch g.pick(12) {
	case 0, 1, 2:
		return g.scalar()
	case 3, 4:
		return g.structLit(depth+1, false, inner...)
	case 5:
		return g.ref(inner)
	case 6:
		return g.ref(inner) + " & " + g.oneOf(g.ref(inner), g.structLit(depth+1, false, inner...))
	case 7:
		alt := g.value(depth+1, inner) + " | " + g.value(depth+1, inner)
		if g.chance(0.3) {
			alt = "*" + alt
		}
		return alt
	case 8:
		return g.oneOf("[..."+g.value(depth+1, inner)+"]", "["+g.value(depth+1, inner)+", ..."+g.value(depth+1, inner)+"]", "[...]")
	case 9:
		return "matchN(" + g.oneOf("1", ">=1", "0") + ", [" + g.value(depth+1, inner) + ", " + g.value(depth+1, inner) + "])"
	case 10:
		return "close(" + g.structLit(depth+1, false, inner...) + ")"
	}
	g.imports["list"] = true
	return "[..." + g.value(depth+1, inner) + "] & list.MaxItems(2)"
}

func (g *schemaGen) scalar() string {
	s := g.oneOf("int", "string", "bool", "null", "number", ">=0 & <=10", "int & >=1", `"a" | "b"`,
		"*1 | int", `*"x" | string`, `=~"^x"`, "_", "1", `"a"`, "strings.MinRunes(2)")
	if strings.HasPrefix(s, "strings.") {
		g.imports["strings"] = true
	}
	return s
}

// ref refers to a definition in scope: the file's, or one an enclosing
// struct declares.
func (g *schemaGen) ref(inner []string) string {
	all := append(append([]string(nil), g.later...), inner...)
	if len(all) == 0 {
		return g.scalar()
	}
	return all[g.pick(len(all))]
}

// structLit is a struct literal. Its definitions are chosen first, so
// that its fields may refer to them; root is the hidden root, which
// carries an attribute and embeds a value beside its definitions.
func (g *schemaGen) structLit(depth int, root bool, inner ...string) string {
	var own []string
	for _, n := range []string{"#x", "#y"} {
		if (depth < 4 && g.chance(0.25)) || (root && n == "#x") {
			own = append(own, n)
		}
	}
	scope := append(append([]string(nil), inner...), own...)
	var parts []string
	if root {
		parts = append(parts, `@jsonschema(id="https://example.com/s.json")`)
		parts = append(parts, g.value(depth+1, scope))
	}
	for n := g.pick(3); n > 0 && !root; n-- {
		name := g.oneOf("a", "b", "p", "q", "port", `"x-y"`)
		parts = append(parts, name+g.oneOf("?", "?", "!", "")+": "+g.value(depth+1, scope))
	}
	if g.cur != "" && g.chance(0.1) {
		parts = append(parts, g.oneOf("c?: "+g.cur, "l?: [..."+g.cur+"]", "d?: null | "+g.cur)) // recursion
	}
	if emb := append(append([]string(nil), g.later...), own...); !root && len(emb) > 0 && g.chance(0.15) {
		parts = append(parts, emb[g.pick(len(emb))]) // an embedding
	}
	if g.chance(0.15) {
		parts = append(parts, g.oneOf(`[=~"^x"]: `, "[string]: ")+g.value(depth+1, scope))
	}
	for _, n := range own {
		parts = append(parts, n+": "+g.structLit(depth+1, false, scope...))
	}
	if g.chance(0.3) {
		parts = append(parts, "...")
	}
	return "{" + strings.Join(parts, "\n") + "}"
}

var genSchemas = flag.Int("gen.schemas", 100, "generated schemas in TestGeneratedSchemasAgreeWithCUE")

// TestGeneratedSchemasAgreeWithCUE holds the fast path to CUE on schemas
// written at random. A longer run:
// go test ./schema -run GeneratedSchemas -gen.schemas 5000 -diff.seed 3
func TestGeneratedSchemasAgreeWithCUE(t *testing.T) {
	taken := 0
	falseRejects.Store(0)
	isolatedRuns.Store(0)
	for i := range *genSchemas {
		if agreesOnGenerated(t, *diffSeed*1_000_000+uint64(i), 30) {
			taken++
		}
	}
	t.Logf("%d of %d generated schemas take the fast path; %d valid records rejected by it, then accepted by CUE; %d checked isolated too", taken, *genSchemas, falseRejects.Load(), isolatedRuns.Load())
}

// cueCannot are generated schemas that CUE v0.17 cannot evaluate, as cue
// vet cannot: it overflows its stack on the first line's and evaluates
// the second's without end (94000372 grew to 8 GB, 98000254 to 2 GB in
// four minutes; 15001176, 36001054, 38000724 and 40001427 gave no answer
// in 100-150 s, in Compile). No recover catches either, so a hunt through their
// seeds ended there. schema_crash.txtar and eval_bounded.txtar pin what
// zpipe says of such schemas.
var cueCannot = map[uint64]bool{
	3000742: true, 10001498: true, 23001017: true, 25001482: true, 28001062: true, 30000168: true, 39000088: true, 39000362: true, 41000865: true, 41001889: true, 49000984: true, 96000996: true,
	15001176: true, 25001483: true, 36001054: true, 38000724: true, 40001427: true, 94000372: true, 98000254: true, 100000520: true,
}

// agreesOnGenerated checks records against the schema seed writes, when
// CUE compiles it and the fast path takes it; it reports whether it did.
func agreesOnGenerated(t *testing.T, seed uint64, n int) bool {
	t.Helper()
	if cueCannot[seed] {
		return false
	}
	src, def := genSchema(newRand(seed))
	defer func() {
		// CUE v0.17 panics on some schemas (an index out of range in
		// its typo check): that is CUE's to fix, and these tests are
		// about the fast path.
		if r := recover(); r != nil {
			t.Logf("CUE panicked on generated schema %d: %v", seed, r)
		}
	}()
	sch, err := Compile("gen.cue", []byte(src), def)
	if err != nil {
		return false
	}
	d := diffSchema{name: "generated schema " + strconv.FormatUint(seed, 10), sch: sch, lenient: true}
	v := sch.Validator()
	defer sch.Put(v)
	if v.fast == nil {
		return false
	}
	failed := t.Failed()
	recs := decodeAll(records(d, seed, n))
	for _, rec := range recs {
		agree(t, d, v, rec, false)
		if t.Failed() && !failed {
			t.Logf("generated schema %d:\n%s", seed, src)
			break
		}
	}
	if len(v.fast.cyclic) > 0 && !t.Failed() {
		agreesIsolated(t, d.name, sch, []byte(src), def, recs)
		if t.Failed() && !failed {
			t.Logf("generated schema %d:\n%s", seed, src)
		}
	}
	return true
}

func FuzzGeneratedSchemaAgreesWithCUE(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		agreesOnGenerated(t, seed, 30)
	})
}
