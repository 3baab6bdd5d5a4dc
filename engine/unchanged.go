package engine

import (
	"os"
	"sync"
	"sync/atomic"

	"github.com/zpipe/zpipe/format"
)

// unchangedWindow is how many files settleUnchanged lists at once, and
// settleUnchangedOn whether it is tried (variables for the tests, which
// also count the stages it lists and those it settles).
var (
	unchangedWindow   = 8192
	settleUnchangedOn = true
	triedUnchanged    atomic.Int64
	settledUnchanged  atomic.Int64
)

// settleUnchanged settles a stage of which nothing changed, reading its
// files a window at a time: as items, a million files held some 230 bytes
// each for the whole stage, half of a no-op rerun's memory. It does what
// decide and upToDate do for such a stage, with the same checks, events,
// counts and trail.
//
// It reports false when it cannot tell that nothing changed: an item is
// new, changed or gone, an output is not what the journal says, or the
// stage reads what quickUpToDate does not judge (standard input, a
// Source, chunks of a file, per-source outputs). Then what it counted and
// wrote is undone, and the stage runs the full way from the start.
func (sr *stageRun) settleUnchanged(st *StageSummary) bool {
	r, s, n := sr.r, sr.s, sr.n
	if !settleUnchangedOn || r.opts.Force || !sr.listsFiles() {
		return false
	}
	for _, p := range r.opts.changed {
		if s.MayRead(sr.m, p) {
			return false
		}
	}
	prev := r.state.stage(sr.id())
	if prev == nil || sr.ctx.Err() != nil {
		return false
	}
	src, err := sr.resolveSources()
	if err != nil {
		return false // the full way says why
	}
	targets, err := sr.targets()
	if err != nil {
		return false
	}
	files := src.Files
	// A file added or gone is found without listing the files: the
	// journal's items would not match them one for one.
	if len(files) != sr.liveItems() {
		return false
	}
	switch {
	case len(files) >= hugeItems:
		defer processGC.lower(hugeItemsGC)()
	case len(files) >= manyItems:
		defer processGC.lower(manyItemsGC)()
	}

	// The outputs are hashed beside the listing, as decide does.
	var changed atomic.Bool
	var side sync.WaitGroup
	side.Go(func() { changed.Store(!sr.outputsHold(prev)) })
	defer side.Wait()

	// The trail's compressors are kept from window to window, and let go
	// before the full way, if it follows, runs.
	defer func() { sr.trailOut = nil }()
	var q StageSummary
	undo := func() bool {
		side.Wait() // it sets outputsReason
		if n.trail != nil {
			n.trail.done()
			os.Remove(n.trail.path)
		}
		n.trail, n.formats, n.ran, n.unclean = nil, nil, 0, 0
		sr.items, sr.results, sr.finished, sr.outputsReason = nil, nil, nil, ""
		return false
	}
	now := fingerprint{Schema: sr.schema.SchemaSum(), Transform: sr.schema.TransformSum(), Settings: sr.fn.settingsSum(), Version: Version()}
	// A file to cut is never settled here: its chunks are items that
	// quickUpToDate does not judge. It is found without reading it.
	var cut atomic.Bool
	g := &globSource{sr: sr, to: len(s.Source.Paths), known: func(string, *fileStat) []format.Chunk {
		cut.Store(true)
		return make([]format.Chunk, 1)
	}}
	digest := newStringHash()
	triedUnchanged.Add(1)
	for lo := 0; lo < len(files); lo += unchangedWindow {
		// Each window is listed into the last one's arrays: nothing
		// keeps an item or result past its window.
		window := g.list(sr.ctx, sr.items, files[lo:min(lo+unchangedWindow, len(files))])
		sr.items, sr.results, sr.finished = window, resized(sr.results, len(window)), resized(sr.finished, len(window))
		sr.quickPass(&now)
		if sr.ctx.Err() != nil || changed.Load() || cut.Load() {
			return undo()
		}
		for i := range window {
			if sr.finished[i] {
				continue
			}
			// One quickPass cannot judge (its file was written just
			// before its record was) is judged as decide would.
			if it := &window[i]; it.runs != "" || it.Err != nil {
				return undo()
			}
			if reason, err := sr.judge(i, now.Settings, false); err != nil || reason != "" {
				return undo()
			}
		}
		sr.hashSaved(digest)
		q.Items += len(window)
		sr.tally(&q)
	}
	side.Wait()
	if q.Items != sr.liveItems() || digest.sum() != prev.Inputs || changed.Load() {
		return undo()
	}
	// Settled: what decide and upToDate would have found and done.
	sr.removeStaleTemps(targets)
	sr.items, sr.results, sr.finished = nil, nil, nil
	sr.resolved = nil
	sr.emitPlanned(q.Items, 0, true, nil)
	st.Items, st.UpToDate, st.Records, st.OK, st.Failed, st.Retries = q.Items, q.UpToDate, q.Records, q.OK, q.Failed, q.Retries
	if n.trail == nil { // no item: tally never ran
		var none StageSummary
		sr.tally(&none)
	}
	sr.finishUpToDate(st)
	settledUnchanged.Add(1)
	return true
}
