package pipeline

import (
	"slices"
	"strings"
)

// RealSet is a set of real paths, held sorted. A stage's sources are
// usually listed in the order of their real paths already, so the set is
// then the sources themselves: a million paths as a map were 50 MB, as a
// sorted copy 16 MB, and as this nothing.
type RealSet struct {
	files  []SourceFile // when set, their Real paths, sorted and distinct
	sorted []string     // otherwise
}

// realSetOf is the set of the real paths of files, which it keeps.
func realSetOf(files []SourceFile) RealSet {
	if ascending(files) {
		return RealSet{files: files}
	}
	reals := make([]string, len(files))
	for i, f := range files {
		reals[i] = f.Real
	}
	slices.Sort(reals)
	return RealSet{sorted: slices.Compact(reals)}
}

// ascending says whether each file's real path sorts after the one
// before.
func ascending(files []SourceFile) bool {
	for i := 1; i < len(files); i++ {
		if files[i-1].Real >= files[i].Real {
			return false
		}
	}
	return true
}

// Has reports whether real is in the set.
func (s RealSet) Has(real string) bool {
	if s.files != nil {
		_, ok := slices.BinarySearchFunc(s.files, real, func(f SourceFile, real string) int { return strings.Compare(f.Real, real) })
		return ok
	}
	_, ok := slices.BinarySearch(s.sorted, real)
	return ok
}

// Len is the number of paths in the set.
func (s RealSet) Len() int { return len(s.files) + len(s.sorted) }
