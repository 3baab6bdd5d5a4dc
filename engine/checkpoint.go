package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/zpipe/zpipe/pipeline"
)

// id names the stage in the journal: its manifest and its name.
func (sr *stageRun) id() string { return sr.n.id }

// fingerprintOf works out what an item depends on now. The input is what
// its Source vouches for, or its sha256; a file is hashed unless its size,
// mtime and inode match the journal's, as git's index does.
// Without a previous entry to compare with (or with --force) the hash is
// not needed to decide, so it is taken while the item is read instead of
// in a pass of its own. journal says the input is the journal's, taken on
// the word of an unchanged stat.
func (sr *stageRun) fingerprintOf(it *item, prev *entry, settings string) (fp *fingerprint, stat *fileStat, journal bool, err error) {
	now := fingerprint{Schema: sr.schema.SchemaSum(), Transform: sr.schema.TransformSum(), Settings: settings, Version: Version()}
	made := func(input string) *fingerprint {
		fp := now
		fp.Input = input
		return &fp
	}
	if it.Fingerprint != "" {
		return made(it.Fingerprint), nil, false, nil
	}
	if it.Open == nil {
		stat = it.listed
		if stat == nil {
			var err error
			if stat, err = statOf(it.Path); err != nil {
				return nil, nil, false, err
			}
		}
		// A file changed within a clock tick of being hashed can look
		// unchanged, so a stat recorded that close is not trusted (git
		// calls such entries racily clean).
		if prev != nil && prev.FP != nil && prev.Stat != nil && *prev.Stat == *stat && stat.Mtime < prev.Time.UnixNano()-2e9 {
			// Unchanged, as is most of a rerun of a million files:
			// share the journal's records rather than hold copies.
			it.listed = nil
			if now.Input = prev.FP.Input; now == *prev.FP {
				return prev.FP, prev.Stat, true, nil
			}
			return made(prev.FP.Input), prev.Stat, true, nil
		}
	}
	if prev == nil || prev.Status != "done" || sr.r.opts.Force {
		it.hashLater = true
		return sr.unhashedFP(now), stat, false, nil
	}
	in, err := sr.open(it)
	if err != nil {
		return nil, nil, false, err
	}
	defer in.Close()
	input, err := hashReader(sr.ctx, in)
	return made(input), stat, false, err
}

// unhashedFP is the fingerprint of an item hashed while it is read, until
// it is: one for the stage, shared, since a first run of a million files
// held a copy each, 70 MB, until it ran. Whoever sets its input sets it
// on a copy.
func (sr *stageRun) unhashedFP(now fingerprint) *fingerprint {
	sr.unhashedOnce.Do(func() { sr.unhashed = &now })
	if *sr.unhashed != now {
		return &now
	}
	return sr.unhashed
}

// withInput returns fp with its input set, as a copy.
func withInput(fp *fingerprint, input string) *fingerprint {
	c := *fp
	c.Input = input
	return &c
}

// decide marks each item up to date or to run, with the reason, and tells
// whether the stage's outputs are as it last wrote them. It reports the
// outcome as an event: "users: 2 up to date, 1 to run: input changed
// (data/a.json)".
func (sr *stageRun) decide(targets []target) (toRun int, intact bool) {
	settings := sr.fn.settingsSum()
	force := sr.r.opts.Force
	now := fingerprint{Schema: sr.schema.SchemaSum(), Transform: sr.schema.TransformSum(), Settings: settings, Version: Version()}
	why := map[string][]string{}
	// Whether the outputs still hold what the journal says reads the
	// journal and the outputs, not the items' verdicts: it is found
	// beside them.
	var outputsIntact bool
	var gone []string
	var side sync.WaitGroup
	side.Go(func() {
		outputsIntact = sr.outputsIntact()
		gone = sr.removedItems()
	})
	defer side.Wait()
	if !force {
		sr.quickPass(&now)
	}
	for i := range sr.items {
		if sr.ctx.Err() != nil {
			return toRun, false
		}
		if sr.verdict(i, settings, force, why) {
			toRun++
		}
	}
	side.Wait()
	intact = outputsIntact
	if len(gone) > 0 {
		// Outputs made from a source that is gone must go too.
		sr.removed = gone
		intact = false
		sr.outputsReason = "removed: " + shortList(gone)
		sr.gone = sr.renames(gone, why)
	}
	if toRun > 0 || !intact {
		// The outputs will be joined from the saved parts: each must
		// still hold the bytes the journal recorded.
		if toRun += sr.recheckParts(why); sr.ctx.Err() != nil {
			return toRun, false
		}
	}
	sr.emitPlanned(len(sr.items), toRun, intact, why)
	return toRun, intact
}

// emitPlanned reports what the stage's items and outputs were decided to
// be, in a StagePlanned event.
func (sr *stageRun) emitPlanned(items, toRun int, intact bool, why map[string][]string) {
	outputs := ""
	switch {
	case !intact && toRun == 0:
		// Only worth saying when it is why the stage does anything.
		outputs = sr.outputsReason + ", so the outputs are rebuilt"
	case len(sr.gone) > 0:
		outputs = "removed (" + shortList(sr.gone) + ")"
	}
	sr.r.emit(Event{Kind: StagePlanned, Stage: sr.s.Name, Msg: planLine(sr.s.Name, items-toRun, toRun, why, outputs),
		UpToDate: items - toRun, ToRun: toRun, Rebuild: !intact})
}

// verdict decides whether item i, unless quickPass found it up to date,
// runs, and adds it to why under its reason when it does.
func (sr *stageRun) verdict(i int, settings string, force bool, why map[string][]string) (runs bool) {
	it := &sr.items[i]
	switch {
	case sr.finished[i]:
		return false // up to date, as quickPass found
	case it.runs != "":
		it.reason = it.runs
		why[it.reason] = append(why[it.reason], it.Name)
		return true
	case it.Err != nil:
		it.reason = "unreadable: " + it.Err.Error()
		why["unreadable"] = append(why["unreadable"], it.Name)
		return true
	}
	reason, err := sr.judge(i, settings, force)
	if err != nil {
		it.Err = err
		it.reason = "unreadable: " + err.Error()
		why["unreadable"] = append(why["unreadable"], it.Name)
		return true
	}
	if it.reason = reason; reason != "" {
		why[reason] = append(why[reason], itemID(it))
		return true
	}
	return false
}

// judge decides whether item i is up to date the slow way, as quickPass
// could not: its fingerprint now, the input hashed unless its stat is the
// journal's, against its journal entry. It returns why the item must run;
// for one that is up to date it sets its result and finished.
func (sr *stageRun) judge(i int, settings string, force bool) (reason string, err error) {
	it := &sr.items[i]
	prev := sr.r.state.item(sr.id(), it.Key)
	fp, stat, journal, err := sr.fingerprintOf(it, prev, settings)
	if err != nil {
		return "", err
	}
	if reason = sr.r.state.reason(prev, fp); force {
		reason = "--force"
	}
	if reason != "" {
		if journal {
			// It runs although its file is as the journal saw it
			// (--force, a new schema): its input is hashed as it is
			// read rather than held until its commit, which for a
			// million files was 140 MB of the journal's copies.
			base := *fp
			base.Input = ""
			fp, it.hashLater = sr.unhashedFP(base), true
		}
		it.fp, it.stat = fp, stat
		return reason, nil
	}
	sr.results[i] = resultOf(prev)
	sr.finished[i] = true
	// Its journal entry holds both: a million up-to-date items holding
	// them too cost 200 MB.
	it.fp, it.stat = nil, nil
	return "", nil
}

// renameHashBudget is the bytes of new files renames may read to tell
// whether they are renamed ones (a variable for the tests).
var renameHashBudget int64 = 64 << 20

// renames finds the new items whose input is byte for byte a gone
// item's: a file renamed or moved, which a plan names by its old name as
// well. It returns the gone items that are not renamed.
func (sr *stageRun) renames(gone []string, why map[string][]string) (rest []string) {
	if len(why["new"]) == 0 {
		return gone
	}
	var fresh []freshItem
	for i := range sr.items {
		if f, ok := sr.items[i].fresh(i); ok {
			fresh = append(fresh, f)
		}
	}
	renamed := sr.pairRenames(gone, fresh)
	for k, f := range fresh {
		it := &sr.items[f.place]
		it.fp = f.fp // its input, if hashed here, kept should it fail unread
		if old, ok := renamed[k]; ok {
			it.reason = "renamed from " + old
		}
	}
	return renamedWhy(gone, fresh, renamed, why)
}

// freshItem is a new item that may be a gone one renamed: a whole file,
// with its fingerprint, at its place in the stage.
type freshItem struct {
	place    int
	id, path string
	size     int64
	fp       *fingerprint
}

// fresh is it as a freshItem at place, if it may be a gone item renamed.
func (it *item) fresh(place int) (freshItem, bool) {
	if it.reason != "new" || it.fp == nil || it.Chunk != nil || it.Open != nil {
		return freshItem{}, false
	}
	return freshItem{place: place, id: itemID(it), path: it.Path, size: it.Size, fp: it.fp}, true
}

// pairRenames pairs new items, in order, with the gone items whose input
// is byte for byte theirs, a gone item with one at most. A new file of a
// gone one's size is hashed, and its input set, within renameHashBudget.
// It returns the paired gone items by the new ones' index in fresh.
func (sr *stageRun) pairRenames(gone []string, fresh []freshItem) map[int]string {
	was := map[string]string{} // input sha256 → gone item
	sizes := map[int64]bool{}  // of the gone files: only a new file of one is hashed
	for _, key := range gone {
		if e := sr.r.state.item(sr.id(), key); e != nil && e.FP != nil && e.FP.Input != "" && e.Stat != nil {
			if _, seen := was[e.FP.Input]; !seen {
				was[e.FP.Input] = key
				sizes[e.Stat.Size] = true
			}
		}
	}
	renamed := map[int]string{}
	taken := map[string]bool{}
	// Naming renames reads new files twice: a folder of a million moved
	// must not double the run. Past the budget, they are new.
	budget := renameHashBudget
	for k := range fresh {
		f := &fresh[k]
		if !sizes[f.size] {
			continue
		}
		if f.fp.Input == "" && budget >= f.size {
			// A new file is hashed as it is read; this one now, as the
			// one read is the one renamed. Should it change in between,
			// the hash taken as it is read is the one kept.
			budget -= f.size
			input, _ := hashFile(sr.ctx, f.path)
			f.fp = withInput(f.fp, input)
		}
		if old, ok := was[f.fp.Input]; ok && !taken[old] {
			taken[old] = true
			renamed[k] = old
		}
	}
	return renamed
}

// renamedWhy moves the renamed items of why from "new" to "renamed", in
// order, and returns the gone items that are not renamed.
func renamedWhy(gone []string, fresh []freshItem, renamed map[int]string, why map[string][]string) (rest []string) {
	if len(renamed) == 0 {
		return gone
	}
	ids := map[string]bool{}
	olds := map[string]bool{}
	for k, f := range fresh {
		if old, ok := renamed[k]; ok {
			ids[f.id], olds[old] = true, true
			why["renamed"] = append(why["renamed"], old+" -> "+f.id)
		}
	}
	if why["new"] = slices.DeleteFunc(why["new"], func(id string) bool { return ids[id] }); len(why["new"]) == 0 {
		delete(why, "new")
	}
	for _, key := range gone {
		if !olds[key] {
			rest = append(rest, key)
		}
	}
	return rest
}

// quickPass finds the items whose file is as the journal last saw it,
// each core a run of them: on a rerun of many files, that is all of them.
func (sr *stageRun) quickPass(now *fingerprint) {
	workers := min(runtime.GOMAXPROCS(0), 1+len(sr.items)/1000)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w * len(sr.items) / workers; i < (w+1)*len(sr.items)/workers; i++ {
				if sr.ctx.Err() != nil {
					return
				}
				it := &sr.items[i]
				if it.runs != "" || it.Err != nil || it.Fingerprint != "" || it.Open != nil || it.listed == nil {
					continue
				}
				if r, ok := sr.r.state.quickUpToDate(sr.id(), it.Key, it.listed, now); ok {
					sr.results[i], sr.finished[i], it.listed = r, true, nil
				}
			}
		})
	}
	wg.Wait()
}

func planLine(stage string, upToDate, toRun int, why map[string][]string, outputs string) string {
	msg := fmt.Sprintf("stage %s: %d up to date, %d to run", stage, upToDate, toRun)
	reasons := make([]string, 0, len(why))
	for r := range why {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	var parts []string
	for _, r := range reasons {
		parts = append(parts, r+" ("+shortList(why[r])+")")
	}
	if outputs != "" {
		parts = append(parts, outputs)
	}
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, "; ")
	}
	return msg
}

// resultOf rebuilds an up-to-date item's result from its journal entry,
// which names its saved parts.
func resultOf(e *entry) itemResult {
	return itemResult{upToDate: true, records: e.Records, ok: e.OK, failed: e.Failed, attempts: e.Attempts, journaled: true}
}

// entryOf is item i's journal entry, which names its saved parts; nil
// when the item has none from this run or an earlier one it is up to
// date with. The state holds it: a million results holding a copy each
// would undo what packing the state saves.
func (sr *stageRun) entryOf(i int) *entry {
	return sr.entryFor(sr.items[i].Key, &sr.results[i])
}

// entryFor is entryOf the item of key and res.
func (sr *stageRun) entryFor(key string, res *itemResult) *entry {
	switch {
	case res.itemOut != nil && res.entry != nil:
		return res.entry
	case res.journaled:
		return sr.r.state.item(sr.id(), key)
	}
	return nil
}

// recheckParts sends back to run every up-to-date item whose saved parts
// no longer hash to what the journal recorded, with a warning, and
// returns how many it sent.
func (sr *stageRun) recheckParts(why map[string][]string) (n int) {
	packs := &packFile{}
	defer packs.Close()
	buf := make([]byte, 32<<10)
	var parts []partRef
	for i := range sr.items {
		res := &sr.results[i]
		if !res.upToDate {
			continue
		}
		it := &sr.items[i]
		changed, err := sr.savedPartChanged(it.Key, func() string { return itemID(it) }, &parts, packs, buf)
		if err != nil && sr.ctx.Err() != nil {
			return n
		}
		if !changed {
			continue
		}
		e := sr.entryOf(i) // before the result that says where it is goes
		*res = itemResult{}
		sr.finished[i] = false
		it.reason = "its saved part was changed"
		// decide let go of the fingerprint; the item's new entry needs it.
		if it.fp, it.stat, _, err = sr.fingerprintOf(it, e, sr.fn.settingsSum()); err != nil {
			it.Err = err
			it.reason = "unreadable: " + err.Error()
			why["unreadable"] = append(why["unreadable"], it.Name)
		} else {
			why[it.reason] = append(why[it.reason], itemID(it))
		}
		n++
	}
	return n
}

// savedPartChanged says whether a saved part of the item of key (id()
// in messages, made only then) no longer hashes to what the journal
// recorded, and warns of it; parts is the caller's to reuse.
func (sr *stageRun) savedPartChanged(key string, id func() string, parts *[]partRef, packs *packFile, buf []byte) (bool, error) {
	*parts, _, _ = sr.r.state.quickParts(sr.id(), key, true, (*parts)[:0])
	bad, err := sr.changedPart(*parts, packs, buf)
	if bad == "" || err != nil && sr.ctx.Err() != nil {
		return false, err
	}
	sr.r.emit(Event{Kind: Warning, Stage: sr.s.Name, Msg: fmt.Sprintf("stage %s: the saved part %s of %s does not hold what the journal recorded; the item runs again", sr.s.Name, bad, id())})
	return true, err
}

// changedPart returns the name of the first of an item entry's parts
// whose bytes no longer hash to what the journal recorded, or "".
func (sr *stageRun) changedPart(parts []partRef, packs *packFile, buf []byte) (string, error) {
	for _, p := range parts {
		part := sr.r.state.open(sr.ctx, p, packs)
		h := sha256.New()
		_, err := io.CopyBuffer(h, part, buf) // part stops when the run does
		part.Close()
		if err != nil || hex.EncodeToString(h.Sum(nil)) != p.SHA256 {
			return p.File, err
		}
	}
	return "", nil
}

// removedItems lists the items the journal has done for this stage whose
// source no longer exists or no longer matches.
func (sr *stageRun) removedItems() []string {
	// Mostly none is: when every entry of the stage is one of the
	// items (whose keys, which key the journal, are unique), no set of a
	// million keys needs building.
	entries, matched := sr.liveItems(), 0
	st := sr.r.state
	st.mu.RLock()
	defer st.mu.RUnlock()
	items := st.items[sr.id()]
	if items == nil {
		return nil
	}
	if matched = sr.matchedLocked(items); matched == entries {
		return nil
	}
	now := make(map[string]bool, len(sr.items))
	for i := range sr.items {
		now[sr.items[i].Key] = true
	}
	var gone []string
	for key, status := range items.statuses() {
		if status != "removed" && !now[key] {
			gone = append(gone, key)
		}
	}
	sort.Strings(gone)
	return gone
}

// matchedItems counts the stage's items that the journal has and are not
// removed.
func (sr *stageRun) matchedItems() int {
	st := sr.r.state
	st.mu.RLock()
	defer st.mu.RUnlock()
	if items := st.items[sr.id()]; items != nil {
		return sr.matchedLocked(items)
	}
	return 0
}

// matchedLocked is matchedItems under the state's lock, of its items.
func (sr *stageRun) matchedLocked(items *itemStore) (matched int) {
	for i := range sr.items {
		if status, ok := items.status(sr.items[i].Key); ok && status != "removed" {
			matched++
		}
	}
	return matched
}

// forget records that removed items are gone, so that their parts are
// collected.
func (sr *stageRun) forget() {
	for _, key := range sr.removed {
		sr.r.journal(&entry{Type: "item", Stage: sr.id(), Key: key, Status: "removed"})
	}
}

// staleOutput is a file the stage wrote last time (prev) and does not
// write now: what becomes of it, and why it could not go.
type staleOutput struct {
	rm  *Removal
	err error
}

// staleOutputs decides what becomes of each file the stage wrote last
// time (prev) and did not write now (those of sources that are gone or
// gave no valid record, and those of outputs the manifest no longer
// declares), and how a commit removes those that go: as part of the
// commit, so that a kill after it leaves none behind for good.
func (sr *stageRun) staleOutputs(prev *entry, written map[string]string) ([]*staleOutput, []stale) {
	if prev == nil {
		return nil, nil
	}
	var out []*staleOutput
	var remove []stale
	for _, rel := range slices.Sorted(maps.Keys(prev.Outputs)) {
		if _, ok := written[rel]; ok {
			continue
		}
		rm := sr.r.removal(sr.m, sr.s.Name, rel, prev.Outputs[rel], sr.staleWhy(rel), false)
		if rm == nil {
			continue
		}
		so := &staleOutput{rm: rm}
		out = append(out, so)
		if rm.Kept == "" {
			remove = append(remove, stale{path: filepath.Join(sr.m.Dir, rel), sum: prev.Outputs[rel], remove: func() { so.err = removeOutput(sr.m, rel) }})
		}
	}
	return out, remove
}

// staleWhy says why a file the stage wrote before is not written now.
func (sr *stageRun) staleWhy(rel string) string {
	for _, o := range sr.s.Outputs {
		if o.PerSource() && o.Matches(rel) {
			return "its source is gone or gave no valid record"
		}
	}
	return "no output of stage " + sr.s.Name + " writes it now"
}

// Removal is a file that zpipe wrote for a stage and will not write again.
type Removal struct {
	Path  string `json:"path"` // relative to the manifest
	Stage string `json:"stage"`
	Why   string `json:"why"`
	// Kept says why zpipe leaves the file alone, such as a change since
	// zpipe wrote it; empty when the file is removed.
	Kept string `json:"kept,omitempty"`
	// held: the file is still zpipe's, kept only while a stage reads it,
	// so the journal must go on naming it.
	held bool
}

// writesNow tells whether an output of stage of m names the file rel:
// one of its per-source outputs could write it.
func writesNow(m *pipeline.Manifest, stage, rel string) bool {
	for _, s := range m.Stages {
		if s.Name != stage {
			continue
		}
		for _, o := range s.Outputs {
			if o.PerSource() && o.Matches(rel) {
				return true
			}
		}
	}
	return false
}

// runsAfter tells whether stage reader of manifest rm depends, at some
// remove, on stage writer of wm in this run.
func (r *runner) runsAfter(wm *pipeline.Manifest, writer string, rm *pipeline.Manifest, reader string) bool {
	var from *node
	for _, n := range r.nodes {
		if n.plan.Manifest == wm && n.stage.Name == writer {
			from = n
		}
	}
	if from == nil {
		return false
	}
	seen := map[*node]bool{}
	next := []*node{from}
	for len(next) > 0 {
		n := next[len(next)-1]
		next = next[:len(next)-1]
		for _, u := range n.users {
			if u.plan.Manifest == rm && u.stage.Name == reader {
				return true
			}
			if !seen[u] {
				seen[u] = true
				next = append(next, u)
			}
		}
	}
	return false
}

// removal decides what becomes of a file that zpipe wrote for a stage and
// that the stage does not write now: nothing when the guard does not let
// zpipe remove it (another stage writes it now, or the journal names a
// place zpipe never writes) or it is gone; kept when it was changed since,
// or when a stage reads it (held, when the caller remembers the file and
// tries again: remembered); else removed.
func (r *runner) removal(m *pipeline.Manifest, stage, rel, sum, why string, remembered bool) *Removal {
	path := filepath.Join(m.Dir, rel)
	if !remembered && r.guard.Claims(m, stage, path) {
		// The stage writes it in this run, under another name (a
		// folder linked to another): it is its output, not stale.
		return nil
	}
	// A stage that runs after this one reads the folder as it is then:
	// without the file, as a run from scratch would leave it. Only a file
	// that one of the stage's outputs names now: the journal is not
	// trusted, and a later stage's own input must not go.
	after := func(rm *pipeline.Manifest, reader string) bool {
		return !remembered && writesNow(m, stage, rel) && r.runsAfter(m, stage, rm, reader)
	}
	if r.guard.RemovableFor(m, stage, path, after) != nil {
		// Hashed only when a stage reads it: the journal is not trusted,
		// and may name anything, /dev/zero included.
		if !r.guard.Reads(path) {
			return nil
		}
		if got, err := hashFile(context.Background(), path); err != nil || got != sum {
			return nil
		}
		// Another stage reads what this one wrote: removing it would
		// change that stage's input under it.
		rm := &Removal{Path: rel, Stage: stage, Why: why, Kept: "a stage reads it", held: remembered}
		if remembered {
			rm.Kept += "; zpipe removes it once none does"
		}
		return rm
	}
	got, err := hashFile(context.Background(), path)
	switch {
	case os.IsNotExist(err):
		return nil
	case err != nil:
		return &Removal{Path: rel, Stage: stage, Why: why, Kept: "it cannot be read to tell whether it was changed: " + err.Error()}
	case got != sum:
		return &Removal{Path: rel, Stage: stage, Why: why, Kept: "it was changed since zpipe wrote it"}
	}
	return &Removal{Path: rel, Stage: stage, Why: why}
}

// removeStale carries out a removal, and says what it did.
func (r *runner) removeStale(m *pipeline.Manifest, stage, rel, sum, why string, remembered bool) (held bool) {
	r.outputsTouched.Store(true)
	rm := r.removal(m, stage, rel, sum, why, remembered)
	if rm == nil {
		return false
	}
	var err error
	if rm.Kept == "" {
		err = removeOutput(m, rel)
	}
	return r.reportRemoval(rm, err)
}

// removeOutput removes the file rel of m, and its folder if that held
// nothing else.
func removeOutput(m *pipeline.Manifest, rel string) error {
	path := filepath.Join(m.Dir, rel)
	if err := os.Remove(path); err != nil {
		return err
	}
	// Not a link to a folder: os.Remove would remove the link.
	if dir := filepath.Dir(path); dir != m.Dir && pipeline.Inside(m.Dir, dir) {
		if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
			os.Remove(dir)
		}
	}
	return nil
}

// reportRemoval says what became of a removal: kept, removed, or not
// removed for err. It reports whether the journal must go on naming the
// file.
func (r *runner) reportRemoval(rm *Removal, err error) (held bool) {
	switch {
	case rm.Kept != "":
		r.emit(Event{Kind: Warning, Stage: rm.Stage, Msg: fmt.Sprintf("stage %s: kept %s, although %s: %s", rm.Stage, rm.Path, rm.Why, rm.Kept)})
		return rm.held
	case err != nil:
		r.emit(Event{Kind: Warning, Stage: rm.Stage, Msg: fmt.Sprintf("stage %s: cannot remove %s: %v", rm.Stage, rm.Path, err)})
		return true // the next run tries again
	}
	r.emit(Event{Kind: Warning, Stage: rm.Stage, Msg: fmt.Sprintf("stage %s: removed %s: %s", rm.Stage, rm.Path, rm.Why)})
	return false
}

// outputsIntact reports whether every file the stage last wrote is still
// there with the bytes it wrote. It sets outputsReason when not.
func (sr *stageRun) outputsIntact() bool {
	prev := sr.r.state.stage(sr.id())
	if prev == nil {
		sr.outputsReason = "no outputs written yet"
		return false
	}
	if prev.Inputs != sr.inputsDigest() {
		sr.outputsReason = "the outputs were not built from the saved items"
		return false
	}
	return sr.outputsHold(prev)
}

// outputsHold tells whether the files the stage wrote last (prev) still
// hold what it wrote, and sets outputsReason when they do not.
func (sr *stageRun) outputsHold(prev *entry) bool {
	if sr.s.Rejects != "" {
		// The rejects file is not among the settings items are run
		// with: one renamed is only rewritten.
		if rel := sr.m.Rel(sr.s.Rejects); prev.Outputs[rel] == "" {
			sr.outputsReason = "rejects file " + rel + " was not written yet"
			return false
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(prev.Outputs)) {
		sum, err := hashFile(sr.ctx, filepath.Join(sr.m.Dir, rel))
		switch {
		case os.IsNotExist(err):
			sr.outputsReason = "output " + rel + " was deleted"
			return false
		case err != nil || sum != prev.Outputs[rel]:
			sr.outputsReason = "output " + rel + " was changed"
			return false
		}
	}
	return true
}

func (sr *stageRun) prevOutputs() []string {
	prev := sr.r.state.stage(sr.id())
	var out []string
	for _, rel := range slices.Sorted(maps.Keys(prev.Outputs)) {
		if filepath.Join(sr.m.Dir, rel) != sr.s.Rejects {
			out = append(out, rel)
		}
	}
	return out
}

// commitResult is what the committer did with an item. It keeps the
// item's entry only when the entry could not be saved: the state holds
// the others.
type commitResult struct {
	set   bool // the committer is done with the item
	done  bool
	entry *entry
	err   error
}

// record hands a finished item to the committer: its parts go into the
// parts folder, synced, and only then does its journal entry say it is
// done. A failed item is recorded as failed, so that the next run retries
// it. The item's result is updated by applyCommits, after the committer's
// flush.
func (sr *stageRun) record(i int, it *item, res *itemResult) {
	if res.itemOut == nil && res.attempts == 0 && res.err == nil {
		// An executor ended it without running it: saved as done, it
		// would be up to date next time, its records never written.
		res.err = errors.New("the executor ended the item without running it")
	}
	res.ran()
	e := &entry{Type: "item", Stage: sr.id(), Key: it.Key, FP: it.fp, Stat: it.stat,
		Records: res.records, OK: res.ok, Failed: res.failed, Attempts: res.attempts, Duration: int64(res.duration)}
	job := &commitJob{entry: e, apply: func(err error) {
		cr := commitResult{set: true, done: e.Status == "done", entry: e, err: err}
		if err == nil {
			cr.entry = nil
		}
		sr.mu.Lock()
		sr.commits[sr.slot(i)] = cr
		if cr.done && err == nil {
			// The journal has them now. Kept to the stage's end,
			// they were 220 bytes an item of a first run of a
			// million. No worker looks at the item again.
			it.fp, it.stat = nil, nil
			if i < sr.next {
				sr.release(i)
			}
		}
		sr.mu.Unlock()
	}}
	if res.err != nil || it.fp == nil {
		e.Status = "failed"
		if res.err != nil {
			e.Error = res.err.Error()
		}
		sr.r.commits.add(job)
		return
	}
	e.Status = "done"
	// A large part keeps a file of its own, named after what it was made
	// from; the committer packs the others and names their pack.
	base := hashString(e.Stage, e.Key, e.FP.Input, e.FP.Schema, e.FP.Transform, e.FP.Settings, e.FP.Version)[:32]
	for k, tmp := range res.parts {
		if tmp == "" {
			continue
		}
		f := res.fact(tmp)
		e.Parts = append(e.Parts, partRef{Output: k, File: base + "-" + strconv.Itoa(k) + ".part", SHA256: f.sum, Size: f.size, Records: f.records})
		job.moves = append(job.moves, tmp)
	}
	if res.rejects != "" {
		f := res.fact(res.rejects)
		e.Rejects = &partRef{Output: -1, File: base + "-rejects.part", SHA256: f.sum, Size: f.size, Records: f.records}
		job.moves = append(job.moves, res.rejects)
	}
	// The entry holds them now: a million results need not too.
	res.facts = nil
	sr.r.commits.add(job)
}

// release lets go of the output of item i, once the journal holds its
// parts and its errors are shown, under mu: held to the stage's end, the
// outputs were 200 bytes an item of a first run. applyCommits does the
// same for those it finds still held.
func (sr *stageRun) release(i int) {
	k := sr.slot(i)
	if k == len(sr.running) || sr.running[k] != i {
		return
	}
	res := &sr.results[i]
	if c := &sr.commits[k]; c.set && c.done && c.err == nil && res.itemOut != nil && res.saveErr == nil {
		res.itemOut = nil
	}
}

// applyCommits moves what the committer did into the items' results. It
// runs after a flush, when no worker touches the results.
func (sr *stageRun) applyCommits() {
	for k, cr := range sr.commits {
		if !cr.set {
			continue
		}
		i := sr.running[k]
		res := &sr.results[i]
		res.journaled = cr.err == nil
		if cr.entry != nil {
			res.ran().entry = cr.entry
		}
		switch {
		case cr.err != nil:
			if res.err == nil {
				// The item's records are in no part the outputs can be
				// built from: the stage must not replace them (settle).
				// The stage's error says why, once for the group.
				res.err = fmt.Errorf("saving the item: %w", cr.err)
				res.failed, res.ok, res.saving = res.records, 0, true
			}
		case cr.done:
			// Its parts are the entry's now, and its temp files gone;
			// its errors were shown as it finished. Kept, its output
			// was 130 bytes an item of a first run of a million.
			res.committed = true
			if res.itemOut != nil && res.saveErr == nil {
				res.itemOut = nil
			}
		}
	}
}

// inputsDigest hashes the latest journal entry of every item, in order:
// what its parts hold, not where they are, which repacking changes.
func (sr *stageRun) inputsDigest() string {
	h := newStringHash()
	sr.hashSaved(h)
	return h.sum()
}

// hashSaved adds what the journal saved of each of the stage's items to
// h, in order.
func (sr *stageRun) hashSaved(h stringHash) {
	st := sr.r.state
	st.mu.RLock()
	defer st.mu.RUnlock()
	items := st.items[sr.id()]
	for key := range sr.keys() {
		if items == nil {
			h.add("-")
			continue
		}
		items.hashSaved(h, key)
	}
}

// keys yields the keys of the stage's items, in order.
func (sr *stageRun) keys() iter.Seq[string] {
	if sr.ledger != nil {
		return sr.ledger.keys()
	}
	return func(yield func(string) bool) {
		for i := range sr.items {
			if !yield(sr.items[i].Key) {
				return
			}
		}
	}
}

// liveItems counts the stage's items that the journal has and are not
// removed. They are counted once, a read of every entry: settleUnchanged
// and decide ask, and nothing journals the stage's items before both
// have.
func (sr *stageRun) liveItems() int {
	if sr.liveCounted {
		return sr.live
	}
	st := sr.r.state
	st.mu.RLock()
	defer st.mu.RUnlock()
	if items := st.items[sr.id()]; items != nil {
		sr.live = items.live()
	}
	sr.liveCounted = true
	return sr.live
}
