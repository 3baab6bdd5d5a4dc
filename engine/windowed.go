package engine

import (
	"hash/maphash"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/pipeline"
)

// windowedFiles is the number of files from which a stage runs its items
// a window of runWindow files at a time (variables for the tests, which
// also count the stages run and dry-run so).
var (
	windowedFiles   = 100_000
	runWindow       = 8192
	ranWindowed     atomic.Int64
	plannedWindowed atomic.Int64
)

// testWindow, set when zpipe is built (-ldflags "-X
// github.com/zpipe/zpipe/engine.testWindow=100"), runs every stage that
// can in windows of that many files: make crash kills such runs.
var testWindow string

func init() {
	if n, err := strconv.Atoi(testWindow); err == nil && n > 0 {
		windowedFiles, runWindow = 1, n
	}
}

// runWindowed runs a stage of very many files a window of them at a time:
// held as items, with their results and commits, to the stage's end, a
// first run of a million one-record files peaked near 800 MB.
//
// A first pass over the windows, the plan, decides each item as decide
// does, and rechecks the saved parts as decide does; it keeps the counts
// and, for each item, whether it runs (a byte) and its key (found again
// from the files when they are one item each). A second lists each
// window again and does what the plan said: it runs the window's items
// that the plan runs and tallies them all. It keeps each item's key, and
// the result of each that failed, so that the outputs are joined from
// the saved parts at the end, as commit does. A file touched but not
// changed is hashed in each pass; one changed after the plan found it up
// to date is taken as it was, as the full way, which decides once, does.
//
// It reports false, having done nothing the full way does not do again,
// for a stage it does not run: one of fewer files, one settleUnchanged
// does not list either (standard input, a Source, per-source outputs),
// and one whose journal has items whose files are gone while more than
// renamableKept files are new, which the full way may find renamed.
func (sr *stageRun) runWindowed(st *StageSummary) bool {
	r, s := sr.r, sr.s
	if !sr.listsFiles() {
		return false
	}
	src, err := sr.resolveSources()
	if err != nil || len(src.Files) < windowedFiles {
		return false // the full way says why
	}
	targets, err := sr.targets()
	if err != nil {
		return false
	}
	files := src.Files
	defer windowedGC(len(files))()
	why := map[string][]string{}
	p := sr.planWindows(files, why, nil)
	if p != nil {
		st.Items = p.items
	}
	if sr.ctx.Err() != nil {
		// Not left to the full way, which would list every file first.
		st.Status, st.Error = StatusInterrupted, "interrupted before it started"
		return true
	}
	if p == nil {
		return false
	}
	ranWindowed.Add(1)
	items, toRun, intact, runs, changed := p.items, p.toRun, p.intact, p.runs, p.changed
	sr.emitPlanned(items, toRun, intact, why)
	why = nil
	sr.removeStaleTemps(targets)

	// The run.
	settings, force := sr.fn.settingsSum(), r.opts.Force
	now := fingerprint{Schema: sr.schema.SchemaSum(), Transform: sr.schema.TransformSum(), Settings: settings, Version: Version()}
	g := &globSource{sr: sr, to: len(s.Source.Paths)}
	planned := p.planned
	defer sr.elided(st)
	sr.toRun = toRun
	sr.ledger = &ledger{m: sr.m, files: files, unsaved: map[int]*itemResult{}}
	defer func() {
		for _, res := range sr.ledger.unsaved {
			sr.removeTemps(res)
		}
	}()
	stopped, stop := sr.stopper()
	defer stop()
	// As the full way, which decides once, the run does what the plan
	// said: a file changed since it was planned up to date is taken as
	// the plan found it, and the next run sees the change.
	rebuild := toRun > 0 || !intact
	if rebuild {
		r.progress(Progress{Type: ProgressStart, Name: s.Name, Total: sr.toRun})
	}
	notRun, ran, base, moved := 0, 0, 0, false
	var saving error
	again := map[string][]string{} // the plan has said why
	for k, lo := 0, 0; lo < len(files) && sr.ctx.Err() == nil; k, lo = k+1, lo+runWindow {
		stoppedAtFailure := s.OnError == pipeline.Stop && (st.Failed > 0 || st.FailedItems > 0)
		if isClosed(stopped) && sr.toRun > ran && !stoppedAtFailure {
			// A stop is not kept waiting for the rest of the files to
			// be listed: what is left to run does not, and the outputs
			// are not replaced. Stopped at a failure, the stage still
			// writes its rejects file, with the up-to-date items'.
			notRun = max(notRun, sr.toRun-ran)
			break
		}
		hi := min(lo+runWindow, len(files))
		sr.listWindow(g, files[lo:hi], base)
		if moved = !planned.holds(k, sr.items); moved {
			break
		}
		if !force {
			sr.quickPass(&now)
		}
		clear(again)
		for i := range sr.items {
			sr.follow(i, runs[base+i], changed, settings, force, again)
			if input, ok := p.hashed[sr.items[i].index]; ok && sr.items[i].fp != nil && sr.items[i].fp.Input == "" {
				// Hashed to tell a rename, as renames keeps it.
				sr.items[i].fp = withInput(sr.items[i].fp, input)
			}
		}
		base += len(sr.items)
		sr.next = 0
		sr.executeItems(stopped, stop)
		skipped := sr.tally(st)
		notRun += skipped
		ran += len(sr.running) - skipped
		if saving == nil {
			saving = sr.savingFailed()
		}
		if sr.execErr != nil {
			stop()
		}
		sr.ledger.keep(lo, hi, sr.items, sr.results)
	}
	if moved {
		st.Status, st.Error = StatusFailed, "a source file was cut in other chunks while the stage ran; no output of this stage was replaced; finished items are saved for the next run"
		return true
	}
	sr.items, sr.results, sr.finished = nil, nil, nil
	switch {
	case !rebuild && sr.ctx.Err() == nil:
		sr.finishUpToDate(st)
	case sr.conclude(st, notRun, saving):
		sr.commit(st, targets)
	}
	return true
}

// windowPlan is what the plan of a windowed stage found: its counts,
// whether its outputs hold what the journal says, and what the run
// follows: whether each item runs, each item's key, and the items whose
// saved parts changed, by key, with their place in the stage.
type windowPlan struct {
	items, toRun int
	intact       bool
	runs         []bool
	planned      *ledger
	changed      map[string]int
	// renamable are the new items that may be gone ones renamed, while
	// there are renamableKept at most; renamed the reasons of those that
	// are, and hashed the inputs of those hashed to tell, by their place
	// in the stage.
	renamable []freshItem
	renamed   map[int]string
	hashed    map[int]string
}

// renamableKept is how many new items a windowed stage's plan keeps for
// telling renames (whole files: see item.fresh): past them, a stage with
// items gone is left to the full way (a variable for the tests).
var renamableKept = 8192

// planWindows is runWindowed's plan, which zpipe plan makes too: it lists
// files a window at a time, decides each item as decide does, and
// rechecks the saved parts as decide does. why gathers the reasons, as
// verdict does; each, when set, sees each window's items once decided.
// It returns nil when ctx ends before every window is listed, and when
// the journal has items whose files are gone while more than
// renamableKept others are new, which may be renamed: the full way
// decides then. Should ctx end while it rechecks the saved parts, the
// plan is returned all the same, and the caller sees ctx's error.
func (sr *stageRun) planWindows(files []pipeline.SourceFile, why map[string][]string, each func(items []item)) *windowPlan {
	r, s := sr.r, sr.s
	settings, force := sr.fn.settingsSum(), r.opts.Force
	now := fingerprint{Schema: sr.schema.SchemaSum(), Transform: sr.schema.TransformSum(), Settings: settings, Version: Version()}
	// A file cut in chunks in the plan is not read again to cut it in
	// the run, unless it changed.
	cut := map[string]*cutFile{}
	sr.cut = cut // and in the full way, should it follow
	g := &globSource{sr: sr, to: len(s.Source.Paths)}
	// Whether the outputs hold what the journal says is found beside
	// the plan, as decide does.
	prev := r.state.stage(sr.id())
	var hold bool
	var side sync.WaitGroup
	if prev != nil {
		side.Go(func() { hold = sr.outputsHold(prev) })
	}
	defer side.Wait()
	digest := newStringHash()
	p := &windowPlan{planned: &ledger{m: sr.m, files: files}}
	matched := 0
	for lo := 0; lo < len(files) && sr.ctx.Err() == nil; lo += runWindow {
		hi := min(lo+runWindow, len(files))
		sr.listWindow(g, files[lo:hi], p.items)
		for i := range sr.items {
			if it := &sr.items[i]; it.Chunk != nil && it.listed != nil {
				c := cut[it.Name]
				if c == nil {
					c = &cutFile{stat: *it.listed}
					cut[it.Name] = c
				}
				c.chunks = append(c.chunks, *it.Chunk)
			}
		}
		if !force {
			sr.quickPass(&now)
		}
		for i := range sr.items {
			run := sr.verdict(i, settings, force, why)
			if run {
				p.toRun++
			}
			if f, ok := sr.items[i].fresh(sr.items[i].index); ok && len(p.renamable) <= renamableKept {
				p.renamable = append(p.renamable, f)
			}
			p.runs = append(p.runs, run)
		}
		if each != nil {
			each(sr.items)
		}
		sr.hashSaved(digest)
		matched += sr.matchedItems()
		p.items += len(sr.items)
		p.planned.keep(lo, hi, sr.items, nil)
	}
	side.Wait()
	var gone []string
	if live := sr.liveItems(); sr.ctx.Err() == nil && matched != live && len(p.renamable) <= renamableKept {
		gone = sr.goneFrom(p.planned, live-matched)
	}
	if sr.ctx.Err() != nil || matched != sr.liveItems() && gone == nil {
		sr.items, sr.results, sr.finished, sr.outputsReason = nil, nil, nil, ""
		return nil
	}
	switch {
	case prev == nil:
		sr.outputsReason = "no outputs written yet"
	case digest.sum() != prev.Inputs:
		sr.outputsReason = "the outputs were not built from the saved items"
	default:
		p.intact = hold
	}
	if len(gone) > 0 {
		// As decide has it: outputs made from a source that is gone
		// must go too, and a new file may be a gone one renamed.
		sr.removed, sr.gone, p.intact = gone, gone, false
		sr.outputsReason = "removed: " + shortList(gone)
	}
	if len(gone) > 0 && len(p.renamable) > 0 {
		renamed := sr.pairRenames(gone, p.renamable)
		sr.gone = renamedWhy(gone, p.renamable, renamed, why)
		p.renamed, p.hashed = map[int]string{}, map[int]string{}
		for k, f := range p.renamable {
			if old, ok := renamed[k]; ok {
				p.renamed[f.place] = "renamed from " + old
			}
			if f.fp.Input != "" {
				p.hashed[f.place] = f.fp.Input
			}
		}
	}
	p.renamable = nil
	if p.toRun > 0 || !p.intact {
		// The outputs will be joined from the saved parts: each must
		// still hold the bytes the journal recorded.
		p.changed = sr.recheckPlanned(p.planned, p.runs, why)
		p.toRun += len(p.changed)
	}
	return p
}

// windowedGC lowers the collector's target for a stage of n files taken
// in windows, until the func is called. What it holds to its end is a few
// words an item (the listing and the journal), and what each item
// allocates soon goes: unlike the full way's items, it runs at the target
// an up-to-date stage does.
func windowedGC(n int) func() {
	if n >= hugeItems {
		return processGC.lower(hugeItemsGC)
	}
	return processGC.lower(manyItemsGC)
}

// goneFrom lists, sorted, the keys of the stage's items in the journal,
// not removed, that planned has not, n of them. It finds them by a
// sorted hash of each planned key, 8 bytes a key, not a set of a million
// keys; it returns nil should it find other than n, as when two keys
// hash alike.
func (sr *stageRun) goneFrom(planned *ledger, n int) []string {
	seed := maphash.MakeSeed()
	var sums []uint64
	for key := range planned.keys() {
		sums = append(sums, maphash.String(seed, key))
	}
	slices.Sort(sums)
	st := sr.r.state
	st.mu.RLock()
	defer st.mu.RUnlock()
	items := st.items[sr.id()]
	if items == nil {
		return nil
	}
	var gone []string
	for key, status := range items.statuses() {
		if _, found := slices.BinarySearch(sums, maphash.String(seed, key)); status != "removed" && !found {
			gone = append(gone, key)
		}
	}
	if len(gone) != n {
		return nil
	}
	slices.Sort(gone)
	return gone
}

// listWindow lists files, the window of the stage's files from its
// item base on, into the arrays of the last window.
func (sr *stageRun) listWindow(g *globSource, files []pipeline.SourceFile, base int) {
	sr.items = g.list(sr.ctx, sr.items, files)
	sr.results, sr.finished = resized(sr.results, len(sr.items)), resized(sr.finished, len(sr.items))
	for i := range sr.items {
		sr.items[i].index = base + i
	}
}

// follow readies item i of a window as the plan said: run, or up to
// date. An item whose saved part was changed runs with the fingerprint
// its entry gives, as recheckParts has it. One that runs in the plan and
// is up to date now (its file put back) is not run.
func (sr *stageRun) follow(i int, run bool, changed map[string]int, settings string, force bool, why map[string][]string) {
	it := &sr.items[i]
	_, partChanged := changed[it.Key]
	switch {
	case partChanged:
		e := sr.r.state.item(sr.id(), it.Key)
		sr.results[i], sr.finished[i] = itemResult{}, false
		it.reason = "its saved part was changed"
		var err error
		if it.fp, it.stat, _, err = sr.fingerprintOf(it, e, settings); err != nil {
			it.Err = err
		}
	case run:
		if !sr.verdict(i, settings, force, why) {
			sr.toRun--
		}
	case !sr.finished[i]:
		if e := sr.r.state.item(sr.id(), it.Key); e != nil && e.Status == "done" {
			sr.results[i], sr.finished[i] = resultOf(e), true
			it.fp, it.stat, it.listed = nil, nil, nil
		} else if sr.verdict(i, settings, force, why) {
			sr.toRun++
		}
	}
}

// recheckPlanned is recheckParts for a windowed stage's plan: it returns
// the keys of the items planned up to date whose saved parts no longer
// hash to what the journal recorded, with their places in the stage, and
// gives a warning each and their reason in why.
func (sr *stageRun) recheckPlanned(planned *ledger, runs []bool, why map[string][]string) map[string]int {
	changed := map[string]int{}
	packs := &packFile{}
	defer packs.Close()
	buf := make([]byte, 32<<10)
	var parts []partRef
	k := 0
	for key := range planned.keys() {
		if k++; runs[k-1] {
			continue
		}
		bad, err := sr.savedPartChanged(key, func() string { return keyID(key) }, &parts, packs, buf)
		if err != nil && sr.ctx.Err() != nil {
			return changed
		}
		if !bad {
			continue
		}
		changed[key] = k - 1
		why["its saved part was changed"] = append(why["its saved part was changed"], keyID(key))
	}
	return changed
}

// keyID is itemID of the item a journal key names.
func keyID(key string) string {
	it := item{Item: Item{Name: key}}
	if at := strings.LastIndexByte(key, '@'); at >= 0 {
		if c, ok := parseChunkKey(key[at+1:]); ok {
			it.Name, it.Chunk = key[:at], &c
		}
	}
	return itemID(&it)
}

// cutFile is a file the plan of a windowed stage cut in chunks, and its
// stat when it did.
type cutFile struct {
	stat   fileStat
	chunks []format.Chunk
}

// listsFiles says whether the stage's items are files its globs list and
// its outputs are joined from all of them, and it has tallied none yet:
// what settleUnchanged, runWindowed and planWindowed take a window at a
// time.
func (sr *stageRun) listsFiles() bool {
	r, s, n := sr.r, sr.s, sr.n
	if r.opts.Source != nil || r.state == nil || n.trail != nil || n.ran != 0 || n.unclean != 0 {
		return false
	}
	for _, p := range s.Source.Paths {
		if p == pipeline.Stdin {
			return false
		}
	}
	for _, o := range s.Outputs {
		if o.PerSource() {
			return false
		}
	}
	return true
}

// ledger is what a stage run in windows keeps of its items to its end, in
// input order: each one's key, and the result of each that ran and is not
// saved in the journal (it failed, and its rejects wait in the working
// folder). An item that did not run is left out: the outputs are not
// replaced then, and the rejects file has nothing of it.
type ledger struct {
	m       *pipeline.Manifest
	files   []pipeline.SourceFile
	windows []ledgerWindow
	unsaved map[int]*itemResult
	n       int
}

// ledgerWindow is the items of files[lo:hi]. Mostly each file is one item
// that ran or was up to date, keyed by the file's name, and the keys are
// found again from the files: kept, a million were 16 MB of a first
// run's peak. Otherwise keys has them.
type ledgerWindow struct {
	lo, hi int
	named  bool
	keys   []string
}

// keep adds the window of files[lo:hi], once its commits are applied;
// without results (the plan's), every item.
func (l *ledger) keep(lo, hi int, items []item, results []itemResult) {
	w := ledgerWindow{lo: lo, hi: hi, named: len(items) != hi-lo}
	for i := 0; i < len(items) && !w.named; i++ {
		w.named = results != nil && results[i].notRun || items[i].Key != l.m.Rel(l.files[lo+i].Path)
	}
	for i := range items {
		if results != nil {
			res := &results[i]
			if res.notRun {
				continue
			}
			if !res.upToDate && !res.committed {
				kept := *res
				l.unsaved[l.n] = &kept
			}
		}
		if w.named {
			w.keys = append(w.keys, items[i].Key)
		}
		l.n++
	}
	l.windows = append(l.windows, w)
}

// holds says whether items are the items of the plan's k-th window, key
// for key: a file cut in other chunks since is not.
func (l *ledger) holds(k int, items []item) bool {
	w := l.windows[k]
	if !w.named {
		return len(items) == w.hi-w.lo // one item a file, keyed by its name
	}
	return slices.EqualFunc(items, w.keys, func(it item, key string) bool { return it.Key == key })
}

// keys yields each kept item's key, in order.
func (l *ledger) keys() iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, w := range l.windows {
			if w.named {
				for _, key := range w.keys {
					if !yield(key) {
						return
					}
				}
				continue
			}
			for _, f := range l.files[w.lo:w.hi] {
				if !yield(l.m.Rel(f.Path)) {
					return
				}
			}
		}
	}
}

// all yields each kept item's key and result, in order.
func (l *ledger) all() iter.Seq2[string, *itemResult] {
	return func(yield func(string, *itemResult) bool) {
		var saved itemResult
		k := 0
		for key := range l.keys() {
			res := l.unsaved[k]
			if res == nil {
				// The journal holds it, up to date or committed: its
				// parts are found by its key.
				saved = itemResult{journaled: true, committed: true}
				res = &saved
			}
			if !yield(key, res) {
				return
			}
			k++
		}
	}
}
