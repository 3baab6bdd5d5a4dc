package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPosIndexActsAsAMap sets, replaces and looks up hashes across many
// merges, hashes spread evenly and hashes bunched at both ends, and
// checks every answer against a Go map.
func TestPosIndexActsAsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	spreads := map[string]func() uint64{
		"even": r.Uint64,
		"bunched": func() uint64 { // near both ends, which interpolation misjudges
			if h := r.Uint64N(20_000); r.UintN(2) == 0 {
				return h
			} else {
				return ^h
			}
		},
		"small": func() uint64 { return r.Uint64N(50_000) },
	}
	for name, hash := range spreads {
		t.Run(name, func(t *testing.T) {
			var x posIndex
			want := map[uint64]uint64{}
			for i := range uint64(60_000) {
				h := hash()
				old, replaced := x.set(h, i)
				wantOld, wantReplaced := want[h]
				if replaced != wantReplaced || old != wantOld {
					t.Fatalf("set(%#x) replaced %v %d, want %v %d", h, replaced, old, wantReplaced, wantOld)
				}
				want[h] = i
				other := hash() // often one not set yet
				pos, ok := x.get(other)
				wantPos, wantOK := want[other]
				if ok != wantOK || pos != wantPos {
					t.Fatalf("get(%#x) = %d %v, want %d %v", other, pos, ok, wantPos, wantOK)
				}
			}
			if x.len() != len(want) {
				t.Fatalf("len %d, want %d", x.len(), len(want))
			}
			if x.n < len(want)*3/4 {
				t.Fatalf("%d of %d hashes merged into the table", x.n, len(want))
			}
			var got []uint64
			for pos := range x.positions() {
				got = append(got, pos)
			}
			var all []uint64
			for h, pos := range want {
				all = append(all, pos)
				if p, ok := x.get(h); !ok || p != pos {
					t.Fatalf("get(%#x) = %d %v, want %d", h, p, ok, pos)
				}
			}
			slices.Sort(got)
			slices.Sort(all)
			if !slices.Equal(got, all) {
				t.Fatal("positions yields other positions than were set")
			}
		})
	}
}

// TestPosIndexWalkWhileAdding adds hashes while positions walks, enough
// to merge: every hash there when the walk began is still yielded once.
func TestPosIndexWalkWhileAdding(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var x posIndex
	const before = 20_000
	for i := range uint64(before) {
		x.set(r.Uint64(), i)
	}
	seen := map[uint64]int{}
	for pos := range x.positions() {
		seen[pos]++
		x.set(r.Uint64(), before+pos) // a new hash, now and then a merge
	}
	for i := range uint64(before) {
		if seen[i] != 1 {
			t.Fatalf("position %d yielded %d times", i, seen[i])
		}
	}
}

// delete removes hash, to stage a clash.
func (x *posIndex) delete(hash uint64) {
	if _, ok := x.search(hash); ok {
		var all []hashPos
		for _, hp := range x.table {
			if hp.pos != free && hp.hash != hash {
				all = append(all, hashPos{hp.hash, hp.pos - 1})
			}
		}
		x.table, x.n = nil, 0
		x.build(all)
	}
	delete(x.recent, hash)
}
