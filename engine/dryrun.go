package engine

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/zpipe/zpipe/pipeline"
	"github.com/zpipe/zpipe/schema"
)

// The states a stage can be in before a run.
const (
	StateUpToDate = "up to date"
	StateWouldRun = "would run"
	StateBlocked  = "blocked"
)

// DryRunReport is what a run would do, worked out without writing anything.
type DryRunReport struct {
	Manifests []ManifestDryRun `json:"manifests"`
	// Stages in the order a run with one stage at a time would run them.
	Stages []*StageDryRun `json:"stages"`
	// Removes lists what stages the manifests no longer have wrote.
	Removes []Removal `json:"removes,omitempty"`
}

// ManifestDryRun is a manifest's run-wide settings.
type ManifestDryRun struct {
	File     string          `json:"file"`
	Name     string          `json:"name"`
	Priority int             `json:"priority"`
	Limits   pipeline.Limits `json:"limits"`
}

// StageDryRun is one stage: its settings, its sources and what would happen.
type StageDryRun struct {
	Pipeline  string            `json:"pipeline"`
	Name      string            `json:"name"`
	Priority  int               `json:"priority"`
	Settings  pipeline.Settings `json:"settings"`
	Deps      []pipeline.Dep    `json:"deps,omitempty"`
	Sources   SourcePlan        `json:"sources"`
	Schema    string            `json:"schema"`
	Transform string            `json:"transform,omitempty"`
	Outputs   []pipeline.Output `json:"outputs"`
	Rejects   string            `json:"rejects,omitempty"`
	// State is up to date, would run or blocked; Reason says why when the
	// stage as a whole would run or is blocked.
	State    string       `json:"state"`
	Reason   string       `json:"reason,omitempty"`
	UpToDate int          `json:"up_to_date"`
	ToRun    int          `json:"to_run"`
	Items    []ItemDryRun `json:"items"`
	// Removes lists the files the stage wrote before and that a run would
	// remove, or keep because they were changed since.
	Removes []Removal `json:"removes,omitempty"`
	// Gone lists the items of the last run that no source matches now,
	// and that are not renamed to a new item: their records leave the
	// outputs.
	Gone []string `json:"gone,omitempty"`
}

// SourcePlan is what a stage's globs resolve to now.
type SourcePlan struct {
	Paths   []string `json:"paths"`
	Exclude []string `json:"exclude,omitempty"`
	Format  string   `json:"format"`
	Files   int      `json:"files"`
	Bytes   int64    `json:"bytes"`
}

// ItemDryRun is one item and why it would run; Reason is empty when it is
// up to date.
type ItemDryRun struct {
	Item   string `json:"item"`
	Reason string `json:"reason,omitempty"`
}

// DryRun works out what RunAll would do with the same plans and options: the
// stages in run order, which items are up to date and why the others would
// run, including stages that would run only because a stage before them
// will rewrite their inputs. It writes nothing: no state folder, no lock,
// no journal. A stage whose schema does not compile is blocked, and the
// report comes with the *SetupError RunAll would stop at. When ctx ends,
// the error is ctx's, and there is no report.
func DryRun(ctx context.Context, plans []*pipeline.Plan, opts Options) (*DryRunReport, error) {
	if len(plans) == 0 {
		return &DryRunReport{}, nil
	}
	opts.setDefaults(plans)
	opts.OnEvent, opts.OnProgress = nil, nil
	// The collector's target is as a run's: low while a huge journal is
	// read and the sources are listed, which make records that live on.
	held := journalItems(opts.StateDir)
	if held >= manyItems {
		defer processGC.lower(manyItemsGC)()
	}
	read := func() {}
	if held >= hugeItems {
		read = sync.OnceFunc(processGC.lower(hugeJournalGC))
		defer read()
	}
	// The item stores spill as a run's do, though not in the state
	// folder, which a dry run leaves as it is.
	spill := newSpillFile(os.TempDir())
	defer spill.close()
	st, err := readState(opts.StateDir, spill)
	if err != nil {
		return nil, &SetupError{err}
	}
	// A run completes a commit that a killed run left half done before
	// anything else; plan as if it had.
	for stage, e := range st.pending {
		if e.Then != nil {
			st.stages[stage] = e.Then
		}
	}
	r := &runner{opts: opts, state: st, guard: newGuard(plans, opts.StateDir)}
	if err := r.guard.Check(); err != nil {
		return nil, &SetupError{err}
	}
	read()
	nodes, errs := planNodes(ctx, plans, opts.StateDir)
	defer closeSchemas(nodes)
	r.nodes = nodes
	// The first in manifest order, as a run reports it.
	var setup error
	for _, n := range nodes {
		if err := errs[n]; err != nil {
			setup = schemaError(ctx, n.plan.Manifest, n.stage, err)
			break
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rep := &DryRunReport{}
	for _, p := range plans {
		m := p.Manifest
		rep.Manifests = append(rep.Manifests, ManifestDryRun{File: m.File, Name: m.Name, Priority: m.Priority, Limits: m.Limits})
	}
	byNode := map[*node]*StageDryRun{}
	for _, n := range runOrder(nodes) {
		sp := r.planStage(ctx, n, errs[n], rewriter(n, byNode))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for _, d := range n.deps {
			up := byNode[d]
			switch {
			case sp.State == StateBlocked:
			case up.State == StateBlocked:
				sp.State, sp.Reason = StateBlocked, "stage "+up.Name+" before it is blocked"
			case up.State == StateWouldRun:
				// Its inputs will be rewritten, so every item reruns
				// (planStage has counted and listed them so).
				sp.State, sp.Reason = StateWouldRun, "stage "+up.Name+" will rewrite its inputs"
			}
		}
		byNode[n] = sp
		rep.Stages = append(rep.Stages, sp)
	}
	for _, g := range removedStages(st, plans, opts.StateDir) {
		name := stageName(opts.StateDir, g.m, g.key)
		e := st.stages[g.key]
		for _, rel := range slices.Sorted(maps.Keys(e.Outputs)) {
			if rm := r.removal(g.m, name, rel, e.Outputs[rel], "the manifest no longer has stage "+name, true); rm != nil {
				rep.Removes = append(rep.Removes, *rm)
			}
		}
	}
	return rep, setup
}

// planNodes is schedule for a dry run: a schema that does not compile
// blocks its stage instead of stopping everything.
func planNodes(ctx context.Context, plans []*pipeline.Plan, stateDir string) ([]*node, map[*node]error) {
	errs := map[*node]error{}
	var nodes []*node
	for pi, p := range plans {
		m := p.Manifest
		byName := map[string]*node{}
		for si, s := range p.Stages {
			if ctx.Err() != nil {
				return nodes, errs // stopped: DryRun says so
			}
			n := &node{plan: p, stage: s, key: strconv.Itoa(pi) + "-" + strconv.Itoa(si), id: stageKey(stateDir, m, s.Name), priority: m.Priority*1000 + s.Priority, order: len(nodes),
				sum: &StageSummary{Name: s.Name}}
			sch, err := m.LoadSchema(s.Schema, s.Transform, schema.WithContext(ctx))
			n.schema = sch
			if err != nil {
				errs[n] = err
			}
			byName[s.Name] = n
			nodes = append(nodes, n)
		}
		link(p, byName)
	}
	return nodes, errs
}

// runOrder is the order dispatch starts stages in with one slot.
func runOrder(nodes []*node) []*node {
	index := make(map[*node]int, len(nodes))
	for i, n := range nodes {
		index[n] = i
	}
	deps := func(i int) []int {
		var out []int
		for _, d := range nodes[i].deps {
			out = append(out, index[d])
		}
		return out
	}
	var out []*node
	for _, i := range pipeline.Order(len(nodes), deps, func(a, b int) bool { return nodes[a].before(nodes[b]) }) {
		out = append(out, nodes[i])
	}
	return out
}

// rewriter names the stage before n that will rewrite n's inputs, so that
// every item of n runs: the first of its stages before it that would run,
// unless one before that is blocked, which blocks n.
func rewriter(n *node, planned map[*node]*StageDryRun) string {
	for _, d := range n.deps {
		switch up := planned[d]; up.State {
		case StateBlocked:
			return ""
		case StateWouldRun:
			return up.Name
		}
	}
	return ""
}

// planStage describes one stage and decides its items as a run would;
// when rewriter names a stage, each item runs because of it.
func (r *runner) planStage(ctx context.Context, n *node, schemaErr error, rewriter string) *StageDryRun {
	s, m := n.stage, n.plan.Manifest
	sp := &StageDryRun{Pipeline: m.Name, Name: s.Name, Priority: s.Priority, Settings: s.Settings, Deps: n.plan.Deps[s.Name],
		Sources: SourcePlan{Paths: s.Source.Paths, Exclude: s.Source.Exclude, Format: string(s.Source.Format)},
		Schema:  m.Rel(s.Schema.File) + defSuffix(s.Schema.Def), Outputs: s.Outputs, Items: []ItemDryRun{}}
	if sp.Sources.Format == "" {
		sp.Sources.Format = "auto"
	}
	if s.Transform != nil {
		sp.Transform = m.Rel(s.Transform.File) + defSuffix(s.Transform.Def)
	}
	if s.Rejects != "" {
		sp.Rejects = m.Rel(s.Rejects)
	}
	if schemaErr != nil {
		sp.State, sp.Reason = StateBlocked, schemaErr.Error()
		// What it would read is known all the same.
		src := r.guard.Found(s)
		if src == nil {
			src, _ = s.Resolve(m, r.opts.StateDir)
		}
		if src != nil {
			for _, f := range src.Files {
				if fi, err := os.Stat(f.Path); err == nil {
					sp.Sources.Files++
					sp.Sources.Bytes += fi.Size()
				}
			}
		}
		return sp
	}
	sr := &stageRun{ctx: ctx, r: r, n: n, m: m, s: s, schema: n.schema, fn: newItemFunc(s, n.schema, r.opts.Limits)}
	sr.columns = sr.fn.columns
	list := &itemList{limit: r.opts.PlanItems}
	if rewriter != "" {
		list.rewrite = "stage " + rewriter + " will rewrite it"
	}
	targets, toRun, intact, err := sr.planItems(sp, list)
	if err != nil {
		sp.State, sp.Reason = StateBlocked, err.Error()
		return sp
	}
	if list.items != nil {
		sp.Items = list.items
	}
	sp.ToRun, sp.UpToDate = toRun, list.n-toRun
	if rewriter != "" {
		sp.ToRun, sp.UpToDate = list.n, 0
	}
	if prev := r.state.stage(n.id); prev != nil {
		kept := map[string]bool{}
		for _, t := range targets {
			kept[m.Rel(t.path)] = true
		}
		if s.Rejects != "" {
			kept[m.Rel(s.Rejects)] = true
		}
		for _, rel := range slices.Sorted(maps.Keys(prev.Outputs)) {
			if !kept[rel] {
				if rm := r.removal(m, s.Name, rel, prev.Outputs[rel], sr.staleWhy(rel), false); rm != nil {
					sp.Removes = append(sp.Removes, *rm)
				}
			}
		}
	}
	sp.State = StateUpToDate
	switch {
	case toRun > 0:
		sp.State = StateWouldRun
	case !intact:
		sp.State, sp.Reason = StateWouldRun, sr.outputsReason+", so the outputs would be rebuilt"
	}
	return sp
}

// planItems decides the stage's items for planStage, a window of files at
// a time when a run would take them so (runWindowed): held whole, the
// items of a million files took 950 MB. It adds each item to list, and
// what it reads to sp's sources.
func (sr *stageRun) planItems(sp *StageDryRun, list *itemList) (targets []target, toRun int, intact bool, err error) {
	var ok bool
	if targets, toRun, intact, ok = sr.planWindowed(sp, list); ok || sr.ctx.Err() != nil {
		return targets, toRun, intact, sr.ctx.Err()
	}
	items, err := sr.resolve()
	if err != nil {
		return nil, 0, false, err
	}
	sr.items = items
	files := map[string]bool{}
	for _, it := range items {
		files[it.Path] = true
		sp.Sources.Bytes += it.Size // a file's chunks add up to the file
	}
	sp.Sources.Files = len(files)
	if targets, err = sr.targets(); err != nil {
		return nil, 0, false, err
	}
	sr.results = make([]itemResult, len(items))
	sr.finished = make([]bool, len(items))
	toRun, intact = sr.decide(targets)
	for i := range items {
		list.add(&items[i])
	}
	sp.Gone = sr.gone
	return targets, toRun, intact, nil
}

// planWindowed is planItems for a stage that runWindowed would run. It
// reports false, having counted nothing, for one it would not: see
// runWindowed.
func (sr *stageRun) planWindowed(sp *StageDryRun, list *itemList) (targets []target, toRun int, intact, ok bool) {
	if !sr.listsFiles() {
		return nil, 0, false, false
	}
	src, err := sr.resolveSources()
	if err != nil || len(src.Files) < windowedFiles {
		return nil, 0, false, false
	}
	if targets, err = sr.targets(); err != nil {
		return nil, 0, false, false // the full way says why
	}
	defer windowedGC(len(src.Files))()
	// The reasons are listed, not gathered: a first run of a million
	// would hold a million names.
	why := map[string][]string{}
	p := sr.planWindows(src.Files, why, func(items []item) {
		for i := range items {
			// A file's chunks are next to each other, and add up to it.
			if i == 0 || items[i].Path != items[i-1].Path {
				sp.Sources.Files++
			}
			sp.Sources.Bytes += items[i].Size
			list.add(&items[i])
		}
		clear(why)
	})
	if p == nil {
		*list = itemList{limit: list.limit, rewrite: list.rewrite}
		sp.Sources.Files, sp.Sources.Bytes = 0, 0
		return nil, 0, false, false
	}
	list.partsChanged(p.changed)
	list.reasons(p.renamed)
	sp.Gone = sr.gone
	plannedWindowed.Add(1)
	return targets, p.toRun, p.intact, true
}

// itemList is the items a StageDryRun lists: every item, or, with a
// limit, the first limit of those that would run.
type itemList struct {
	limit int
	// rewrite is why an item runs that is up to date, when a stage
	// before it will rewrite its inputs.
	rewrite string
	items   []ItemDryRun
	// places are the listed items' places in the stage, and n is the
	// number of items added.
	places []int
	n      int
}

// add adds the stage's next item.
func (l *itemList) add(it *item) {
	reason := it.reason
	if reason == "" {
		reason = l.rewrite
	}
	l.n++
	if l.limit > 0 && (reason == "" || len(l.items) == l.limit) {
		return
	}
	l.items = append(l.items, ItemDryRun{Item: itemID(it), Reason: reason})
	l.places = append(l.places, l.n-1)
}

// partsChanged lists the items found to run, once all were added, for
// their saved parts changed: keys and places, as recheckPlanned gives.
func (l *itemList) partsChanged(changed map[string]int) {
	const reason = "its saved part was changed"
	for _, key := range slices.SortedFunc(maps.Keys(changed), func(a, b string) int { return changed[a] - changed[b] }) {
		at, found := slices.BinarySearch(l.places, changed[key])
		switch {
		case found:
			l.items[at].Reason = reason
		case l.limit <= 0 || at < l.limit:
			l.items = slices.Insert(l.items, at, ItemDryRun{Item: keyID(key), Reason: reason})
			l.places = slices.Insert(l.places, at, changed[key])
		}
	}
	if l.limit > 0 && len(l.items) > l.limit {
		l.items, l.places = l.items[:l.limit], l.places[:l.limit]
	}
}

// reasons gives the listed items at the places of reasons theirs.
func (l *itemList) reasons(reasons map[int]string) {
	for place, reason := range reasons {
		if at, found := slices.BinarySearch(l.places, place); found {
			l.items[at].Reason = reason
		}
	}
}

func defSuffix(def string) string {
	if def == "" {
		return ""
	}
	return "#" + def
}

// String names the state with its counts, for a DAG drawing.
func (sp *StageDryRun) String() string {
	switch {
	case sp.State == StateWouldRun && sp.ToRun+sp.UpToDate == 0:
		return sp.Name + ": would run"
	case sp.State == StateWouldRun:
		return fmt.Sprintf("%s: would run %d of %d", sp.Name, sp.ToRun, sp.ToRun+sp.UpToDate)
	case sp.State == StateBlocked:
		return sp.Name + ": blocked"
	}
	return fmt.Sprintf("%s: up to date (%d)", sp.Name, sp.UpToDate)
}
