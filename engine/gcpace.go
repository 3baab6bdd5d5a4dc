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
	// manyItemsJournal is the size of a journal of about manyItems items
	// (some 100 bytes each on disk). Its items are held for the whole
	// run, and read while the guard lists the sources: at GOGC=200 a
	// million of them took 460 MB before the first stage began.
	manyItemsJournal = manyItems * 100
)

// journalHoldsMany reports whether the journal in dir is one of many items.
func journalHoldsMany(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, journalName))
	return err == nil && fi.Size() >= manyItemsJournal
}

// processGC is the one gcPace of the process: the collector's target is
// the process's, and runs of a library caller may overlap.
var processGC gcPace

// gcPace lowers the collector's target while stages with many items run,
// and puts it back when the last of them ends: stages may run at once,
// and a lower target set by the user (GOGC) is kept.
type gcPace struct {
	mu    sync.Mutex
	users int
	old   int
}

// lower starts a stage's use of the lower target; the func ends it.
func (g *gcPace) lower() func() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.users == 0 {
		g.old = debug.SetGCPercent(manyItemsGC)
		if g.old < manyItemsGC { // lower already, or off (-1)
			debug.SetGCPercent(g.old)
		}
	}
	g.users++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.users--; g.users == 0 {
			debug.SetGCPercent(g.old)
		}
	}
}
