package engine

import (
	"cmp"
	"iter"
	"math/bits"
	"slices"
)

// posIndex finds a record's position by its key's 64-bit hash. A Go map
// of a million such pairs took 37 MB, its tables having just split; here
// they take 19. The hashes are kept in order in a table a ninth larger
// than they need, each at the slot its value points to or just after the
// hash before it: the slot a hash points to is where the search for it
// starts, and a search ends within a cache line or two, found or not.
// Hashes added since the table was last built wait in a small map, which
// is merged in once it holds a quarter of the table: adding a million
// hashes copies the table some four times over, and a merge holds two
// tables, the small map and a sorted copy of it at once.
type posIndex struct {
	table  []hashPos // see build
	n      int       // hashes in table
	recent map[uint64]uint64
}

type hashPos struct{ hash, pos uint64 }

// free marks a slot of the table that holds no hash, so that a table
// made is all free: the table holds each position plus one, and no
// record is at the last byte of the last of four billion blocks.
const free = 0

// mergeAt is the fewest hashes the small map takes before it is
// merged, however small the table.
const mergeAt = 4096

func (x *posIndex) len() int { return x.n + len(x.recent) }

// get returns the position of hash, and whether it is there.
func (x *posIndex) get(hash uint64) (uint64, bool) {
	if i, ok := x.search(hash); ok {
		return x.table[i].pos - 1, true
	}
	pos, ok := x.recent[hash]
	return pos, ok
}

// set makes pos the position of hash, and returns the one it replaces.
func (x *posIndex) set(hash, pos uint64) (old uint64, replaced bool) {
	if i, ok := x.search(hash); ok {
		old, x.table[i].pos = x.table[i].pos-1, pos+1
		return old, true
	}
	if old, replaced = x.recent[hash]; !replaced && len(x.recent) >= max(mergeAt, x.n/4) {
		x.merge()
	}
	if x.recent == nil {
		x.recent = map[uint64]uint64{}
	}
	x.recent[hash] = pos
	return old, replaced
}

// positions yields every position, in no order. It walks the table and
// the small map as they were when it began: a hash set during the walk
// may or may not be yielded, and after a merge, which only a new hash
// sets off, a hash set again is yielded at its earlier position.
func (x *posIndex) positions() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		table, recent := x.table, x.recent
		for _, hp := range table {
			if hp.pos != free && !yield(hp.pos-1) {
				return
			}
		}
		for _, pos := range recent {
			if !yield(pos) {
				return
			}
		}
	}
}

// merge builds a new table of the old one's hashes and the small map's.
func (x *posIndex) merge() {
	add := make([]hashPos, 0, len(x.recent))
	for h, pos := range x.recent {
		add = append(add, hashPos{h, pos})
	}
	slices.SortFunc(add, func(a, b hashPos) int { return cmp.Compare(a.hash, b.hash) })
	x.recent = nil
	x.build(add)
}

// build makes the table of its hashes and add, which is sorted. Each
// hash goes to the slot it points to, or past the one before it: so the
// slots from where a hash points to where it is are all taken, and a
// search may stop at a free slot or a greater hash. The last hashes may
// be pushed past the end, into slots of their own.
func (x *posIndex) build(add []hashPos) {
	n := x.n + len(add)
	size := n + n/8
	table := make([]hashPos, size, size+size/64+8) // all free
	next := 0
	old := x.table
	for len(old) > 0 || len(add) > 0 {
		var hp hashPos
		switch {
		case len(old) > 0 && old[0].pos == free:
			old = old[1:]
			continue
		case len(old) > 0 && (len(add) == 0 || old[0].hash < add[0].hash):
			hp, old = old[0], old[1:]
		default:
			hp, add = add[0], add[1:]
			hp.pos++ // see free
		}
		i := max(slotOf(hp.hash, size), next)
		if i == len(table) {
			table = append(table, hashPos{})
		}
		table[i], next = hp, i+1
	}
	x.table, x.n = table, n
}

// slotOf is the slot hash points to in a table of size slots: hash/2⁶⁴ of
// the way along, since hashes are spread evenly.
func slotOf(hash uint64, size int) int {
	i, _ := bits.Mul64(hash, uint64(size))
	return int(i)
}

// search finds hash in the table, starting at the slot it points to.
func (x *posIndex) search(hash uint64) (int, bool) {
	if x.n == 0 {
		return 0, false
	}
	for i := slotOf(hash, x.n+x.n/8); i < len(x.table); i++ {
		hp := x.table[i]
		if hp.pos == free || hp.hash > hash {
			return 0, false
		}
		if hp.hash == hash {
			return i, true
		}
	}
	return 0, false
}
