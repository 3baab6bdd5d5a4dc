package engine

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
)

// manyItems is the number of items from which a stage runs with the
// collector at GOGC=manyItemsGC at most, whether its items run or are up
// to date. Each item leaves a record that lives to the end of the stage
// (its listing, its result, its journal entry), and each allocates a few
// buffers that do not, so the heap a collection lets grow is mostly
// garbage. At GOGC=200, which suits a stream of records, the heap of a
// million small files grew to three times what it held. Measured on
// one-record files, side by side: 100,000 run with --force in 5.1-5.4 s
// and 197-217 MB at GOGC=50 against 5.1 s and 245-276 MB at 100; a no-op
// rerun of 1,000,000 in 20 s and 1.14 GB against 17-23 s and 1.35-1.42 GB.
const (
	manyItems   = 10_000
	manyItemsGC = 50
	// A stage of hugeItems that is up to date runs at GOGC=hugeItemsGC:
	// what it holds per item is then most of the heap, and few of its
	// objects hold pointers. A no-op rerun of 1,000,000 one-record files
	// peaked at 240-258 MB at 50 and 205-210 MB at 25, in the same 9-10
	// s. Items that run are not, unless they run in windows
	// (runWindowed): held to the stage's end, their first run took 98 s
	// at 25 against 48 s at 50.
	hugeItems   = 200_000
	hugeItemsGC = 25
	// A journal of hugeItems is read at GOGC=hugeJournalGC, while the
	// guard lists the sources: both make records that live on, packed or
	// one string a folder, and little garbage. The peak of that no-op
	// rerun, at the end of this phase, was 207-219 MB at 50, 190-206 MB
	// at 25 and 187-189 MB at 10, in 10-12 s each.
	hugeJournalGC = 10
	// journalItemBytes is about what an item takes in the journal on
	// disk. Its items are held for the whole run, and read while the
	// guard lists the sources: at GOGC=200 a million of them took 460 MB
	// before the first stage began.
	journalItemBytes = 100
)

// journalItems is about the number of items the journal in dir holds.
func journalItems(dir string) int {
	fi, err := os.Stat(filepath.Join(dir, journalName))
	if err != nil {
		return 0
	}
	return int(fi.Size() / journalItemBytes)
}

// processGC is the one gcPace of the process: the collector's target is
// the process's, and runs of a library caller may overlap.
var processGC gcPace

// gcPace lowers the collector's target while stages with many items run,
// or a journal of many is read, and puts it back when the last of them
// ends: they may overlap, and a lower target set by the user (GOGC) is
// kept.
type gcPace struct {
	mu sync.Mutex
	// asked counts the users of each target; old is the target before
	// the first of them, and cur the one set now.
	asked    map[int]int
	old, cur int
}

// lower starts the use of target pct (manyItemsGC, hugeItemsGC or
// hugeJournalGC) for a stage or a read; the func ends it. The process
// runs at the lowest target its users ask for, or the user's when that
// is lower.
func (g *gcPace) lower(pct int) func() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.asked) == 0 {
		// Read by setting pct: setting -1 would wait for a collection
		// under way to finish, with the lock held.
		g.asked = map[int]int{}
		g.old, g.cur = debug.SetGCPercent(pct), pct
	}
	g.asked[pct]++
	g.set()
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.asked[pct]--; g.asked[pct] == 0 {
			delete(g.asked, pct)
		}
		g.set()
	}
}

// set puts the target at the lowest asked for, or at old.
func (g *gcPace) set() {
	pct := g.old
	if pct >= 0 { // off stays off
		for p := range g.asked {
			pct = min(pct, p)
		}
	}
	if pct != g.cur {
		debug.SetGCPercent(pct)
		g.cur = pct
	}
}
