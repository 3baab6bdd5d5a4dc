package pipeline

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// The index finds the implied edges that matching every stage's globs
// against every other stage's outputs does, in the same order, on random
// manifests over a few folders, globs, placeholders and excludes.
func TestReadIndexMatchesPairwise(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 0))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	skipped := 0
	const rounds = 2000
	for round := 0; round < rounds; round++ {
		m := &Manifest{File: "p.yaml", Dir: "/p"}
		for i := range 2 + r.IntN(8) {
			s := &Stage{Name: fmt.Sprintf("s%d", i)}
			for range 1 + r.IntN(2) {
				s.Source.Paths = append(s.Source.Paths, pick("data/*.json", "out/*.ndjson", "out/**", "**/*.yaml", "out/a/*.json", "{out,data}/*.json", "/p/out/*.ndjson", "out/x?.ndjson", "*.csv", "out", "out/a/**", "out/u-*.ndjson", "out/*/b.json"))
			}
			if r.IntN(4) == 0 {
				s.Source.Exclude = []string{pick("*.yaml", "out/a/**", "x1.ndjson")}
			}
			for range r.IntN(3) {
				s.Outputs = append(s.Outputs, Output{Path: pick("out/x1.ndjson", "out/{stem}.ndjson", "out/a/b.json", "{dir}/c.yaml", "r.csv", "out/y.yaml", "deep/{dir}/z.json", "out", "out/a", "out/u-{stem}.ndjson", "out/{stem}/b.json", "out/{name}")})
			}
			if r.IntN(3) == 0 {
				s.Rejects = "/p/" + pick("out/rej.ndjson", "rej.csv")
			}
			m.Stages = append(m.Stages, s)
		}
		want := map[string][]Dep{}
		for _, s := range m.Stages {
			for _, w := range m.Stages {
				if w == s {
					continue
				}
				for _, out := range w.produces(m.Dir) {
					if s.reads(m.Dir, out) {
						want[s.Name] = append(want[s.Name], Dep{w.Name, out})
						break
					}
				}
			}
		}
		// The linter's written globs: each glob alone, against every
		// stage's outputs, its own included.
		l := &linter{m: m}
		l.writtenGlobs()
		for si, s := range m.Stages {
			for k, pat := range s.Source.Paths {
				one := *s
				one.Source.Paths = []string{pat}
				pairwise := false
				for _, w := range m.Stages {
					for _, out := range w.produces(m.Dir) {
						pairwise = pairwise || one.reads(m.Dir, out)
					}
				}
				if l.written[[2]int{si, k}] != pairwise {
					t.Fatalf("round %d: stage %s glob %q: written %v, pairwise %v", round, s.Name, pat, !pairwise, pairwise)
				}
			}
		}
		p, err := Compile(m)
		if err != nil {
			skipped++ // a cycle, or a stage that reads its own output
			continue
		}
		got := p.Deps
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: index %v, pairwise %v", round, got, want)
		}
	}
	if rounds-skipped < 300 {
		t.Errorf("only %d of %d manifests compiled: the generator has lost its balance", rounds-skipped, rounds)
	}
}
