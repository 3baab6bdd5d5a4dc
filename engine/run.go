package engine

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/internal/atomicfile"
	"github.com/zpipe/zpipe/pipeline"
	"github.com/zpipe/zpipe/schema"
)

// Options tune a run. The zero value is ready to use.
type Options struct {
	// StateDir holds zpipe's working files; the default is .zpipe beside
	// the (first) manifest.
	StateDir string
	// Stop, when closed, asks for a graceful stop: no new item or stage
	// starts, items in flight finish. Cancelling Run's context instead
	// stops items in flight too.
	Stop <-chan struct{}
	// OnEvent receives problems and stage boundaries as they happen.
	OnEvent func(Event)
	// OnProgress receives the progress stream: start, progress,
	// itemComplete and complete, per stage.
	OnProgress func(Progress)
	// MaxShownErrors bounds the RecordFailed events per stage; the rejects
	// file has them all. The default is 20.
	MaxShownErrors int
	// ChunkSize is the size above which an ndjson file, or a json file
	// of one top-level array, is split into items worked on in parallel.
	// The default is 8 MiB.
	ChunkSize int64
	// Limits bound what decoders accept.
	Limits format.Limits
	// Force redoes every item, ignoring what the journal says is done.
	Force bool
	// Executor runs the stages' items; the default is a LocalPool.
	Executor Executor
	// Stdin is what a source "-" reads; the default is os.Stdin.
	Stdin io.Reader
	// Source, when set, gives a stage's items in place of its globs: for
	// inputs that are not files where the manifest names them.
	Source func(m *pipeline.Manifest, s *pipeline.Stage) Source
	// KeepRuns is how many run records (runs/<id>/provenance.json.gz) the
	// state folder keeps, this run's included, the newest ones; 0 means
	// DefaultKeepRuns, a negative number all of them.
	KeepRuns int
	// PlanItems bounds the items DryRun lists for each stage: when above
	// zero, StageDryRun.Items holds the first PlanItems of those that
	// would run, and none that is up to date; ToRun and UpToDate count
	// them all. 0, or less, lists every item.
	PlanItems int

	// changed are the files watch saw change before this run: a stage
	// that may read one is not tried as unchanged (settleUnchanged),
	// which would list it all to find so.
	changed []string
}

// DefaultKeepRuns is how many run records a state folder keeps unless told:
// each holds every item's hashes, about 510 bytes an item, so a million
// files make each run record 511 MB; twenty of them were 10 GB.
const DefaultKeepRuns = 5

// SetupError is a problem found before anything ran, such as a schema that
// does not compile.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// ExitCode is 2: nothing ran.
func (e *SetupError) ExitCode() int { return 2 }

// InterruptedError is RunAll's error when ctx ends while the stages'
// schemas compile, before any stage ran: nothing was written.
type InterruptedError struct{ Err error }

func (e *InterruptedError) Error() string {
	return "interrupted while the schemas compiled: nothing ran"
}
func (e *InterruptedError) Unwrap() error { return e.Err }

// ExitCode is 130, as for a process that SIGINT ended.
func (e *InterruptedError) ExitCode() int { return 130 }

// runner holds what the stages of one run share.
type runner struct {
	opts    Options
	guard   *pipeline.Guard
	state   *state
	commits *committer
	tmp     string
	// manifests is how many the run has: with more than one, a stage
	// cannot tell which others write what it reads.
	manifests int
	// outputsTouched is set once a stage writes or removes an output:
	// from then on the files the run's check listed may be stale.
	outputsTouched atomic.Bool
	temps          *tempParts // parts not yet saved, in tmp or in memory
	gate           *Gate      // bytes in flight, when max_memory is set
	budget         int64
	overMemory     atomic.Bool // the run stopped itself for passing budget
	// stdin is standard input, read once for every stage that reads it.
	stdin   *spool
	flights flights
	nodes   []*node
	// stop is closed for a graceful stop: by Options.Stop, or by the
	// memory watchdog.
	stop     chan struct{}
	stopOnce sync.Once
	mu       sync.Mutex // serialises OnEvent and OnProgress
}

// node is one stage of one plan in the run's schedule.
type node struct {
	plan     *pipeline.Plan
	stage    *pipeline.Stage
	key      string // unique across plans, for working files: numbers, as a name may hold '/'
	id       string // the stage's name in the journal
	schema   *schema.Schema
	limiter  *rate.Limiter
	priority int // the pipeline's priority, then the stage's
	order    int
	sum      *StageSummary
	// trail holds the stage's items of the run record; formats the
	// formats they were read as; ran counts those not up to date.
	trail   *itemTrail
	formats map[string]bool
	ran     int
	unclean int // items that failed or rejected a record
	deps    []*node
	waiting int
	users   []*node
}

// Run runs one plan. See RunAll.
func Run(ctx context.Context, plan *pipeline.Plan, opts Options) (*Summary, error) {
	return RunAll(ctx, []*pipeline.Plan{plan}, opts)
}

// RunAll runs the stages of several plans as one schedule: a stage starts
// once the stages it depends on have finished; among the stages ready
// together the higher pipeline priority, then stage priority, goes first;
// at most max_concurrent_stages run at once (the largest any manifest sets;
// by default one). The error is for problems found before anything runs (a
// *SetupError), or an *InterruptedError when ctx ends, or opts.Stop
// closes, while the schemas load; failed records and items are in the
// Summary.
func RunAll(ctx context.Context, plans []*pipeline.Plan, opts Options) (*Summary, error) {
	start := time.Now()
	if len(plans) == 0 {
		return &Summary{}, nil
	}
	opts.setDefaults(plans)
	if err := checkStateDir(opts.StateDir); err != nil {
		return nil, &SetupError{err}
	}
	r := &runner{opts: opts, guard: newGuard(plans, opts.StateDir), stop: make(chan struct{}),
		stdin: &spool{r: opts.Stdin}, manifests: len(plans)}
	slots := r.limits(plans)
	if r.budget > 0 {
		old := debug.SetMemoryLimit(r.budget)
		defer debug.SetMemoryLimit(old)
	}
	held := journalItems(opts.StateDir)
	if held >= manyItems {
		defer processGC.lower(manyItemsGC)()
	}
	// Reading a huge journal while the guard lists the sources makes
	// records that live on and little else (see hugeJournalGC): the
	// target stays low until the state is open.
	opened := func() {}
	if held >= hugeItems {
		opened = sync.OnceFunc(processGC.lower(hugeJournalGC))
		defer opened()
	}
	early := readStateEarly(opts.StateDir, opts.Force)
	if err := r.guard.Check(); err != nil {
		early.discard()
		return nil, &SetupError{err}
	}
	lctx, loaded := loading(ctx, opts.Stop)
	nodes, err := r.schedule(lctx, plans)
	loaded()
	if err != nil {
		early.discard()
		return nil, err
	}
	defer closeSchemas(nodes)
	r.nodes = nodes
	if err := r.open(plans, early); err != nil {
		return nil, &SetupError{err}
	}
	opened()
	defer func() { // last: the trails read the items
		if r.state != nil {
			r.state.spill.close()
		}
	}()
	defer os.RemoveAll(r.tmp)
	defer closeTrails(nodes)
	r.temps = newTempParts()
	r.commits = newCommitter(r.state, r.temps)
	r.watchAndDispatch(ctx, nodes, slots)
	r.commits.close()
	if !r.stopping(ctx) {
		r.dropRemovedStages(plans)
	}
	r.warnSpill("") // met while stages of the last run were dropped
	sum := summarize(nodes, r.state.runID, start)
	sum.OverMemory = r.overMemory.Load()
	sum.Provenance = r.provenance(nodes, start, sum)
	if path, err := r.writeProvenance(sum.Provenance, nodes); err != nil {
		r.emit(Event{Kind: Warning, Msg: "cannot write the provenance: " + err.Error()})
	} else {
		sum.RunRecord = path
		if err := pruneRuns(filepath.Join(r.opts.StateDir, "runs"), r.state.runID, r.opts.KeepRuns); err != nil {
			r.emit(Event{Kind: Warning, Msg: "cannot remove old run records: " + err.Error()})
		}
	}
	status := "finished"
	if sum.Interrupted {
		status = "started" // what the next run resumes
	}
	if err := r.state.close(status); err != nil {
		return sum, fmt.Errorf("closing the journal: %w", err)
	}
	return sum, nil
}

// setDefaults fills in what the caller left zero.
func (o *Options) setDefaults(plans []*pipeline.Plan) {
	if o.StateDir == "" {
		o.StateDir = filepath.Join(plans[0].Manifest.Dir, ".zpipe")
	}
	if abs, err := filepath.Abs(o.StateDir); err == nil {
		o.StateDir = abs
	}
	if o.MaxShownErrors == 0 {
		o.MaxShownErrors = 20
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = 8 << 20
	}
	if o.Limits == (format.Limits{}) {
		o.Limits = format.DefaultLimits
	}
	if o.Executor == nil {
		o.Executor = LocalPool{}
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
}

// limits takes the run's bounds from its manifests: the most stages at
// once that any allows, and the smallest max_memory.
func (r *runner) limits(plans []*pipeline.Plan) (slots int) {
	slots = 1
	for _, p := range plans {
		lim := p.Manifest.Limits
		slots = max(slots, lim.MaxConcurrentStages)
		if lim.MaxMemory > 0 && (r.budget == 0 || lim.MaxMemory < r.budget) {
			r.budget = lim.MaxMemory
		}
	}
	if r.budget > 0 {
		r.gate = NewGate(r.budget)
	}
	return slots
}

// open takes the state folder: it locks it, completes what a killed run
// left half done, clears that run's working files, and records the start
// of this run.
func (r *runner) open(plans []*pipeline.Plan, early *earlyState) error {
	dir := r.opts.StateDir
	var err error
	if r.state = early.open(); r.state == nil {
		if r.state, err = openState(dir, r.opts.Force); err != nil {
			return err
		}
	}
	r.rollForward(plans)
	// Temp parts of a run that was killed are of no use to anyone, nor are
	// the temp files of its journal compaction and provenance.
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if d := filepath.Join(dir, e.Name()); runTemp(d) {
				os.RemoveAll(d)
			}
		}
	}
	atomicfile.RemoveOrphans(dir)
	runs, _ := filepath.Glob(filepath.Join(dir, "runs", "*"))
	for _, d := range runs {
		atomicfile.RemoveOrphans(d)
	}
	if r.tmp, err = os.MkdirTemp(dir, runTempPrefix); err != nil {
		r.state.close("failed")
		return err
	}
	if last := r.state.lastRun; last != nil && last.Status == "started" && !r.opts.Force {
		done := 0
		for e := range r.state.allItems() {
			if e.Run == last.Run && e.Status == "done" {
				done++
			}
		}
		r.emit(Event{Kind: Resuming, Msg: fmt.Sprintf("resuming run %s: %d items were done before it stopped", last.Run, done)})
	}
	if err := r.state.append(&entry{Type: "run", Status: "started"}); err != nil {
		r.state.close("failed")
		os.RemoveAll(r.tmp)
		return err
	}
	return nil
}

// watchAndDispatch runs the stages while the stop request and the memory
// ceiling are watched.
func (r *runner) watchAndDispatch(ctx context.Context, nodes []*node, slots int) {
	running := make(chan struct{})
	var watchers sync.WaitGroup
	watchers.Go(func() {
		select {
		case <-r.opts.Stop:
			r.stopRun()
		case <-running:
		}
	})
	if r.budget > 0 {
		watchers.Go(func() { r.watchMemory(running) })
	}
	r.dispatch(ctx, nodes, slots)
	close(running)
	watchers.Wait()
}

// summarize adds the stages' counts up.
func summarize(nodes []*node, runID string, start time.Time) *Summary {
	sum := &Summary{RunID: runID}
	for _, n := range nodes {
		st := n.sum
		sum.Stages = append(sum.Stages, st)
		sum.Records += st.Records
		sum.OK += st.OK
		sum.Failed += st.Failed
		sum.FailedItems += st.FailedItems
		sum.UpToDate += st.UpToDate
		sum.ran += n.ran
		if st.Status == StatusInterrupted {
			sum.Interrupted = true
		}
	}
	sum.Duration = time.Since(start)
	return sum
}

func closeTrails(nodes []*node) {
	for _, n := range nodes {
		n.trail.done()
	}
}

// schedule compiles every stage's schema, so that a typo in the last
// stage's schema does not surface after an hour of work, and links the
// stages of all plans into one graph.
func (r *runner) schedule(ctx context.Context, plans []*pipeline.Plan) ([]*node, error) {
	var nodes []*node
	for pi, p := range plans {
		m := p.Manifest
		var limiter *rate.Limiter
		if lim := m.Limits; lim.Throttle > 0 || lim.Rate > 0 {
			every := rate.Every(lim.Throttle)
			if lim.Rate > 0 && (lim.Throttle == 0 || rate.Limit(lim.Rate) < every) {
				every = rate.Limit(lim.Rate)
			}
			limiter = rate.NewLimiter(every, 1)
		}
		byName := map[string]*node{}
		for si, s := range p.Stages {
			var sch *schema.Schema
			err := ctx.Err()
			if err == nil {
				sch, err = r.loadSchema(ctx, m, s)
			}
			if err != nil {
				closeSchemas(nodes)
				return nil, schemaError(ctx, m, s, err)
			}
			n := &node{plan: p, stage: s, schema: sch, limiter: limiter, key: strconv.Itoa(pi) + "-" + strconv.Itoa(si), id: stageKey(r.opts.StateDir, m, s.Name),
				priority: m.Priority*1000 + s.Priority, order: len(nodes),
				sum: &StageSummary{Name: s.Name, Outputs: []string{}}}
			if len(plans) > 1 {
				n.sum.Pipeline = m.Name
			}
			byName[s.Name] = n
			nodes = append(nodes, n)
		}
		link(p, byName)
	}
	return nodes, nil
}

// loading is the context the stages' schemas load under: a graceful stop
// (opts.Stop) ends it too, since nothing has run yet that could finish.
// A watch session's restart is one: without it, a schema whose trial
// never ends held the run, and the fixed schema was never picked up.
// The func ends it, once the schemas are loaded: a schema keeps no
// hold of it.
func loading(ctx context.Context, stop <-chan struct{}) (context.Context, func()) {
	lctx, cancel := context.WithCancel(ctx)
	if stop != nil {
		go func() {
			select {
			case <-stop:
				cancel()
			case <-lctx.Done():
			}
		}()
	}
	return lctx, cancel
}

// SlowSchema is how long CUE may evaluate a schema before zpipe says so:
// some schemas make it run without end, and in this process nothing but
// the process's end stops it.
const SlowSchema = 5 * time.Second

// SlowSchemaWarning says that CUE has evaluated what for SlowSchema.
func SlowSchemaWarning(what string) string {
	return fmt.Sprintf("CUE has evaluated %s for %s and is not done; some schemas make it run without end (Ctrl-C stops zpipe)", what, SlowSchema)
}

// loadSchema is loadSchema, with a warning when CUE takes long, so that a
// run that seems to hang says why.
func (r *runner) loadSchema(ctx context.Context, m *pipeline.Manifest, s *pipeline.Stage) (*schema.Schema, error) {
	slow := time.AfterFunc(SlowSchema, func() {
		r.emit(Event{Kind: Warning, Stage: s.Name, Msg: "stage " + s.Name + ": " + SlowSchemaWarning("the schema "+m.Rel(s.Schema.File)+defSuffix(s.Schema.Def))})
	})
	defer slow.Stop()
	return m.LoadSchema(s.Schema, s.Transform, schema.WithContext(ctx))
}

// schemaError is the SetupError of a stage whose schema does not
// compile, placed at the manifest value that names the broken file: the
// transform's when the schema alone compiles. When ctx has ended, it is
// an InterruptedError instead: stopped, not a broken schema.
func schemaError(ctx context.Context, m *pipeline.Manifest, s *pipeline.Stage, err error) error {
	at := "schema"
	if s.Transform != nil && ctx.Err() == nil {
		if sch, serr := m.LoadSchema(s.Schema, nil, schema.WithContext(ctx)); serr == nil {
			sch.Close()
			at = "transform"
		}
	}
	if ctx.Err() != nil {
		return &InterruptedError{ctx.Err()}
	}
	return &SetupError{m.ErrorAt(err, "stages", s.Name, at)}
}

// closeSchemas ends the stages' CUE evaluator processes.
func closeSchemas(nodes []*node) {
	for _, n := range nodes {
		if n.schema != nil {
			n.schema.Close()
		}
	}
}

// dispatch runs the stages, starting each as soon as its dependencies have
// finished and a slot is free, and marks what could not run.
func (r *runner) dispatch(ctx context.Context, nodes []*node, slots int) {
	var ready []*node
	for _, n := range nodes {
		if n.waiting == 0 {
			ready = append(ready, n)
		}
	}
	done := make(chan *node)
	running := 0
	finish := func(n *node) {
		r.emit(Event{Kind: StageFinished, Stage: n.stage.Name, Summary: n.sum})
		for _, u := range n.users {
			if u.waiting--; u.waiting == 0 {
				ready = append(ready, u)
			}
		}
	}
	for {
		sort.SliceStable(ready, func(i, j int) bool { return ready[i].before(ready[j]) })
		for running < slots && len(ready) > 0 && !r.stopping(ctx) {
			n := ready[0]
			ready = ready[1:]
			if dep := blockedBy(n); dep != "" {
				n.sum.Status = StatusSkipped
				n.sum.Error = fmt.Sprintf("skipped: stage %s did not finish", dep)
				finish(n)
				continue
			}
			running++
			r.emit(Event{Kind: StageStarted, Stage: n.stage.Name, Msg: "stage " + n.stage.Name + " started"})
			go func() {
				r.runStage(ctx, n)
				done <- n
			}()
		}
		if running == 0 {
			break
		}
		n := <-done
		running--
		finish(n)
	}
	for _, n := range nodes {
		if n.sum.Status == "" {
			n.sum.Status = StatusInterrupted
			n.sum.Error = "not started: the run was stopped"
		}
	}
}

// stopping reports whether the run was asked to stop, gracefully or not.
func (r *runner) stopping(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	return isClosed(r.stop)
}

// stopRun asks for a graceful stop: no new item or stage starts.
func (r *runner) stopRun() { r.stopOnce.Do(func() { close(r.stop) }) }

// blockedBy names a dependency that stopped, was skipped or was
// interrupted, so that n must not run on its missing outputs.
func blockedBy(n *node) string {
	for _, d := range n.deps {
		switch d.sum.Status {
		case StatusStopped, StatusSkipped, StatusInterrupted:
			return d.stage.Name
		}
	}
	return ""
}

func (r *runner) emit(e Event) {
	if r.opts.OnEvent == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.OnEvent(e)
}

func (r *runner) progress(p Progress) {
	if r.opts.OnProgress == nil {
		return
	}
	p.Time = time.Now()
	p.Percentage = Percent(p.Completed, p.Total)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.OnProgress(p)
}

// rollForward completes the commits a killed run left half done, for the
// stages of this run's manifests; a pending commit of another manifest
// waits for a run of that one. The journal is not trusted blindly: every
// temp file must be zpipe's, beside its target, and every target one that
// the guard lets this run replace, or the commit is dropped.
func (r *runner) rollForward(plans []*pipeline.Plan) {
	for _, key := range slices.Sorted(maps.Keys(r.state.pending)) {
		e := r.state.pending[key]
		var m *pipeline.Manifest
		for _, p := range plans {
			if strings.HasPrefix(key, stageKey(r.opts.StateDir, p.Manifest, "")) {
				m = p.Manifest
			}
		}
		if m == nil {
			continue
		}
		name := stageName(r.opts.StateDir, m, key)
		err := r.checkRenames(m, name, e.Renames, e.Removes)
		if err != nil {
			if ferr := r.state.finish(key, nil); ferr != nil {
				r.emit(Event{Kind: Warning, Msg: "cannot write the journal: " + ferr.Error()})
			}
		} else {
			err = r.state.complete(e)
		}
		if err != nil {
			r.emit(Event{Kind: Warning, Stage: name, Msg: fmt.Sprintf("cannot complete the commit of stage %s that an earlier run left half done: %v; the stage rebuilds its outputs", name, err)})
			continue
		}
		r.emit(Event{Kind: Warning, Stage: name, Msg: fmt.Sprintf("completed the commit of stage %s that an earlier run left half done", name)})
	}
}

// checkRenames refuses renames and removals that are not what a commit
// of stage of m does. A file the stage writes in this run is replaced, though another
// stage reads it: its commit now would replace it too.
func (r *runner) checkRenames(m *pipeline.Manifest, stage string, renames, removes []rename) error {
	for _, rn := range renames {
		temp, target := filepath.Join(r.opts.StateDir, rn.Temp), filepath.Join(r.opts.StateDir, rn.Target)
		if filepath.Dir(temp) != filepath.Dir(target) || !strings.HasPrefix(filepath.Base(temp), atomicfile.TempPrefix) {
			return fmt.Errorf("the journal names %s, which is not a temp file beside %s", rn.Temp, rn.Target)
		}
		ours := r.guard.Claims(m, stage, target)
		if err := r.guard.ReplaceableFor(m, target, func(*pipeline.Manifest, string) bool { return ours }); err != nil {
			return err
		}
	}
	for _, rm := range removes {
		target := filepath.Join(r.opts.StateDir, rm.Target)
		after := func(rm *pipeline.Manifest, reader string) bool {
			return writesNow(m, stage, m.Rel(target)) && r.runsAfter(m, stage, rm, reader)
		}
		if err := r.guard.RemovableFor(m, stage, target, after); err != nil {
			return err
		}
	}
	return nil
}

// journal appends an entry whose loss costs only some work again, such as
// a removed item's mark, and says so when it cannot.
func (r *runner) journal(e *entry) {
	if err := r.state.append(e); err != nil {
		r.emit(Event{Kind: Warning, Msg: "cannot write the journal: " + err.Error()})
	}
}

// goneStage is a stage in the journal that its manifest no longer has.
type goneStage struct {
	m   *pipeline.Manifest
	key string
}

// removedStages lists the journal's stages of these manifests that the
// manifests no longer have.
func removedStages(st *state, plans []*pipeline.Plan, stateDir string) []goneStage {
	var out []goneStage
	for _, p := range plans {
		m := p.Manifest
		prefix := stageKey(stateDir, m, "")
		has := map[string]bool{}
		for _, s := range m.Stages {
			has[s.Name] = true
		}
		for _, key := range slices.Sorted(maps.Keys(st.stages)) {
			if name, ok := strings.CutPrefix(key, prefix); ok && !has[name] {
				out = append(out, goneStage{m, key})
			}
		}
	}
	return out
}

// dropRemovedStages removes what stages the manifests no longer have
// wrote, as removeStale does, and forgets those stages.
func (r *runner) dropRemovedStages(plans []*pipeline.Plan) {
	for _, g := range removedStages(r.state, plans, r.opts.StateDir) {
		name := stageName(r.opts.StateDir, g.m, g.key)
		e := r.state.stage(g.key)
		held := false
		for _, rel := range slices.Sorted(maps.Keys(e.Outputs)) {
			if r.removeStale(g.m, name, rel, e.Outputs[rel], "the manifest no longer has stage "+name, true) {
				held = true
			}
		}
		r.state.mu.Lock()
		var items []string
		if all := r.state.items[g.key]; all != nil {
			for it := range all.all() {
				if it.Status != "removed" {
					items = append(items, it.Key)
				}
			}
		}
		r.state.mu.Unlock()
		sort.Strings(items)
		for _, k := range items {
			r.journal(&entry{Type: "item", Stage: g.key, Key: k, Status: "removed"})
		}
		if !held {
			// Until then, the stage's entry names what a run must
			// still remove.
			r.journal(&entry{Type: "stage", Stage: g.key, Status: "removed"})
		}
	}
}

// newGuard makes the run's output checks.
func newGuard(plans []*pipeline.Plan, stateDir string) *pipeline.Guard {
	ms := make([]*pipeline.Manifest, len(plans))
	for i, p := range plans {
		ms[i] = p.Manifest
	}
	return pipeline.NewGuard(ms, stateDir)
}

// stageKey names a stage in the journal by its manifest's path relative to
// the state folder, so that a moved or cloned project keeps its state.
func stageKey(stateDir string, m *pipeline.Manifest, stage string) string {
	file := m.File
	if rel, err := filepath.Rel(stateDir, m.File); err == nil {
		file = filepath.ToSlash(rel)
	}
	return file + "#" + stage
}

// stageName is the stage a journal key of manifest m names: what follows
// m's own part of it, for a stage's name may hold a '#' too.
func stageName(stateDir string, m *pipeline.Manifest, key string) string {
	return strings.TrimPrefix(key, stageKey(stateDir, m, ""))
}

// before says whether n starts before o when both are ready: the higher
// pipeline priority, then stage priority, then the order given.
func (n *node) before(o *node) bool {
	if n.priority != o.priority {
		return n.priority > o.priority
	}
	return n.order < o.order
}

// link connects a plan's nodes along its DAG's edges.
func link(p *pipeline.Plan, byName map[string]*node) {
	for _, s := range p.Stages {
		n := byName[s.Name]
		seen := map[*node]bool{}
		for _, d := range p.Deps[s.Name] {
			if dn := byName[d.Stage]; !seen[dn] {
				seen[dn] = true
				n.deps = append(n.deps, dn)
				dn.users = append(dn.users, n)
			}
		}
		n.waiting = len(n.deps)
	}
}
