package engine

import (
	"runtime/debug"
	"sync"
)

// manyItems is the number of items from which a stage runs with the
// collector at GOGC=100 at most, whether its items run or are up to
// date. Each item leaves a record that lives to the end of the run (its
// result, its run-record line), and each allocates a few buffers that do
// not: at GOGC=200, which suits a stream of records, the heap of a
// million small files grew to three times what it held. Measured on
// one-record files: 100,000 in 5.1-5.8 s and 345 MB against 5.6-7.0 s
// and 423-445 MB; 1,000,000 in 67 s and 3.4 GB against 88 s and 4.25 GB;
// a no-op rerun of 1,000,000 held 2.0 GB against 2.4 GB at GOGC=200.
const manyItems = 10_000

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
		g.old = debug.SetGCPercent(100)
		if g.old < 100 { // lower already, or off (-1)
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
