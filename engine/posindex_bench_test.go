package engine

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkPosIndexGet(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	hs := make([]uint64, 1_000_000)
	var x posIndex
	m := map[uint64]uint64{}
	for i := range hs {
		hs[i] = r.Uint64()
		x.set(hs[i], uint64(i))
		m[hs[i]] = uint64(i)
	}
	b.Run("posIndex", func(b *testing.B) {
		var s uint64
		for i := 0; b.Loop(); i++ {
			p, _ := x.get(hs[(i*7919)%len(hs)])
			s += p
		}
	})
	b.Run("map", func(b *testing.B) {
		var s uint64
		for i := 0; b.Loop(); i++ {
			p := m[hs[(i*7919)%len(hs)]]
			s += p
		}
	})
}

func BenchmarkPosIndexSet(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	hs := make([]uint64, 1_000_000)
	for i := range hs {
		hs[i] = r.Uint64()
	}
	b.Run("posIndex", func(b *testing.B) {
		for b.Loop() {
			var x posIndex
			for i, h := range hs {
				x.set(h, uint64(i))
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		for b.Loop() {
			m := map[uint64]uint64{}
			for i, h := range hs {
				m[h] = uint64(i)
			}
		}
	})
}
