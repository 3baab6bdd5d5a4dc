package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/internal/atomicfile"
	"github.com/zpipe/zpipe/pipeline"
	"github.com/zpipe/zpipe/schema"
)

// item is an Item of the stage with what the run learns of it.
type item struct {
	Item
	index int
	// fp and stat are what the journal records the item by.
	fp   *fingerprint
	stat *fileStat
	// reason says why the item must run; "" when it is up to date.
	reason string
	// hashLater: fp.Input is taken while the item is read.
	hashLater bool
}

// weight is what an item is thought to hold in memory while it runs, as
// its format says: a whole-file format holds the file and its decoded
// values; a streamed one holds a buffer. A compressed file holds what it
// decompresses to, taken as compressedRatio times its size on disk (json
// and yaml compress about 5 to 10 times).
func (it *item) weight() int64 {
	n := it.Size
	if format.CompressionOf(it.Path) != "" {
		n *= compressedRatio
	}
	return format.Weight(it.Format, n)
}

const compressedRatio = 8

// target is one file a stage writes, with the items that feed it in order.
type target struct {
	path   string
	format format.Format
	output int // index into the stage's outputs
	items  []int
	// perSource targets exist only for sources that gave a valid record.
	perSource bool
}

type stageRun struct {
	// ctx ends at a hard stop; the long reads of a stage watch it.
	ctx     context.Context
	r       *runner
	n       *node
	m       *pipeline.Manifest
	s       *pipeline.Stage
	schema  *schema.Schema
	fn      *ItemFunc
	columns []string
	// outputsReason says why the stage's outputs must be rewritten.
	outputsReason string
	// removed lists journal items whose source is gone.
	removed []string
	// gone are the removed items that are not renamed ones, for messages.
	gone []string
	// rejected counts the entries written to the rejects file.
	rejected int
	// resolved is what the stage's globs match; sources holds their
	// real paths.
	resolved *pipeline.Sources
	sources  pipeline.RealSet
	items    []item
	results  []itemResult
	// running lists the items that run, in order; started, by slot,
	// holds when each one's first attempt began, after epoch. Only the
	// items that run have one: a rerun of a million files of which one
	// changed holds one.
	running []int
	epoch   time.Time
	started []time.Duration

	// Errors are shown in input order, as items finish: an item's errors
	// wait until every item before it has been shown.
	mu       sync.Mutex
	finished []bool
	next     int
	shown    int
	// Running totals for progress events.
	completed, records, failed int
	// commits is filled in by the committer, under mu, by slot.
	commits []commitResult
	toRun   int
	// execErr is the executor's failure.
	execErr error
	// known holds the chunks the journal names, by file (chunks.go), and
	// cut those runWindowed's plan found.
	known knownChunks
	cut   map[string]*cutFile
	// unhashed is unhashedFP's.
	unhashedOnce sync.Once
	unhashed     *fingerprint
	// ledger, set when the stage runs in windows, stands for its items
	// at the end (windowed.go).
	ledger *ledger
	// trailOut is writeTrail's, by worker.
	trailOut []*trailMember
	// live is liveItems', once liveCounted.
	live        int
	liveCounted bool
}

// slot is item i's place among the items that run.
func (sr *stageRun) slot(i int) int {
	k, _ := slices.BinarySearch(sr.running, i)
	return k
}

// itemID names an item in progress events: its file, and for a chunk the
// line it starts at, and the column when it starts within a line.
func itemID(it *item) string {
	if it.Chunk == nil {
		return showPath(it.Name)
	}
	id := showPath(it.Name) + ":" + strconv.Itoa(it.Chunk.Line)
	if it.Chunk.Col > 1 {
		id += ":" + strconv.Itoa(it.Chunk.Col)
	}
	return id
}

func (r *runner) runStage(ctx context.Context, n *node) {
	start := time.Now()
	st := n.sum
	defer func() { st.Duration = time.Since(start) }()
	sr := &stageRun{ctx: ctx, r: r, n: n, m: n.plan.Manifest, s: n.stage, schema: n.schema}
	defer r.warnSpill(n.stage.Name)
	sr.fn = newItemFunc(n.stage, n.schema, r.opts.Limits)
	sr.fn.watch = sr.watchFlight
	sr.columns = sr.fn.columns
	if sr.settleUnchanged(st) || sr.runWindowed(st) {
		return
	}
	targets, err := sr.prepare()
	if err != nil {
		st.Status, st.Error = StatusFailed, err.Error()
		return
	}
	st.Items = len(sr.items)
	defer sr.cleanup()
	if len(sr.items) >= manyItems {
		defer processGC.lower(manyItemsGC)()
	}
	toRun, intact := sr.decide(targets)
	sr.toRun = toRun
	switch {
	case ctx.Err() != nil:
		st.Status, st.Error = StatusInterrupted, "interrupted before it started"
	case toRun == 0 && intact:
		sr.upToDate(st)
	default:
		defer sr.elided(st)
		sr.execute()
		if sr.settle(st) {
			sr.commit(st, targets)
		}
	}
}

// prepare lists the stage's items and the files it writes, and clears
// what a killed run left beside those files.
func (sr *stageRun) prepare() ([]target, error) {
	items, err := sr.resolve()
	if err != nil {
		return nil, err
	}
	sr.items = items
	targets, err := sr.targets()
	if err != nil {
		return nil, err
	}
	sr.results = make([]itemResult, len(items))
	sr.finished = make([]bool, len(items))
	sr.removeStaleTemps(targets)
	return targets, nil
}

// upToDate reports a stage that had nothing to do: the outputs on disk are
// what a run would write.
func (sr *stageRun) upToDate(st *StageSummary) {
	sr.tally(st)
	sr.finishUpToDate(st)
}

// finishUpToDate is upToDate once the items are counted.
func (sr *stageRun) finishUpToDate(st *StageSummary) {
	st.Outputs = append(st.Outputs, sr.prevOutputs()...)
	st.Status = StatusOK
	if st.Failed > 0 || st.FailedItems > 0 {
		st.Status = StatusFailed
	}
	if sr.s.Rejects != "" {
		st.Rejects = sr.m.Rel(sr.s.Rejects)
		st.Rejected = countLines(sr.s.Rejects)
	}
}

// execute runs the items that are not up to date on the run's executor,
// and saves each finished one. on_error: stop, or a graceful stop of the
// run, lets no new item start; items in flight finish.
func (sr *stageRun) execute() {
	stopped, stop := sr.stopper()
	defer stop()
	sr.r.progress(Progress{Type: ProgressStart, Name: sr.s.Name, Total: sr.toRun})
	sr.executeItems(stopped, stop)
}

// stopper returns a channel closed by stop, or by a graceful stop of the
// run; stop must be called.
func (sr *stageRun) stopper() (stopped <-chan struct{}, stop func()) {
	c := make(chan struct{})
	stop = sync.OnceFunc(func() { close(c) })
	go func() {
		select {
		case <-sr.r.stop:
			stop()
		case <-c:
		}
	}()
	return c, stop
}

// executeItems runs the stage's items that are not up to date, unless
// stopped is closed, and applies their commits. An item it could not
// start is not run.
func (sr *stageRun) executeItems(stopped <-chan struct{}, stop func()) {
	r, s := sr.r, sr.s
	ctx, cancel := context.WithCancel(sr.ctx)
	defer cancel()
	w := &Work{Parallel: s.Parallel, ParallelSet: s.ParallelSet, Gate: r.gate, Limiter: sr.n.limiter, Retry: s.Retry, Stop: stopped,
		Weight:  func(i int) int64 { return sr.items[i].weight() },
		Attempt: sr.tryItem,
		Done: func(i int) {
			sr.finishItem(ctx, i)
			res := &sr.results[i]
			if !res.notRun {
				sr.record(i, &sr.items[i], res)
			}
			sr.report(i)
			if s.OnError == pipeline.Stop && res.failedAny() {
				stop()
			}
		},
		Skipped: func(i int) {
			sr.results[i] = itemResult{notRun: true}
			sr.report(i)
		},
	}
	w.Stage = sr.fn.Ref(sr.m)
	w.Job, w.Record = sr.job, sr.recordRemote
	w.Open = func(i int) (io.ReadCloser, error) { return sr.open(&sr.items[i]) }
	w.File = func(i int) string {
		if sr.items[i].Open != nil {
			return ""
		}
		return sr.items[i].Path
	}
	for i := range sr.items {
		if !sr.results[i].upToDate {
			w.Items = append(w.Items, i)
		}
	}
	// A copy: an Executor may start the items in an order of its own.
	sr.running, sr.epoch = slices.Clone(w.Items), time.Now()
	sr.started = make([]time.Duration, len(w.Items))
	sr.commits = make([]commitResult, len(w.Items))
	if len(w.Items) > 0 && !isClosed(stopped) {
		if err := r.opts.Executor.Execute(ctx, w); err != nil {
			sr.execErr = err
		}
	}
	// An item the executor never reported did not run: the next run
	// does it.
	for _, i := range w.Items {
		sr.mu.Lock()
		lost := !sr.finished[i]
		sr.mu.Unlock()
		if lost {
			w.Skipped(i)
		}
	}
	r.commits.flush()
	sr.applyCommits()
}

// settle counts what the items did and says how the stage ended; it
// reports whether the stage replaces its outputs (or, when stopped, its
// rejects file).
func (sr *stageRun) settle(st *StageSummary) bool {
	return sr.conclude(st, sr.tally(st), sr.savingFailed())
}

// conclude says how the stage ended, as settle does, once its items are
// tallied: notRun of them did not run, and saving is the first failure to
// save an item's work.
func (sr *stageRun) conclude(st *StageSummary, notRun int, saving error) bool {
	sr.r.progress(Progress{Type: ProgressComplete, Name: sr.s.Name, Completed: sr.toRun - notRun, Total: sr.toRun, Records: st.Records, Failed: st.Failed})
	switch {
	case saving != nil:
		// Written without the item, the outputs would lose its records
		// for a fault of the disk, not of the data.
		st.Status = StatusFailed
		st.Error = "could not save an item's work: " + saving.Error() + "; no output of this stage was replaced; finished items are saved for the next run"
		return false
	case sr.s.OnError == pipeline.Stop && (st.Failed > 0 || st.FailedItems > 0):
		st.Status = StatusStopped
		st.Error = "stopped at the first failure (on_error: stop); its outputs were not replaced"
	case sr.execErr != nil:
		st.Status = StatusFailed
		st.Error = "the executor failed: " + sr.execErr.Error() + "; no output of this stage was replaced; finished items are saved for the next run"
		return false
	case sr.ctx.Err() != nil || notRun > 0:
		st.Status = StatusInterrupted
		st.Error = "interrupted; no output of this stage was replaced; finished items are saved for the next run"
		return false
	case st.Failed > 0 || st.FailedItems > 0:
		st.Status = StatusFailed
	default:
		st.Status = StatusOK
	}
	return true
}

// savingFailed returns the failure of the first item that could not write
// its parts, or nil.
func (sr *stageRun) savingFailed() error {
	for i := range sr.results {
		if res := &sr.results[i]; res.saving && !res.notRun {
			if res.itemOut != nil && res.saveErr != nil {
				return res.saveErr
			}
			return res.err
		}
	}
	return nil
}

// commit writes every output from the items' parts, then replaces them all
// together, and forgets what the stage no longer writes.
func (sr *stageRun) commit(st *StageSummary, targets []target) {
	sr.r.outputsTouched.Store(true)
	m, s := sr.m, sr.s
	var g atomicfile.Group
	defer g.Abort()
	written := map[string]string{}
	var outputs []string
	add := func(t target) bool {
		sum, err := sr.assemble(&g, t)
		if err != nil && sr.ctx.Err() != nil {
			st.Status, st.Error = StatusInterrupted, "interrupted while writing the outputs; none was replaced"
			return false
		}
		if err != nil {
			st.Status, st.Error = StatusFailed, fmt.Sprintf("writing %s: %v; no output of this stage was replaced", m.Rel(t.path), err)
			return false
		}
		if sum != "" {
			written[m.Rel(t.path)] = sum
			if t.output >= 0 {
				outputs = append(outputs, m.Rel(t.path))
			}
		}
		return true
	}
	if st.Status != StatusStopped {
		for _, t := range targets {
			if !add(t) {
				return
			}
		}
	}
	if s.Rejects != "" && !add(sr.rejectsTarget()) {
		return
	}
	var done *entry
	var gone []*staleOutput
	var remove []stale
	if st.Status != StatusStopped {
		done = &entry{Type: "stage", Stage: sr.id(), Outputs: written, Inputs: sr.inputsDigest()}
		gone, remove = sr.staleOutputs(sr.r.state.stage(sr.id()), written)
	}
	sum := func(target string) string { return written[m.Rel(target)] }
	if err := sr.r.state.commit(&g, sr.id(), done, sum, remove); err != nil {
		st.Status, st.Error = StatusFailed, "replacing the outputs: "+err.Error()
		return
	}
	st.Outputs = append(st.Outputs, outputs...)
	if s.Rejects != "" {
		st.Rejects, st.Rejected = m.Rel(s.Rejects), sr.rejected
		if st.Status == StatusStopped {
			st.Error += "; " + st.Rejects + " holds the failed records"
		}
	}
	if done != nil {
		sr.forget()
		for _, so := range gone {
			sr.r.reportRemoval(so.rm, so.err)
		}
	}
}

// rejectsTarget is the rejects file, fed by every item.
func (sr *stageRun) rejectsTarget() target {
	t := target{path: sr.s.Rejects, format: format.NDJSON, output: -1}
	for i := range sr.items {
		t.items = append(t.items, i)
	}
	return t
}

// tally adds the items' counts to the stage summary and returns how many
// did not run.
func (sr *stageRun) tally(st *StageSummary) (notRun int) {
	if sr.n.trail == nil {
		sr.n.trail = newItemTrail(filepath.Join(sr.r.tmp, sr.n.key+".trail"))
		sr.n.formats = map[string]bool{}
	}
	for i := range sr.results {
		res := &sr.results[i]
		if res.notRun {
			notRun++
			continue
		}
		if res.upToDate {
			st.UpToDate++
		} else {
			sr.n.ran++
		}
		sr.n.formats[string(sr.items[i].Format)] = true
		st.Records += res.records
		st.OK += res.ok
		st.Failed += res.failed
		st.Retries += max(res.attempts-1, 0)
		if res.err != nil {
			st.FailedItems++
		}
		if res.failedAny() {
			sr.n.unclean++
		}
	}
	sr.writeTrail()
	sr.n.trail.done()
	return notRun
}

// trailBatch is how many items' run-record lines are encoded at once, on
// every core: a few MB of lines.
const trailBatch = 4096

// writeTrail adds the run-record JSON of each item that ran or was up to
// date to the stage's trail, in item order. Encoding and compressing them
// is on every core: encoding alone was a fifth of a no-op rerun of many
// files.
func (sr *stageRun) writeTrail() {
	spec := sr.schema.Spec()
	schema := &SchemaProvenance{Path: sr.m.Rel(spec.File), Definition: spec.Def, SHA256: sr.schema.SchemaSum()}
	workers := min(runtime.GOMAXPROCS(0), 1+len(sr.results)/1000)
	for len(sr.trailOut) < workers {
		sr.trailOut = append(sr.trailOut, new(trailMember))
	}
	out := sr.trailOut[:workers]
	for lo := 0; lo < len(sr.results); lo += trailBatch {
		hi := min(lo+trailBatch, len(sr.results))
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				m := out[w]
				m.json, m.gz, m.n, m.err = m.json[:0], m.gz[:0], 0, nil
				for i := lo + w*(hi-lo)/workers; i < lo+(w+1)*(hi-lo)/workers && m.err == nil; i++ {
					if sr.results[i].notRun {
						continue
					}
					if m.n > 0 {
						m.json = append(m.json, ',')
					}
					sr.itemProvenance(&m.p, i, schema)
					if m.json, m.err = appendItemLine(m.json, &m.p); m.err == nil {
						m.json = m.json[:len(m.json)-1] // its newline
					}
					m.n++
				}
				if m.n > 0 && m.err == nil {
					m.z, m.gz, m.err = gzipMember(m.z, m.gz, m.json)
				}
			})
		}
		wg.Wait()
		for _, m := range out {
			sr.n.trail.write(m.gz, m.n, m.err)
		}
	}
}

// trailMember is a worker's share of a batch of writeTrail: its items'
// JSON, compressed to gz by z. The stage keeps them: settleUnchanged
// writes the trail a window at a time, and making them afresh for each
// window was 1.3 GB of a million-file rerun's 3.2 GB of garbage.
type trailMember struct {
	p        ItemProvenance
	json, gz []byte
	z        *gzip.Writer
	n        int
	err      error
}

// resolve lists the stage's items, in input order, from its sources:
// the files its globs match and, for "-", standard input.
func (sr *stageRun) resolve() ([]item, error) {
	var items []item
	for _, src := range sr.sourcesOf() {
		if g, ok := src.(*globSource); ok {
			listed, err := g.items(sr.ctx)
			if err != nil {
				return nil, err
			}
			if items == nil {
				items = listed // the common case, with no copy
			} else {
				items = append(items, listed...)
			}
			continue
		}
		listed, err := src.Items(sr.ctx)
		if err != nil {
			return nil, err
		}
		items = slices.Grow(items, len(listed))
		for _, it := range listed {
			items = append(items, item{Item: it})
		}
	}
	for i := range items {
		items[i].index = i
	}
	// Listed: the items hold the files now, and a million of them held
	// twice were 30 MB more at the peak of a rerun.
	sr.resolved = nil
	return items, nil
}

// splits counts the files cut by reading them, for tests.
var splits atomic.Int64

func splitFile(ctx context.Context, path string, f format.Format, size int64) ([]format.Chunk, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() <= size {
		return nil, nil
	}
	in, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	splits.Add(1)
	return format.Split(f, ctxReader{ctx, in}, size)
}

// targets lists the files the stage writes, each checked and claimed by
// the run's guard: a per-source output gets one target per source file.
func (sr *stageRun) targets() ([]target, error) {
	var out []target
	for k, o := range sr.s.Outputs {
		if !o.PerSource() {
			p, err := sr.r.guard.Target(sr.m, sr.s, k, "", sr.sources)
			if err != nil {
				return nil, err
			}
			t := target{path: p, format: o.Format, output: k}
			for i := range sr.items {
				t.items = append(t.items, i)
			}
			out = append(out, t)
			continue
		}
		byPath := map[string]*target{}
		var order []string
		for i, it := range sr.items {
			p, err := sr.r.guard.Target(sr.m, sr.s, k, it.Path, sr.sources)
			if err != nil {
				return nil, err
			}
			t, ok := byPath[p]
			if !ok {
				t = &target{path: p, format: o.Format, output: k, perSource: true}
				byPath[p] = t
				order = append(order, p)
			}
			t.items = append(t.items, i)
		}
		for _, p := range order {
			out = append(out, *byPath[p])
		}
	}
	if sr.s.Rejects != "" {
		if _, err := sr.r.guard.Target(sr.m, sr.s, -1, "", sr.sources); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// assemble writes a target from its items' parts, in input order, into
// the group, and returns the sha256 of what it wrote; "" when it wrote
// nothing.
func (sr *stageRun) assemble(g *atomicfile.Group, t target) (string, error) {
	packs := &packFile{}
	defer packs.Close()
	// The parts are made as the join reads them: a million readers held
	// at once were a tenth of a first run's peak memory.
	parts := func(yield func(io.Reader) bool) {
		for key, res := range sr.feed(t) {
			if p := sr.partOf(t, key, res, packs); p != nil {
				more := yield(p)
				p.Close()
				if !more {
					return
				}
			}
		}
	}
	some := false
	for key, res := range sr.feed(t) {
		if some = sr.partOf(t, key, res, packs) != nil; some {
			break
		}
	}
	if t.perSource && !some {
		return "", nil
	}
	if header := format.HeaderLine(t.format, sr.columns); !some && header != nil && len(sr.columns) > 0 {
		// Every record was rejected: the file still says its columns.
		parts = func(yield func(io.Reader) bool) { yield(bytes.NewReader(header)) }
	}
	h := sha256.New()
	var lines lineCount
	err := g.Write(t.path, func(w io.Writer) error {
		// The hash is of the bytes on disk, compressed or not; the line
		// count, of the records.
		cw, err := format.Compress(format.CompressionOf(t.path), io.MultiWriter(w, h))
		if err != nil {
			return err
		}
		if err := format.JoinSeq(t.format, io.MultiWriter(cw, &lines), parts); err != nil {
			return err
		}
		return cw.Close()
	})
	if t.output < 0 {
		sr.rejected = int(lines)
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// feed is what target t joins, in order: each item's key and result.
func (sr *stageRun) feed(t target) iter.Seq2[string, *itemResult] {
	if sr.ledger != nil {
		return sr.ledger.all()
	}
	return func(yield func(string, *itemResult) bool) {
		for _, i := range t.items {
			if !yield(sr.items[i].Key, &sr.results[i]) {
				return
			}
		}
	}
}

// partOf is the part of the item of key and res that target t joins,
// unopened, or nil.
func (sr *stageRun) partOf(t target, key string, res *itemResult, packs *packFile) *lazyFile {
	if t.output >= 0 && (res.err != nil || res.notRun) {
		return nil
	}
	if res.upToDate || res.committed {
		// Saved: the journal entry says where.
		if p, ok := sr.savedPart(key, res, t.output); ok {
			return sr.r.state.open(sr.ctx, p, packs)
		}
		return nil
	}
	if res.itemOut == nil { // it never ran
		return nil
	}
	p := res.rejects
	if t.output >= 0 {
		p = res.parts[t.output]
	}
	if p == "" {
		return nil
	}
	return sr.r.temps.lazy(sr.ctx, p)
}

// savedPart is the part of output k (-1: the rejects) that the entry of
// the item of key and res, up to date or committed, names.
func (sr *stageRun) savedPart(key string, res *itemResult, k int) (partRef, bool) {
	if !res.journaled || res.itemOut != nil && res.entry != nil {
		return sr.entryFor(key, res).part(k)
	}
	var saved [4]partRef
	parts, rejects, _ := sr.r.state.quickParts(sr.id(), key, false, saved[:0])
	e := entry{Parts: parts}
	if rejects {
		e.Parts, e.Rejects = parts[:len(parts)-1], &parts[len(parts)-1]
	}
	return e.part(k)
}

// removeStaleTemps deletes the temp files a killed run left beside the
// stage's outputs: those whose writer is no longer alive.
func (sr *stageRun) removeStaleTemps(targets []target) {
	dirs := map[string]bool{}
	for _, t := range targets {
		dirs[filepath.Dir(t.path)] = true
	}
	if sr.s.Rejects != "" {
		dirs[filepath.Dir(sr.s.Rejects)] = true
	}
	for dir := range dirs {
		atomicfile.RemoveOrphans(dir)
	}
}

// cleanup removes the temp parts of items that did not commit theirs.
func (sr *stageRun) cleanup() {
	for i := range sr.results {
		sr.removeTemps(&sr.results[i])
	}
}

// removeTemps removes the temp parts of an item that did not commit them.
func (sr *stageRun) removeTemps(res *itemResult) {
	if res.committed || res.upToDate || res.itemOut == nil {
		return
	}
	for _, p := range res.parts {
		if p != "" {
			sr.r.temps.remove(p)
		}
	}
	if res.rejects != "" {
		sr.r.temps.remove(res.rejects)
	}
}

// report marks item i finished and shows the errors of every finished item
// not yet shown, in input order, up to the stage's budget.
func (sr *stageRun) report(i int) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	sr.finished[i] = true
	sr.completed++
	if res := &sr.results[i]; !res.notRun {
		sr.records += res.records
		sr.failed += res.failed
		ic := Progress{Type: ProgressItemComplete, Name: sr.s.Name, Item: itemID(&sr.items[i]), Completed: sr.completed, Total: sr.toRun, Records: sr.records, Failed: sr.failed}
		if res.err != nil {
			ic.Error = res.err.Error()
		}
		sr.r.progress(ic)
		ic.Type, ic.Item, ic.Error = ProgressUpdate, "", ""
		sr.r.progress(ic)
	}
	for ; sr.next < len(sr.items) && sr.finished[sr.next]; sr.next++ {
		res := &sr.results[sr.next]
		if res.itemOut == nil {
			continue
		}
		for k := range res.errs {
			sr.shown++
			if sr.shown <= sr.r.opts.MaxShownErrors {
				sr.r.emit(Event{Kind: RecordFailed, Stage: sr.s.Name, Msg: res.errs[k].Error(), Err: &res.errs[k], Manifest: sr.m.File})
			}
		}
		sr.release(sr.next)
	}
}

// elided says, once the stage is over, how many errors were not shown and
// where they are, if they are anywhere.
func (sr *stageRun) elided(st *StageSummary) {
	n := sr.shown - sr.r.opts.MaxShownErrors
	if n <= 0 {
		return
	}
	msg := fmt.Sprintf("stage %s: %d more %s not shown", sr.s.Name, n, plural(n, "error was", "errors were"))
	switch {
	case st.Rejects != "":
		msg += "; every one is in " + st.Rejects
	case sr.s.Rejects != "" && st.Status == StatusInterrupted:
		msg += "; the stage did not finish, so they were not written to " + sr.m.Rel(sr.s.Rejects)
	case sr.s.Rejects != "":
		msg += ", and they could not be written to " + sr.m.Rel(sr.s.Rejects)
	default:
		msg += "; set rejects: in the manifest to keep them all"
	}
	sr.r.emit(Event{Kind: ErrorsElided, Stage: sr.s.Name, Msg: msg})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// lineCount counts the lines written through it: a rejects file has one
// entry a line.
type lineCount int

func (c *lineCount) Write(p []byte) (int, error) {
	*c += lineCount(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// countLines counts the lines of a file; 0 when it cannot be read.
func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	var n lineCount
	io.Copy(&n, f)
	return int(n)
}

// lazyFile opens its file on the first read and closes it at the end, so
// that joining thousands of parts holds one descriptor at a time.
type lazyFile struct {
	ctx  context.Context
	path string
	// section, when set, reads only size bytes from off: a packed part.
	section   bool
	off, size int64
	pack      *packFile   // shares the section's pack, when set
	at        io.ReaderAt // the section's pack, once opened
	r         io.Reader   // in place of the file at path, when set
	f         *os.File
	done      bool
}

func (l *lazyFile) Read(p []byte) (int, error) {
	if l.done {
		return 0, io.EOF
	}
	if err := l.ctx.Err(); err != nil {
		return 0, err
	}
	if l.r != nil {
		return l.r.Read(p)
	}
	if !l.section {
		if l.f == nil {
			f, err := os.Open(l.path)
			if err != nil {
				return 0, err
			}
			l.f = f
		}
		n, err := l.f.Read(p)
		if err == io.EOF {
			l.Close()
		}
		return n, err
	}
	if l.at == nil {
		if l.pack != nil {
			at, err := l.pack.open(l.path)
			if err != nil {
				return 0, err
			}
			l.at = at
		} else {
			f, err := os.Open(l.path)
			if err != nil {
				return 0, err
			}
			l.f, l.at = f, f
		}
	}
	if l.size <= 0 {
		l.Close()
		return 0, io.EOF
	}
	if int64(len(p)) > l.size {
		p = p[:l.size]
	}
	n, err := l.at.ReadAt(p, l.off)
	l.off += int64(n)
	l.size -= int64(n)
	switch {
	case err == io.EOF && l.size > 0:
		// A pack cut short since: never a short part.
		err = io.ErrUnexpectedEOF
	case err == io.EOF, l.size == 0:
		err = nil
	}
	return n, err
}

func (l *lazyFile) Close() error {
	l.done = true
	l.at = nil // a shared pack's holder closes it
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
